//! What a start would refuse, checked without starting: a webhook trigger
//! checks its body here before it claims its one-call window, so a body
//! the workflow refuses leaves the window open.

use std::sync::Arc;

use serde_json::Value;

use super::{RunEngine, check_input};
use crate::engine::EngineError;
use crate::engine::compile::CompiledWorkflow;
use crate::model::{Workflow, WorkflowStatus};

impl RunEngine {
    /// Refuses as [`RunEngine::start`] would for `workflow` (a version read
    /// by the caller) and `input`: a paused or archived workflow, an input
    /// its inputSchema refuses. Answers the compiled version, which a start
    /// goes on with.
    pub async fn check_start(
        &self,
        tenant: &str,
        workflow: &Workflow,
        input: &Value,
    ) -> Result<Arc<CompiledWorkflow>, EngineError> {
        if matches!(workflow.status, WorkflowStatus::Paused | WorkflowStatus::Archived) {
            return Err(EngineError::FailedPrecondition {
                message: format!("workflow '{}' is {} and starts no runs", workflow.id, workflow.status.as_str()),
                reason: "WORKFLOW_NOT_ACTIVE",
            });
        }
        let compiled = self.compiled.get(tenant, &workflow.id, workflow.version).await?;
        // No input is checked as an empty object, as the API documents.
        let empty = Value::Object(Default::default());
        check_input(&compiled, if input.is_null() { &empty } else { input })?;
        Ok(compiled)
    }
}
