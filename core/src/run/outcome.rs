//! What a transition produces: events to record (and later publish) and
//! effects to release after the commit.
//!
//! The rows a writer stores are derived from the events (one `run_events`
//! row each), from the state after the transition (the run row, and a step
//! row for every instance an event names, read with
//! [`RunState::step`](super::RunState::step)), and from the effects (task,
//! timer and approval rows). An approval's effect and its event's `data`
//! are built from the same struct, so the row and the event cannot
//! disagree.

use serde_json::{Value, json};

use crate::compile::StepKind;
use crate::model::{ApprovalKind, ApprovalStatus};

/// The type of a [`RunEvent`], as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// "run.queued": the run waits for a slot under its workflow's
    /// concurrent-run limit.
    RunQueued,
    /// "run.started".
    RunStarted,
    /// "step.started": an instance began its first attempt.
    StepStarted,
    /// "step.retrying": an attempt failed and the next one was dispatched.
    StepRetrying,
    /// "step.completed".
    StepCompleted,
    /// "step.failed": failed for good (after retries).
    StepFailed,
    /// "step.skipped".
    StepSkipped,
    /// "step.cancelled": stopped because the run was cancelled or failed.
    StepCancelled,
    /// "plan.spliced": a planner's steps joined the DAG; `data.steps`
    /// lists their ids.
    PlanSpliced,
    /// "run.completed".
    RunCompleted,
    /// "run.failed".
    RunFailed,
    /// "run.partial".
    RunPartial,
    /// "run.cancelled".
    RunCancelled,
    /// "step.cost_exceeded": a step passed the policy's maxCostPerStep.
    StepCostExceeded,
    /// "approval.pending": a tool use waits for a person's decision.
    ApprovalPending,
    /// "approval.decided": that decision was taken.
    ApprovalDecided,
    /// "step.resumed": a paused step goes on after a "continue" answer.
    StepResumed,
    /// "run.paused": the first open pause of the run.
    RunPaused,
    /// "run.resumed": the last open pause was closed, or PauseRun's hold ended.
    RunResumed,
    /// "step.reset": ResumeRun `from_step` put the step back to pending
    /// to run it again.
    StepReset,
    /// "task.unclaimed": no worker claimed an attempt's task within the
    /// server's `[tasks] unclaimed_after` and none polled for its agent;
    /// `data.agent` names it. Once per attempt; the step stays as it was.
    TaskUnclaimed,
}

impl EventType {
    /// The dotted name the API writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunQueued => "run.queued",
            Self::RunStarted => "run.started",
            Self::StepStarted => "step.started",
            Self::StepRetrying => "step.retrying",
            Self::StepCompleted => "step.completed",
            Self::StepFailed => "step.failed",
            Self::StepSkipped => "step.skipped",
            Self::StepCancelled => "step.cancelled",
            Self::PlanSpliced => "plan.spliced",
            Self::RunCompleted => "run.completed",
            Self::RunFailed => "run.failed",
            Self::RunPartial => "run.partial",
            Self::RunCancelled => "run.cancelled",
            Self::StepCostExceeded => "step.cost_exceeded",
            Self::ApprovalPending => "approval.pending",
            Self::ApprovalDecided => "approval.decided",
            Self::StepResumed => "step.resumed",
            Self::RunPaused => "run.paused",
            Self::RunResumed => "run.resumed",
            Self::StepReset => "step.reset",
            Self::TaskUnclaimed => "task.unclaimed",
        }
    }
}

/// One change in a run's life. Sequences are consecutive per run from 1.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    /// Position in the run, starting at 1 with no gaps.
    pub sequence: u64,
    /// What happened.
    pub event_type: EventType,
    /// Instance key for step.* events.
    pub step_id: Option<String>,
    /// Status after the change: the step's for step.*, the run's for run.*.
    pub status: &'static str,
    /// step.completed: the step's output; run.completed/partial: the run's.
    pub output: Option<Value>,
    /// step.failed, step.retrying, run.failed: the error.
    pub error: Option<String>,
    /// step.completed, step.failed, step.retrying: the attempt's cost in cents.
    pub cost_cents: Option<i64>,
    /// Terminal run.* events: the run's total cost in cents.
    pub total_cost_cents: Option<i64>,
    /// run.partial and run.failed: the step to retry from.
    pub can_retry_from: Option<String>,
    /// approval.*: the action awaiting a decision (the tool name).
    pub action: Option<String>,
    /// Anything else, e.g. `{"reason": …}` for run.cancelled, `{"attempt": n}`
    /// for step.retrying.
    pub data: Option<Value>,
    /// step.completed and step.failed: how long the step took from its
    /// first start; terminal run.* events: how long the run took. In ms.
    pub duration_ms: Option<i64>,
    /// When the command that caused it happened, ms since the epoch.
    pub now_ms: i64,
}

/// External work handed to a worker (or an in-process executor).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDispatch {
    /// Instance key.
    pub step: String,
    /// The attempt, from 1; completions must carry it back.
    pub attempt: u32,
    /// The step type (agent, planner, script, webhook, http_request,
    /// approval, wait, …).
    pub kind: StepKind,
    /// The agent name, for agent and planner steps.
    pub agent: Option<String>,
    /// The task template rendered against the run state document.
    pub task: Option<String>,
    /// `inputMap` resolved against the document, an object. (A query that
    /// selects nothing fails the step instead of being dispatched.)
    pub input: Value,
    /// The step's `timeout`, ms, for a worker's step (agent, planner): it
    /// bounds each attempt from its claim. `None` without one, and for the
    /// server's own steps, which enforce theirs themselves.
    pub timeout_ms: Option<i64>,
}

