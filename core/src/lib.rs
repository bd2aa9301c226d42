//! `weft-core`: what Weft decides, as pure functions of their inputs.
//!
//! # Layout
//!
//! - [`model`]: domain types shared by every layer (definitions, records,
//!   statuses, ids, JSON limits).
//! - [`expr`]: JSONPath, condition expressions and `{{ }}` templates,
//!   parsed once and capped in size and depth.
//! - [`compile`]: a definition turned into a validated DAG, every problem
//!   reported at once.
//! - [`run`]: the run state machine, `transition(state, command)`, with one
//!   module per step type under `run/steps/`.
//! - [`fixtures`]: documented example definitions the tests share.
//!
//! The crate depends on no runtime, database or clock (see its
//! `Cargo.toml`): time and ids come in on commands, so a run replays to the
//! same state. The server (`weft-server`) owns I/O: the store, the writer,
//! the api.

pub mod compile;
pub mod expr;
pub mod fixtures;
pub mod model;
pub mod run;
