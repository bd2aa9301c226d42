//! Webhook triggers as the store keeps them (migration 0018): per workflow,
//! whether it is deployed, its webhook id and secret, the armed window,
//! and the last fire.
//!
//! [`TriggerStore`] is written once here for both databases over
//! [`Dialect`]. The one-call window is claimed by a single compare-and-set
//! (`UPDATE … SET armed_until = NULL WHERE … armed_until > now`), so two
//! concurrent calls, or two replicas on one Postgres database, cannot both
//! take it: the second finds the window already cleared.

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;

/// One workflow's trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRecord {
    /// The owning tenant.
    pub tenant_id: String,
    /// `wf_…`.
    pub workflow_id: String,
    /// `wh_…`, unique across tenants.
    pub webhook_id: String,
    /// What callers present or sign with.
    pub webhook_secret: String,
    /// Whether calls are taken.
    pub deployed: bool,
    /// When it was deployed, while deployed (ms since the epoch).
    pub deployed_ms: Option<i64>,
    /// End of the armed window; cleared when a call claims it.
    pub armed_until_ms: Option<i64>,
    /// How many times it was armed: names the current window.
    pub arm_sequence: i64,
    /// When the webhook last started a run.
    pub last_fired_ms: Option<i64>,
    /// The run it last started.
    pub last_run_id: Option<String>,
    /// Fingerprint of the signed call that fired last.
    pub last_delivery: Option<String>,
}

/// A claimed window: which arm it was, and when it would have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedWindow {
    /// The arm's sequence number.
    pub arm_sequence: i64,
    /// The window's end, as the claim found it.
    pub armed_until_ms: i64,
}

/// Where triggers live.
#[async_trait]
pub trait TriggerStore: Send + Sync + 'static {
    /// A tenant's workflow's trigger, if it was ever deployed.
    async fn get_trigger(&self, tenant: &str, workflow_id: &str) -> Result<Option<TriggerRecord>, StoreError>;

    /// The trigger of a webhook id, whatever its tenant.
    async fn find_webhook(&self, webhook_id: &str) -> Result<Option<TriggerRecord>, StoreError>;

    /// Marks a workflow deployed with this webhook id and secret, creating
    /// its row on first deploy; `deployed_ms` is kept when it already was.
    /// Its window and last fire stay as they were.
    async fn deploy_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        webhook_id: &str,
        webhook_secret: &str,
        now_ms: i64,
    ) -> Result<TriggerRecord, StoreError>;

    /// Marks a workflow undeployed and disarms it; `None` when it has no row.
    async fn undeploy_trigger(&self, tenant: &str, workflow_id: &str) -> Result<Option<TriggerRecord>, StoreError>;

    /// Opens a new window ending at `armed_until_ms` on a deployed
    /// workflow (its credentials refreshed to these); `None` when it is not
    /// deployed.
    async fn arm_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        webhook_id: &str,
        webhook_secret: &str,
        armed_until_ms: i64,
    ) -> Result<Option<TriggerRecord>, StoreError>;

    /// Claims the open window of a deployed webhook (one still open at
    /// `now_ms`), clearing it with a compare-and-set; `None` when there is
    /// none to claim.
    async fn claim_window(&self, webhook_id: &str, now_ms: i64) -> Result<Option<ClaimedWindow>, StoreError>;

    /// Gives a claimed window back (its run could not start), unless the
    /// webhook was armed again or claimed since.
    async fn release_window(&self, webhook_id: &str, window: ClaimedWindow) -> Result<(), StoreError>;

    /// Records the run a claimed window started.
    async fn record_webhook_fire(
        &self,
        webhook_id: &str,
        run_id: &str,
        fired_ms: i64,
        delivery: Option<&str>,
    ) -> Result<(), StoreError>;
}

const COLUMNS: &str = "tenant_id, workflow_id, webhook_id, webhook_secret, deployed, deployed_at, armed_until, \
     arm_sequence, last_fired_at, last_run_id, last_delivery";

fn record(row: &impl Columns) -> Result<TriggerRecord, StoreError> {
    Ok(TriggerRecord {
        tenant_id: row.text("tenant_id")?,
        workflow_id: row.text("workflow_id")?,
        webhook_id: row.text("webhook_id")?,
        webhook_secret: row.text("webhook_secret")?,
        deployed: row.int("deployed")? != 0,
        deployed_ms: row.opt_int("deployed_at")?,
        armed_until_ms: row.opt_int("armed_until")?,
        arm_sequence: row.int("arm_sequence")?,
        last_fired_ms: row.opt_int("last_fired_at")?,
        last_run_id: row.opt_text("last_run_id")?,
        last_delivery: row.opt_text("last_delivery")?,
    })
}

