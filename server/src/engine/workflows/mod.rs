//! The workflow catalog: creating, changing and versioning definitions.
//!
//! Every change is validated before it is stored, and every update appends a
//! new immutable version with optimistic concurrency: the catalog reads the
//! latest version, builds the next one, and the store appends it only if the
//! latest is still the one read. Concurrent updates therefore get
//! consecutive version numbers with no gap and no duplicate.
//!
//! Names are unique per tenant ([`names`]): a create, rename or rollback
//! onto a taken name is refused by the store's unique index, whoever read
//! what before, and reported as [`EngineError::NameTaken`] with the id of
//! the workflow that has it. [`apply`] creates or updates a workflow found
//! by its name, writing nothing when nothing changed.

mod apply;
pub mod names;

use std::sync::Arc;

use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::compile::{self, Problem, ProblemCode};
use crate::model::{Definition, StepDef, StepKind, Workflow, WorkflowStatus, WorkflowVersionInfo};
use crate::store::{NewVersion, NewWorkflow, Store, StoreError, WorkflowPage, WorkflowQuery};

pub use apply::{Applied, ApplyOutcome};

/// Longest workflow name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;
/// Longest description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Most tags on one workflow, and the longest tag.
const MAX_TAGS: usize = 50;
const MAX_TAG_CHARS: usize = 64;

/// How many times an update re-reads and retries after losing a race.
const UPDATE_ATTEMPTS: usize = 64;

/// A workflow as a client submits it for creation.
#[derive(Debug, Clone, Default)]
pub struct WorkflowDraft {
    /// The definition, in any dialect; normalized before validation.
    pub definition: Definition,
    /// Tags.
    pub tags: Vec<String>,
    /// Trigger type; empty means "manual".
    pub trigger_type: String,
    /// Initial status; `None` means active.
    pub status: Option<WorkflowStatus>,
    /// Summary of version 1; empty means "Initial version".
    pub change_summary: String,
    /// Client token for deduplicating retried creates.
    pub request_id: Option<String>,
}

/// A change to a workflow: the fields named in `fields` are taken from
/// `values`, everything else is kept.
#[derive(Debug, Clone, Default)]
pub struct WorkflowPatch {
    /// New values (only the named fields are read).
    pub values: Definition,
    /// Definition fields to replace, by JSON name (`name`, `steps`, …).
    pub fields: Vec<String>,
    /// New tags, when they change.
    pub tags: Option<Vec<String>>,
    /// New trigger type, when it changes.
    pub trigger_type: Option<String>,
    /// Why; empty means a summary is generated.
    pub change_summary: String,
    /// Refuse with `Aborted` unless the latest version is this one.
    pub expected_version: Option<u32>,
}

/// The definition fields an update may replace, by JSON name.
pub const PATCHABLE_FIELDS: &[&str] = &[
    "name",
    "description",
    "steps",
    "inputSchema",
    "outputSchema",
    "policy",
    "onFailure",
    "retries",
    "timeout",
    "maxConcurrentRuns",
    "states",
    "functions",
    "blocks",
    "edges",
];

/// Result of comparing two versions.
#[derive(Debug, Clone)]
pub struct VersionDiff {
    /// RFC 6902 operations from the older to the newer definition.
    pub patch: json_patch::Patch,
    /// One-line description.
    pub summary: String,
}

/// Filters of a listing, as the api layer passes them.
pub type ListQuery = WorkflowQuery;

/// Definitions and their versions, for one store.
#[derive(Clone)]
pub struct WorkflowCatalog {
    store: Arc<dyn Store>,
    /// Interpreters script steps may use on this server (config).
    script_interpreters: Arc<Vec<String>>,
}

fn check_tags(tags: &[String]) -> Result<(), EngineError> {
    if tags.len() > MAX_TAGS {
        return Err(EngineError::invalid("tags", format!("at most {MAX_TAGS} tags are allowed")));
    }
    match tags.iter().position(|t| t.is_empty() || t.chars().count() > MAX_TAG_CHARS) {
        Some(i) => Err(EngineError::invalid(format!("tags[{i}]"), format!("a tag is 1 to {MAX_TAG_CHARS} characters"))),
        None => Ok(()),
    }
}

