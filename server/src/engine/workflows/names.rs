//! Workflows addressed by name. Names are unique per tenant (every
//! status, archived included; the store's unique index on (tenant, name),
//! migration 0020, decides races), so a name names at most one workflow,
//! and every request field that takes a workflow id also takes its name.
//!
//! One rule tells them apart, here and nowhere else: a value starting
//! `wf_` is an id (at most 128 bytes, as ids are checked everywhere), and
//! anything else is a name (at most [`MAX_NAME_CHARS`] characters, as
//! names are). An id is passed on unread, so addressing by id costs no
//! extra query; the read that follows reports an unknown one. A name is
//! looked up once. A consequence: a workflow whose name starts with `wf_`
//! is reached by its id only.

use super::{MAX_NAME_CHARS, WorkflowCatalog};
use crate::engine::EngineError;
use crate::model::WorkflowStatus;
use crate::model::ids::WORKFLOW_PREFIX;
use crate::store::StoreError;

/// Longest workflow id a request may give, in bytes.
const MAX_ID_BYTES: usize = 128;

/// What a request field naming a workflow holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    /// A `wf_…` id.
    Id(&'a str),
    /// A workflow name.
    Name(&'a str),
}

/// Reads `value`, the request field `field`, as a workflow id or name;
/// INVALID_ARGUMENT naming `field` when it is empty or too long for
/// either.
pub fn reference<'a>(field: &str, value: &'a str) -> Result<Reference<'a>, EngineError> {
    if value.trim().is_empty() {
        return Err(EngineError::invalid(field, "is required: a workflow id (wf_…) or a workflow name"));
    }
    if value.starts_with(WORKFLOW_PREFIX) {
        if value.len() > MAX_ID_BYTES {
            return Err(EngineError::invalid(field, format!("is longer than {MAX_ID_BYTES} characters")));
        }
        return Ok(Reference::Id(value));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(EngineError::invalid(
            field,
            format!("is neither a workflow id nor a name: names are at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(Reference::Name(value))
}

/// NotFound for a name no workflow of the tenant has.
fn no_such_name(name: &str) -> EngineError {
    EngineError::NotFound { what: format!("workflow named '{name}'"), reason: "WORKFLOW_NOT_FOUND" }
}

impl WorkflowCatalog {
    /// The id of the workflow that `value` (request field `field`) names,
    /// by id or by name (see the module comment). NotFound
    /// (`WORKFLOW_NOT_FOUND`) when no workflow of the tenant has the name;
    /// INVALID_ARGUMENT naming `field` for an empty or overlong value.
    pub async fn resolve(&self, tenant: &str, field: &str, value: &str) -> Result<String, EngineError> {
        match reference(field, value)? {
            Reference::Id(id) => Ok(id.to_owned()),
            Reference::Name(name) => match self.store.workflow_by_name(tenant, name).await? {
                Some(found) => Ok(found.id),
                None => Err(no_such_name(name)),
            },
        }
    }

    /// [`resolve`](Self::resolve) for an optional filter: an empty value
    /// filters nothing (`None`).
    pub async fn resolve_filter(&self, tenant: &str, field: &str, value: &str) -> Result<Option<String>, EngineError> {
        if value.is_empty() {
            return Ok(None);
        }
        self.resolve(tenant, field, value).await.map(Some)
    }

    /// The id of the workflow a run start names (StartRun, ExecuteWorkflow,
    /// the `/v1/agents/{name}` route), in field `workflow_id`. An id is
    /// returned as it is. A name must be an ACTIVE workflow's: when the
    /// workflow with that name is a draft or paused, FailedPrecondition
    /// `WORKFLOW_NOT_ACTIVE` says so; when none has it, or the one that has
    /// it is archived (an archived workflow is not a start's target),
    /// NotFound.
    pub async fn resolve_reference(&self, tenant: &str, value: &str) -> Result<String, EngineError> {
        let name = match reference("workflow_id", value)? {
            Reference::Id(id) => return Ok(id.to_owned()),
            Reference::Name(name) => name,
        };
        match self.store.workflow_by_name(tenant, name).await? {
            Some(found) => match found.status {
                WorkflowStatus::Active => Ok(found.id),
                WorkflowStatus::Archived => Err(no_such_name(name)),
                WorkflowStatus::Draft | WorkflowStatus::Paused => Err(EngineError::FailedPrecondition {
                    message: format!(
                        "no active workflow is named '{name}': '{}' has the name and is {}",
                        found.id,
                        found.status.as_str()
                    ),
                    reason: "WORKFLOW_NOT_ACTIVE",
                }),
            },
            None => Err(no_such_name(name)),
        }
    }

    /// `err` as the engine reports it, with, for a name the store refused
    /// as taken, the id of the workflow that has it (read after the refused
    /// write, which rolled back; `None` if that workflow went away since).
    pub(super) async fn explained(&self, tenant: &str, err: StoreError) -> EngineError {
        match err {
            StoreError::NameTaken { name } => {
                let holder = match self.store.workflow_by_name(tenant, &name).await {
                    Ok(found) => found.map(|f| f.id),
                    Err(read) => {
                        tracing::warn!(error = %read, "cannot read which workflow has a taken name");
                        None
                    }
                };
                EngineError::NameTaken { name, holder }
            }
            other => other.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_told_apart_and_bounded() {
        assert_eq!(reference("id", "wf_abc").unwrap(), Reference::Id("wf_abc"));
        assert_eq!(reference("id", "lead pipeline").unwrap(), Reference::Name("lead pipeline"));
        assert_eq!(reference("id", &"é".repeat(200)).unwrap(), Reference::Name(&"é".repeat(200)));
        for bad in ["", "   ", &"n".repeat(201), &format!("wf_{}", "x".repeat(126))] {
            match reference("workflow_id", bad) {
                Err(EngineError::InvalidArgument { field, .. }) => assert_eq!(field, "workflow_id"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
