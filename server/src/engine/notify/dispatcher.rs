//! The dispatcher: one background task per replica that turns outbox
//! entries into deliveries and makes the deliveries that are due.
//!
//! Each round it
//! 1. fans out up to [`FAN_OUT_BATCH`] outbox entries: one delivery per
//!    subscription of the run's tenant that wants the event (and, if it
//!    filters, the run's workflow), stored together with the removal of
//!    the entry, so an entry is fanned out once even across a crash (the
//!    deliveries are unique per subscription and event);
//! 2. claims up to [`SEND_BATCH`] due deliveries under a lease, sends them
//!    concurrently and records each attempt under that lease. A replica
//!    that dies mid-attempt leaves a lease that ends, and the delivery is
//!    tried again: at least once, with the same `Idempotency-Key`;
//! 3. once a minute, prunes ended deliveries older than the log retention.
//!
//! It sleeps `poll_interval_ms` between rounds that found nothing to do.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::attempt::attempt;
use super::events::{NotifyEvent, body};
use super::subscriptions::fresh_delivery_id;
use crate::config::NotifySettings;
use crate::engine::clock::now_ms;
use crate::outbound::OutboundClient;
use crate::store::notifications::{DeliveryRecord, DeliveryStatus, OutboxEntry, SubscriptionRecord};
use crate::store::{Store, StoreError};

/// Outbox entries fanned out per round.
const FAN_OUT_BATCH: u32 = 100;
/// Deliveries claimed per round, sent concurrently.
const SEND_BATCH: u32 = 32;
/// How long a claim outlives the request timeout, so a slow answer is
/// recorded before another replica may take the delivery.
const LEASE_MARGIN_MS: i64 = 30_000;
/// How often the delivery log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Rows pruned per statement.
const PRUNE_BATCH: u32 = 1_000;
/// Most subscriptions of one tenant a fan-out reads: the highest
/// `max_subscriptions` accepts, so lowering the setting never hides
/// subscriptions made under a higher one.
const MAX_TENANT_SUBSCRIPTIONS: u32 = 10_000;

