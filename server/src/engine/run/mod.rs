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
//! - `transition.rs`: [`transition`], checking commands before applying them.
//! - `advance.rs`: readiness, skips, starting steps, finishing the run.
//! - `pure_steps.rs`: parallel completion and map items.
//! - `failure.rs`: retries, failure routes, failing and cancelling the run.

mod advance;
mod command;
mod document;
mod failure;
mod instance;
mod outcome;
mod pure_steps;
mod state;
mod status;
mod transition;

#[cfg(test)]
mod tests;

pub use command::{Command, TransitionError};
pub use outcome::{Effect, EventType, Outcome, RunEvent, TaskDispatch};
pub use state::{RunState, StepView};
pub use status::{RunStatus, StepStatus};
pub use transition::transition;
