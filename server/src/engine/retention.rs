//! Retention: what keeps the database from growing forever. In the
//! background, finished runs (completed, failed, partial, cancelled) that
//! finished longer ago than their retention are deleted with everything
//! recorded about them, then idempotency keys and create request ids past
//! their 24 h, then tombstones older than [`TOMBSTONE_TTL`].
//!
//! - A run's retention is its workflow's `policy.retention` when the
//!   version it started on sets one (kept on the run row at start), else
//!   the server's `[runs] retention` (default 30 days).
//! - A pass runs every [`interval`] (a quarter of the server's retention,
//!   between 250 ms and 1 min). It deletes in short batches: on SQLite a
//!   batch starts no statement after [`MAX_HOLD`] on the writer's thread
//!   and a statement deletes at most 512 rows; on Postgres (no single
//!   writer to hold up) a batch is one statement deleting at most
//!   [`RUNS_PER_BATCH`] runs. After each batch the sweeper waits as long as
//!   the batch took, so the run writer keeps at least half of the time.
//! - Only finished runs are deleted, and a finished run is never in the
//!   writer's memory (see `store::retention`).
//! - With several replicas each deletes in the partitions it holds.
//! - A deleted run leaves a tombstone, so reading it answers NOT_FOUND
//!   saying it passed its retention ([`missing_run`]) for a week after.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::EngineError;
use crate::engine::cluster::Held;
use crate::engine::compile::parse_duration;
use crate::engine::scheduler::{IDEMPOTENCY_TTL_MS, now_ms};
use crate::model::Definition;
use crate::store::{KeySweep, RunSweep, Store, StoreError, Swept};

/// How long a tombstone of a deleted run is kept.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// When a SQLite batch stops starting statements: with the last one (at
/// most 512 rows) and the commit, a batch holds the writer a few ms.
pub const MAX_HOLD: Duration = Duration::from_millis(2);

/// Most runs of each rule one batch deletes. On SQLite the time bound
/// ([`MAX_HOLD`]) usually ends a batch first.
pub const RUNS_PER_BATCH: u32 = 64;

/// Most keys (and of create request ids, of tombstones) one batch deletes.
pub const KEYS_PER_BATCH: u32 = 1000;

/// Most vacuum steps in one pass (each gives back at most 1 MiB).
const MAX_VACUUM_STEPS: u32 = 64;

/// A workflow's own retention of its runs, ms, if its policy sets one
/// that parses (compilation refuses one that does not).
pub fn own_retention_ms(definition: &Definition) -> Option<i64> {
    let text = definition.policy.as_ref()?.retention.as_deref().filter(|text| !text.is_empty())?;
    parse_duration(text).ok().map(|d| d.as_millis().min(i64::MAX as u128) as i64)
}

/// How often a pass runs for a server retention of `retention`.
pub fn interval(retention: Duration) -> Duration {
    (retention / 4).clamp(Duration::from_millis(250), Duration::from_secs(60))
}

/// Totals since the sweeper started, for logs, tests and benchmarks.
#[derive(Debug, Default)]
pub struct RetentionStats {
    /// Runs deleted.
    pub runs: AtomicU64,
    /// Rows deleted (runs, their rows, keys, tombstones).
    pub rows: AtomicU64,
    /// Batches run.
    pub batches: AtomicU64,
    /// The longest hold of one batch, microseconds.
    pub max_held_micros: AtomicU64,
    /// Passes completed.
    pub passes: AtomicU64,
}

impl RetentionStats {
    fn count(&self, swept: &Swept) {
        self.runs.fetch_add(u64::from(swept.runs), Ordering::Relaxed);
        self.rows.fetch_add(u64::from(swept.rows), Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.max_held_micros.fetch_max(swept.held.as_micros() as u64, Ordering::Relaxed);
    }
}

/// The background task and how to stop it.
pub struct RetentionSweeper {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<RetentionStats>,
}

impl RetentionSweeper {
    /// Starts sweeping `store` with the server's `retention`; `held` names
    /// the partitions of this replica when several share the database.
    pub fn start(store: Arc<dyn Store>, retention: Duration, held: Option<Held>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(RetentionStats::default());
        let sweeper = Sweeper { store, retention, held, stats: stats.clone() };
        let task = tokio::spawn(sweeper.run(stopped));
        Self { stop, task: Mutex::new(Some(task)), stats }
    }

    /// What it has deleted so far.
    pub fn stats(&self) -> &Arc<RetentionStats> {
        &self.stats
    }

