//! What the store is asked and answers when retention deletes old data
//! (`engine::retention` decides when): one bounded batch of finished runs
//! past their retention, one batch of expired keys and tombstones.
//!
//! A batch is bounded by time (SQLite: it starts no statement once it has
//! held the writer for `max_hold`) and each statement by rows, so one run
//! with thousands of events cannot make a batch long: a run whose rows do
//! not fit is deleted over several batches (its step, event and command
//! rows first, its run row last, so it stays findable, finished and past
//! retention until the end). Only runs in a finished status are ever touched: a run the writer
//! holds in memory is open in the store too (the writer drops a run from
//! memory only after committing it finished, and a finished run never
//! reopens), so it is never selected.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;

/// The run statuses retention may delete, as stored. The partial indexes of
/// migration 0011 repeat this list word for word (SQLite uses a partial
/// index only when the query repeats its condition).
pub const FINISHED_SQL: &str = "status IN ('completed', 'failed', 'partial', 'cancelled')";

/// One batch of finished runs to delete.
#[derive(Debug, Clone)]
pub struct RunSweep {
    /// Now, ms since the epoch.
    pub now_ms: i64,
    /// The server's retention, ms: runs without their own are deleted once
    /// finished longer ago than this.
    pub retention_ms: i64,
    /// Most runs the batch deletes (per rule: the server's, a workflow's own).
    pub max_runs: u32,
    /// SQLite: the batch starts no statement after holding the writer this
    /// long (at least one always runs, deleting at most 512 rows).
    pub max_hold: Duration,
    /// Several replicas (Postgres): only runs of these partitions. `None`:
    /// every run. SQLite, whose one replica holds them all, ignores it.
    pub partitions: Option<Vec<u16>>,
}

/// One batch of expired keys and tombstones to delete.
#[derive(Debug, Clone)]
pub struct KeySweep {
    /// Idempotency keys and create request ids taken before this, ms, are
    /// expired.
    pub keys_before_ms: i64,
    /// Tombstones written before this, ms, are dropped.
    pub tombstones_before_ms: i64,
    /// Most rows of each kind the batch deletes.
    pub max_rows: u32,
    /// As [`RunSweep::partitions`]; a key goes with the partition of its
    /// run (a create request id with that of its workflow).
    pub partitions: Option<Vec<u16>>,
}

/// What one batch deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Runs deleted whole (each now has a tombstone).
    pub runs: u32,
    /// Rows deleted, of every table.
    pub rows: u32,
    /// Whether the batch stopped at its bound with more left to delete.
    pub more: bool,
    /// How long the batch held the database's write lock (SQLite) or its
    /// transaction open (Postgres).
    pub held: Duration,
}

/// Where retention deletes old data; each database sweeps its own way
/// (SQLite on its commit thread, Postgres on the pool).
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Deletes one bounded batch of finished runs past their retention
    /// (the sweep's, or their workflow's own), with everything recorded
    /// about them, leaving a tombstone for each. Never touches a run that
    /// is not finished.
    async fn sweep_finished_runs(&self, sweep: &RunSweep) -> Result<Swept, StoreError>;

    /// Deletes one bounded batch of expired idempotency keys, create
    /// request ids and old tombstones.
    async fn sweep_expired_keys(&self, sweep: &KeySweep) -> Result<Swept, StoreError>;

    /// When retention deleted a run (ms), if it did and its tombstone is
    /// still kept.
    async fn run_tombstone(&self, tenant: &str, id: &str) -> Result<Option<i64>, StoreError>;

    /// Gives a bounded number of free pages back to the file system (SQLite
    /// files with incremental auto-vacuum; `rows` counts pages). Nothing to
    /// do on Postgres, whose autovacuum reclaims deleted rows.
    async fn reclaim_space(&self) -> Result<Swept, StoreError>;
}
