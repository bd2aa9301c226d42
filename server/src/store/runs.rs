//! What the store is given and answers about runs: one group commit of the
//! run writer ([`RunBatch`]), listing filters and pages, and the open runs
//! recovery replays.

use crate::model::{
    ApprovalDecision, ApprovalRecord, EventRecord, RunRecord, RunStatus, StepRecord, TaskRecord, TimerRecord,
};

/// Everything one group commit writes, one multi-row statement per table.
/// Rows of a key appear at most once in each list (the writer keeps the
/// last version), so statement order within the commit does not matter.
#[derive(Debug, Clone, Default)]
pub struct RunBatch {
    /// Run rows to insert or update.
    pub runs: Vec<RunRecord>,
    /// Step rows to insert or update.
    pub steps: Vec<StepRecord>,
    /// New events.
    pub events: Vec<EventRecord>,
    /// Accepted commands.
    pub commands: Vec<CommandRow>,
    /// Timers armed.
    pub timers: Vec<TimerRecord>,
    /// Timers fired or cancelled: (run id, step key).
    pub timers_done: Vec<(String, String)>,
    /// Tasks queued (or re-queued for another attempt).
    pub tasks: Vec<TaskRecord>,
    /// Tasks whose step took an outcome: (run id, step key).
    pub tasks_done: Vec<(String, String)>,
    /// Tasks withdrawn because their step was cancelled: (run id, step key).
    pub tasks_cancelled: Vec<(String, String)>,
    /// Tasks whose current lease the step's timeout ended: (run id, step
    /// key). Its token is kept (before the lease ends as `tasks_done` or a
    /// re-queue says), so that lease's late calls are told why.
    pub tasks_timed_out: Vec<(String, String)>,
    /// Idempotency keys taken.
    pub idempotency: Vec<IdempotencyRow>,
    /// Approvals opened.
    pub approvals_opened: Vec<ApprovalRecord>,
    /// Decisions on open approvals (written after the openings).
    pub approvals_decided: Vec<ApprovalDecision>,
    /// Workers' claims, made after the rows above are written (so a task
    /// queued by this batch can be claimed by it), in order.
    pub claims: Vec<super::ClaimRequest>,
    /// Leases handed back to the queue before the claims are made, because
    /// the poll they were made for left before its answer: (task id, token).
    pub releases: Vec<(String, u64)>,
    /// Several replicas only: the partition leases the batch was decided
    /// under; nothing is written unless all are still held.
    pub fence: Option<super::Fence>,
    /// Inbox messages this batch applied, answered in the same commit so
    /// a message takes effect once.
    pub inbox_done: Vec<InboxAnswer>,
    /// Whether to wake other replicas (NOTIFY) about what this batch did.
    pub notify: bool,
}

/// One accepted command of a run, in the order the writer applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRow {
    /// The run it changed.
    pub run_id: String,
    /// Its position among the run's commands, from 1.
    pub position: u32,
    /// The command, as JSON.
    pub command: String,
}

/// An idempotency key given to a new run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRow {
    /// The tenant the key belongs to.
    pub tenant_id: String,
    /// The key the client sent.
    pub key: String,
    /// The run it started.
    pub run_id: String,
    /// When, ms since the epoch (the key's window starts here).
    pub created_ms: i64,
}

/// The answer to one inbox message a batch applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxAnswer {
    /// The inbox row.
    pub id: i64,
    /// The answer, as JSON.
    pub answer: String,
}

impl RunBatch {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.events.is_empty() && self.commands.is_empty()
    }
}

/// Filters and page position of a run listing.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only runs of this workflow.
    pub workflow_id: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs for this end user.
    pub user_id: Option<String>,
    /// Resume after this (created ms, id) position, newest first.
    pub after: Option<(i64, String)>,
    /// Rows to skip, when `after` is `None`.
    pub offset: u32,
    /// Most rows to return.
    pub limit: u32,
}

/// One page of runs.
#[derive(Debug, Clone)]
pub struct RunPage {
    /// The rows, newest first.
    pub runs: Vec<RunRecord>,
    /// Rows matching the filters, across pages.
    pub total: u32,
    /// Whether rows follow this page.
    pub has_more: bool,
}

/// A run that was not finished when the process stopped, with the commands
/// that built it, in order (JSON, as written).
#[derive(Debug, Clone)]
pub struct OpenRun {
    /// The run row.
    pub run: RunRecord,
    /// Its accepted commands.
    pub commands: Vec<String>,
}