/// Whether a definition has no steps in any dialect yet.
fn is_empty(definition: &Definition) -> bool {
    definition.steps.is_empty() && definition.states.is_empty() && definition.blocks.is_empty()
}

/// A checked definition, and how its author wrote it when that differs
/// (nested `config` objects, a dialect before its steps were compiled):
/// version diffs compare the written forms, so their paths name the
/// fields the author wrote.
struct Checked {
    definition: Definition,
    source: Option<serde_json::Value>,
}

/// Normalizes a definition and checks it, returning it (with its source
/// as written, when normalizing changed it) or every problem.
/// `allow_empty` accepts a definition with no steps at all (a new draft).
/// Webhook trigger blocks get their credentials here, before anything is
/// checked or kept: the pair the same block had in `previous`, else fresh.
fn checked(
    mut definition: Definition,
    previous: Option<&Definition>,
    allow_empty: bool,
    interpreters: &[String],
) -> Result<Checked, EngineError> {
    crate::engine::triggers::stamp_credentials(&mut definition, previous)?;
    let written = definition.clone();
    let definition = canonical(definition, allow_empty, interpreters)?;
    let source = (written != definition).then(|| written.to_document());
    Ok(Checked { definition, source })
}

/// Normalizes a definition and checks it, returning it or every problem.
fn canonical(
    mut definition: Definition,
    allow_empty: bool,
    interpreters: &[String],
) -> Result<Definition, EngineError> {
    let mut problems = compile::normalize(&mut definition);
    problems.extend(compile::validate(&definition));
    problems.extend(script_problems(&definition, interpreters));
    if allow_empty {
        problems.retain(|p| p.code != ProblemCode::EmptyDefinition);
    }
    let workflow_problem =
        |field: &str, code, message: String| Problem { step_id: String::new(), field: field.into(), code, message };
    if definition.name.trim().is_empty() {
        problems.insert(0, workflow_problem("name", ProblemCode::MissingField, "The workflow needs a name.".into()));
    } else if definition.name.chars().count() > MAX_NAME_CHARS {
        let message = format!("The workflow name is longer than {MAX_NAME_CHARS} characters.");
        problems.insert(0, workflow_problem("name", ProblemCode::LimitExceeded, message));
    }
    if definition.description.chars().count() > MAX_DESCRIPTION_CHARS {
        let message = format!("The description is longer than {MAX_DESCRIPTION_CHARS} characters.");
        problems.push(workflow_problem("description", ProblemCode::LimitExceeded, message));
    }
    if problems.is_empty() { Ok(definition) } else { Err(EngineError::InvalidDefinition(problems)) }
}

/// Script steps whose language needs an interpreter this server does not
/// allow: refused when the definition is written rather than when it runs.
fn script_problems(definition: &Definition, interpreters: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    definition.walk_steps(&mut |step, path| {
        // Definitions keep the type as written; the compiler reads it.
        if StepKind::from_name(&step.kind) != Some(StepKind::Script) {
            return;
        }
        let Some(interpreter) = crate::engine::builtin::interpreter_of(&step.language) else { return };
        if !interpreters.iter().any(|i| i == interpreter) {
            let message = format!(
                "Step '{}' is in language '{}', whose interpreter '{interpreter}' this server does not allow \
                 (script.interpreters is [{}]).",
                step.id,
                step.language,
                interpreters.join(", ")
            );
            let field = format!("{path}.language");
            problems.push(Problem { step_id: step.id.clone(), field, code: ProblemCode::InvalidField, message });
        }
    });
    problems
}

