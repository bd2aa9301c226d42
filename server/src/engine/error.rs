//! Errors of the engine, each of which the api layer maps to one status.

use crate::engine::compile::Problem;
use crate::store::{Entity, StoreError};

/// Why an engine operation did not happen. Nothing was changed when one is
/// returned.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The named thing does not exist.
    #[error("{what} not found")]
    NotFound {
        /// e.g. "workflow 'wf_…'".
        what: String,
        /// UPPER_SNAKE reason, e.g. `WORKFLOW_NOT_FOUND`.
        reason: &'static str,
    },
    /// A definition failed validation; every problem is listed.
    #[error("the workflow definition is invalid ({} problems)", .0.len())]
    InvalidDefinition(Vec<Problem>),
    /// A request field is malformed.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// Field path, e.g. `update_mask.paths[0]`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Another workflow of the tenant has this name (names are unique per
    /// tenant); nothing was written.
    #[error("a workflow named '{name}' already exists")]
    NameTaken {
        /// The name asked for.
        name: String,
        /// The id of the workflow that has it, when it could be read.
        holder: Option<String>,
    },
    /// A precondition given by the caller no longer holds (e.g. an expected
    /// version that is not the latest).
    #[error("{0}")]
    Aborted(String),
    /// A worker's lease token is not the current one (an older lease, or an
    /// expired lease whose attempt was given up); nothing changed.
    #[error("{0}")]
    StaleLease(String),
    /// The target is not in a state that allows the operation (a paused
    /// workflow, a finished run).
    #[error("{message}")]
    FailedPrecondition {
        /// What is wrong, in words.
        message: String,
        /// UPPER_SNAKE reason, e.g. `RUN_NOT_ACTIVE`.
        reason: &'static str,
    },
    /// A run input failed the workflow's inputSchema; one (path, message)
    /// per violation.
    #[error("the input does not match the workflow's inputSchema ({} violations)", .0.len())]
    InputSchema(Vec<(String, String)>),
    /// A synchronous execution did not finish in time.
    #[error("{message}")]
    Timeout {
        /// What happened, in words.
        message: String,
        /// The run, which goes on unless it was cancelled.
        run_id: String,
    },
    /// A per-tenant limit refuses the request now (run starts per second,
    /// open runs); retrying after `retry_after` may succeed. Nothing was
    /// stored.
    #[error("{message}")]
    ResourceExhausted {
        /// Names the limit and its value, in words.
        message: String,
        /// UPPER_SNAKE reason, e.g. `RUN_START_RATE_LIMITED`.
        reason: &'static str,
        /// The setting (`max_open_runs`) and its value.
        limit: (&'static str, u64),
        /// How long to wait before trying again.
        retry_after: std::time::Duration,
    },
    /// The run scheduler cannot take the request now (stopping, or a
    /// commit failed); retrying later may succeed.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A bug stopped the request (a panic the writer caught); nothing
    /// changed.
    #[error("{0}")]
    Internal(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for EngineError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { entity, id } => {
                let reason = match entity {
                    Entity::Workflow => "WORKFLOW_NOT_FOUND",
                    Entity::WorkflowVersion(_) => "VERSION_NOT_FOUND",
                    Entity::Run => "RUN_NOT_FOUND",
                };
                EngineError::NotFound { what: entity.describe(&id), reason }
            }
            StoreError::NameTaken { name } => EngineError::NameTaken { name, holder: None },
            other => EngineError::Store(other),
        }
    }
}

impl EngineError {
    /// An `InvalidArgument` for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), message: message.into() }
    }
}

impl From<crate::engine::run::TransitionError> for EngineError {
    fn from(err: crate::engine::run::TransitionError) -> Self {
        Self::FailedPrecondition { message: err.to_string(), reason: "RUN_NOT_ACTIVE" }
    }
}
