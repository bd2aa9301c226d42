//! Runs as the store keeps them and the api shows them: the run row, its
//! step rows, its events, and the outbox rows (tasks, timers) the run
//! writer commits with them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StepKind;

use super::{RunStatus, StepStatus};

/// One run, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// `wfrun_…`.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// `wf_…`.
    pub workflow_id: String,
    /// The pinned version.
    pub workflow_version: u32,
    /// End user given at start, or empty.
    pub user_id: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// Input given at start.
    pub input: Option<Value>,
    /// Output once completed.
    pub output: Option<Value>,
    /// Shared state bag as it stands.
    pub shared_state: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Why it failed, as a stable UPPER_SNAKE code ("STEP_FAILED").
    pub error_code: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// First failed step, for partial and failed runs.
    pub can_retry_from: Option<String>,
    /// What a paused run waits for (`PendingAction` as JSON); `None`
    /// unless paused.
    pub pending_action: Option<Value>,
    /// Total cost so far, cents.
    pub cost_cents: i64,
    /// What started it ("manual" by default).
    pub trigger: String,
    /// Idempotency key given at start, or empty.
    pub idempotency_key: String,
    /// For a run made by RetryRunFrom: the run whose outputs it reuses.
    pub retry_of_run_id: Option<String>,
    /// Accepted, ms since the epoch.
    pub created_ms: i64,
    /// First step started.
    pub started_ms: Option<i64>,
    /// Reached a terminal status.
    pub completed_ms: Option<i64>,
    /// How long the run is kept once finished, ms, when its workflow's
    /// `policy.retention` says; `None` means the server's `[runs]
    /// retention`. Written when the run starts, never changed.
    pub retention_ms: Option<i64>,
    /// For a run a schedule started: the schedule (`sched_…`).
    pub schedule_id: Option<String>,
    /// For a run a schedule started: the tick it stands for, ms since the
    /// epoch (after downtime, the latest missed tick).
    pub scheduled_ms: Option<i64>,
}

/// One step instance of a run, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Owning run.
    pub run_id: String,
    /// Instance key: step id, or `<sub-step>[<i>]`.
    pub key: String,
    /// Position in the run's step list (definition order, children after
    /// their parent), so reads list steps the way the engine does.
    pub position: u32,
    /// Step id as defined.
    pub step_id: String,
    /// Step type.
    pub kind: StepKind,
    /// Parallel or map parent.
    pub parent_id: Option<String>,
    /// Map item index.
    pub item_index: Option<u32>,
    /// Where the step instance stands.
    pub status: StepStatus,
    /// Attempts started.
    pub attempts: u32,
    /// Output once completed.
    pub output: Option<Value>,
    /// Error of the last failed attempt.
    pub error: Option<String>,
    /// Cost of all attempts, cents.
    pub cost_cents: i64,
    /// First attempt started.
    pub started_ms: Option<i64>,
    /// Reached a terminal status.
    pub completed_ms: Option<i64>,
}

/// One recorded event of a run; stored as JSON, streamed by sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Owning run.
    pub run_id: String,
    /// Position in the run from 1, no gaps.
    pub sequence: u64,
    /// Dotted type ("step.completed").
    #[serde(rename = "type")]
    pub event_type: String,
    /// Instance key for step.* events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// Status after the change.
    pub status: String,
    /// Step or run output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The attempt's cost, cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_cents: Option<i64>,
    /// The run's total cost, cents (terminal events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_cents: Option<i64>,
    /// Step to retry from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_retry_from: Option<String>,
    /// approval.*: the action awaiting a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// How long the step (step.completed/failed) or the run (terminal
    /// events) took, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// Commit time of the change, ms since the epoch.
    pub created_ms: i64,
}

impl EventRecord {
    /// Whether this event ends its run (and so its stream).
    pub fn is_terminal(&self) -> bool {
        matches!(self.event_type.as_str(), "run.completed" | "run.failed" | "run.partial" | "run.cancelled")
    }
}

/// A task for a worker: the durable form of a DispatchTask effect.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// `task_…`; kept by every later attempt of the same step instance.
    pub task_id: String,
    /// Owning run.
    pub run_id: String,
    /// Instance key.
    pub step_key: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Attempt, from 1.
    pub attempt: u32,
    /// Step type.
    pub kind: StepKind,
    /// Agent name, for agent and planner steps.
    pub agent: Option<String>,
    /// Rendered task text.
    pub task: Option<String>,
    /// Resolved input.
    pub input: Value,
    /// Written, ms since the epoch.
    pub created_ms: i64,
    /// The step's `timeout` for a worker's attempt (agent, planner), ms:
    /// each claim's lease ends by claim time + this. `None`: no timeout.
    pub timeout_ms: Option<i64>,
}

/// An armed timer of a delay step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRecord {
    /// Owning run.
    pub run_id: String,
    /// Instance key.
    pub step_key: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Due, ms since the epoch.
    pub due_ms: i64,
}
