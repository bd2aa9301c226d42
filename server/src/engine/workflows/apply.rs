//! ApplyWorkflow: create-or-update by name, so that a script which applies
//! its workflow on every start keeps one workflow, and one version while
//! the definition stays the same.
//!
//! The given definition is checked exactly as CreateWorkflow checks it,
//! then compared with the latest version in canonical form (normalized and
//! compiled, webhook credentials carried over): a definition written in
//! another dialect or with `config` objects equals its canonical twin, so
//! applying the same workflow twice writes nothing. Tags (and the trigger
//! type, when given) are compared too. Status is set on create only: it is
//! not part of a version, and an apply is not a way to resume a paused or
//! archived workflow.
//!
//! Races are settled by the store, not by the read: two applies of one new
//! name both try to create, the unique index on (tenant, name) lets one
//! through, and the other reads again and finds the workflow (then updates
//! it or leaves it unchanged). A version appended by someone else between
//! the read and the write is a version conflict, retried the same way.

use super::{
    Checked, MAX_NAME_CHARS, UPDATE_ATTEMPTS, WorkflowCatalog, WorkflowDraft, check_tags, checked, is_empty, summarize,
};
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::model::Workflow;
use crate::store::{NewVersion, StoreError};

/// What ApplyWorkflow did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// No workflow had the name: one was created at version 1.
    Created,
    /// The definition, tags or trigger type differed: a version was written.
    Updated,
    /// Everything equalled the latest version: nothing was written.
    Unchanged,
}

/// The workflow after an apply, and what the apply did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The latest version as stored after the call.
    pub workflow: Workflow,
    /// Created, updated or left as it was.
    pub outcome: ApplyOutcome,
}

/// INVALID_ARGUMENT naming `workflow.name` unless the draft has a usable
/// name: apply finds its workflow by it.
fn check_name(name: &str) -> Result<(), EngineError> {
    if name.trim().is_empty() {
        return Err(EngineError::invalid("workflow.name", "is required: ApplyWorkflow finds the workflow by its name"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(EngineError::invalid("workflow.name", format!("is longer than {MAX_NAME_CHARS} characters")));
    }
    Ok(())
}

impl WorkflowCatalog {
    /// Creates the workflow named `draft.definition.name`, or makes the
    /// draft the next version of the tenant's workflow with that name, or,
    /// when it equals the latest version, writes nothing (see the module
    /// comment). `draft.request_id` is not used: an apply is idempotent by
    /// name.
    pub async fn apply(&self, tenant: &str, draft: WorkflowDraft) -> Result<Applied, EngineError> {
        check_name(&draft.definition.name)?;
        check_tags(&draft.tags)?;
        let draft = WorkflowDraft { request_id: None, ..draft };
        for _ in 0..UPDATE_ATTEMPTS {
            let found = self.store.workflow_by_name(tenant, &draft.definition.name).await?;
            let Some(found) = found else {
                match self.store.create_workflow(tenant, self.new_workflow(draft.clone())?).await {
                    Ok(workflow) => return Ok(Applied { workflow, outcome: ApplyOutcome::Created }),
                    // Another apply (or create) took the name first: read it again.
                    Err(StoreError::NameTaken { .. }) => continue,
                    Err(err) => return Err(err.into()),
                }
            };
            let latest = match self.store.get_workflow(tenant, &found.id).await {
                Ok(latest) => latest,
                // Deleted since it was found: the name may be free now.
                Err(StoreError::NotFound { .. }) => continue,
                Err(err) => return Err(err.into()),
            };
            let Some(next) = self.next_version(&latest, &draft)? else {
                return Ok(Applied { workflow: latest, outcome: ApplyOutcome::Unchanged });
            };
            match self.store.append_workflow_version(tenant, &latest.id, next).await {
                Ok(workflow) => return Ok(Applied { workflow, outcome: ApplyOutcome::Updated }),
                Err(
                    StoreError::VersionConflict { .. } | StoreError::NotFound { .. } | StoreError::NameTaken { .. },
                ) => {
                    continue;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(EngineError::Aborted(format!(
            "the workflow named '{}' is being changed too often; try again",
            draft.definition.name
        )))
    }

    /// The version that makes `latest` what `draft` describes; `None` when
    /// it already is. The draft is checked as an update is: a workflow
    /// created empty (a draft) may stay empty, any other needs steps.
    fn next_version(&self, latest: &Workflow, draft: &WorkflowDraft) -> Result<Option<NewVersion>, EngineError> {
        let Checked { definition, source } = checked(
            draft.definition.clone(),
            Some(&latest.definition),
            is_empty(&latest.definition),
            &self.script_interpreters,
        )?;
        // Compared as stored documents: the latest version was read back
        // from one, so in-memory forms that serialize alike are alike.
        let same_definition = definition.to_document() == latest.definition.to_document();
        let trigger_type = Some(draft.trigger_type.clone()).filter(|t| !t.is_empty() && *t != latest.trigger_type);
        let tags = Some(draft.tags.clone()).filter(|t| *t != latest.tags);
        if same_definition && trigger_type.is_none() && tags.is_none() {
            return Ok(None);
        }
        let change_summary = if draft.change_summary.is_empty() {
            let mut parts = Vec::new();
            if !same_definition {
                parts.push(summarize(&latest.definition, &definition));
            }
            if tags.is_some() {
                parts.push("changed tags".into());
            }
            if trigger_type.is_some() {
                parts.push("changed triggerType".into());
            }
            format!("Applied: {}", parts.join(", "))
        } else {
            draft.change_summary.clone()
        };
        Ok(Some(NewVersion {
            based_on: latest.version,
            definition,
            source,
            change_summary,
            tags,
            trigger_type,
            now_ms: now_ms(),
        }))
    }
}
