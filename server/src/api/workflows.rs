//! `weft.v1.WorkflowService`: checks each request, calls the workflow
//! catalog, and shapes the response. Every RPC that names a workflow takes
//! its id or its name; the catalog resolves which (`engine::workflows::names`).

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::workflow_service_server::WorkflowService;

use crate::api::auth;
use crate::api::list_order::{list_order, list_sort};
use crate::api::request_checks::required_version;
use crate::api::{convert, error, page_token};
use crate::engine::WorkflowCatalog;
use crate::engine::compile::Problem;
use crate::engine::workflows::{ApplyOutcome, ListQuery, WorkflowDraft, WorkflowPatch};
use crate::model::Definition;
use crate::store::{CursorKey, WorkflowCursor, WorkflowSort};

/// Default and largest page of ListWorkflows.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;

/// The WorkflowService implementation.
pub struct WorkflowApi {
    catalog: WorkflowCatalog,
}

impl WorkflowApi {
    /// A service over `catalog`.
    pub fn new(catalog: WorkflowCatalog) -> Self {
        Self { catalog }
    }
}

fn problems_to_pb(problems: &[Problem]) -> pb::ValidateWorkflowResponse {
    pb::ValidateWorkflowResponse {
        // Warnings (serialized state writers) leave a definition valid.
        valid: problems.iter().all(Problem::is_warning),
        errors: problems.iter().filter(|p| !p.is_warning()).map(|p| p.message.clone()).collect(),
        problems: problems
            .iter()
            .map(|p| pb::DefinitionProblem {
                step_id: p.step_id.clone(),
                field: p.field.clone(),
                code: p.code.as_str().to_string(),
                message: p.message.clone(),
            })
            .collect(),
    }
}

/// lowerCamelCase of a field mask path (`input_schema` -> `inputSchema`).
fn camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Definition fields a flat or nested workflow sets to a non-default value:
/// the implied update mask.
fn fields_set(workflow: &pb::Workflow) -> Vec<String> {
    let mut fields = Vec::new();
    let mut add = |name: &str, set: bool| {
        if set {
            fields.push(name.to_string());
        }
    };
    match &workflow.definition {
        Some(d) => {
            add("name", !d.name.is_empty());
            add("description", !d.description.is_empty());
            add("steps", !d.steps.is_empty());
            add("inputSchema", d.input_schema.is_some());
            add("outputSchema", d.output_schema.is_some());
            add("policy", d.policy.is_some());
            add("onFailure", d.on_failure != 0);
            add("retries", d.retries != 0);
            add("timeout", d.timeout != 0);
            add("maxConcurrentRuns", d.max_concurrent_runs.is_some());
        }
        None => {
            let w = workflow;
            add("name", !w.name.is_empty());
            add("description", !w.description.is_empty());
            add("steps", !w.steps.is_empty());
            add("inputSchema", w.input_schema.is_some());
            add("outputSchema", w.output_schema.is_some());
            add("policy", w.policy.is_some());
            add("onFailure", w.on_failure != 0);
            add("retries", w.retries != 0);
            add("timeout", w.timeout != 0);
            add("maxConcurrentRuns", w.max_concurrent_runs.is_some());
            add("states", !w.states.is_empty());
            add("functions", !w.functions.is_empty());
            add("blocks", !w.blocks.is_empty());
            add("edges", !w.edges.is_empty());
        }
    }
    fields
}

