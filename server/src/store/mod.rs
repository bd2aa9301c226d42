//! Durable storage behind one trait, [`Store`], that SQLite and Postgres
//! implement with the same contract (the `store_contract` tests hold both
//! to it). [`OpenStore::open`] picks one from the database URL.
//!
//! The store speaks domain types (`crate::model`) and never tonic; the
//! engine decides, the store remembers. Every method is scoped to a tenant.

pub mod cluster;
mod error;
mod migrate;
mod open;
pub mod postgres;
mod postgres_approvals;
mod postgres_cluster;
mod postgres_listen;
mod postgres_retention;
mod postgres_runs;
mod postgres_tasks;
mod postgres_text;
mod postgres_workers;
mod retention;
mod rows;
mod runs;
pub mod sqlite;
mod sqlite_approvals;
mod sqlite_columns;
mod sqlite_commit;
mod sqlite_retention;
mod sqlite_runs;
mod sqlite_tasks;
mod sqlite_wal;
mod sqlite_workers;
mod tasks;
mod unreadable;
pub mod workers;

use std::collections::HashMap;

use async_trait::async_trait;

use crate::model::{
    ApprovalPage, ApprovalQuery, ApprovalRecord, Definition, EventRecord, RunRecord, StepRecord, TimerRecord, Workflow,
    WorkflowStatus, WorkflowVersionInfo,
};

pub use cluster::{ClusterStore, Fence, InboxEntry, Notice, PartitionLease, partition_of};
pub use error::{Entity, StoreError, Transient};
pub use open::{OpenStore, StoreKind, redacted_url};
pub use retention::{KeySweep, RunSweep, Swept};
pub use runs::{CommandRow, IdempotencyRow, InboxAnswer, OpenRun, RunBatch, RunPage, RunQuery};
pub use sqlite_wal::CheckpointStats;
pub use tasks::{ClaimRequest, ExpiredLease, LeasedTask, TaskClaim, TaskLease, TaskStatus};
pub use workers::{WorkerRecord, WorkerStore};

/// A workflow to create at version 1.
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    /// Fresh `wf_…` id.
    pub id: String,
    /// Initial status.
    pub status: WorkflowStatus,
    /// Trigger type label.
    pub trigger_type: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Summary of version 1.
    pub change_summary: String,
    /// The validated definition.
    pub definition: Definition,
    /// Client token; a second create with the same token within 24 h returns
    /// the first workflow.
    pub request_id: Option<String>,
    /// Creation time, Unix milliseconds.
    pub now_ms: i64,
}

/// The next version of a workflow.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The version the caller read and built on; the append fails with
    /// [`StoreError::VersionConflict`] if another writer got there first.
    pub based_on: u32,
    /// The validated definition of the new version.
    pub definition: Definition,
    /// Why it was written.
    pub change_summary: String,
    /// New tags, when they change.
    pub tags: Option<Vec<String>>,
    /// New trigger type, when it changes.
    pub trigger_type: Option<String>,
    /// Write time, Unix milliseconds.
    pub now_ms: i64,
}

/// Filters and page position of a workflow listing.
#[derive(Debug, Clone, Default)]
pub struct WorkflowQuery {
    /// Only this status; `None` means every status but archived.
    pub status: Option<WorkflowStatus>,
    /// Only workflows carrying this tag.
    pub tag: Option<String>,
    /// Only this trigger type.
    pub trigger_type: Option<String>,
    /// Resume after this (created_at_ms, id) position, newest first.
    pub after: Option<(i64, String)>,
    /// Rows to skip (offset paging); used when `after` is `None`.
    pub offset: u32,
    /// Most rows to return.
    pub limit: u32,
}

/// One page of a workflow listing.
#[derive(Debug, Clone)]
pub struct WorkflowPage {
    /// The rows, newest first.
    pub workflows: Vec<Workflow>,
    /// Rows matching the filters, across pages.
    pub total: u32,
    /// Whether rows follow this page.
    pub has_more: bool,
}

