//! The concurrent-run limit's tables (migration 0019): `run_queue`, the
//! runs of a workflow waiting for a slot in arrival order, and
//! `run_slots`, the runs holding one. The run writer's commit adds queue
//! rows ([`QueueRow`], in [`super::RunBatch::queued`]) and deletes both
//! rows of a run that ends ([`super::RunBatch::slots_freed`]); the grants
//! themselves are [`SlotStore`] transactions that count a workflow's
//! slots under a lock, so two replicas never both take the last one. See
//! `engine/concurrency.rs` for how the engine uses them.

use async_trait::async_trait;

use super::StoreError;

/// A run accepted over its workflow's limit, queued in the commit that
/// creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    /// The run.
    pub run_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Its workflow.
    pub workflow_id: String,
    /// The limit it waits under (at least 1).
    pub max_running: u32,
    /// When it was queued, ms since the epoch.
    pub queued_ms: i64,
}

/// A new run asking for a slot before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotAsk {
    /// The run (not stored yet).
    pub run_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Its workflow.
    pub workflow_id: String,
    /// The limit it starts under (at least 1).
    pub max_running: u32,
}

/// Which slots count against a workflow's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausedRuns {
    /// A paused run keeps its slot (`[runs] paused_runs_hold_a_slot`).
    HoldSlots,
    /// A paused run's slot is free for another run while it stays paused.
    FreeSlots,
}

/// A run that holds a slot but is still queued: its `Admit` was lost
/// (the granting replica stopped before applying it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalledAdmission {
    /// Its tenant.
    pub tenant_id: String,
    /// The run.
    pub run_id: String,
}

/// Grants of slots under the concurrent-run limit.
#[async_trait]
pub trait SlotStore: Send + Sync + 'static {
    /// For each ask, in order: whether it got a slot, written before the
    /// answer. A workflow with runs queued grants nothing to a new run
    /// (it queues behind them), nor does one whose slots are all taken.
    async fn take_slots(&self, asks: &[SlotAsk], paused: PausedRuns, now_ms: i64) -> Result<Vec<bool>, StoreError>;

    /// Moves the oldest queued runs of one workflow into its free slots,
    /// at most `most`; the runs admitted, oldest first.
    async fn admit_queued(
        &self,
        tenant: &str,
        workflow_id: &str,
        paused: PausedRuns,
        most: u32,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Every (tenant, workflow) with runs queued.
    async fn queued_workflows(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Runs granted a slot before `before_ms` that are still queued; and,
    /// first, deletes slots granted before `before_ms` to runs that are
    /// finished or were never stored (a start whose commit failed).
    async fn stalled_admissions(&self, before_ms: i64) -> Result<Vec<StalledAdmission>, StoreError>;
}
