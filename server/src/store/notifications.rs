//! Notification webhooks as the store keeps them (migration 0014):
//! tenants' subscriptions, the outbox the database fills in the same
//! transaction as the run events it reports (a trigger on `run_events`),
//! and the delivery log, which is also the dispatcher's work queue.
//!
//! [`NotificationStore`] is written once here for both databases over
//! [`Dialect`]. The store only remembers: which events are notified, how
//! a body looks, when to retry, all that is the engine's
//! (`engine/notify`). Claims are leases (`lease_until`), re-checked in the
//! outer `WHERE` so two replicas racing for one row on Postgres cannot
//! both take it; an attempt is recorded only under the lease it was
//! claimed with.

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;

/// A subscription, secret included (only the engine sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// `ntf_…`.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// Where deliveries go.
    pub url: String,
    /// The public names of the events it wants, as stored.
    pub event_types: Vec<String>,
    /// Only runs of this workflow, when set.
    pub workflow_id: Option<String>,
    /// A label for people.
    pub description: String,
    /// The HMAC key of its deliveries.
    pub secret: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// One event waiting to be fanned out to subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The run it is about.
    pub run_id: String,
    /// The event's sequence in the run.
    pub sequence: i64,
    /// The run's tenant.
    pub tenant_id: String,
    /// The run's workflow.
    pub workflow_id: String,
    /// The run event's type, as the run log names it (`step.cost_exceeded`).
    pub event_type: String,
    /// The run event as stored (JSON text).
    pub payload: String,
    /// When the event was committed, ms since the epoch.
    pub created_ms: i64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer came.
    Delivered,
    /// Given up.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The status a stored name means.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A delivery, as made by a fan-out and updated by each attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// `ntd_…`; also the `Idempotency-Key` of every attempt.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// The subscription it goes to.
    pub subscription_id: String,
    /// The run the event is about.
    pub run_id: String,
    /// The event's sequence in the run.
    pub sequence: i64,
    /// The event's public name (`run.completed`).
    pub event_type: String,
    /// The JSON body every attempt sends.
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// HTTP status of the last answer.
    pub last_status_code: Option<u16>,
    /// Why the last attempt did not deliver.
    pub last_error: Option<String>,
    /// When the event was recorded, ms since the epoch.
    pub created_ms: i64,
    /// When the next attempt is due, while pending.
    pub next_attempt_ms: Option<i64>,
    /// When it was delivered.
    pub delivered_ms: Option<i64>,
}

/// A delivery claimed for one attempt, with where and how to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The delivery.
    pub delivery: DeliveryRecord,
    /// Its subscription's URL.
    pub url: String,
    /// Its subscription's signing secret.
    pub secret: String,
    /// The lease it was claimed under; [`NotificationStore::record_attempt`]
    /// must present it.
    pub lease_until: i64,
}

/// What one attempt changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Where the delivery stands now.
    pub status: DeliveryStatus,
    /// Attempts made, this one included.
    pub attempts: u32,
    /// The answer's HTTP status, if one came.
    pub status_code: Option<u16>,
    /// Why it did not deliver; `None` on success.
    pub error: Option<String>,
    /// When to try again, while pending.
    pub next_attempt_ms: Option<i64>,
    /// When this attempt ended, ms since the epoch.
    pub now_ms: i64,
}

/// Filters and position of a delivery listing.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Only deliveries to this subscription.
    pub subscription_id: Option<String>,
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Resume after this (created ms, id), newest first.
    pub after: Option<(i64, String)>,
    /// Most rows.
    pub limit: u32,
}

