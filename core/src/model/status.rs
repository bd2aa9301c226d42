//! Statuses of runs, steps and approvals, and the actions a step's failure
//! route names. Each mirrors a `weft.v1` enum; the strings are the
//! lower-case names the API writes and the store keeps. The store parses
//! them once, in its row decoders, so nothing past it compares strings.

use std::fmt;

/// Lifecycle status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Created; `Start` has not been applied yet.
    #[default]
    Pending,
    /// Some step is ready, running or waiting.
    Running,
    /// Suspended until something outside the run acts (not produced yet:
    /// approvals and wait events arrive with `Decide` and `Resume`).
    Paused,
    /// Every step completed or was skipped, or failed and was recovered.
    Completed,
    /// A step failed with nowhere to route the failure.
    Failed,
    /// Some steps failed under "continue" while independent branches went on.
    Partial,
    /// Stopped by `Cancel`.
    Cancelled,
    /// Accepted, but waiting for a slot under its workflow's concurrent-run
    /// limit; `Admit` starts it. No step has started.
    Queued,
}

impl RunStatus {
    /// The name the API writes, e.g. "running".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Partial => "partial",
            Self::Cancelled => "cancelled",
            Self::Queued => "queued",
        }
    }

    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 8] = [
        Self::Queued,
        Self::Pending,
        Self::Running,
        Self::Paused,
        Self::Completed,
        Self::Failed,
        Self::Partial,
        Self::Cancelled,
    ];

    /// Parses the lower-case name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True once the run can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Partial | Self::Cancelled)
    }

    /// True while the run can still change: the opposite of
    /// [`is_terminal`](Self::is_terminal).
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }

    /// True for a finished run RetryRunFrom may start again from.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Failed | Self::Partial | Self::Cancelled)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of one step instance (a step, a parallel sub-step, or one map item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Some dependency has not finished.
    #[default]
    Pending,
    /// May start; for map items: queued until a concurrency slot frees.
    Ready,
    /// Dispatched to a worker, or a parallel/map step whose sub-steps run.
    Running,
    /// Suspended by a person-facing gate (not produced yet).
    Paused,
    /// On a durable timer (delay steps).
    Waiting,
    /// Finished with an output.
    Completed,
    /// Failed after its retries.
    Failed,
    /// Not executed: a branch not taken, or every dependency was skipped.
    Skipped,
    /// Stopped because the run was cancelled or failed.
    Cancelled,
}

impl StepStatus {
    /// The name the API writes, e.g. "completed".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Waiting => "waiting",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Every status, in lifecycle order.
    pub const ALL: [StepStatus; 9] = [
        Self::Pending,
        Self::Ready,
        Self::Running,
        Self::Paused,
        Self::Waiting,
        Self::Completed,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
    ];

    /// Parses the lower-case name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True once the instance can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Skipped | Self::Cancelled)
    }

    /// True while the instance holds the run open: started or about to be.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Ready | Self::Running | Self::Paused | Self::Waiting)
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an approval stands, mirroring `weft.v1.ApprovalStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved by a person.
    Approved,
    /// Denied by a person.
    Denied,
    /// Handed on to someone else.
    Escalated,
    /// Its timeout applied.
    Expired,
}

impl ApprovalStatus {
    /// Every status.
    pub const ALL: [ApprovalStatus; 5] = [Self::Pending, Self::Approved, Self::Denied, Self::Escalated, Self::Expired];

    /// The name the API writes, e.g. "approved".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Escalated => "escalated",
            Self::Expired => "expired",
        }
    }

    /// Parses the lower-case name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step's `onStepFailure.action` says to do when the step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureAction {
    /// Run the step named by `target` instead.
    Goto,
    /// Record the failure and go on with independent branches.
    Continue,
    /// Fail the run.
    Stop,
}

impl FailureAction {
    /// Every action.
    pub const ALL: [FailureAction; 3] = [Self::Goto, Self::Continue, Self::Stop];

    /// The name a definition writes, e.g. "goto".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Goto => "goto",
            Self::Continue => "continue",
            Self::Stop => "stop",
        }
    }

    /// Parses the name; `None` for anything else (the compiler reports it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// What an approval is for: a paused approval step, or a tool use an
/// agent asked for that the workflow's policy holds for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalKind {
    /// An approval step.
    Step,
    /// A tool use held by `requireApprovalFor`.
    ToolUse,
}

impl ApprovalKind {
    /// Every kind.
    pub const ALL: [ApprovalKind; 2] = [Self::Step, Self::ToolUse];

    /// The stored and event name, e.g. "tool_use".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::ToolUse => "tool_use",
        }
    }

    /// Parses the name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What a run does when a step fails for good and the step names no
/// action of its own (the definition's `onFailure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureMode {
    /// Fail the run (the default).
    #[default]
    Stop,
    /// Record the failure and go on with independent branches.
    Continue,
    /// Give steps that set no retries of their own the definition's.
    Retry,
}

impl FailureMode {
    /// Every mode.
    pub const ALL: [FailureMode; 3] = [Self::Stop, Self::Continue, Self::Retry];

    /// The name a definition writes, e.g. "continue".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Continue => "continue",
            Self::Retry => "retry",
        }
    }

    /// Parses the name; `None` for anything else (the compiler reports it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in StepStatus::ALL {
            assert_eq!(StepStatus::parse(status.as_str()), Some(status));
        }
        for kind in ApprovalKind::ALL {
            assert_eq!(ApprovalKind::parse(kind.as_str()), Some(kind));
        }
        for mode in FailureMode::ALL {
            assert_eq!(FailureMode::parse(mode.as_str()), Some(mode));
        }
        for status in ApprovalStatus::ALL {
            assert_eq!(ApprovalStatus::parse(status.as_str()), Some(status));
        }
        for action in FailureAction::ALL {
            assert_eq!(FailureAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(RunStatus::parse("Running"), None);
        assert!(RunStatus::Paused.is_live() && !RunStatus::Partial.is_live());
    }
}
