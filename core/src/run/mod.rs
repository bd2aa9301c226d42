//! The pure core of the run engine: `transition(state, command)` decides
//! what becomes ready, skipped, failed or complete, computes pure steps on
//! the spot, and says what to record (events) and what to do after the
//! commit (effects). No I/O, no clock, no randomness: time comes in with
//! each command, so the same state and command always give the same result.
//!
//! # Layout
//!
//! - `state.rs`, `status.rs`, `instance.rs`: [`RunState`] and what it holds.
//! - `command.rs`: [`Command`] and [`TransitionError`].
//! - `outcome.rs`: [`RunEvent`], [`Effect`], [`Outcome`].
//! - `transition.rs`: [`transition`], the command table: each command
//!   checked, then applied.
//! - `tx.rs`: `Tx`, one transition in progress, and its toolkit (events,
//!   statuses, completing an instance).
//! - `steps/`: one module per step type, and the exhaustive dispatch of
//!   starting, timers, withdrawing and outputs over the type.
//! - `document.rs`: the run state document paths are evaluated against.
//! - `input_map.rs`: resolving a step's `inputMap`, strictly.
//! - `advance.rs`: readiness, skips, starting steps, starting and finishing the run.
//! - `pause.rs`: step pauses (tool approvals, cost ceilings) and answers.
//! - `run_hold.rs`: PauseRun's run-level hold and the plain ResumeRun.
//! - `queue.rs`: a run waiting under its workflow's concurrent-run limit
//!   (`Enqueue`) and its admission (`Admit`).
//! - `rewind.rs`: ResumeRun `from_step`, running a step of a live run again.
//! - `cost_cap.rs`: the policy's cost ceilings.
//! - `failure.rs`: retries, failure routes, failing and cancelling the run.
//! - `error_code.rs`: [`ErrorCode`], why a step or a run failed.
//! - `reuse.rs`: a retry run taking over its source run's outputs.
//! - `state_guard.rs`: writers of one shared-state key never in flight together.
//! - `unclaimed.rs`: `TaskUnclaimed`, a task no worker claimed, told once per attempt.

mod advance;
mod command;
mod cost_cap;
mod document;
mod error_code;
mod failure;
mod input_map;
mod instance;
mod outcome;
mod pause;
mod paused_lifetime;
mod queue;
mod reuse;
mod rewind;
mod run_hold;
mod state;
mod state_guard;
mod status;
mod steps;
mod transition;
mod tx;
mod unclaimed;

#[cfg(test)]
mod tests;

pub use crate::model::step_kind::BUILTIN_PREFIX;
pub use command::{Command, DeferredStart, RUN_TIMER_KEY, RetryOrigin, ReusedStep, TransitionError};
pub use error_code::{ErrorCode, OutputFault};
pub use outcome::{
    ApprovalDecided, ApprovalOpened, ApprovalSubject, Decision, Effect, EventType, Outcome, RunEvent, TaskDispatch,
};
pub use pause::PendingAction;
pub use paused_lifetime::PAUSED_TIMER_PREFIX;
pub use state::{RunState, StepView};
pub use status::{RunStatus, StepStatus};
pub use steps::DEFAULT_LOOP_ITERATIONS;
pub use transition::transition;
