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
//! - `document.rs`: the run state document paths are evaluated against.
//! - `input_map.rs`: resolving a step's `inputMap`, strictly.
//! - `transition.rs`: [`transition`], checking commands before applying them.
//! - `advance.rs`: readiness, skips, starting steps, finishing the run.
//! - `pure_steps.rs`: parallel completion and map items.
//! - `loop_step.rs`: loop steps, a map whose next item is decided as the last ends.
//! - `pause.rs`: step pauses (tool approvals, cost ceilings) and answers.
//! - `run_hold.rs`: PauseRun's run-level hold and the plain ResumeRun.
//! - `rewind.rs`: ResumeRun `from_step`, running a step of a live run again.
//! - `approval_step.rs`: approval steps, their decisions and timeouts.
//! - `cost_cap.rs`: the policy's cost ceilings.
//! - `failure.rs`: retries, failure routes, failing and cancelling the run.
//! - `error_code.rs`: [`ErrorCode`], why a step or a run failed.
//! - `reuse.rs`: a retry run taking over its source run's outputs.
//! - `splice.rs`: a planner's plan checked and spliced into the live DAG.
//! - `outbound_step.rs`: the spec a webhook, http_request or script task carries.
//! - `state_guard.rs`: writers of one shared-state key never in flight together.

mod advance;
mod approval_step;
mod command;
mod cost_cap;
mod document;
mod error_code;
mod failure;
mod input_map;
mod instance;
mod loop_step;
mod outbound_step;
mod outcome;
mod pause;
mod pure_steps;
mod reuse;
mod rewind;
mod run_hold;
mod splice;
mod state;
mod state_guard;
mod status;
mod transition;
mod wait_step;

#[cfg(test)]
mod tests;

pub use command::{Command, RUN_TIMER_KEY, RetryOrigin, ReusedStep, TransitionError};
pub use error_code::{ErrorCode, OutputFault};
pub use loop_step::DEFAULT_LOOP_ITERATIONS;
pub use outbound_step::{BUILTIN_PREFIX, builtin_agent};
pub use outcome::{Effect, EventType, Outcome, RunEvent, TaskDispatch};
pub use pause::PendingAction;
pub use state::{RunState, StepView};
pub use status::{RunStatus, StepStatus};
pub use transition::transition;
