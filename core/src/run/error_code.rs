//! [`ErrorCode`]: why a step or a run failed, as a stable UPPER_SNAKE code
//! clients can branch on (`Run.error.code`, and `data.code` of step.failed
//! and run.failed events), beside the message written for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a step or a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ErrorCode {
    /// The step's own work failed (a worker's error, a failed map item or
    /// parallel sub-step, a map `over` that is not an array).
    #[default]
    StepFailed,
    /// An `inputMap` query selected nothing in the run state document.
    InputMapEmpty,
    /// The run's output did not match the workflow's `outputSchema`.
    OutputSchemaViolation,
    /// The run passed the workflow's `timeout`.
    RunTimeout,
    /// The step type (or shape) is not run by this engine yet.
    StepUnimplemented,
    /// A worker's lease ran out and the step had no retries left.
    LeaseExpired,
    /// A worker's attempt passed the step's `timeout` and the step had no
    /// retries left.
    StepTimeout,
    /// A worker's output was refused: not JSON.
    OutputInvalid,
    /// An output (a worker's, a response body, a script's stdout) is over
    /// the size cap; the message names its size and the cap.
    OutputTooLarge,
    /// A planner's output is not a valid plan (not `{steps: [...]}`, or
    /// steps that do not fit the run's DAG).
    PlanInvalid,
    /// An approval step was denied (or its timeout applied a deny).
    ApprovalDenied,
    /// A wait step's timeout passed before its event, with no onTimeout.
    WaitTimeout,
    /// A loop would have run more than its `maxIterations`.
    LoopLimit,
    /// An output (a worker's, a response or callback body, or one the
    /// engine built from others) nests deeper than the JSON limit.
    OutputTooDeep,
    /// A response or callback body holds an integer beyond ±2^53, which
    /// would silently change; it is refused, not rounded.
    OutputNumberTooLarge,
    /// A step's resolved `inputMap` nests deeper than the JSON limit.
    InputTooDeep,
    /// One of the step's queries would visit more of the run state than
    /// `MAX_QUERY_NODES` allows (`$..*` over a huge input).
    ExpressionTooExpensive,
    /// A state machine reached a `fail` state; the message carries the
    /// state's `error` and `cause`.
    StateFailed,
}

impl ErrorCode {
    /// The code as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StepFailed => "STEP_FAILED",
            Self::InputMapEmpty => "INPUT_MAP_EMPTY",
            Self::OutputSchemaViolation => "OUTPUT_SCHEMA_VIOLATION",
            Self::RunTimeout => "RUN_TIMEOUT",
            Self::StepUnimplemented => "STEP_UNIMPLEMENTED",
            Self::LeaseExpired => "LEASE_EXPIRED",
            Self::StepTimeout => "STEP_TIMEOUT",
            Self::OutputInvalid => "OUTPUT_INVALID",
            Self::OutputTooLarge => "OUTPUT_TOO_LARGE",
            Self::PlanInvalid => "PLAN_INVALID",
            Self::ApprovalDenied => "APPROVAL_DENIED",
            Self::WaitTimeout => "WAIT_TIMEOUT",
            Self::LoopLimit => "LOOP_LIMIT",
            Self::OutputTooDeep => "OUTPUT_TOO_DEEP",
            Self::OutputNumberTooLarge => "OUTPUT_NUMBER_TOO_LARGE",
            Self::InputTooDeep => "INPUT_TOO_DEEP",
            Self::ExpressionTooExpensive => "EXPRESSION_TOO_EXPENSIVE",
            Self::StateFailed => "STATE_FAILED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an output was refused before it became a step's output; recorded
/// with the `OutputRejected` command so a replay fails the step the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutputFault {
    /// Not JSON (OUTPUT_INVALID); also what a command stored before
    /// `fault` existed reads as.
    #[default]
    Invalid,
    /// Over the size cap (OUTPUT_TOO_LARGE).
    TooLarge,
    /// Nested deeper than the JSON limit (OUTPUT_TOO_DEEP).
    TooDeep,
    /// An integer beyond ±2^53 (OUTPUT_NUMBER_TOO_LARGE).
    NumberTooLarge,
}

impl OutputFault {
    /// The code the step fails with.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Invalid => ErrorCode::OutputInvalid,
            Self::TooLarge => ErrorCode::OutputTooLarge,
            Self::TooDeep => ErrorCode::OutputTooDeep,
            Self::NumberTooLarge => ErrorCode::OutputNumberTooLarge,
        }
    }
}
