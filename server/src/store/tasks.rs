//! What the store is given and answers about the task queue: a claim by a
//! worker, the lease it gets, the lease state a later call is checked
//! against, and the expired leases the sweeper hands back to the writer.

use async_trait::async_trait;
use serde_json::Value;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::{self, Columns, LEASE_SELECT};
use crate::model::{StepKind, StepStatus};

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

/// Whose tasks a claim may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimScope {
    /// Only this tenant's: every worker's claim.
    Tenant(String),
    /// Any tenant's: the built-in executor's claim, which serves every
    /// tenant and acts in the leased task's own ([`LeasedTask::tenant_id`]).
    AnyTenant,
}

impl ClaimScope {
    /// Whether a task of `tenant` is in scope.
    pub fn covers(&self, tenant: &str) -> bool {
        match self {
            Self::Tenant(own) => own == tenant,
            Self::AnyTenant => true,
        }
    }

    /// The one tenant claimed for, or `None` for any.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Self::Tenant(own) => Some(own),
            Self::AnyTenant => None,
        }
    }
}

/// A worker asking for the oldest queued task of some agents.
#[derive(Debug, Clone)]
pub struct TaskClaim<'a> {
    /// Whose tasks it may take.
    pub scope: &'a ClaimScope,
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
    /// Whose tasks it may take.
    pub scope: ClaimScope,
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
            scope: &self.scope,
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
    /// Owning tenant: the one every later call about the lease acts in.
    pub tenant_id: String,
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
    pub kind: StepKind,
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
    /// When this attempt was queued (ready to claim), ms since the epoch:
    /// the start of its dispatch latency.
    pub queued_ms: i64,
    /// When the step's `timeout` ends this attempt (claim time + timeout),
    /// ms since the epoch; the lease never outlives it. `None`: no timeout.
    pub attempt_deadline_ms: Option<i64>,
    /// The shared-state keys the step declares (stateReads and
    /// stateWrites) with their values when the lease was made. Not stored:
    /// the run writer fills it from the live run after its commit.
    pub shared_state: Option<Value>,
    /// The trace context the run was started in, if any (handed to the
    /// worker as `Task.trace_context`).
    pub trace_context: Option<super::TraceContext>,
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
    /// The step type.
    pub kind: StepKind,
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
    /// The task's agent; empty for built-in steps.
    pub agent: String,
    /// Its token.
    pub lease_token: u64,
    /// `Some(timeout)` when the lease ended at its attempt's deadline: the
    /// step's `timeout` (ms) ran out, not the worker's heartbeats.
    pub timed_out_after_ms: Option<i64>,
}

/// Where the task queue's leases are read and kept alive (claims and
/// outcomes are written in the run writer's commits).
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
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
}

