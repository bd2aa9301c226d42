//! Workflow templates: ready-made definitions a tenant installs as new
//! workflows. Built-in templates ship in the binary ([`builtin`]) and every
//! tenant sees them; a tenant's own templates are saved from a definition
//! or from any version of one of its workflows, and only that tenant sees
//! them. Every bound of TemplateService ([`bounds`]) is checked here,
//! before anything is stored, and each refusal names its field.
//!
//! Installing goes through [`WorkflowCatalog::create`], so an installed
//! workflow meets every check a created one does (and a template whose
//! definition no longer passes them, a script language this server does
//! not allow for example, is refused with those problems). The new
//! workflow is a copy: later changes of the template do not reach it.

pub mod bounds;
pub mod builtin;

use std::sync::Arc;

use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::workflows::{WorkflowCatalog, WorkflowDraft};
use crate::model::{Definition, Workflow, WorkflowStatus};
use crate::store::Store;
use crate::store::templates::{TemplateQuery, TemplateRecord};

pub(crate) use bounds::check_labels;
pub use bounds::{
    ID_PREFIX, MAX_CATEGORY_CHARS, MAX_DEFINITION_BYTES, MAX_DESCRIPTION_CHARS, MAX_ID_CHARS, MAX_TAG_CHARS, MAX_TAGS,
    MAX_TEMPLATE_NAME_CHARS, MAX_TEMPLATES_PER_TENANT,
};
use bounds::{check_category, check_id, check_name, check_tags, not_found};

/// A template, built in or a tenant's.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// A slug for built-ins (`lead-enrichment`), `tmpl_…` for a tenant's.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Catalogue category; empty for none.
    pub category: String,
    /// Labels for filtering.
    pub tags: Vec<String>,
    /// Shipped with the server.
    pub is_builtin: bool,
    /// The definition installs copy; `None` when the stored one cannot be
    /// read (answered without steps; installing it is refused).
    pub definition: Option<Definition>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// A template to save, as the caller asked for it.
#[derive(Debug, Clone, Default)]
pub struct NewTemplate {
    /// Display name, required.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Catalogue category.
    pub category: String,
    /// Labels.
    pub tags: Vec<String>,
    /// The definition, unless it is copied from a workflow.
    pub definition: Option<Definition>,
    /// Copy the definition of this workflow (empty: none).
    pub workflow_id: String,
    /// With `workflow_id`: this version; 0 means the latest.
    pub workflow_version: u32,
}

/// How to install a template.
#[derive(Debug, Clone, Default)]
pub struct Installation {
    /// The new workflow's name; empty (or blank) means the template's name.
    pub name: String,
    /// Its tags; empty means the template's tags.
    pub tags: Vec<String>,
    /// Its status; `None` means active.
    pub status: Option<WorkflowStatus>,
}

/// Filters and window of a listing.
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    /// Only this category.
    pub category: Option<String>,
    /// Only built-in (true) or only the tenant's (false) templates.
    pub is_builtin: Option<bool>,
    /// Only templates carrying this tag.
    pub tag: Option<String>,
    /// Templates to skip.
    pub offset: u32,
    /// Most templates to return.
    pub limit: u32,
}

/// A window of a listing.
#[derive(Debug, Clone)]
pub struct TemplatePage {
    /// Built-ins first, then the tenant's, each by name.
    pub templates: Vec<Template>,
    /// How many match the filters in all.
    pub total: u32,
}

/// The catalogue of templates; cheap to clone.
#[derive(Clone)]
pub struct Templates {
    store: Arc<dyn Store>,
    catalog: WorkflowCatalog,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

/// A stored row as a template; a definition that cannot be read is
/// logged and answered as `None`, so the row still lists.
fn from_record(record: TemplateRecord) -> Template {
    let definition = match serde_json::from_str::<Definition>(&record.definition) {
        Ok(definition) => Some(definition),
        Err(err) => {
            tracing::warn!(template = %record.id, error = %err, "a stored template definition cannot be read");
            None
        }
    };
    Template {
        id: record.id,
        name: record.name,
        description: record.description,
        category: record.category,
        tags: record.tags,
        is_builtin: false,
        definition,
        created_ms: record.created_ms,
    }
}

impl Templates {
    /// Templates over `store`, installing through `catalog`.
    pub fn new(store: Arc<dyn Store>, catalog: WorkflowCatalog) -> Self {
        Self { store, catalog }
    }

    /// A window of the templates `tenant` sees: matching built-ins first,
    /// then the tenant's own, each by name.
    pub async fn list(&self, tenant: &str, filter: &TemplateFilter) -> Result<TemplatePage, EngineError> {
        if let Some(category) = &filter.category {
            check_category("category", category)?;
        }
        if let Some(tag) = &filter.tag
            && tag.chars().count() > MAX_TAG_CHARS
        {
            return Err(EngineError::invalid("tag", format!("a tag is at most {MAX_TAG_CHARS} characters")));
        }
        let builtins: Vec<&Template> = if filter.is_builtin == Some(false) {
            Vec::new()
        } else {
            builtin::all()
                .iter()
                .filter(|t| filter.category.as_ref().is_none_or(|c| &t.category == c))
                .filter(|t| filter.tag.as_ref().is_none_or(|tag| t.tags.contains(tag)))
                .collect()
        };
        let (start, limit) = (filter.offset as usize, filter.limit as usize);
        let mut templates: Vec<Template> = builtins.iter().skip(start).take(limit).map(|t| (*t).clone()).collect();
        let mut total = u32::try_from(builtins.len()).unwrap_or(u32::MAX);
        if filter.is_builtin != Some(true) {
            let query = TemplateQuery {
                category: filter.category.clone(),
                tag: filter.tag.clone(),
                offset: filter.offset.saturating_sub(total),
                limit: filter.limit.saturating_sub(u32::try_from(templates.len()).unwrap_or(u32::MAX)),
            };
            let (own, matching) = self.store.list_templates(tenant, &query).await?;
            templates.extend(own.into_iter().map(from_record));
            total = total.saturating_add(matching);
        }
        Ok(TemplatePage { templates, total })
    }

