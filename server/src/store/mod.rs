//! Durable storage behind one trait, [`Store`], that SQLite and Postgres
//! implement with the same contract (the `store_contract` tests hold both
//! to it). [`OpenStore::open`] picks one from the database URL.
//!
//! The store speaks domain types (`crate::model`) and never tonic; the
//! engine decides, the store remembers. Every method is scoped to a tenant.
//!
//! [`Store`] is the sum of one trait per table (restate's storage-api
//! shape): [`WorkflowStore`], [`RunStore`], [`TaskStore`], [`TaskWaitStore`],
//! [`StepTaskStore`],
//! [`ApprovalStore`], [`WorkerStore`], [`SecretStore`], [`KeyStore`],
//! [`RetentionStore`], [`NotificationStore`], [`TriggerStore`],
//! [`TemplateStore`], [`SlotStore`], [`ScheduleStore`]
//! and the run writer's [`CommitStore`]. The reads and the workflow and
//! worker writes are written once (`workflows.rs`, `runs.rs`, …) over a
//! [`dialect::Dialect`] both databases implement, with one row decoder per
//! record (`rows.rs`); the group commit and retention sweeps are each
//! database's own (`sqlite/`, `postgres/`).

mod approvals;
pub mod cluster;
mod dialect;
mod error;
mod keys;
mod migrate;
pub mod notifications;
mod open;
mod paging;
pub mod postgres;
mod retention;
mod rows;
mod run_traces;
mod runs;
pub mod schedules;
mod secrets;
pub mod slots;
pub mod sqlite;
mod step_tasks;
mod task_waits;
mod tasks;
pub mod templates;
mod tenant_secrets;
pub mod triggers;
mod unreadable;
pub mod workers;
mod workflow_order;
mod workflows;

pub use approvals::ApprovalStore;
pub use cluster::{ClusterStore, Fence, InboxEntry, Notice, PartitionLease, partition_of};
pub use error::{Entity, StoreError, Transient};
pub use keys::{KeyRecord, KeyStore};
pub use notifications::NotificationStore;
pub use open::{OpenStore, StoreKind, redacted_url};
pub use retention::{KeySweep, RetentionStore, RunSweep, Swept};
pub use run_traces::{RunTrace, TraceContext};
pub use runs::{CommandRow, CommitStore, IdempotencyRow, InboxAnswer, OpenRun, RunBatch, RunPage, RunQuery, RunStore};
pub use schedules::ScheduleStore;
pub use secrets::SecretStore;
pub use slots::{PausedRuns, QueueRow, SlotAsk, SlotStore, StalledAdmission};
pub use sqlite::wal::CheckpointStats;
pub use step_tasks::{StepTask, StepTaskStore};
pub use task_waits::{AgentQueueRow, QueueCursor, QueuedTask, TaskWaitStore};
pub use tasks::{ClaimRequest, ClaimScope, ExpiredLease, LeasedTask, TaskClaim, TaskLease, TaskStatus, TaskStore};
pub use templates::TemplateStore;
pub use tenant_secrets::{TenantSecretInfo, TenantSecretStore};
pub use triggers::TriggerStore;
pub use workers::{WorkerRecord, WorkerStore};
pub use workflow_order::{CursorKey, SortOrder, WorkflowCursor, WorkflowSort};
pub use workflows::{NamedWorkflow, NewVersion, NewWorkflow, WorkflowPage, WorkflowQuery, WorkflowStore};

/// Persistence of Weft's state: every table's trait. Callers hold an
/// `Arc<dyn Store>` and call any table's methods on it.
pub trait Store:
    WorkflowStore
    + RunStore
    + CommitStore
    + TaskStore
    + TaskWaitStore
    + StepTaskStore
    + ApprovalStore
    + WorkerStore
    + SecretStore
    + KeyStore
    + TenantSecretStore
    + RetentionStore
    + NotificationStore
    + TriggerStore
    + TemplateStore
    + SlotStore
    + ScheduleStore
{
}

impl<T> Store for T where
    T: WorkflowStore
        + RunStore
        + CommitStore
        + TaskStore
        + TaskWaitStore
        + StepTaskStore
        + ApprovalStore
        + WorkerStore
        + SecretStore
        + KeyStore
        + TenantSecretStore
        + RetentionStore
        + NotificationStore
        + TriggerStore
        + TemplateStore
        + SlotStore
        + ScheduleStore
{
}