/// At most `limit` leases whose deadline is at or before `now_ms`, oldest
/// first; `filter` (a condition on `run_id` from `?3`, with its `args`)
/// narrows them (Postgres: to some partitions).
pub(crate) async fn expired<D: Dialect>(
    store: &D,
    now_ms: i64,
    limit: u32,
    filter: &str,
    args: &[Arg<'_>],
) -> Result<Vec<ExpiredLease>, StoreError> {
    let sql = format!(
        "SELECT task_id, tenant_id, run_id, step_key, attempt, agent, lease_token, \
         CASE WHEN lease_deadline >= attempt_deadline THEN timeout_ms END AS timed_out_after FROM tasks \
         WHERE status = 'leased' AND lease_deadline <= ?1 {filter} ORDER BY lease_deadline LIMIT ?2"
    );
    let mut all = vec![Arg::Int(now_ms), Arg::Int(i64::from(limit))];
    all.extend_from_slice(args);
    let rows = D::fetch_all(&mut *store.acquire().await?, &sql, &all).await?;
    rows.iter()
        .map(|row| {
            Ok(ExpiredLease {
                task_id: row.text("task_id")?,
                tenant_id: row.text("tenant_id")?,
                run_id: row.text("run_id")?,
                step_key: row.text("step_key")?,
                attempt: row.int("attempt")? as u32,
                agent: row.opt_text("agent")?.unwrap_or_default(),
                lease_token: row.int("lease_token")? as u64,
                timed_out_after_ms: row.opt_int("timed_out_after")?,
            })
        })
        .collect()
}

/// The earliest deadline of a live lease; `filter` (a condition on
/// `run_id` from `?1`, with its `args`) narrows the leases.
pub(crate) async fn next_deadline<D: Dialect>(
    store: &D,
    filter: &str,
    args: &[Arg<'_>],
) -> Result<Option<i64>, StoreError> {
    let sql = format!("SELECT MIN(lease_deadline) AS deadline FROM tasks WHERE status = 'leased' {filter}");
    let row = D::fetch_optional(&mut *store.acquire().await?, &sql, args).await?;
    Ok(row.map(|row| row.opt_int("deadline")).transpose()?.flatten())
}

#[async_trait]
impl<D: Dialect> TaskStore for D {
    async fn count_tasks(&self, run_id: &str) -> Result<u32, StoreError> {
        let sql = "SELECT COUNT(*) AS n FROM tasks WHERE run_id = ?1 AND status IN ('queued', 'leased')";
        let row = D::fetch_optional(&mut *self.acquire().await?, sql, &[Arg::Text(run_id)]).await?;
        Ok(row.map(|row| row.int("n")).transpose()?.unwrap_or_default() as u32)
    }

    async fn get_task(&self, tenant: &str, task_id: &str) -> Result<Option<TaskLease>, StoreError> {
        let sql = format!("{LEASE_SELECT} WHERE t.tenant_id = ?1 AND t.task_id = ?2");
        let row =
            D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(tenant), Arg::Text(task_id)]).await?;
        row.as_ref().map(rows::lease).transpose()
    }

    async fn extend_lease(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        deadline_ms: i64,
        cost_so_far_cents: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        // Never past the attempt's own deadline, when it has one.
        let sql = "UPDATE tasks SET lease_deadline = CASE WHEN attempt_deadline < ?4 THEN attempt_deadline ELSE ?4 END, \
             cost_so_far = ?5 \
             WHERE tenant_id = ?1 AND task_id = ?2 AND lease_token = ?3 AND status = 'leased' AND lease_deadline > ?6 \
             RETURNING lease_deadline";
        let args = [
            Arg::Text(tenant),
            Arg::Text(task_id),
            Arg::Int(token as i64),
            Arg::Int(deadline_ms),
            Arg::Int(cost_so_far_cents),
            Arg::Int(now_ms),
        ];
        let row = D::fetch_optional(&mut *self.acquire().await?, sql, &args).await?;
        Ok(row.map(|row| row.opt_int("lease_deadline")).transpose()?.flatten())
    }

    async fn expired_leases(&self, now_ms: i64, limit: u32) -> Result<Vec<ExpiredLease>, StoreError> {
        expired(self, now_ms, limit, "", &[]).await
    }

    async fn next_lease_deadline(&self) -> Result<Option<i64>, StoreError> {
        next_deadline(self, "", &[]).await
    }

    async fn withdraw_lease(&self, task_id: &str, token: u64) -> Result<(), StoreError> {
        let sql = "UPDATE tasks SET status = 'cancelled', lease_owner = NULL, lease_deadline = NULL \
             WHERE task_id = ?1 AND lease_token = ?2 AND status = 'leased'";
        D::execute(&mut *self.acquire().await?, sql, &[Arg::Text(task_id), Arg::Int(token as i64)]).await?;
        Ok(())
    }

    async fn leases_by_owner(&self, tenant: &str) -> Result<Vec<(String, u32)>, StoreError> {
        let sql = "SELECT lease_owner, COUNT(*) AS n FROM tasks WHERE status = 'leased' AND tenant_id = ?1 \
             GROUP BY lease_owner";
        let rows = D::fetch_all(&mut *self.acquire().await?, sql, &[Arg::Text(tenant)]).await?;
        rows.iter().map(|row| Ok((row.opt_text("lease_owner")?.unwrap_or_default(), row.int("n")? as u32))).collect()
    }
}
