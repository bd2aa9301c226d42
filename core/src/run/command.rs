//! What happens to a run ([`Command`]), and why a command is refused
//! ([`TransitionError`]). Time always comes in with the command, so the
//! transition stays a pure function of state and command.
//!
//! A wait step's event is `Event`. A planner's splice is no
//! command of its own: its `StepSucceeded` carries the plan, checked and
//! spliced by the transition, so replaying that one command rebuilds the
//! spliced DAG. Step pauses (tool approvals, cost ceilings) and their
//! answers are `ToolApprovalRequested`, `CostReported` and `Answer`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error_code::OutputFault;
use super::status::{RunStatus, StepStatus};

/// Something that happens to a run. Step commands name an instance by key:
/// the step id, or `<sub-step id>[<index>]` for a map item.
///
/// Serializable because the writer stores every accepted command: replaying
/// them from a new `RunState` rebuilds the run after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Command {
    /// Starts a Pending run.
    Start {
        /// The run input, visible as `$.input`.
        input: Value,
        /// Initial shared state, visible as `$.state`; null means `{}`.
        shared_state: Value,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// Starts a Pending run made by RetryRunFrom: like `Start`, but the
    /// `reused` steps are completed at once with the outputs they had in
    /// the source run (no step.started, no work), so only the retried step
    /// and what follows it run.
    StartFrom {
        /// The source run's input.
        input: Value,
        /// Initial shared state; null means `{}`.
        shared_state: Value,
        /// Where the run comes from, recorded on run.started.
        origin: RetryOrigin,
        /// Completed steps upstream of the retried one, in topological order.
        reused: Vec<ReusedStep>,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// A worker finished an attempt of external work. For a planner step
    /// the output is a plan: valid, its steps are spliced into the DAG;
    /// invalid, the attempt fails with PLAN_INVALID.
    StepSucceeded {
        /// Instance key.
        step: String,
        /// The attempt the worker ran; only the current one is accepted.
        attempt: u32,
        /// The step's output, visible as `$.<id>.output`.
        output: Value,
        /// What the attempt cost, in cents.
        cost_cents: i64,
        /// Milliseconds since the epoch.
        now_ms: i64,
        /// Shared-state values the worker wrote explicitly (CompleteTask's
        /// `state_writes`); every key must be one of the step's
        /// `stateWrites`, and they win over values taken from the output.
        /// Defaulted so commands stored before it replay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_writes: Option<serde_json::Map<String, Value>>,
    },
    /// A worker gave up on an attempt of external work.
    StepFailed {
        /// Instance key.
        step: String,
        /// The attempt the worker ran; only the current one is accepted.
        attempt: u32,
        /// The error, in words.
        error: String,
        /// False when trying again cannot help; no retry is made.
        retryable: bool,
        /// What the attempt cost, in cents (failed work is paid for too).
        cost_cents: i64,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// The lease of an attempt ran out with no word from its worker:
    /// handled like a retryable failure, except that a step with no retries
    /// left fails with LEASE_EXPIRED.
    LeaseExpired {
        /// Instance key.
        step: String,
        /// The attempt whose lease ran out; only the current one is accepted.
        attempt: u32,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// A worker's attempt passed the step's `timeout` (counted from its
    /// claim; the lease ended there): handled like a retryable failure,
    /// except that a step with no retries left fails with STEP_TIMEOUT.
    StepTimedOut {
        /// Instance key.
        step: String,
        /// The attempt that timed out; only the current one is accepted.
        attempt: u32,
        /// The step's timeout, ms (for the error message).
        timeout_ms: i64,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// A worker completed an attempt with an output the server will not
    /// keep (too large, not JSON, too deep, an integer that would change):
    /// the step fails for good with the fault's code (OUTPUT_INVALID,
    /// OUTPUT_TOO_DEEP, OUTPUT_NUMBER_TOO_LARGE), since repeating the same
    /// work would give the same. The output itself is not recorded.
    OutputRejected {
        /// Instance key.
        step: String,
        /// The attempt the worker ran; only the current one is accepted.
        attempt: u32,
        /// Why the output was refused, in words.
        error: String,
        /// Which rule it broke; defaulted so commands stored before it replay.
        #[serde(default)]
        fault: OutputFault,
        /// What the attempt cost, in cents.
        cost_cents: i64,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// The timer of a delay step (or delay map item) is due, or, keyed
    /// [`RUN_TIMER_KEY`], the run's own timeout.
    TimerFired {
        /// Instance key, or [`RUN_TIMER_KEY`].
        step: String,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// A worker asked to use a tool the policy lists in
    /// `requireApprovalFor`: the step pauses until a person answers
    /// (approval.pending). The caller checked the policy.
    ToolApprovalRequested {
        /// Instance key.
        step: String,
        /// The attempt asking; only the current one is accepted.
        attempt: u32,
        /// `appr_…`, made by the caller so that a replay gives the same id.
        approval_id: String,
        /// The tool's name.
        tool: String,
        /// What the agent wants to call it with (an object, or null).
        arguments: Value,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// A worker reported what a running attempt has cost so far (a
    /// heartbeat over a ceiling): over `maxTotalCost` the run is cancelled,
    /// over `maxCostPerStep` the step pauses (step.cost_exceeded). Refused
    /// with [`TransitionError::WithinCaps`] when neither applies.
    CostReported {
        /// Instance key.
        step: String,
        /// The attempt reporting; only the current one is accepted.
        attempt: u32,
        /// The attempt's cost so far, in cents.
        cost_cents: i64,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// A person answered a paused step (ResumeRun's step form): "approve"
    /// or "reject" a tool use, "continue" or "cancel" past a cost ceiling.
    Answer {
        /// Instance key of the paused step.
        step: String,
        /// The option chosen, lower-case.
        option: String,
        /// Who answered, as recorded on the decision.
        decided_by: String,
        /// The approver's comment, kept for audit; empty when none.
        /// Defaulted so commands stored before it existed still replay.
        #[serde(default)]
        comment: String,
        /// The approval answered, when the caller named one (the approval
        /// API): refused unless it is the one the step waits on, so a
        /// decision on an old approval never answers a newer pause.
        #[serde(default)]
        approval_id: Option<String>,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// An event arrived (ResumeRun's event form): the wait step paused
    /// for it completes with the payload as its output.
    Event {
        /// The event's name.
        event: String,
        /// The step's output, visible as `$.<id>.output`.
        payload: Value,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// PauseRun: the run holds. No step starts (nor a retry of one)
    /// until [`Command::Continue`]; what is in flight finishes and is
    /// recorded. Refused unless the run is Running.
    Pause {
        /// Why, as given to PauseRun; shown in the pending action.
        reason: String,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// ResumeRun on a run held by PauseRun: the hold ends and whatever
    /// became ready meanwhile starts. With `from_step`, that step and
    /// everything it leads to are first put back to pending (their
    /// outputs dropped) and run again. Refused unless the run is held, or
    /// (with `from_step`) paused.
    Continue {
        /// The step to run again from; `None` continues where it stopped.
        #[serde(default)]
        from_step: Option<String>,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// Creates a run over its workflow's concurrent-run limit: it waits
    /// Queued (run.queued), holding what `Start`/`StartFrom` will need,
    /// until [`Command::Admit`]. Refused unless the run is Pending.
    Enqueue {
        /// The start to apply once admitted.
        start: DeferredStart,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// A slot freed for a Queued run: it starts as `Start` (or
    /// `StartFrom`) would have, at `now_ms`. Refused unless the run is
    /// Queued.
    Admit {
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// No worker claimed the current attempt's task of a running agent or
    /// planner step within the server's `[tasks] unclaimed_after`, and no
    /// worker polled for its agent meanwhile (the caller, which sees the
    /// queue and the workers, decided that). Recorded as task.unclaimed,
    /// once per attempt; nothing else changes, so a worker arriving later
    /// claims the task as usual. Refused with
    /// [`TransitionError::AlreadyNoted`] for an attempt noted before.
    TaskUnclaimed {
        /// Instance key.
        step: String,
        /// The attempt whose task waits; only the current one is accepted.
        attempt: u32,
        /// The agent nobody serves, as the task names it.
        agent: String,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
    /// Stops the run, keeping completed outputs.
    Cancel {
        /// Why, as given to CancelRun.
        reason: String,
        /// Milliseconds since the epoch.
        now_ms: i64,
    },
}

/// What a queued run starts with once admitted: the fields of `Start`,
/// or of `StartFrom` when `origin` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeferredStart {
    /// The run input.
    pub input: Value,
    /// Initial shared state; null means `{}`.
    pub shared_state: Value,
    /// For a retry run: the run and step it re-runs from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<RetryOrigin>,
    /// For a retry run: the steps it takes over, in topological order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reused: Vec<ReusedStep>,
}

/// The run and step a retry run re-runs from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryOrigin {
    /// The source run.
    pub run_id: String,
    /// The step the retry runs again from.
    pub step_id: String,
}

/// A step a retry run takes over from its source run instead of running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReusedStep {
    /// Step id (a top-level step or a parallel sub-step, never a map item).
    pub step: String,
    /// Its output in the source run.
    pub output: Value,
    /// For a wait step: whether it took its `onTimeout` branch in the
    /// source run (its output, null, cannot tell a timeout from an event
    /// with no payload). Defaulted so commands stored before it replay.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

/// Instance key of the run's own timer (the workflow `timeout`); `@` never
/// occurs in a step id, so it cannot name a step.
pub const RUN_TIMER_KEY: &str = "@run";

/// Why a command was refused. A refused command changes nothing.
/// Serializable because a replica answers a command another replica
/// forwarded to it with the refusal itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TransitionError {
    /// The run reached a terminal status.
    #[error("the run is {status} and accepts no more commands")]
    Finished {
        /// Its terminal status.
        status: RunStatus,
    },
    /// `Start` on a run that has started (or `Admit` on one not queued).
    #[error("the run has already started")]
    AlreadyStarted,
    /// A step command before `Start`.
    #[error("the run has not started")]
    NotStarted,
    /// No instance with this key exists (yet) in the run.
    #[error("the run has no step instance '{0}'")]
    UnknownStep(String),
    /// The instance is not in the state the command needs, e.g. a second
    /// completion of a step that already completed.
    #[error("step '{step}' is {status}, not {expected}")]
    NotInFlight {
        /// Instance key.
        step: String,
        /// Its status.
        status: StepStatus,
        /// What the command needs: "running external work" or "waiting on a timer".
        expected: std::borrow::Cow<'static, str>,
    },
    /// An answer for a step that is not paused (or not by a gate that
    /// takes answers).
    #[error("step '{step}' is {status}, not waiting for an answer")]
    NotPaused {
        /// Instance key.
        step: String,
        /// Its status.
        status: StepStatus,
    },
    /// A completion's explicit state writes name keys the step does not
    /// declare in `stateWrites`.
    #[error("step '{step}' does not declare {keys:?} in stateWrites (it declares {declared:?})")]
    UndeclaredStateWrites {
        /// Instance key.
        step: String,
        /// The keys not declared.
        keys: Vec<String>,
        /// What the step declares.
        declared: Vec<String>,
    },
    /// PauseRun on a run that is not Running (paused already, or finished).
    #[error("the run is {status}; only a running run can be paused")]
    NotRunning {
        /// Its status.
        status: RunStatus,
    },
    /// A plain ResumeRun on a run that PauseRun did not pause (it waits
    /// for a step's answer or event instead).
    #[error("the run is {status} but was not paused by PauseRun")]
    NotHeld {
        /// Its status.
        status: RunStatus,
    },
    /// `from_step` names a step that cannot be run again in this run.
    #[error("cannot resume from step '{step}': {why}")]
    BadRewind {
        /// The step named.
        step: String,
        /// Why not, in words.
        why: String,
    },
    /// An event no wait step of the run waits for.
    #[error("no step of the run waits for event '{event}'")]
    NoWait {
        /// The event's name.
        event: String,
    },
    /// An answer that is not one of the pending action's options.
    #[error("'{option}' is not an answer step '{step}' takes; expected one of {}", options.join(", "))]
    BadAnswer {
        /// Instance key.
        step: String,
        /// The option given.
        option: String,
        /// The options offered.
        options: Vec<String>,
    },
    /// A cost report that passes no ceiling (none set, under it, the
    /// step's ceiling was waived, or the step is paused already): nothing
    /// to record.
    #[error("the cost reported for step '{step}' passes no ceiling")]
    WithinCaps {
        /// Instance key.
        step: String,
    },
    /// A second `TaskUnclaimed` for an attempt already noted: the event is
    /// recorded once.
    #[error("attempt {attempt} of step '{step}' was already noted as unclaimed")]
    AlreadyNoted {
        /// Instance key.
        step: String,
        /// The attempt.
        attempt: u32,
    },
    /// A completion or failure of an attempt that is no longer current.
    #[error("attempt {attempt} of step '{step}' is stale; the current attempt is {current}")]
    StaleAttempt {
        /// Instance key.
        step: String,
        /// The attempt the command reports.
        attempt: u32,
        /// The current attempt.
        current: u32,
    },
}