/// Something to do once the transition's rows are committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Queue a task for a worker.
    DispatchTask(TaskDispatch),
    /// Fire `TimerFired { step }` at `due_ms`.
    ArmTimer {
        /// Instance key.
        step: String,
        /// Due time, ms since the epoch.
        due_ms: i64,
    },
    /// Withdraw the task of an instance that was cancelled.
    CancelTask {
        /// Instance key.
        step: String,
    },
    /// Delete the timer of a delay that was cancelled.
    CancelTimer {
        /// Instance key.
        step: String,
    },
    /// Insert an approval row (its approval.pending event carries the same).
    ApprovalOpened(ApprovalOpened),
    /// Record the decision on an approval (as its approval.decided event).
    ApprovalDecided(ApprovalDecided),
}

/// An approval opened: a tool use or an approval step waits for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalOpened {
    /// `appr_…`.
    pub approval_id: String,
    /// Instance key of the paused step.
    pub step: String,
    /// The action awaiting a decision: the tool, or the step's `action`.
    pub action: String,
    /// Text for the approver.
    pub message: String,
    /// The answers it takes.
    pub options: Vec<String>,
    /// What asks.
    pub subject: ApprovalSubject,
}

/// What asks for an approval.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalSubject {
    /// A worker's tool use.
    ToolUse {
        /// The tool.
        tool: String,
        /// Its arguments.
        arguments: Value,
    },
    /// An approval step.
    Step {
        /// Applied when the timeout fires first.
        default_action: Decision,
        /// When the timeout fires, ms since the epoch; `None` without one.
        expires_ms: Option<i64>,
    },
}

impl ApprovalOpened {
    /// "tool_use" or "step", as the approval row and the event name it.
    pub fn kind(&self) -> ApprovalKind {
        match self.subject {
            ApprovalSubject::ToolUse { .. } => ApprovalKind::ToolUse,
            ApprovalSubject::Step { .. } => ApprovalKind::Step,
        }
    }

    /// The `data` of its approval.pending event.
    pub fn data(&self) -> Value {
        match &self.subject {
            ApprovalSubject::ToolUse { tool, arguments } => json!({
                "approvalId": self.approval_id,
                "kind": self.kind().as_str(),
                "tool": tool,
                "arguments": arguments,
                "message": self.message,
                "options": self.options,
            }),
            ApprovalSubject::Step { default_action, expires_ms } => json!({
                "approvalId": self.approval_id,
                "kind": self.kind().as_str(),
                "message": self.message,
                "options": self.options,
                "defaultAction": default_action.as_str(),
                "expiresAt": expires_ms,
            }),
        }
    }
}

/// What a decision on an approval amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Approve,
    /// Refused.
    Deny,
    /// Handed up (an approval step completes with it).
    Escalate,
    /// Nobody decided: the step stopped for another reason.
    Expired,
}

impl Decision {
    /// The name events and rows carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Escalate => "escalate",
            Self::Expired => "expired",
        }
    }

    /// The approval's status after this decision.
    fn status(self) -> ApprovalStatus {
        match self {
            Self::Approve => ApprovalStatus::Approved,
            Self::Deny => ApprovalStatus::Denied,
            Self::Escalate => ApprovalStatus::Escalated,
            Self::Expired => ApprovalStatus::Expired,
        }
    }
}

/// The decision on an open approval.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalDecided {
    /// `appr_…`.
    pub approval_id: String,
    /// Instance key of the step.
    pub step: String,
    /// The action that was awaiting it.
    pub action: String,
    /// What it amounts to.
    pub decision: Decision,
    /// The option chosen ("" when nobody chose).
    pub option: String,
    /// Who decided, or `system:…`.
    pub decided_by: String,
    /// The decider's comment; `None` where no answer was given.
    pub comment: Option<String>,
    /// For an approval step: whether its timeout took the decision (the
    /// approval is then expired, its default action applied).
    pub expired: Option<bool>,
}

impl ApprovalDecided {
    /// The approval's status after it: approved, denied, escalated or
    /// expired (a timeout's default action included).
    pub fn status(&self) -> ApprovalStatus {
        if self.expired == Some(true) { ApprovalStatus::Expired } else { self.decision.status() }
    }

    /// The `data` of its approval.decided event.
    pub fn data(&self) -> Value {
        let mut data = json!({
            "approvalId": self.approval_id,
            "decision": self.decision.as_str(),
            "option": self.option,
            "decidedBy": self.decided_by,
        });
        if let Some(comment) = &self.comment {
            data["comment"] = json!(comment);
        }
        if let Some(expired) = self.expired {
            data["expired"] = json!(expired);
        }
        data
    }
}

/// Everything one transition produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Events, in sequence order.
    pub events: Vec<RunEvent>,
    /// Effects, in the order they were decided.
    pub effects: Vec<Effect>,
}