/// Where subscriptions, the outbox and the delivery log live.
#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Stores `subscription` unless its tenant already has `max` of them:
    /// false then, and nothing is stored.
    async fn insert_subscription(&self, subscription: &SubscriptionRecord, max: u32) -> Result<bool, StoreError>;

    /// A tenant's subscription by id.
    async fn get_subscription(&self, tenant: &str, id: &str) -> Result<Option<SubscriptionRecord>, StoreError>;

    /// At most `limit` of a tenant's subscriptions, oldest first, after
    /// the (created ms, id) position `after`.
    async fn list_subscriptions(
        &self,
        tenant: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError>;

    /// Deletes a tenant's subscription and its deliveries; false when the
    /// tenant has none of that id.
    async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;

    /// At most `limit` outbox entries, oldest first.
    async fn outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;

    /// In one transaction: stores `deliveries` (one already there for the
    /// same subscription and event is kept as it is) and removes the
    /// outbox entry (run id, sequence) they came from.
    async fn fan_out(&self, run_id: &str, sequence: i64, deliveries: &[DeliveryRecord]) -> Result<(), StoreError>;

    /// Claims at most `limit` pending deliveries due by `now_ms` whose
    /// lease (if any) ended, leasing each until `lease_until`.
    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Records an attempt of a delivery claimed under `lease_until` and
    /// ends the lease; false when that lease is no longer the delivery's
    /// (or the delivery was deleted with its subscription).
    async fn record_attempt(&self, id: &str, lease_until: i64, attempt: &AttemptRecord) -> Result<bool, StoreError>;

    /// A page of a tenant's deliveries, newest first.
    async fn list_deliveries(&self, tenant: &str, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Deletes at most `limit` delivered or failed deliveries that ended
    /// before `before_ms`; how many.
    async fn prune_deliveries(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}

const SUBSCRIPTION_COLUMNS: &str = "id, tenant_id, url, event_types, workflow_id, description, secret, created_at";
const DELIVERY_COLUMNS: &str = "id, tenant_id, subscription_id, run_id, sequence, event_type, body, status, \
     attempts, last_status_code, last_error, created_at, next_attempt_at, delivered_at";

fn subscription(row: &impl Columns) -> Result<SubscriptionRecord, StoreError> {
    Ok(SubscriptionRecord {
        id: row.text("id")?,
        tenant_id: row.text("tenant_id")?,
        url: row.text("url")?,
        event_types: row.string_list("event_types")?,
        workflow_id: row.opt_text("workflow_id")?,
        description: row.text("description")?,
        secret: row.text("secret")?,
        created_ms: row.int("created_at")?,
    })
}

fn delivery(row: &impl Columns) -> Result<DeliveryRecord, StoreError> {
    let id = row.text("id")?;
    let status_text = row.text("status")?;
    let status = DeliveryStatus::parse(&status_text)
        .ok_or_else(|| StoreError::unknown_value("notification_deliveries", &id, "status", &status_text))?;
    Ok(DeliveryRecord {
        tenant_id: row.text("tenant_id")?,
        subscription_id: row.text("subscription_id")?,
        run_id: row.text("run_id")?,
        sequence: row.int("sequence")?,
        event_type: row.text("event_type")?,
        body: row.text("body")?,
        status,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        last_status_code: row.opt_int("last_status_code")?.and_then(|code| u16::try_from(code).ok()),
        last_error: row.opt_text("last_error")?,
        created_ms: row.int("created_at")?,
        next_attempt_ms: row.opt_int("next_attempt_at")?,
        delivered_ms: row.opt_int("delivered_at")?,
        id,
    })
}

/// Rows decoded one by one: a damaged row is logged and left out, so it
/// never fails a listing.
fn decoded<R: Columns, T>(rows: &[R], decode: fn(&R) -> Result<T, StoreError>, what: &str) -> Vec<T> {
    rows.iter()
        .filter_map(|row| match decode(row) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::error!(error = %err, "a stored {what} was skipped");
                None
            }
        })
        .collect()
}

#[async_trait]
impl<D: Dialect> NotificationStore for D {
    async fn insert_subscription(&self, s: &SubscriptionRecord, max: u32) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let count = "SELECT COUNT(*) AS n FROM notification_subscriptions WHERE tenant_id = ?1";
        let held = match D::fetch_optional(&mut *tx, count, &[Arg::Text(&s.tenant_id)]).await? {
            Some(row) => row.int("n")?,
            None => 0,
        };
        if held >= i64::from(max) {
            return Ok(false);
        }
        let sql = format!(
            "INSERT INTO notification_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        );
        let args = [
            Arg::Text(&s.id),
            Arg::Text(&s.tenant_id),
            Arg::Text(&s.url),
            Arg::List(&s.event_types),
            Arg::OptText(s.workflow_id.as_deref()),
            Arg::Text(&s.description),
            Arg::Text(&s.secret),
            Arg::Int(s.created_ms),
        ];
        D::execute(&mut *tx, &sql, &args).await?;
        D::commit(tx).await?;
        Ok(true)
    }