impl WorkflowCatalog {
    /// A catalog over `store`, allowing the default script interpreters.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let interpreters = crate::config::ScriptSettings::default().interpreters;
        Self { store, script_interpreters: Arc::new(interpreters) }
    }

    /// The same catalog allowing only `interpreters` for script steps.
    pub fn with_script_interpreters(mut self, interpreters: Vec<String>) -> Self {
        self.script_interpreters = Arc::new(interpreters);
        self
    }

    /// Every problem of a definition, without storing anything. Empty when
    /// the definition is valid.
    pub fn validate(&self, definition: Definition) -> Vec<Problem> {
        match canonical(definition, false, &self.script_interpreters) {
            Ok(_) => Vec::new(),
            Err(EngineError::InvalidDefinition(problems)) => problems,
            Err(_) => unreachable!("checked only reports definition problems"),
        }
    }

    /// Creates a workflow at version 1. A workflow created with no steps
    /// at all is a draft to be filled in by updates (the graph dialect
    /// creates first and saves its graph afterwards); its status defaults to
    /// draft instead of active.
    pub async fn create(&self, tenant: &str, draft: WorkflowDraft) -> Result<Workflow, EngineError> {
        let new = self.new_workflow(draft)?;
        match self.store.create_workflow(tenant, new).await {
            Ok(created) => Ok(created),
            Err(err) => Err(self.explained(tenant, err).await),
        }
    }

    /// A checked draft as the store creates it, under a fresh id.
    fn new_workflow(&self, draft: WorkflowDraft) -> Result<NewWorkflow, EngineError> {
        check_tags(&draft.tags)?;
        let empty = is_empty(&draft.definition);
        let Checked { definition, source } = checked(draft.definition, None, true, &self.script_interpreters)?;
        let default_status = if empty { WorkflowStatus::Draft } else { WorkflowStatus::Active };
        let new = NewWorkflow {
            id: crate::ids::new_workflow_id(),
            status: draft.status.unwrap_or(default_status),
            trigger_type: if draft.trigger_type.is_empty() { "manual".into() } else { draft.trigger_type },
            tags: draft.tags,
            change_summary: if draft.change_summary.is_empty() {
                "Initial version".into()
            } else {
                draft.change_summary
            },
            definition,
            source,
            request_id: draft.request_id,
            now_ms: now_ms(),
        };
        Ok(new)
    }

    /// The latest version of a workflow.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Workflow, EngineError> {
        Ok(self.store.get_workflow(tenant, id).await?)
    }

    /// One version of a workflow.
    pub async fn get_version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow, EngineError> {
        if version == 0 {
            return Err(EngineError::invalid("version", "versions start at 1"));
        }
        Ok(self.store.get_workflow_version(tenant, id, version).await?)
    }

    /// A page of workflows, newest first.
    pub async fn list(&self, tenant: &str, query: &ListQuery) -> Result<WorkflowPage, EngineError> {
        Ok(self.store.list_workflows(tenant, query).await?)
    }

    /// Applies a patch as the next version.
    pub async fn update(&self, tenant: &str, id: &str, patch: WorkflowPatch) -> Result<Workflow, EngineError> {
        for field in &patch.fields {
            if !PATCHABLE_FIELDS.contains(&field.as_str()) {
                return Err(EngineError::invalid(
                    "update_mask",
                    format!("'{field}' cannot be updated; updatable fields: {}", PATCHABLE_FIELDS.join(", ")),
                ));
            }
        }
        if let Some(tags) = &patch.tags {
            check_tags(tags)?;
        }
        let patch_values = patch.values.to_document();
        self.append_with_retry(tenant, id, patch.expected_version, |latest, latest_source| {
            // The patch lands on the definition as its author wrote it, so
            // a version written with `config` objects stays written so.
            let mut document = latest_source.unwrap_or_else(|| latest.definition.to_document());
            let object = document.as_object_mut().expect("a definition serializes to an object");
            let replaces_dialect = patch.fields.iter().any(|f| ["states", "blocks", "edges"].contains(&f.as_str()));
            if replaces_dialect && !patch.fields.iter().any(|f| f == "steps") {
                // Steps compiled from the old dialect source are rebuilt from the new one.
                object.remove("steps");
            }
            for field in &patch.fields {
                match patch_values.get(field) {
                    Some(value) => object.insert(field.clone(), value.clone()),
                    None => object.remove(field),
                };
            }
            let definition: Definition = serde_json::from_value(document)
                .map_err(|e| EngineError::invalid("workflow", format!("the merged definition is malformed: {e}")))?;
            let summary = if patch.change_summary.is_empty() {
                format!("Updated {}", if patch.fields.is_empty() { "metadata".into() } else { patch.fields.join(", ") })
            } else {
                patch.change_summary.clone()
            };
            // A draft created empty may stay empty until its steps arrive.
            let Checked { definition, source } =
                checked(definition, Some(&latest.definition), is_empty(&latest.definition), &self.script_interpreters)?;
            Ok(NewVersion {
                based_on: latest.version,
                definition,
                source,
                change_summary: summary,
                tags: patch.tags.clone(),
                trigger_type: patch.trigger_type.clone(),
                now_ms: now_ms(),
            })
        })
        .await
    }

    /// Writes a new version equal to `version`.
    pub async fn rollback(
        &self,
        tenant: &str,
        id: &str,
        version: u32,
        change_summary: String,
    ) -> Result<Workflow, EngineError> {
        let target = self.get_version(tenant, id, version).await?;
        let target_source = self.store.get_version_source(tenant, id, version).await?;
        let summary =
            if change_summary.is_empty() { format!("Rolled back to version {version}") } else { change_summary };
        self.append_with_retry(tenant, id, None, |latest, _| {
            // A trigger keeps the latest version's credentials (a rotated
            // secret is not brought back), in the definition and as written.
            let mut definition = target.definition.clone();
            crate::engine::triggers::stamp_credentials(&mut definition, Some(&latest.definition))?;
            // A source that no longer reads as a definition is left out:
            // the version is then kept in its canonical form.
            let source = match target_source.clone().and_then(|w| serde_json::from_value::<Definition>(w).ok()) {
                Some(mut written) => {
                    crate::engine::triggers::stamp_credentials(&mut written, Some(&latest.definition))?;
                    Some(written.to_document())
                }
                None => None,
            };
            Ok(NewVersion {
                based_on: latest.version,
                definition,
                source,
                change_summary: summary.clone(),
                tags: None,
                trigger_type: None,
                now_ms: now_ms(),
            })
        })
        .await
    }

    /// Writes a new version whose webhook trigger block has a fresh secret
    /// (its webhook id is kept); `None` when the workflow has no trigger
    /// block, and then nothing is written.
    pub async fn rotate_webhook_secret(&self, tenant: &str, id: &str) -> Result<Option<Workflow>, EngineError> {
        let latest = self.store.get_workflow(tenant, id).await?;
        if compile::trigger::trigger_block(&latest.definition).is_none() {
            return Ok(None);
        }
        let rotated = self
            .append_with_retry(tenant, id, None, |latest, latest_source| {
                let written = latest_source.and_then(|w| serde_json::from_value::<Definition>(w).ok());
                let mut definition = written.unwrap_or_else(|| latest.definition.clone());
                // The latest version with only the secret changed stands as
                // the previous one, so the stamp keeps the id and the new secret.
                let mut previous = latest.definition.clone();
                crate::engine::triggers::rotate_secret(&mut previous)?;
                crate::engine::triggers::stamp_credentials(&mut definition, Some(&previous))?;
                let Checked { definition, source } =
                    checked(definition, Some(&previous), is_empty(&latest.definition), &self.script_interpreters)?;
                Ok(NewVersion {
                    based_on: latest.version,
                    definition,
                    source,
                    change_summary: "Rotated the webhook secret".into(),
                    tags: None,
                    trigger_type: None,
                    now_ms: now_ms(),
                })
            })
            .await?;
        Ok(Some(rotated))
    }

    /// Reads the latest version (and its source as written), builds the
    /// next with `build`, and appends it, re-reading when another writer
    /// won the race.
    async fn append_with_retry(
        &self,
        tenant: &str,
        id: &str,
        expected_version: Option<u32>,
        build: impl Fn(&Workflow, Option<serde_json::Value>) -> Result<NewVersion, EngineError>,
    ) -> Result<Workflow, EngineError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let latest = self.store.get_workflow(tenant, id).await?;
            if let Some(expected) = expected_version
                && expected != latest.version
            {
                return Err(EngineError::Aborted(format!(
                    "workflow '{id}' is at version {}, not the expected version {expected}",
                    latest.version
                )));
            }
            let source = self.store.get_version_source(tenant, id, latest.version).await?;
            let next = build(&latest, source)?;
            match self.store.append_workflow_version(tenant, id, next).await {
                Err(StoreError::VersionConflict { .. }) if expected_version.is_none() => continue,
                Err(StoreError::VersionConflict { latest }) => {
                    return Err(EngineError::Aborted(format!(
                        "workflow '{id}' moved to version {latest} during the update"
                    )));
                }
                Err(err) => return Err(self.explained(tenant, err).await),
                Ok(written) => return Ok(written),
            }
        }
        Err(EngineError::Aborted(format!("workflow '{id}' is being updated too often; try again")))
    }

    /// Changes the status; no version is written.
    pub async fn set_status(&self, tenant: &str, id: &str, status: WorkflowStatus) -> Result<Workflow, EngineError> {
        Ok(self.store.set_workflow_status(tenant, id, status, now_ms()).await?)
    }

    /// Deletes a workflow and its history.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<(), EngineError> {
        Ok(self.store.delete_workflow(tenant, id).await?)
    }

    /// The version history, newest first.
    pub async fn versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, EngineError> {
        Ok(self.store.list_workflow_versions(tenant, id).await?)
    }

    /// JSON Patch from version `v1` to version `v2`.
    pub async fn diff(&self, tenant: &str, id: &str, v1: u32, v2: u32) -> Result<VersionDiff, EngineError> {
        let from = self.get_version(tenant, id, v1).await?.definition;
        let to = self.get_version(tenant, id, v2).await?.definition;
        // Paths name the fields as the author wrote them when both versions
        // were written in a non-canonical form (`/steps/0/config/url`).
        let sources = (
            self.store.get_version_source(tenant, id, v1).await?,
            self.store.get_version_source(tenant, id, v2).await?,
        );
        let patch = match sources {
            (Some(from), Some(to)) => json_patch::diff(&from, &to),
            _ => json_patch::diff(&from.to_document(), &to.to_document()),
        };
        Ok(VersionDiff { summary: summarize(&from, &to), patch })
    }
}

