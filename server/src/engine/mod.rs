//! The engine: what Weft decides, independent of protocol and storage.
//!
//! - [`compile`] turns a definition into a validated DAG, reporting every
//!   problem at once.
//! - [`workflows`] manages definitions and their version history.
//! - [`run`] is the pure run state machine: `transition(state, command)`.
//!
//! The engine calls the store and is called by the api layer; it knows
//! neither tonic nor SQL.

pub mod compile;
mod error;
pub mod run;
pub mod workflows;

pub use error::EngineError;
pub use workflows::WorkflowCatalog;
