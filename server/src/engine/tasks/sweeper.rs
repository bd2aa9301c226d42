//! The lease sweeper: sleeps until the earliest lease deadline (a new or
//! moved lease may bring it forward), then hands each expired lease to the writer
//! as `LeaseExpired`, which queues the next attempt or fails the step with
//! LEASE_EXPIRED; a lease that ended at its attempt's deadline (the step's
//! `timeout`, which a lease never outlives) goes as `StepTimedOut`, which
//! fails the step with STEP_TIMEOUT instead. Deadlines are in the store, so leases that ran out while
//! the server was down are swept at start. With several replicas, each
//! sweeps the tasks of the partitions it holds, so a dead replica's leases
//! are swept by whoever takes its partitions, as soon as it takes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::engine::RunEngine;
use crate::engine::clock::now_ms;
use crate::engine::run::Command;
use crate::engine::scheduler::CommandRefusal;
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::engine as metrics;

/// Longest sleep: a safety net (leases are tracked, not polled).
const IDLE: Duration = Duration::from_secs(5);
/// Pause after a store error before trying again.
const BACKOFF: Duration = Duration::from_secs(1);
/// Expired leases handled per round.
const ROUND: u32 = 256;

/// Lease deadlines set since the sweeper last looked: the earliest of
/// them, and a bell. Claims come by thousands a second under load, so the
/// sweeper is told each deadline rather than asking the store again.
pub(super) struct NewDeadlines {
    earliest: AtomicI64,
    bell: Notify,
}

impl NewDeadlines {
    pub(super) fn new() -> Self {
        Self { earliest: AtomicI64::new(i64::MAX), bell: Notify::new() }
    }

    /// A lease now ends at `deadline_ms` (a claim, or a lease held longer).
    pub(super) fn tell(&self, deadline_ms: i64) {
        self.earliest.fetch_min(deadline_ms, Ordering::SeqCst);
        self.bell.notify_one();
    }

    /// Waits for a told deadline; the earliest told since the last call.
    async fn next(&self) -> i64 {
        self.bell.notified().await;
        self.earliest.swap(i64::MAX, Ordering::SeqCst)
    }
}

pub(super) async fn run(
    store: Arc<dyn Store>,
    runs: RunEngine,
    deadlines: Arc<NewDeadlines>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // When to look next, ms since the epoch.
        let mut due = match sweep(store.as_ref(), &runs).await {
            Ok(true) => now_ms(),
            Ok(false) => match next_deadline(store.as_ref(), &runs).await {
                Ok(Some(due)) => due.min(now_ms() + IDLE.as_millis() as i64),
                Ok(None) => now_ms() + IDLE.as_millis() as i64,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read lease deadlines");
                    now_ms() + BACKOFF.as_millis() as i64
                }
            },
            Err(()) => now_ms() + BACKOFF.as_millis() as i64,
        };
        // A told deadline can only bring the next look forward; the store
        // is asked once per sweep. Partitions taken from another replica
        // bring leases whose deadlines were never told: look at once.
        // (On SQLite a bell nobody rings.)
        let taken = runs.scheduler().cluster().map(|link| link.taken.clone()).unwrap_or_default();
        loop {
            let sleep = Duration::from_millis((due - now_ms()).max(0) as u64);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => break,
                told = deadlines.next() => due = due.min(told),
                _ = taken.notified() => break,
                _ = stop.changed() => return,
            }
        }
    }
}

/// The earliest lease deadline of the tasks this replica sweeps.
async fn next_deadline(store: &dyn Store, runs: &RunEngine) -> Result<Option<i64>, StoreError> {
    match runs.scheduler().cluster() {
        None => store.next_lease_deadline().await,
        Some(link) => {
            let held = link.held.ids();
            if held.is_empty() { Ok(None) } else { link.store.next_lease_deadline_in(&held).await }
        }
    }
}

/// Hands one round of expired leases to the writer. `Ok(true)` when the
/// round was full and more may be waiting.
async fn sweep(store: &dyn Store, runs: &RunEngine) -> Result<bool, ()> {
    let now = now_ms();
    let expired = match runs.scheduler().cluster() {
        None => store.expired_leases(now, ROUND).await,
        Some(link) => {
            let held = link.held.ids();
            if held.is_empty() { Ok(Vec::new()) } else { link.store.expired_leases_in(&held, now, ROUND).await }
        }
    };
    let expired = expired.map_err(|err| {
        tracing::error!(error = %err, "cannot read expired leases");
    })?;
    for lease in &expired {
        let (step, attempt) = (lease.step_key.clone(), lease.attempt);
        let command = match lease.timed_out_after_ms {
            Some(timeout_ms) => Command::StepTimedOut { step, attempt, timeout_ms, now_ms: now },
            None => Command::LeaseExpired { step, attempt, now_ms: now },
        };
        match runs.command(&lease.tenant_id, &lease.run_id, command).await {
            Ok(()) if lease.timed_out_after_ms.is_some() => {
                metrics::task_expired(&lease.agent, metrics::Expiry::Timeout);
                tracing::info!(task = %lease.task_id, attempt = lease.attempt, "attempt passed its step timeout")
            }
            Ok(()) => {
                metrics::task_expired(&lease.agent, metrics::Expiry::Lease);
                tracing::info!(task = %lease.task_id, attempt = lease.attempt, "lease expired")
            }
            // A completion won the race (the row is done already) or the
            // run is over: nothing will take this lease back, so withdraw it
            // rather than find it again every round.
            Err(CommandRefusal::Refused(_) | CommandRefusal::NotLive) => {
                if let Err(err) = store.withdraw_lease(&lease.task_id, lease.lease_token).await {
                    tracing::error!(task = %lease.task_id, error = %err, "cannot withdraw a dead lease");
                    return Err(());
                }
            }
            // Tried again after a pause: the writer is busy, or the run's
            // transition panicked and was rebuilt.
            Err(CommandRefusal::Unavailable | CommandRefusal::Internal) => return Err(()),
        }
    }
    Ok(expired.len() as u32 == ROUND)
}

#[cfg(test)]
mod tests {
    use super::NewDeadlines;

    #[tokio::test]
    async fn the_sweeper_hears_the_earliest_deadline_told_whatever_the_order() {
        let deadlines = NewDeadlines::new();
        // A claim's lease, then a webhook holding its lease to a sooner
        // callback deadline: the sooner one decides when to look.
        deadlines.tell(60_000);
        deadlines.tell(1_500);
        deadlines.tell(30_000);
        assert_eq!(deadlines.next().await, 1_500);
        deadlines.tell(90_000);
        assert_eq!(deadlines.next().await, 90_000, "what was heard is not heard again");
    }
}