    /// A template `tenant` sees.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Template, EngineError> {
        check_id(id)?;
        if let Some(template) = builtin::find(id) {
            return Ok(template.clone());
        }
        if !id.starts_with(ID_PREFIX) {
            return Err(not_found(id));
        }
        self.store.get_template(tenant, id).await?.map(from_record).ok_or_else(|| not_found(id))
    }

    /// Creates a workflow (version 1) from a template: its definition
    /// under the new name, with the given (or the template's) tags.
    pub async fn install(&self, tenant: &str, id: &str, how: Installation) -> Result<Workflow, EngineError> {
        let template = self.get(tenant, id).await?;
        let name = if how.name.trim().is_empty() { template.name.clone() } else { how.name };
        check_name("name", &name)?;
        check_tags("tags", &how.tags)?;
        let Some(mut definition) = template.definition else {
            return Err(EngineError::FailedPrecondition {
                message: format!("the definition of template '{}' cannot be read; save it again", template.id),
                reason: "TEMPLATE_UNREADABLE",
            });
        };
        definition.name = name;
        let draft = WorkflowDraft {
            definition,
            tags: if how.tags.is_empty() { template.tags } else { how.tags },
            trigger_type: String::new(),
            status: Some(how.status.unwrap_or(WorkflowStatus::Active)),
            change_summary: format!("Installed from template {}", template.id),
            request_id: None,
        };
        self.catalog.create(tenant, draft).await
    }

    /// Saves a template of `tenant`: the given definition, or one copied
    /// from a version of one of its workflows, validated like a workflow.
    pub async fn create(&self, tenant: &str, asked: NewTemplate) -> Result<Template, EngineError> {
        check_labels(&asked.name, &asked.description, &asked.category, &asked.tags)?;
        let document = match (asked.definition, asked.workflow_id.is_empty()) {
            (Some(_), false) => {
                return Err(EngineError::invalid(
                    "workflow_id",
                    "give either template.workflow or workflow_id, not both",
                ));
            }
            (None, true) if asked.workflow_version != 0 => {
                return Err(EngineError::invalid("workflow_version", "is only read with workflow_id"));
            }
            (None, true) => {
                return Err(EngineError::invalid("template.workflow", "is required unless workflow_id is given"));
            }
            (Some(mut definition), true) => {
                if definition.name.trim().is_empty() {
                    definition.name = asked.name.clone();
                }
                definition.to_document()
            }
            (None, false) => self.copied(tenant, &asked.workflow_id, asked.workflow_version).await?,
        };
        let definition: Definition = serde_json::from_value(document.clone())
            .map_err(|e| EngineError::invalid("template.workflow", format!("the definition is malformed: {e}")))?;
        let text = document.to_string();
        if text.len() > MAX_DEFINITION_BYTES {
            let message = format!(
                "the definition is {} bytes of JSON, over the {MAX_DEFINITION_BYTES}-byte limit of a template",
                text.len()
            );
            return Err(EngineError::invalid("template.workflow", message));
        }
        let problems = self.catalog.validate(definition);
        if !problems.is_empty() {
            return Err(EngineError::InvalidDefinition(problems));
        }
        let record = TemplateRecord {
            id: format!("{ID_PREFIX}{}", ulid::Ulid::new().to_string().to_lowercase()),
            tenant_id: tenant.to_owned(),
            name: asked.name,
            description: asked.description,
            category: asked.category,
            tags: asked.tags,
            definition: text,
            created_ms: now_ms(),
        };
        if !self.store.insert_template(&record, MAX_TEMPLATES_PER_TENANT).await? {
            return Err(EngineError::FailedPrecondition {
                message: format!(
                    "the tenant already holds {MAX_TEMPLATES_PER_TENANT} templates, the most allowed; delete one first"
                ),
                reason: "TEMPLATE_LIMIT_REACHED",
            });
        }
        Ok(from_record(record))
    }

    /// The definition document of a version (0: the latest) of one of
    /// `tenant`'s workflows, as its author wrote it.
    async fn copied(&self, tenant: &str, workflow_id: &str, version: u32) -> Result<serde_json::Value, EngineError> {
        if workflow_id.chars().count() > MAX_ID_CHARS {
            return Err(EngineError::invalid("workflow_id", format!("is longer than {MAX_ID_CHARS} characters")));
        }
        let workflow = if version == 0 {
            self.catalog.get(tenant, workflow_id).await?
        } else {
            self.catalog.get_version(tenant, workflow_id, version).await?
        };
        let source = self.store.get_version_source(tenant, workflow_id, workflow.version).await?;
        Ok(source.unwrap_or_else(|| workflow.definition.to_document()))
    }

    /// Deletes one of `tenant`'s templates. Built-ins cannot be deleted.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<(), EngineError> {
        check_id(id)?;
        if builtin::find(id).is_some() {
            return Err(EngineError::FailedPrecondition {
                message: format!("template '{id}' is built in and cannot be deleted"),
                reason: "TEMPLATE_BUILTIN",
            });
        }
        if id.starts_with(ID_PREFIX) && self.store.delete_template(tenant, id).await? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }
}