/// The running dispatcher.
pub struct NotificationDispatcher {
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl NotificationDispatcher {
    /// Starts the dispatcher over `store`, sending through `client`.
    pub fn start(store: Arc<dyn Store>, settings: NotifySettings, client: OutboundClient) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, Arc::new(settings), client, stopped));
        Self { stop, task: std::sync::Mutex::new(Some(task)) }
    }

    /// Stops after the round in hand; attempts in flight finish first.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("dispatcher task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    settings: Arc<NotifySettings>,
    client: OutboundClient,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_prune = tokio::time::Instant::now();
    let pause = Duration::from_millis(settings.poll_interval_ms);
    while !*stop.borrow() {
        let busy = match round(&store, &settings, &client).await {
            Ok(busy) => busy,
            Err(err) => {
                tracing::warn!(error = %err, "notification dispatch round failed; retrying");
                false
            }
        };
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            let before = now_ms().saturating_sub(i64::try_from(settings.log_retention.as_millis()).unwrap_or(i64::MAX));
            if let Err(err) = store.prune_deliveries(before, PRUNE_BATCH).await {
                tracing::warn!(error = %err, "cannot prune the notification delivery log");
            }
        }
        if !busy {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// One round; true when a batch was full, so the next round starts at once.
async fn round(
    store: &Arc<dyn Store>,
    settings: &Arc<NotifySettings>,
    client: &OutboundClient,
) -> Result<bool, StoreError> {
    let entries = store.outbox(FAN_OUT_BATCH).await?;
    let mut subscribers: HashMap<String, Vec<SubscriptionRecord>> = HashMap::new();
    for entry in &entries {
        if !subscribers.contains_key(&entry.tenant_id) {
            let all = store.list_subscriptions(&entry.tenant_id, None, MAX_TENANT_SUBSCRIPTIONS).await?;
            subscribers.insert(entry.tenant_id.clone(), all);
        }
        let deliveries = fan_out(entry, subscribers.get(&entry.tenant_id).map_or(&[][..], Vec::as_slice));
        store.fan_out(&entry.run_id, entry.sequence, &deliveries).await?;
    }

    let now = now_ms();
    let lease_until = now
        .saturating_add(i64::try_from(settings.request_timeout_ms).unwrap_or(i64::MAX))
        .saturating_add(LEASE_MARGIN_MS);
    let claimed = store.claim_deliveries(now, lease_until, SEND_BATCH).await?;
    let full = entries.len() == FAN_OUT_BATCH as usize || claimed.len() == SEND_BATCH as usize;
    let mut sending = JoinSet::new();
    for claimed in claimed {
        let (store, settings, client) = (store.clone(), settings.clone(), client.clone());
        sending.spawn(async move {
            let record = attempt(&client, &settings, &claimed).await;
            let delivery = &claimed.delivery;
            match store.record_attempt(&delivery.id, claimed.lease_until, &record).await {
                Ok(true) => tracing::debug!(delivery = %delivery.id, status = record.status.as_str(), "notification attempt"),
                // Deleted with its subscription, or its lease ran out and
                // another replica holds it now.
                Ok(false) => tracing::info!(delivery = %delivery.id, "a notification attempt was not recorded: the delivery moved on"),
                Err(err) => tracing::warn!(delivery = %delivery.id, error = %err, "cannot record a notification attempt; it will be made again"),
            }
        });
    }
    while sending.join_next().await.is_some() {}
    Ok(full)
}

/// The deliveries `entry` makes: one per subscription that wants it.
fn fan_out(entry: &OutboxEntry, subscriptions: &[SubscriptionRecord]) -> Vec<DeliveryRecord> {
    let Some(event) = NotifyEvent::from_run_event(&entry.event_type) else {
        return Vec::new();
    };
    let wanted = |s: &&SubscriptionRecord| {
        s.event_types.iter().any(|name| name == event.name())
            && s.workflow_id.as_ref().is_none_or(|workflow| *workflow == entry.workflow_id)
    };
    let matching: Vec<&SubscriptionRecord> = subscriptions.iter().filter(wanted).collect();
    if matching.is_empty() {
        return Vec::new();
    }
    let body = body(event, entry);
    matching
        .into_iter()
        .map(|s| DeliveryRecord {
            id: fresh_delivery_id(),
            tenant_id: entry.tenant_id.clone(),
            subscription_id: s.id.clone(),
            run_id: entry.run_id.clone(),
            sequence: entry.sequence,
            event_type: event.name().to_owned(),
            body: body.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status_code: None,
            last_error: None,
            created_ms: entry.created_ms,
            next_attempt_ms: Some(entry.created_ms),
            delivered_ms: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(id: &str, events: &[&str], workflow: Option<&str>) -> SubscriptionRecord {
        SubscriptionRecord {
            id: id.into(),
            tenant_id: "t".into(),
            url: "http://x".into(),
            event_types: events.iter().map(|e| e.to_string()).collect(),
            workflow_id: workflow.map(str::to_owned),
            description: String::new(),
            secret: "s".into(),
            created_ms: 0,
        }
    }

    #[test]
    fn an_event_goes_to_each_subscription_that_wants_its_type_and_workflow() {
        let entry = OutboxEntry {
            run_id: "wfrun_1".into(),
            sequence: 4,
            tenant_id: "t".into(),
            workflow_id: "wf_a".into(),
            event_type: "step.cost_exceeded".into(),
            payload: "{}".into(),
            created_ms: 9,
        };
        let subscriptions = [
            subscription("ntf_all", &["workflow.step.cost_exceeded", "run.failed"], None),
            subscription("ntf_a", &["workflow.step.cost_exceeded"], Some("wf_a")),
            subscription("ntf_b", &["workflow.step.cost_exceeded"], Some("wf_b")),
            subscription("ntf_runs", &["run.completed"], None),
        ];
        let made = fan_out(&entry, &subscriptions);
        let to: Vec<&str> = made.iter().map(|d| d.subscription_id.as_str()).collect();
        assert_eq!(to, ["ntf_all", "ntf_a"]);
        assert!(made.iter().all(|d| d.event_type == "workflow.step.cost_exceeded" && d.next_attempt_ms == Some(9)));
        assert_ne!(made[0].id, made[1].id);
        let other = OutboxEntry { event_type: "step.completed".into(), ..entry };
        assert!(fan_out(&other, &subscriptions).is_empty());
    }
}