/// Persistence of Weft's state (worker registrations: [`WorkerStore`]).
#[async_trait]
pub trait Store: WorkerStore + Send + Sync + 'static {
    /// Creates a workflow at version 1 (or returns the one an earlier call
    /// with the same `request_id` created).
    async fn create_workflow(&self, tenant: &str, new: NewWorkflow) -> Result<Workflow, StoreError>;

    /// The latest version of a workflow.
    async fn get_workflow(&self, tenant: &str, id: &str) -> Result<Workflow, StoreError>;

    /// One version of a workflow.
    async fn get_workflow_version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow, StoreError>;

    /// A page of workflows, newest first.
    async fn list_workflows(&self, tenant: &str, query: &WorkflowQuery) -> Result<WorkflowPage, StoreError>;

    /// Writes version `based_on + 1`, atomically; fails with
    /// `VersionConflict` when the latest version is no longer `based_on`.
    async fn append_workflow_version(&self, tenant: &str, id: &str, next: NewVersion) -> Result<Workflow, StoreError>;

    /// Changes the status without writing a version.
    async fn set_workflow_status(
        &self,
        tenant: &str,
        id: &str,
        status: WorkflowStatus,
        now_ms: i64,
    ) -> Result<Workflow, StoreError>;

    /// Deletes a workflow and every version of it.
    async fn delete_workflow(&self, tenant: &str, id: &str) -> Result<(), StoreError>;

    /// Every version of a workflow, newest first.
    async fn list_workflow_versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, StoreError>;

    /// Writes one group commit of the run writer in one transaction: all of
    /// it or none of it. Then makes the batch's task claims in the same
    /// transaction, each taking the oldest queued task matching it under a
    /// new lease (the next fencing token); answers one entry per claim, in
    /// order, `None` where nothing matched.
    async fn commit_runs(&self, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError>;

    /// A run and its step rows in list order.
    async fn get_run(&self, tenant: &str, id: &str) -> Result<(RunRecord, Vec<StepRecord>), StoreError>;

    /// A page of runs, newest first.
    async fn list_runs(&self, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError>;

    /// At most `limit` events of a run with a sequence above `after`, in
    /// order. Empty for an unknown run.
    async fn list_run_events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// Deletes a run with its steps, events, commands, timers and tasks.
    async fn delete_run(&self, tenant: &str, id: &str) -> Result<(), StoreError>;

    /// The run an idempotency key was given to after `since_ms`, if any.
    async fn find_idempotent_run(&self, tenant: &str, key: &str, since_ms: i64) -> Result<Option<String>, StoreError>;

    /// For each (tenant, key) of `keys` that an idempotency key was given
    /// to after `since_ms`: the run it named. One query however many keys,
    /// so the run writer checks a whole batch of starts in one round trip.
    async fn find_idempotent_runs(
        &self,
        keys: &[(String, String)],
        since_ms: i64,
    ) -> Result<HashMap<(String, String), String>, StoreError>;

    /// Every unfinished run with its commands, for recovery.
    async fn load_open_runs(&self) -> Result<Vec<OpenRun>, StoreError>;

    /// Every armed timer, for recovery.
    async fn list_timers(&self) -> Result<Vec<TimerRecord>, StoreError>;

    /// How many tasks of a run are queued or leased.
    async fn count_tasks(&self, run_id: &str) -> Result<u32, StoreError>;

    /// A task's lease state; `None` for an unknown id.
    async fn get_task(&self, tenant: &str, task_id: &str) -> Result<Option<TaskLease>, StoreError>;

    /// Moves the deadline of a live lease (this token, leased, not yet
    /// expired at `now_ms`) to `deadline_ms` and records the cost so far.
    /// The new deadline, or `None` when the lease is not live; then nothing
    /// changed.
    async fn extend_lease(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        deadline_ms: i64,
        cost_so_far_cents: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// At most `limit` leases expired at `now_ms`, every tenant.
    async fn expired_leases(&self, now_ms: i64, limit: u32) -> Result<Vec<ExpiredLease>, StoreError>;

    /// The earliest deadline of any live lease.
    async fn next_lease_deadline(&self) -> Result<Option<i64>, StoreError>;

    /// Cancels a lease nothing can take back any more (its run is over),
    /// unless its token changed meanwhile.
    async fn withdraw_lease(&self, task_id: &str, token: u64) -> Result<(), StoreError>;

    /// Live leases per worker id of a tenant.
    async fn leases_by_owner(&self, tenant: &str) -> Result<Vec<(String, u32)>, StoreError>;

    /// One approval; `None` for an unknown id.
    async fn get_approval(&self, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;

    /// A page of approvals, newest first.
    async fn list_approvals(&self, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, StoreError>;

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

    /// The secret kept under `name`: `candidate` is stored when there is
    /// none yet, and whichever value is stored is returned (a race between
    /// two starts keeps one value).
    async fn server_secret(&self, name: &str, candidate: &str, now_ms: i64) -> Result<String, StoreError>;
}
