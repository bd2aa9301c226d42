//! Domain types of Weft, free of protocol and storage concerns.
//!
//! `api` converts `weft.v1` messages to and from these types, `store` persists
//! them, and the engine works on them. Nothing here knows tonic or SQL.

pub mod approval;
pub mod definition;
pub mod ids;
pub mod json_limits;
pub mod run;
pub mod status;
pub mod step_kind;
pub mod tenancy;
pub mod workflow;

pub use approval::{ApprovalDecision, ApprovalPage, ApprovalQuery, ApprovalRecord};
pub use definition::{Definition, StepDef};
pub use run::{EventRecord, RunRecord, StepRecord, TaskRecord, TimerRecord};
pub use status::{ApprovalKind, ApprovalStatus, FailureAction, FailureMode, RunStatus, StepStatus};
pub use step_kind::StepKind;
pub use tenancy::{KeyScope, Operation};
pub use workflow::{Workflow, WorkflowStatus, WorkflowVersionInfo};

/// The tenant of anonymous calls (loopback, before any API key exists),
/// and of `weft keys create` when no `--tenant` is given.
pub const DEFAULT_TENANT: &str = "default";
