//! The engine: what Weft decides, independent of protocol and storage.
//!
//! - [`compile`] turns a definition into a validated DAG, reporting every
//!   problem at once, and [`run`] is the pure run state machine,
//!   `transition(state, command)`: both live in `weft-core`, which has no
//!   runtime, database or clock, and are re-exported here.
//! - [`workflows`] manages definitions and their version history.
//! - [`scheduler`] is the one writer: it applies commands to live runs and
//!   commits them in groups; [`runs`] is what the api layer calls (and
//!   where a command for a run another replica holds is forwarded), with
//!   event streams and execution, RetryRunFrom and ResumeRun beside it.
//! - [`clock`] is the one clock the engine reads, which tests can pause.
//! - [`estimate`] prices a run for a sample input by a dry pass.
//! - [`tasks`] is the task queue workers claim from under leases (by long
//!   polls, or by the credits of a worker stream), and [`workers`] the
//!   registry of workers and the agents they serve.
//! - [`cluster`] lets several replicas share runs on one Postgres database:
//!   partition ownership, the inbox for commands, wake-ups.
//! - [`builtin`] runs webhook, http_request and script tasks inside the
//!   server, claimed from that queue, and takes webhook callbacks.
//! - [`notify`] delivers notification webhooks from a durable outbox.
//! - [`triggers`] deploys workflows and takes their inbound webhook calls.
//! - [`templates`] is the catalogue of templates, built in and saved, and
//!   installs them as workflows.
//! - [`concurrency`] is the concurrent-run limit per workflow: queued
//!   runs, slots counted in the store, and the gate that admits them.
//! - [`schedules`] are cron schedules and the loop that fires them.
//! - [`retention`] deletes finished runs past their retention, and expired
//!   keys, in the background.
//!
//! The engine calls the store and is called by the api layer; it knows
//! neither tonic nor SQL.

pub mod admission;
pub mod approvals;
pub mod builtin;
pub mod clock;
pub mod cluster;
pub mod concurrency;
mod error;
pub mod estimate;
pub mod keys;
pub mod notify;
pub mod retention;
pub mod runs;
pub mod scheduler;
pub mod schedules;
pub mod tasks;
pub mod templates;
pub mod triggers;
pub mod workers;
pub mod workflows;

// The definition compiler and the run core live in `weft-core`, with no
// runtime or store; their paths stay `crate::engine::compile`, `…::run`.
pub use weft_core::{compile, fixtures, run};

pub use error::EngineError;
pub use runs::ResumeForm;
pub use runs::RunEngine;
pub use tasks::TaskQueue;
pub use workflows::WorkflowCatalog;