    /// Stops after the batch in hand.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("retention task").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Sweeper {
    store: Arc<dyn Store>,
    retention: Duration,
    held: Option<Held>,
    stats: Arc<RetentionStats>,
}

impl Sweeper {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let every = interval(self.retention);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.changed() => return,
            }
            if let Err(err) = self.pass(&stopped).await {
                tracing::warn!(error = %err, "retention pass failed; the next one tries again");
            }
            self.stats.passes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One pass: runs, then keys and tombstones, then free pages, each in
    /// batches until nothing is left or the sweeper is stopped.
    async fn pass(&self, stopped: &watch::Receiver<bool>) -> Result<(), StoreError> {
        let partitions = self.held.as_ref().map(Held::ids);
        if partitions.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let retention_ms = self.retention.as_millis().min(i64::MAX as u128) as i64;
        let (mut runs, mut rows, mut longest) = (0u64, 0u64, Duration::ZERO);
        loop {
            let sweep = RunSweep {
                now_ms: now_ms(),
                retention_ms,
                max_runs: RUNS_PER_BATCH,
                max_hold: MAX_HOLD,
                partitions: partitions.clone(),
            };
            let swept = self.store.sweep_finished_runs(&sweep).await?;
            self.record(&swept, &mut runs, &mut rows, &mut longest);
            if !swept.more || !self.pause(&swept, stopped).await {
                break;
            }
        }
        loop {
            let now = now_ms();
            let sweep = KeySweep {
                keys_before_ms: now - IDEMPOTENCY_TTL_MS,
                tombstones_before_ms: now - TOMBSTONE_TTL.as_millis() as i64,
                max_rows: KEYS_PER_BATCH,
                partitions: partitions.clone(),
            };
            let swept = self.store.sweep_expired_keys(&sweep).await?;
            self.record(&swept, &mut 0, &mut rows, &mut longest);
            if !swept.more || !self.pause(&swept, stopped).await {
                break;
            }
        }
        if runs > 0 {
            for _ in 0..MAX_VACUUM_STEPS {
                let reclaimed = self.store.reclaim_space().await?;
                if reclaimed.rows > 0 {
                    self.stats.max_held_micros.fetch_max(reclaimed.held.as_micros() as u64, Ordering::Relaxed);
                }
                if !reclaimed.more || !self.pause(&reclaimed, stopped).await {
                    break;
                }
            }
            tracing::info!(
                runs,
                rows,
                longest_hold_ms = longest.as_secs_f64() * 1e3,
                "retention deleted finished runs"
            );
        }
        Ok(())
    }

    fn record(&self, swept: &Swept, runs: &mut u64, rows: &mut u64, longest: &mut Duration) {
        self.stats.count(swept);
        *runs += u64::from(swept.runs);
        *rows += u64::from(swept.rows);
        *longest = (*longest).max(swept.held);
    }

    /// Waits as long as the last batch held, leaving the writer at least
    /// half of the time; false when the sweeper is stopping.
    async fn pause(&self, swept: &Swept, stopped: &watch::Receiver<bool>) -> bool {
        tokio::time::sleep(swept.held.max(Duration::from_millis(1))).await;
        !*stopped.borrow()
    }
}

/// The NOT_FOUND of a run the store does not have: saying when it was
/// deleted when retention deleted it (and its tombstone is kept), else
/// `what` as the store said it.
pub(crate) async fn missing_run(store: &dyn Store, tenant: &str, run_id: &str, what: String) -> EngineError {
    match store.run_tombstone(tenant, run_id).await {
        Ok(Some(deleted_ms)) => {
            let at = UNIX_EPOCH + Duration::from_millis(deleted_ms.max(0) as u64);
            EngineError::NotFound {
                what: format!(
                    "run '{run_id}' (it passed its retention and was deleted at {})",
                    humantime::format_rfc3339_seconds(at)
                ),
                reason: "RUN_PASSED_RETENTION",
            }
        }
        Ok(None) | Err(_) => EngineError::NotFound { what, reason: "RUN_NOT_FOUND" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_a_quarter_of_retention_within_bounds() {
        assert_eq!(interval(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_secs(1)), Duration::from_millis(250));
        assert_eq!(interval(Duration::from_secs(30 * 86_400)), Duration::from_secs(60));
    }

    #[test]
    fn a_workflow_policy_retention_is_kept_in_ms() {
        let mut definition = Definition::default();
        assert_eq!(own_retention_ms(&definition), None);
        definition.policy =
            Some(crate::model::definition::Policy { retention: Some("7d".into()), ..Default::default() });
        assert_eq!(own_retention_ms(&definition), Some(7 * 86_400_000));
        definition.policy =
            Some(crate::model::definition::Policy { retention: Some("90s".into()), ..Default::default() });
        assert_eq!(own_retention_ms(&definition), Some(90_000));
        definition.policy =
            Some(crate::model::definition::Policy { retention: Some(String::new()), ..Default::default() });
        assert_eq!(own_retention_ms(&definition), None, "empty is unset, as protobuf JSON writes it");
    }
}