    async fn get_subscription(&self, tenant: &str, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM notification_subscriptions WHERE tenant_id = ?1 AND id = ?2");
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(tenant), Arg::Text(id)]).await?;
        row.as_ref().map(subscription).transpose()
    }

    async fn list_subscriptions(
        &self,
        tenant: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let (after_ms, after_id) = after.unwrap_or((i64::MIN, String::new()));
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM notification_subscriptions WHERE tenant_id = ?1 \
             AND (created_at > ?2 OR (created_at = ?2 AND id > ?3)) ORDER BY created_at, id LIMIT ?4"
        );
        let args = [Arg::Text(tenant), Arg::Int(after_ms), Arg::Text(&after_id), Arg::Int(i64::from(limit))];
        let rows = D::fetch_all(&mut *self.acquire().await?, &sql, &args).await?;
        Ok(decoded(&rows, subscription, "notification subscription"))
    }

    async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let args = [Arg::Text(tenant), Arg::Text(id)];
        let sql = "DELETE FROM notification_subscriptions WHERE tenant_id = ?1 AND id = ?2";
        let deleted = D::execute(&mut *tx, sql, &args).await?;
        let sql = "DELETE FROM notification_deliveries WHERE tenant_id = ?1 AND subscription_id = ?2";
        D::execute(&mut *tx, sql, &args).await?;
        D::commit(tx).await?;
        Ok(deleted > 0)
    }

    async fn outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = "SELECT run_id, sequence, tenant_id, workflow_id, event_type, payload, created_at \
             FROM notification_outbox ORDER BY created_at, run_id, sequence LIMIT ?1";
        let rows = D::fetch_all(&mut *self.acquire().await?, sql, &[Arg::Int(i64::from(limit))]).await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxEntry {
                    run_id: row.text("run_id")?,
                    sequence: row.int("sequence")?,
                    tenant_id: row.text("tenant_id")?,
                    workflow_id: row.text("workflow_id")?,
                    event_type: row.text("event_type")?,
                    payload: row.text("payload")?,
                    created_ms: row.int("created_at")?,
                })
            })
            .collect()
    }

    async fn fan_out(&self, run_id: &str, sequence: i64, deliveries: &[DeliveryRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO notification_deliveries ({DELIVERY_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             ON CONFLICT (subscription_id, run_id, sequence) DO NOTHING"
        );
        for d in deliveries {
            let args = [
                Arg::Text(&d.id),
                Arg::Text(&d.tenant_id),
                Arg::Text(&d.subscription_id),
                Arg::Text(&d.run_id),
                Arg::Int(d.sequence),
                Arg::Text(&d.event_type),
                Arg::Json(&d.body),
                Arg::Text(d.status.as_str()),
                Arg::Int(i64::from(d.attempts)),
                Arg::OptInt(d.last_status_code.map(i64::from)),
                Arg::OptText(d.last_error.as_deref()),
                Arg::Int(d.created_ms),
                Arg::OptInt(d.next_attempt_ms),
                Arg::OptInt(d.delivered_ms),
            ];
            D::execute(&mut *tx, &sql, &args).await?;
        }
        let sql = "DELETE FROM notification_outbox WHERE run_id = ?1 AND sequence = ?2";
        D::execute(&mut *tx, sql, &[Arg::Text(run_id), Arg::Int(sequence)]).await?;
        D::commit(tx).await
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut conn = self.acquire().await?;
        let free = "status = 'pending' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)";
        // A read first: an idle dispatcher polls often, and on SQLite even
        // an UPDATE that changes nothing takes the write lock the run
        // writer's commits wait for.
        let any = format!("SELECT id FROM notification_deliveries WHERE {free} LIMIT 1");
        if D::fetch_optional(&mut *conn, &any, &[Arg::Int(now_ms)]).await?.is_none() {
            return Ok(Vec::new());
        }
        let claim = format!(
            "UPDATE notification_deliveries SET lease_until = ?2 WHERE id IN \
             (SELECT id FROM notification_deliveries WHERE {free} ORDER BY next_attempt_at, id LIMIT ?3) \
             AND {free} RETURNING id"
        );
        let args = [Arg::Int(now_ms), Arg::Int(lease_until), Arg::Int(i64::from(limit))];
        let claimed = D::fetch_all(&mut *conn, &claim, &args).await?;
        let read = format!(
            "SELECT {DELIVERY_COLUMNS}, (SELECT url FROM notification_subscriptions s WHERE s.id = d.subscription_id) \
             AS url, (SELECT secret FROM notification_subscriptions s WHERE s.id = d.subscription_id) AS secret \
             FROM notification_deliveries d WHERE id = ?1 AND lease_until = ?2"
        );
        let mut out = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let id = row.text("id")?;
            let Some(row) = D::fetch_optional(&mut *conn, &read, &[Arg::Text(&id), Arg::Int(lease_until)]).await?
            else {
                continue;
            };
            let (Some(url), Some(secret)) = (row.opt_text("url")?, row.opt_text("secret")?) else {
                // Its subscription was deleted between the two statements.
                continue;
            };
            match delivery(&row) {
                Ok(delivery) => out.push(ClaimedDelivery { delivery, url, secret, lease_until }),
                Err(err) => tracing::error!(error = %err, delivery = %id, "a stored notification delivery was skipped"),
            }
        }
        Ok(out)
    }

    async fn record_attempt(&self, id: &str, lease_until: i64, a: &AttemptRecord) -> Result<bool, StoreError> {
        let sql = "UPDATE notification_deliveries SET status = ?3, attempts = ?4, last_status_code = ?5, \
             last_error = ?6, next_attempt_at = ?7, delivered_at = ?8, ended_at = ?9, lease_until = NULL \
             WHERE id = ?1 AND lease_until = ?2";
        let ended = matches!(a.status, DeliveryStatus::Delivered | DeliveryStatus::Failed);
        let args = [
            Arg::Text(id),
            Arg::Int(lease_until),
            Arg::Text(a.status.as_str()),
            Arg::Int(i64::from(a.attempts)),
            Arg::OptInt(a.status_code.map(i64::from)),
            Arg::OptText(a.error.as_deref()),
            Arg::OptInt(a.next_attempt_ms),
            Arg::OptInt((a.status == DeliveryStatus::Delivered).then_some(a.now_ms)),
            Arg::OptInt(ended.then_some(a.now_ms)),
        ];
        Ok(D::execute(&mut *self.acquire().await?, sql, &args).await? > 0)
    }

    async fn list_deliveries(&self, tenant: &str, q: &DeliveryQuery) -> Result<Vec<DeliveryRecord>, StoreError> {
        let (after_ms, after_id) = q.after.clone().unwrap_or((i64::MAX, String::new()));
        // An empty filter matches every row: '' is no subscription id and
        // no status.
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE tenant_id = ?1 \
             AND (?2 = '' OR subscription_id = ?2) AND (?3 = '' OR status = ?3) \
             AND (created_at < ?4 OR (created_at = ?4 AND (?5 = '' OR id < ?5))) \
             ORDER BY created_at DESC, id DESC LIMIT ?6"
        );
        let args = [
            Arg::Text(tenant),
            Arg::Text(q.subscription_id.as_deref().unwrap_or("")),
            Arg::Text(q.status.map_or("", DeliveryStatus::as_str)),
            Arg::Int(after_ms),
            Arg::Text(&after_id),
            Arg::Int(i64::from(q.limit)),
        ];
        let rows = D::fetch_all(&mut *self.acquire().await?, &sql, &args).await?;
        Ok(decoded(&rows, delivery, "notification delivery"))
    }

    async fn prune_deliveries(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let mut conn = self.acquire().await?;
        // As in claims: no write lock taken when there is nothing to do.
        let any = "SELECT id FROM notification_deliveries WHERE status <> 'pending' AND ended_at < ?1 LIMIT 1";
        if D::fetch_optional(&mut *conn, any, &[Arg::Int(before_ms)]).await?.is_none() {
            return Ok(0);
        }
        let sql = "DELETE FROM notification_deliveries WHERE id IN (SELECT id FROM notification_deliveries \
             WHERE status <> 'pending' AND ended_at < ?1 LIMIT ?2)";
        D::execute(&mut *conn, sql, &[Arg::Int(before_ms), Arg::Int(i64::from(limit))]).await
    }
}
