//! `weft.v1.TemplateService`: the catalogue of templates (built in, and
//! the caller's tenant's own) and installing one as a workflow. The engine
//! (`engine/templates`) checks every bound and stores; this module maps
//! the wire types and pages. Reads need a `read` key, the rest `write`.

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::template_service_server::TemplateService;

use crate::api::convert::{self, timestamp};
use crate::api::{auth, error, page_token};
use crate::engine::WorkflowCatalog;
use crate::engine::templates::{Installation, NewTemplate, Template, TemplateFilter, Templates};
use crate::model::{Workflow, WorkflowStatus};

/// Default and largest page of ListTemplates.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;
/// A page stops early once its templates (each with its definition) pass
/// this many encoded bytes, so it fits a client's default 4 MiB message
/// limit; `next_page_token` (or a larger `offset`) goes on from there.
const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// The TemplateService implementation.
pub struct TemplateApi {
    templates: Templates,
    /// Resolves a workflow named by id or by name.
    catalog: WorkflowCatalog,
}

impl TemplateApi {
    /// A service over `templates`.
    pub fn new(templates: Templates, catalog: WorkflowCatalog) -> Self {
        Self { templates, catalog }
    }
}

/// A template as `weft.v1.Template`: its definition as a `Workflow` with
/// no id, version, status or timestamps (those belong to installed
/// workflows), and the template's tags.
fn template_to_pb(t: &Template) -> pb::Template {
    let workflow = match &t.definition {
        Some(definition) => {
            let mut workflow = convert::workflow_to_pb(&Workflow {
                id: String::new(),
                tags: t.tags.clone(),
                status: WorkflowStatus::Active,
                trigger_type: String::new(),
                version: 0,
                latest_version: 0,
                change_summary: String::new(),
                definition: definition.clone(),
                created_at_ms: 0,
                updated_at_ms: 0,
            });
            workflow.status = pb::WorkflowStatus::Unspecified as i32;
            workflow.create_time = None;
            workflow.update_time = None;
            workflow
        }
        None => pb::Workflow {
            name: t.name.clone(),
            description: "[definition omitted: the stored definition cannot be read]".into(),
            ..Default::default()
        },
    };
    pb::Template {
        id: t.id.clone(),
        name: t.name.clone(),
        description: t.description.clone(),
        category: t.category.clone(),
        is_builtin: t.is_builtin,
        tags: t.tags.clone(),
        workflow: Some(workflow),
        create_time: Some(timestamp(t.created_ms)),
    }
}

#[tonic::async_trait]
impl TemplateService for TemplateApi {
    async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let limit = match (r.page_size, r.limit) {
            (0, 0) => DEFAULT_PAGE_SIZE,
            (0, limit) => limit,
            (size, _) => size,
        }
        .min(MAX_PAGE_SIZE);
        // A token holds the offset of the next page, bound to the filters.
        let fingerprint = format!("templates|{}|{:?}|{}", r.category, r.is_builtin, r.tag);
        let offset = if r.page_token.is_empty() {
            r.offset
        } else {
            let (next, _) = page_token::decode(&r.page_token, &fingerprint)?;
            u32::try_from(next).map_err(|_| error::invalid_argument("page_token", "the page token is malformed"))?
        };
        let filter = TemplateFilter {
            category: Some(r.category).filter(|c| !c.is_empty()),
            is_builtin: r.is_builtin,
            tag: Some(r.tag).filter(|t| !t.is_empty()),
            offset,
            limit,
        };
        let page = self.templates.list(&tenant, &filter).await?;
        let mut templates = Vec::with_capacity(page.templates.len());
        let mut bytes = 0;
        for template in page.templates.iter().map(template_to_pb) {
            bytes += prost::Message::encoded_len(&template);
            if bytes > MAX_PAGE_BYTES && !templates.is_empty() {
                break;
            }
            templates.push(template);
        }
        let served = u32::try_from(templates.len()).unwrap_or(u32::MAX);
        let next = offset.saturating_add(served);
        let next_page_token = if served > 0 && next < page.total {
            page_token::encode(&(i64::from(next), String::new()), &fingerprint)
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListTemplatesResponse { templates, next_page_token, total: page.total }))
    }

    async fn get_template(
        &self,
        request: Request<pb::GetTemplateRequest>,
    ) -> Result<Response<pb::GetTemplateResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let template = self.templates.get(&tenant, &request.into_inner().template_id).await?;
        Ok(Response::new(pb::GetTemplateResponse { template: Some(template_to_pb(&template)) }))
    }

    async fn install_template(
        &self,
        request: Request<pb::InstallTemplateRequest>,
    ) -> Result<Response<pb::InstallTemplateResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let how = Installation { name: r.name, tags: r.tags, status: convert::status_from_pb(r.status)? };
        let workflow = convert::workflow_to_pb(&self.templates.install(&tenant, &r.template_id, how).await?);
        Ok(Response::new(pb::InstallTemplateResponse { workflow_id: workflow.id.clone(), workflow: Some(workflow) }))
    }

    async fn create_template(
        &self,
        request: Request<pb::CreateTemplateRequest>,
    ) -> Result<Response<pb::CreateTemplateResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let template = r.template.ok_or_else(|| error::invalid_argument("template", "is required"))?;
        let definition = template.workflow.as_ref().map(convert::definition_from_pb).transpose()?;
        let asked = NewTemplate {
            name: template.name,
            description: template.description,
            category: template.category,
            tags: template.tags,
            definition,
            workflow_id: self.catalog.resolve_filter(&tenant, "workflow_id", &r.workflow_id).await?.unwrap_or_default(),
            workflow_version: r.workflow_version,
        };
        let created = self.templates.create(&tenant, asked).await?;
        Ok(Response::new(pb::CreateTemplateResponse { template: Some(template_to_pb(&created)) }))
    }

    async fn delete_template(
        &self,
        request: Request<pb::DeleteTemplateRequest>,
    ) -> Result<Response<pb::DeleteTemplateResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        self.templates.delete(&tenant, &request.into_inner().template_id).await?;
        Ok(Response::new(pb::DeleteTemplateResponse { success: true, message: "Template deleted successfully".into() }))
    }
}
