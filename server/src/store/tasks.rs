//! What the store is given and answers about the task queue: a claim by a
//! worker, the lease it gets, the lease state a later call is checked
//! against, and the expired leases the sweeper hands back to the writer.

use serde_json::Value;

use crate::model::StepStatus;

/// Where a task is in its life. A row is kept after its step finishes so
/// that a late call about it can be told why it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Waiting for a worker.
    Queued,
    /// Held by a worker under a lease.
    Leased,
    /// Its step took the outcome (completed, failed, or another attempt).
    Done,
    /// Withdrawn: the run was cancelled or failed, or a lease outlived it.
    Cancelled,
}

impl TaskStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Leased => "leased",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => Self::Queued,
            "leased" => Self::Leased,
            "done" => Self::Done,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// A worker asking for the oldest queued task of some agents.
#[derive(Debug, Clone)]
pub struct TaskClaim<'a> {
    /// Tenant the worker belongs to.
    pub tenant: &'a str,
    /// Agent names it takes tasks for; never empty.
    pub agents: &'a [String],
    /// Step kinds it may be given (e.g. only "agent").
    pub kinds: &'a [&'static str],
    /// The claiming worker, recorded as the lease owner.
    pub worker_id: &'a str,
    /// Now, ms since the epoch.
    pub now_ms: i64,
    /// Lease length, ms.
    pub lease_ms: i64,
}

/// A [`TaskClaim`] that owns its fields, to travel to the run writer, which
/// makes claims inside its group commit (ENGINE.md §4: on SQLite the writer
/// itself takes tasks off the queue).
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Tenant the worker belongs to.
    pub tenant: String,
    /// Agent names it takes tasks for; never empty.
    pub agents: Vec<String>,
    /// Step kinds it may be given.
    pub kinds: &'static [&'static str],
    /// The claiming worker, recorded as the lease owner.
    pub worker_id: String,
    /// Now, ms since the epoch.
    pub now_ms: i64,
    /// Lease length, ms.
    pub lease_ms: i64,
}

impl ClaimRequest {
    /// The borrowed form the store's queries take.
    pub fn as_claim(&self) -> TaskClaim<'_> {
        TaskClaim {
            tenant: &self.tenant,
            agents: &self.agents,
            kinds: self.kinds,
            worker_id: &self.worker_id,
            now_ms: self.now_ms,
            lease_ms: self.lease_ms,
        }
    }
}

/// A task claimed under a fresh lease, with what the worker needs to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedTask {
    /// `task_…`.
    pub task_id: String,
    /// Owning run.
    pub run_id: String,
    /// Instance key of the step.
    pub step_key: String,
    /// The run's workflow.
    pub workflow_id: String,
    /// The run's pinned version.
    pub workflow_version: u32,
    /// End user of the run, or empty.
    pub user_id: String,
    /// When the run started, ms since the epoch.
    pub run_started_ms: Option<i64>,
    /// Attempt, from 1.
    pub attempt: u32,
    /// Step type.
    pub kind: String,
    /// Agent name.
    pub agent: String,
    /// Rendered task text.
    pub task: Option<String>,
    /// Resolved inputMap.
    pub input: Value,
    /// Fencing token of this lease.
    pub lease_token: u64,
    /// End of the lease, ms since the epoch.
    pub lease_deadline_ms: i64,
    /// When the step's `timeout` ends this attempt (claim time + timeout),
    /// ms since the epoch; the lease never outlives it. `None`: no timeout.
    pub attempt_deadline_ms: Option<i64>,
    /// The shared-state keys the step declares (stateReads and
    /// stateWrites) with their values when the lease was made. Not stored:
    /// the run writer fills it from the live run after its commit.
    pub shared_state: Option<Value>,
}

/// A task's row as later calls about its lease are checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLease {
    /// `task_…`.
    pub task_id: String,
    /// Owning run.
    pub run_id: String,
    /// Instance key of the step.
    pub step_key: String,
    /// The step type: "agent", "planner", ….
    pub kind: String,
    /// Attempt, from 1.
    pub attempt: u32,
    /// Where the task is.
    pub status: TaskStatus,
    /// The latest lease's token (0: never leased).
    pub lease_token: u64,
    /// End of the current lease, while leased.
    pub lease_deadline_ms: Option<i64>,
    /// The worker holding the current lease, while leased.
    pub lease_owner: Option<String>,
    /// When the step's `timeout` ends the current lease's attempt, ms.
    pub attempt_deadline_ms: Option<i64>,
    /// The step's `timeout`, ms, when it has one.
    pub timeout_ms: Option<i64>,
    /// The token of the last lease the step's timeout ended.
    pub timed_out_token: Option<u64>,
    /// The run's workflow and pinned version.
    pub workflow_id: String,
    /// See `workflow_id`.
    pub workflow_version: u32,
    /// The step's status as last committed; `None` when the step row is
    /// gone.
    pub step_status: Option<StepStatus>,
    /// The step's recorded cost (finished attempts), cents.
    pub step_cost_cents: i64,
    /// The run is held by PauseRun (status paused, pending action type
    /// "manual"), as last committed.
    pub run_held: bool,
}

/// A lease whose deadline passed, for the sweeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredLease {
    /// `task_…`.
    pub task_id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Owning run.
    pub run_id: String,
    /// Instance key of the step.
    pub step_key: String,
    /// The attempt the lease was for.
    pub attempt: u32,
    /// Its token.
    pub lease_token: u64,
    /// `Some(timeout)` when the lease ended at its attempt's deadline: the
    /// step's `timeout` (ms) ran out, not the worker's heartbeats.
    pub timed_out_after_ms: Option<i64>,
}