#[tonic::async_trait]
impl WorkflowService for WorkflowApi {
    async fn create_workflow(
        &self,
        request: Request<pb::CreateWorkflowRequest>,
    ) -> Result<Response<pb::CreateWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        let workflow = request.workflow.ok_or_else(|| error::invalid_argument("workflow", "is required"))?;
        let draft = WorkflowDraft {
            definition: convert::definition_from_pb(&workflow)?,
            tags: workflow.tags,
            trigger_type: workflow.trigger_type,
            status: convert::status_from_pb(workflow.status)?,
            change_summary: workflow.change_summary,
            request_id: Some(request.request_id).filter(|r| !r.is_empty()),
        };
        let created = convert::workflow_to_pb(&self.catalog.create(&tenant, draft).await?);
        Ok(Response::new(pb::CreateWorkflowResponse { id: created.id.clone(), workflow: Some(created) }))
    }

    async fn apply_workflow(
        &self,
        request: Request<pb::ApplyWorkflowRequest>,
    ) -> Result<Response<pb::ApplyWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        let workflow = request.workflow.ok_or_else(|| error::invalid_argument("workflow.name", "is required"))?;
        // The request's own summary wins over one inside the workflow.
        let change_summary =
            if request.change_summary.is_empty() { workflow.change_summary.clone() } else { request.change_summary };
        let draft = WorkflowDraft {
            definition: convert::definition_from_pb(&workflow)?,
            tags: workflow.tags,
            trigger_type: workflow.trigger_type,
            status: convert::status_from_pb(workflow.status)?,
            change_summary,
            request_id: None,
        };
        let applied = self.catalog.apply(&tenant, draft).await?;
        let outcome = match applied.outcome {
            ApplyOutcome::Created => pb::ApplyOutcome::Created,
            ApplyOutcome::Updated => pb::ApplyOutcome::Updated,
            ApplyOutcome::Unchanged => pb::ApplyOutcome::Unchanged,
        };
        Ok(Response::new(pb::ApplyWorkflowResponse {
            workflow: Some(convert::workflow_to_pb(&applied.workflow)),
            outcome: outcome as i32,
        }))
    }

    async fn get_workflow(
        &self,
        request: Request<pb::GetWorkflowRequest>,
    ) -> Result<Response<pb::GetWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let id = self.catalog.resolve(&tenant, "id", &request.into_inner().id).await?;
        let workflow = self.catalog.get(&tenant, &id).await?;
        Ok(Response::new(pb::GetWorkflowResponse { workflow: Some(convert::workflow_to_pb(&workflow)) }))
    }

    async fn list_workflows(
        &self,
        request: Request<pb::ListWorkflowsRequest>,
    ) -> Result<Response<pb::ListWorkflowsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        let status = convert::status_from_pb(request.status)?;
        let size = match (request.page_size, request.limit) {
            (0, 0) => DEFAULT_PAGE_SIZE,
            (0, limit) => limit,
            (size, _) => size,
        }
        .min(MAX_PAGE_SIZE);
        let (sort, order) = (list_sort(&request.sort)?, list_order(&request.order)?);
        let fingerprint =
            format!("{}|{}|{}|{}|{}", request.status, request.tag, request.trigger_type, request.sort, request.order);
        let after = match (request.page_token.is_empty(), sort) {
            (true, _) => None,
            (false, WorkflowSort::CreatedAt | WorkflowSort::UpdatedAt) => {
                let (ms, id) = page_token::decode(&request.page_token, &fingerprint)?;
                Some(WorkflowCursor { key: CursorKey::Time(ms), id })
            }
            (false, WorkflowSort::Name) => {
                let (name, id) = page_token::decode_text(&request.page_token, &fingerprint)?;
                Some(WorkflowCursor { key: CursorKey::Name(name), id })
            }
        };
        let query = ListQuery {
            status,
            tag: Some(request.tag).filter(|t| !t.is_empty()),
            trigger_type: Some(request.trigger_type).filter(|t| !t.is_empty()),
            name: None,
            sort,
            order,
            after,
            offset: request.offset,
            limit: size,
        };
        let page = self.catalog.list(&tenant, &query).await?;
        let next_page_token = match page.workflows.last() {
            Some(last) if page.has_more => match sort.key_of(last) {
                CursorKey::Time(ms) => page_token::encode(&(ms, last.id.clone()), &fingerprint),
                CursorKey::Name(name) => page_token::encode_text(&(name, last.id.clone()), &fingerprint),
            },
            _ => String::new(),
        };
        Ok(Response::new(pb::ListWorkflowsResponse {
            workflows: page.workflows.iter().map(convert::workflow_to_pb).collect(),
            next_page_token,
            total: page.total,
        }))
    }

    async fn update_workflow(
        &self,
        request: Request<pb::UpdateWorkflowRequest>,
    ) -> Result<Response<pb::UpdateWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        let workflow = request.workflow.ok_or_else(|| error::invalid_argument("workflow", "is required"))?;
        let id = self.catalog.resolve(&tenant, "workflow.id", &workflow.id).await?;
        let mask: Vec<String> =
            request.update_mask.map(|m| m.paths.iter().map(|p| camel_case(p)).collect()).unwrap_or_default();
        let explicit = !mask.is_empty();
        let (mut fields, mut tags, mut trigger_type) = (Vec::new(), None, None);
        for path in if explicit { mask } else { fields_set(&workflow) } {
            match path.as_str() {
                "tags" => tags = Some(workflow.tags.clone()),
                "triggerType" => trigger_type = Some(workflow.trigger_type.clone()),
                _ => fields.push(path),
            }
        }
        if !explicit {
            if !workflow.tags.is_empty() {
                tags = Some(workflow.tags.clone());
            }
            if !workflow.trigger_type.is_empty() {
                trigger_type = Some(workflow.trigger_type.clone());
            }
        }
        if fields.is_empty() && tags.is_none() && trigger_type.is_none() {
            return Err(error::invalid_argument("workflow", "no fields to update"));
        }
        let patch = WorkflowPatch {
            values: convert::definition_from_pb(&workflow)?,
            fields,
            tags,
            trigger_type,
            change_summary: workflow.change_summary.clone(),
            expected_version: Some(request.expected_version).filter(|v| *v != 0),
        };
        let updated = self.catalog.update(&tenant, &id, patch).await?;
        Ok(Response::new(pb::UpdateWorkflowResponse { workflow: Some(convert::workflow_to_pb(&updated)) }))
    }

    async fn delete_workflow(
        &self,
        request: Request<pb::DeleteWorkflowRequest>,
    ) -> Result<Response<pb::DeleteWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let id = self.catalog.resolve(&tenant, "id", &request.into_inner().id).await?;
        self.catalog.delete(&tenant, &id).await?;
        Ok(Response::new(pb::DeleteWorkflowResponse { success: true, message: "Workflow deleted successfully".into() }))
    }

    async fn set_workflow_status(
        &self,
        request: Request<pb::SetWorkflowStatusRequest>,
    ) -> Result<Response<pb::SetWorkflowStatusResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        let status = convert::status_from_pb(request.status)?
            .ok_or_else(|| error::invalid_argument("status", "must be one of draft, active, paused, archived"))?;
        let id = self.catalog.resolve(&tenant, "id", &request.id).await?;
        let workflow = self.catalog.set_status(&tenant, &id, status).await?;
        Ok(Response::new(pb::SetWorkflowStatusResponse { workflow: Some(convert::workflow_to_pb(&workflow)) }))
    }

    async fn validate_workflow(
        &self,
        request: Request<pb::ValidateWorkflowRequest>,
    ) -> Result<Response<pb::ValidateWorkflowResponse>, Status> {
        let request = request.into_inner();
        let definition: Definition = match (&request.definition, &request.workflow) {
            (Some(nested), _) => convert::definition_from_nested(nested)?,
            (None, Some(workflow)) => convert::definition_from_pb(workflow)?,
            (None, None) => return Err(error::invalid_argument("definition", "is required")),
        };
        let warnings = crate::engine::compile::warnings(&definition);
        let problems: Vec<Problem> = self.catalog.validate(definition).into_iter().chain(warnings).collect();
        Ok(Response::new(problems_to_pb(&problems)))
    }

    async fn list_workflow_versions(
        &self,
        request: Request<pb::ListWorkflowVersionsRequest>,
    ) -> Result<Response<pb::ListWorkflowVersionsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let id = self.catalog.resolve(&tenant, "id", &request.into_inner().id).await?;
        let versions = self.catalog.versions(&tenant, &id).await?;
        Ok(Response::new(pb::ListWorkflowVersionsResponse {
            versions: versions.iter().map(convert::version_to_pb).collect(),
        }))
    }

    async fn get_workflow_version(
        &self,
        request: Request<pb::GetWorkflowVersionRequest>,
    ) -> Result<Response<pb::GetWorkflowVersionResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_version(request.version, "version")?;
        let id = self.catalog.resolve(&tenant, "id", &request.id).await?;
        let workflow = self.catalog.get_version(&tenant, &id, request.version).await?;
        Ok(Response::new(pb::GetWorkflowVersionResponse { workflow: Some(convert::workflow_to_pb(&workflow)) }))
    }

    async fn diff_workflow_versions(
        &self,
        request: Request<pb::DiffWorkflowVersionsRequest>,
    ) -> Result<Response<pb::DiffWorkflowVersionsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_version(request.v1, "v1")?;
        required_version(request.v2, "v2")?;
        let id = self.catalog.resolve(&tenant, "id", &request.id).await?;
        let diff = self.catalog.diff(&tenant, &id, request.v1, request.v2).await?;
        Ok(Response::new(pb::DiffWorkflowVersionsResponse {
            diff: diff.patch.0.iter().map(convert::patch_operation_to_pb).collect(),
            summary: diff.summary,
            v1: request.v1,
            v2: request.v2,
        }))
    }

    async fn rollback_workflow(
        &self,
        request: Request<pb::RollbackWorkflowRequest>,
    ) -> Result<Response<pb::RollbackWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_version(request.version, "version")?;
        let id = self.catalog.resolve(&tenant, "id", &request.id).await?;
        let workflow = self.catalog.rollback(&tenant, &id, request.version, request.change_summary).await?;
        Ok(Response::new(pb::RollbackWorkflowResponse { workflow: Some(convert::workflow_to_pb(&workflow)) }))
    }
}