#[async_trait]
impl<D: Dialect> TriggerStore for D {
    async fn get_trigger(&self, tenant: &str, workflow_id: &str) -> Result<Option<TriggerRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM workflow_triggers WHERE tenant_id = ?1 AND workflow_id = ?2");
        let args = [Arg::Text(tenant), Arg::Text(workflow_id)];
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &args).await?;
        row.as_ref().map(record).transpose()
    }

    async fn find_webhook(&self, webhook_id: &str) -> Result<Option<TriggerRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM workflow_triggers WHERE webhook_id = ?1");
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(webhook_id)]).await?;
        row.as_ref().map(record).transpose()
    }

    async fn deploy_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        webhook_id: &str,
        webhook_secret: &str,
        now_ms: i64,
    ) -> Result<TriggerRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO workflow_triggers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, 1, ?5, NULL, 0, NULL, NULL, NULL) \
             ON CONFLICT (tenant_id, workflow_id) DO UPDATE SET webhook_id = excluded.webhook_id, \
             webhook_secret = excluded.webhook_secret, deployed = 1, \
             deployed_at = CASE WHEN workflow_triggers.deployed = 1 THEN workflow_triggers.deployed_at \
             ELSE excluded.deployed_at END"
        );
        let args = [
            Arg::Text(tenant),
            Arg::Text(workflow_id),
            Arg::Text(webhook_id),
            Arg::Text(webhook_secret),
            Arg::Int(now_ms),
        ];
        D::execute(&mut *tx, &sql, &args).await?;
        let read = format!("SELECT {COLUMNS} FROM workflow_triggers WHERE tenant_id = ?1 AND workflow_id = ?2");
        let row = D::fetch_optional(&mut *tx, &read, &args[..2]).await?;
        D::commit(tx).await?;
        match row {
            Some(row) => record(&row),
            None => Err(StoreError::Corrupt(format!("the trigger of workflow '{workflow_id}' vanished on deploy"))),
        }
    }

    async fn undeploy_trigger(&self, tenant: &str, workflow_id: &str) -> Result<Option<TriggerRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        let args = [Arg::Text(tenant), Arg::Text(workflow_id)];
        let sql = "UPDATE workflow_triggers SET deployed = 0, deployed_at = NULL, armed_until = NULL \
             WHERE tenant_id = ?1 AND workflow_id = ?2";
        D::execute(&mut *tx, sql, &args).await?;
        let read = format!("SELECT {COLUMNS} FROM workflow_triggers WHERE tenant_id = ?1 AND workflow_id = ?2");
        let row = D::fetch_optional(&mut *tx, &read, &args).await?;
        D::commit(tx).await?;
        row.as_ref().map(record).transpose()
    }

    async fn arm_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        webhook_id: &str,
        webhook_secret: &str,
        armed_until_ms: i64,
    ) -> Result<Option<TriggerRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = "UPDATE workflow_triggers SET armed_until = ?5, arm_sequence = arm_sequence + 1, \
             webhook_id = ?3, webhook_secret = ?4 WHERE tenant_id = ?1 AND workflow_id = ?2 AND deployed = 1";
        let args = [
            Arg::Text(tenant),
            Arg::Text(workflow_id),
            Arg::Text(webhook_id),
            Arg::Text(webhook_secret),
            Arg::Int(armed_until_ms),
        ];
        if D::execute(&mut *tx, sql, &args).await? == 0 {
            return Ok(None);
        }
        let read = format!("SELECT {COLUMNS} FROM workflow_triggers WHERE tenant_id = ?1 AND workflow_id = ?2");
        let row = D::fetch_optional(&mut *tx, &read, &args[..2]).await?;
        D::commit(tx).await?;
        row.as_ref().map(record).transpose()
    }

    async fn claim_window(&self, webhook_id: &str, now_ms: i64) -> Result<Option<ClaimedWindow>, StoreError> {
        let mut conn = self.acquire().await?;
        let read = "SELECT arm_sequence, armed_until FROM workflow_triggers \
             WHERE webhook_id = ?1 AND deployed = 1 AND armed_until > ?2";
        let args = [Arg::Text(webhook_id), Arg::Int(now_ms)];
        let Some(row) = D::fetch_optional(&mut *conn, read, &args).await? else {
            return Ok(None);
        };
        let window = ClaimedWindow { arm_sequence: row.int("arm_sequence")?, armed_until_ms: row.int("armed_until")? };
        // The compare-and-set: one statement re-checks the window it read
        // (Postgres re-evaluates the WHERE on the row it locked), so of two
        // racing callers only one changes the row.
        let claim = "UPDATE workflow_triggers SET armed_until = NULL \
             WHERE webhook_id = ?1 AND deployed = 1 AND arm_sequence = ?2 AND armed_until = ?3 AND armed_until > ?4";
        let args =
            [Arg::Text(webhook_id), Arg::Int(window.arm_sequence), Arg::Int(window.armed_until_ms), Arg::Int(now_ms)];
        Ok((D::execute(&mut *conn, claim, &args).await? == 1).then_some(window))
    }

    async fn release_window(&self, webhook_id: &str, window: ClaimedWindow) -> Result<(), StoreError> {
        let sql = "UPDATE workflow_triggers SET armed_until = ?3 \
             WHERE webhook_id = ?1 AND arm_sequence = ?2 AND armed_until IS NULL AND deployed = 1";
        let args = [Arg::Text(webhook_id), Arg::Int(window.arm_sequence), Arg::Int(window.armed_until_ms)];
        D::execute(&mut *self.acquire().await?, sql, &args).await?;
        Ok(())
    }

    async fn record_webhook_fire(
        &self,
        webhook_id: &str,
        run_id: &str,
        fired_ms: i64,
        delivery: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE workflow_triggers SET last_fired_at = ?3, last_run_id = ?2, last_delivery = ?4 \
             WHERE webhook_id = ?1";
        let args = [Arg::Text(webhook_id), Arg::Text(run_id), Arg::Int(fired_ms), Arg::OptText(delivery)];
        D::execute(&mut *self.acquire().await?, sql, &args).await?;
        Ok(())
    }
}