/// "Added 1 step, modified 1 step", comparing steps by id, plus the other
/// top-level fields that changed.
fn summarize(from: &Definition, to: &Definition) -> String {
    let old: std::collections::HashMap<&str, &StepDef> = from.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let new: std::collections::HashMap<&str, &StepDef> = to.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let added = new.keys().filter(|id| !old.contains_key(*id)).count();
    let removed = old.keys().filter(|id| !new.contains_key(*id)).count();
    let modified = new.iter().filter(|(id, step)| old.get(*id).is_some_and(|before| before != *step)).count();
    let mut parts = Vec::new();
    for (count, verb) in [(added, "Added"), (removed, "Removed"), (modified, "Modified")] {
        if count > 0 {
            let noun = if count == 1 { "step" } else { "steps" };
            let verb = if parts.is_empty() { verb.to_string() } else { verb.to_lowercase() };
            parts.push(format!("{verb} {count} {noun}"));
        }
    }
    let (from_doc, to_doc) = (from.to_document(), to.to_document());
    let empty = serde_json::Map::new();
    let (a, b) = (from_doc.as_object().unwrap_or(&empty), to_doc.as_object().unwrap_or(&empty));
    let mut other: Vec<&str> = a.keys().chain(b.keys()).map(String::as_str).filter(|k| *k != "steps").collect();
    other.sort_unstable();
    other.dedup();
    other.retain(|k| a.get(*k) != b.get(*k));
    if !other.is_empty() {
        let changed = format!("changed {}", other.join(", "));
        parts.push(if parts.is_empty() { capitalize(&changed) } else { changed });
    }
    if parts.is_empty() { "No changes".into() } else { parts.join(", ") }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
