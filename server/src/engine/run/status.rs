//! Run and step statuses, mirroring `weft.v1.RunStatus` and
//! `weft.v1.StepStatus`; the strings are the lower-case names the API writes.

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
        }
    }

    /// True once the run can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Partial | Self::Cancelled)
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
