//! Workflows and their versions: what [`WorkflowStore`] is given and
//! answers, and its one implementation, written once over [`Dialect`] for
//! both databases, with its statements in SQLite's `?N` spelling (the
//! Postgres dialect numbers them `$N`). What differs is a
//! [`WorkflowDialect`]'s three constants (`sqlite/workflows.rs`,
//! `postgres/workflows.rs`).
//!
//! SQLite serialises writers with `BEGIN IMMEDIATE`; Postgres runs them
//! side by side under READ COMMITTED, so its statements take the locks
//! they need (`FOR UPDATE` on the workflow row, an advisory lock on a
//! create's request id) and callers see the same outcomes on both: a
//! version conflict, one workflow per request id.

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::error::Entity;
use super::paging;
use super::rows::{self, Columns, WORKFLOW_COLUMNS};
use super::workflow_order::{CursorKey, SortOrder, WorkflowCursor, WorkflowSort, order_sql};
use crate::model::{Definition, Workflow, WorkflowStatus, WorkflowVersionInfo};

/// How long a create's request id stays a deduplication key.
const REQUEST_ID_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// A workflow to create at version 1.
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    /// Fresh `wf_…` id.
    pub id: String,
    /// Initial status.
    pub status: WorkflowStatus,
    /// Trigger type label.
    pub trigger_type: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Summary of version 1.
    pub change_summary: String,
    /// The validated definition.
    pub definition: Definition,
    /// The definition as written, when that differs from `definition`
    /// (see [`WorkflowStore::get_version_source`]).
    pub source: Option<serde_json::Value>,
    /// Client token; a second create with the same token within 24 h returns
    /// the first workflow.
    pub request_id: Option<String>,
    /// Creation time, Unix milliseconds.
    pub now_ms: i64,
}

/// The next version of a workflow.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The version the caller read and built on; the append fails with
    /// [`StoreError::VersionConflict`] if another writer got there first.
    pub based_on: u32,
    /// The validated definition of the new version.
    pub definition: Definition,
    /// The definition as written, when that differs from `definition`.
    pub source: Option<serde_json::Value>,
    /// Why it was written.
    pub change_summary: String,
    /// New tags, when they change.
    pub tags: Option<Vec<String>>,
    /// New trigger type, when it changes.
    pub trigger_type: Option<String>,
    /// Write time, Unix milliseconds.
    pub now_ms: i64,
}

/// A workflow found by its name ([`WorkflowStore::workflow_by_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedWorkflow {
    /// Its `wf_…` id.
    pub id: String,
    /// Its status (any: archived workflows keep their names).
    pub status: WorkflowStatus,
}

/// Filters and page position of a workflow listing.
#[derive(Debug, Clone, Default)]
pub struct WorkflowQuery {
    /// Only this status; `None` means every status but archived.
    pub status: Option<WorkflowStatus>,
    /// Only workflows carrying this tag.
    pub tag: Option<String>,
    /// Only this trigger type.
    pub trigger_type: Option<String>,
    /// Only workflows whose latest version has exactly this name.
    pub name: Option<String>,
    /// What the rows are ordered by (then by id, the same way).
    pub sort: WorkflowSort,
    /// Which way.
    pub order: SortOrder,
    /// Resume after this position (its key matches `sort`).
    pub after: Option<WorkflowCursor>,
    /// Rows to skip (offset paging); used when `after` is `None`.
    pub offset: u32,
    /// Most rows to return.
    pub limit: u32,
}

/// One page of a workflow listing.
#[derive(Debug, Clone)]
pub struct WorkflowPage {
    /// The rows, in the query's order.
    pub workflows: Vec<Workflow>,
    /// Rows matching the filters, across pages.
    pub total: u32,
    /// Whether rows follow this page.
    pub has_more: bool,
}

/// Where workflows and their versions live.
#[async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// Creates a workflow at version 1 (or returns the one an earlier call
    /// with the same `request_id` created). [`StoreError::NameTaken`] when
    /// another workflow of the tenant has the definition's name.
    async fn create_workflow(&self, tenant: &str, new: NewWorkflow) -> Result<Workflow, StoreError>;

    /// The workflow of the tenant named exactly `name`, whatever its
    /// status (names are unique per tenant; an empty name names none).
    async fn workflow_by_name(&self, tenant: &str, name: &str) -> Result<Option<NamedWorkflow>, StoreError>;

    /// The latest version of a workflow.
    async fn get_workflow(&self, tenant: &str, id: &str) -> Result<Workflow, StoreError>;

    /// One version of a workflow.
    async fn get_workflow_version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow, StoreError>;

    /// A page of workflows in the query's order.
    async fn list_workflows(&self, tenant: &str, query: &WorkflowQuery) -> Result<WorkflowPage, StoreError>;

    /// Writes version `based_on + 1`, atomically; fails with
    /// `VersionConflict` when the latest version is no longer `based_on`,
    /// and with `NameTaken` when it renames the workflow onto the name of
    /// another.
    async fn append_workflow_version(&self, tenant: &str, id: &str, next: NewVersion) -> Result<Workflow, StoreError>;

    /// Changes the status without writing a version.
    async fn set_workflow_status(
        &self,
        tenant: &str,
        id: &str,
        status: WorkflowStatus,
        now_ms: i64,
    ) -> Result<Workflow, StoreError>;

    /// Deletes a workflow and every version of it.
    async fn delete_workflow(&self, tenant: &str, id: &str) -> Result<(), StoreError>;

    /// Every version of a workflow, newest first.
    async fn list_workflow_versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, StoreError>;

    /// The definition of a version as its author wrote it; `None` when it
    /// was written in the canonical form (or the stored text cannot be
    /// read, which is logged: a diff then compares canonical forms).
    /// NotFound for an unknown workflow or version.
    async fn get_version_source(
        &self,
        tenant: &str,
        id: &str,
        version: u32,
    ) -> Result<Option<serde_json::Value>, StoreError>;
}

/// Makes a later create with the same request id find the first:
/// (tenant, request id, after ms) → `workflow_id`.
const EARLIER_REQUEST: &str = "SELECT workflow_id FROM workflow_create_requests \
     WHERE tenant_id = ?1 AND request_id = ?2 AND created_at > ?3";
/// (tenant, request id, workflow id, ms).
const RECORD_REQUEST: &str = "INSERT INTO workflow_create_requests (tenant_id, request_id, workflow_id, created_at) \
     VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (tenant_id, request_id) DO UPDATE SET workflow_id = ?3, created_at = ?4";
/// (tenant, id, status, trigger type, tags, ms, name).
const INSERT_WORKFLOW: &str = "INSERT INTO workflows \
     (tenant_id, id, status, trigger_type, tags, latest_version, created_at, updated_at, name) \
     VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6, ?7)";
/// (tenant, id, version, definition, change summary, ms, source or NULL).
const INSERT_VERSION: &str = "INSERT INTO workflow_versions \
     (tenant_id, workflow_id, version, definition, change_summary, created_at, source) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
/// The workflow with a name (tenant, name); the unique index
/// `workflows_unique_name` (migration 0020) answers it.
const BY_NAME: &str = "SELECT id, status FROM workflows WHERE tenant_id = ?1 AND name = ?2 AND name <> ''";
/// The source of one version (tenant, id, version).
const VERSION_SOURCE: &str = "SELECT source FROM workflow_versions \
     WHERE tenant_id = ?1 AND workflow_id = ?2 AND version = ?3";
/// A workflow at one version, the latest when NULL (tenant, id, version).
const FETCH_VERSION: &str = "SELECT {columns} FROM workflows w JOIN workflow_versions v \
       ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = COALESCE(?3, w.latest_version) \
     WHERE w.tenant_id = ?1 AND w.id = ?2";
/// A listing's filters (tenant, status, tag, trigger type, name) over `w`;
/// `{has_tag}` is the dialect's test of tag `?3`.
const FILTER: &str = "w.tenant_id = ?1 \
     AND (CASE WHEN CAST(?2 AS TEXT) IS NULL THEN w.status <> 'archived' ELSE w.status = ?2 END) \
     AND (CAST(?3 AS TEXT) IS NULL OR {has_tag}) \
     AND (CAST(?4 AS TEXT) IS NULL OR w.trigger_type = ?4) \
     AND (CAST(?5 AS TEXT) IS NULL OR w.name = ?5)";
/// Joins a workflow to its latest version.
const LATEST_JOIN: &str = "FROM workflows w JOIN workflow_versions v \
       ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = w.latest_version";
/// A page of a listing: the filters, the position after (key ?6, id ?7),
/// then (limit ?8, offset ?9).
const PAGE: &str = "SELECT {columns} {join} WHERE {filter} AND {after} {order} LIMIT ?8 OFFSET ?9";
/// The latest version (tenant, id); `{lock}` is the dialect's row lock.
const LATEST_VERSION: &str = "SELECT latest_version FROM workflows WHERE tenant_id = ?1 AND id = ?2{lock}";
/// Points a workflow at its new version (tenant, id, version, ms, tags or
/// NULL, trigger type or NULL, the version's name).
const BUMP_LATEST: &str = "UPDATE workflows SET latest_version = ?3, updated_at = ?4, \
         tags = COALESCE(?5, tags), trigger_type = COALESCE(?6, trigger_type), name = ?7 \
     WHERE tenant_id = ?1 AND id = ?2";
/// (tenant, id, status, ms).
const SET_STATUS: &str = "UPDATE workflows SET status = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2";
/// (tenant, id).
const DELETE: &str = "DELETE FROM workflows WHERE tenant_id = ?1 AND id = ?2";
/// Version history, newest first (tenant, id).
const VERSIONS: &str = "SELECT v.version, v.change_summary, v.created_at FROM workflows w \
     JOIN workflow_versions v ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id \
     WHERE w.tenant_id = ?1 AND w.id = ?2 ORDER BY v.version DESC";

/// What differs between the databases around workflows; with it, a
/// [`Dialect`] is a [`WorkflowStore`].
pub(crate) trait WorkflowDialect: Dialect {
    /// Makes a second create with one request id wait for the first
    /// (tenant, request id); `None` where the write transaction already
    /// serialises creates.
    const LOCK_REQUEST: Option<&'static str>;
    /// Appended to the read of the latest version an append builds on, to
    /// lock the row until the append commits ("" where the write
    /// transaction already holds the lock).
    const LOCK_ROW: &'static str;
    /// Whether workflow `w` carries tag `?3`.
    const HAS_TAG: &'static str;
}

/// A write that sets a workflow's name to `name`, refused by the unique
/// index on (tenant, name): [`StoreError::NameTaken`]. The statements this
/// wraps can break no other unique index (ids are fresh, request ids are
/// upserted), so a unique violation there is the name's.
fn name_taken(name: &str) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |err| if err.is_unique_violation() { StoreError::NameTaken { name: name.to_owned() } } else { err }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values always serialize")
}

async fn fetch_version<D: WorkflowDialect>(
    conn: &mut D::Conn,
    tenant: &str,
    id: &str,
    version: Option<u32>,
) -> Result<Workflow, StoreError> {
    let sql = FETCH_VERSION.replace("{columns}", WORKFLOW_COLUMNS);
    let args = [Arg::Text(tenant), Arg::Text(id), Arg::OptInt(version.map(i64::from))];
    match D::fetch_optional(conn, &sql, &args).await? {
        Some(row) => rows::workflow(&row),
        None => Err(match version {
            Some(v) => StoreError::NotFound { entity: Entity::WorkflowVersion(v), id: id.to_owned() },
            None => StoreError::workflow_not_found(id),
        }),
    }
}

#[async_trait]
impl<D: WorkflowDialect> WorkflowStore for D {
    async fn create_workflow(&self, tenant: &str, new: NewWorkflow) -> Result<Workflow, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(request_id) = &new.request_id {
            // Two creates with one request id must not both miss each other.
            if let Some(lock) = D::LOCK_REQUEST {
                D::execute(&mut *tx, lock, &[Arg::Text(tenant), Arg::Text(request_id)]).await?;
            }
            let since = new.now_ms - REQUEST_ID_TTL_MS;
            let args = [Arg::Text(tenant), Arg::Text(request_id), Arg::Int(since)];
            if let Some(earlier) = D::fetch_optional(&mut *tx, EARLIER_REQUEST, &args).await? {
                // The first create may have been deleted since; then the token is spent.
                match fetch_version::<D>(&mut *tx, tenant, &earlier.text("workflow_id")?, Some(1)).await {
                    Ok(found) => return Ok(found),
                    Err(StoreError::NotFound { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            let args = [Arg::Text(tenant), Arg::Text(request_id), Arg::Text(&new.id), Arg::Int(new.now_ms)];
            D::execute(&mut *tx, RECORD_REQUEST, &args).await?;
        }
        let args = [
            Arg::Text(tenant),
            Arg::Text(&new.id),
            Arg::Text(new.status.as_str()),
            Arg::Text(&new.trigger_type),
            Arg::List(&new.tags),
            Arg::Int(new.now_ms),
            Arg::Text(&new.definition.name),
        ];
        D::execute(&mut *tx, INSERT_WORKFLOW, &args).await.map_err(name_taken(&new.definition.name))?;
        let definition = to_json(&new.definition);
        let source = new.source.as_ref().map(to_json);
        let args = [
            Arg::Text(tenant),
            Arg::Text(&new.id),
            Arg::Int(1),
            Arg::Json(&definition),
            Arg::Text(&new.change_summary),
            Arg::Int(new.now_ms),
            Arg::OptText(source.as_deref()),
        ];
        D::execute(&mut *tx, INSERT_VERSION, &args).await?;
        let created = fetch_version::<D>(&mut *tx, tenant, &new.id, None).await?;
        D::commit(tx).await?;
        Ok(created)
    }

    async fn workflow_by_name(&self, tenant: &str, name: &str) -> Result<Option<NamedWorkflow>, StoreError> {
        let mut conn = self.acquire().await?;
        let Some(row) = D::fetch_optional(&mut *conn, BY_NAME, &[Arg::Text(tenant), Arg::Text(name)]).await? else {
            return Ok(None);
        };
        let id = row.text("id")?;
        let status = row.text("status")?;
        match WorkflowStatus::parse(&status) {
            Some(status) => Ok(Some(NamedWorkflow { id, status })),
            None => Err(StoreError::unknown_value("workflow", &id, "status", &status)),
        }
    }

    async fn get_workflow(&self, tenant: &str, id: &str) -> Result<Workflow, StoreError> {
        fetch_version::<D>(&mut *self.acquire().await?, tenant, id, None).await
    }

    async fn get_workflow_version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow, StoreError> {
        let mut conn = self.acquire().await?;
        // Distinguish an unknown workflow from an unknown version of a known one.
        let latest = fetch_version::<D>(&mut *conn, tenant, id, None).await?;
        if version == latest.version {
            return Ok(latest);
        }
        fetch_version::<D>(&mut *conn, tenant, id, Some(version)).await
    }

    async fn list_workflows(&self, tenant: &str, query: &WorkflowQuery) -> Result<WorkflowPage, StoreError> {
        let filter = FILTER.replace("{has_tag}", D::HAS_TAG);
        let mut conn = self.acquire().await?;
        let filters = [
            Arg::Text(tenant),
            Arg::OptText(query.status.map(WorkflowStatus::as_str)),
            Arg::OptText(query.tag.as_deref()),
            Arg::OptText(query.trigger_type.as_deref()),
            Arg::OptText(query.name.as_deref()),
        ];
        let count = format!("SELECT COUNT(*) AS n FROM workflows w WHERE {filter}");
        let total = paging::count::<D>(&mut *conn, &count, &filters).await?;
        let mut args = filters.to_vec();
        args.extend(match &query.after {
            Some(WorkflowCursor { key: CursorKey::Time(ms), id }) => [Arg::OptInt(Some(*ms)), Arg::OptText(Some(id))],
            Some(WorkflowCursor { key: CursorKey::Name(name), id }) => {
                [Arg::OptText(Some(name)), Arg::OptText(Some(id))]
            }
            None => match query.sort {
                WorkflowSort::CreatedAt | WorkflowSort::UpdatedAt => [Arg::OptInt(None), Arg::OptText(None)],
                WorkflowSort::Name => [Arg::OptText(None), Arg::OptText(None)],
            },
        });
        args.push(paging::limit_plus_one(query.limit));
        args.push(Arg::Int(if query.after.is_some() { 0 } else { i64::from(query.offset) }));
        let (order, after) = order_sql(query.sort, query.order, 6, 7);
        let page = PAGE
            .replace("{columns}", WORKFLOW_COLUMNS)
            .replace("{join}", LATEST_JOIN)
            .replace("{filter}", &filter)
            .replace("{after}", &after)
            .replace("{order}", &order);
        let rows = D::fetch_all(&mut *conn, &page, &args).await?;
        let (workflows, has_more) = paging::page(&rows, "workflow", query.limit, rows::workflow);
        Ok(WorkflowPage { workflows, total, has_more })
    }

    async fn append_workflow_version(&self, tenant: &str, id: &str, next: NewVersion) -> Result<Workflow, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = LATEST_VERSION.replace("{lock}", D::LOCK_ROW);
        let latest = D::fetch_optional(&mut *tx, &sql, &[Arg::Text(tenant), Arg::Text(id)]).await?;
        let latest = latest.ok_or_else(|| StoreError::workflow_not_found(id))?.int("latest_version")? as u32;
        if latest != next.based_on {
            return Err(StoreError::VersionConflict { latest });
        }
        let version = i64::from(latest + 1);
        let definition = to_json(&next.definition);
        let source = next.source.as_ref().map(to_json);
        let args = [
            Arg::Text(tenant),
            Arg::Text(id),
            Arg::Int(version),
            Arg::Json(&definition),
            Arg::Text(&next.change_summary),
            Arg::Int(next.now_ms),
            Arg::OptText(source.as_deref()),
        ];
        D::execute(&mut *tx, INSERT_VERSION, &args).await?;
        let args = [
            Arg::Text(tenant),
            Arg::Text(id),
            Arg::Int(version),
            Arg::Int(next.now_ms),
            Arg::OptList(next.tags.as_deref()),
            Arg::OptText(next.trigger_type.as_deref()),
            Arg::Text(&next.definition.name),
        ];
        D::execute(&mut *tx, BUMP_LATEST, &args).await.map_err(name_taken(&next.definition.name))?;
        let written = fetch_version::<D>(&mut *tx, tenant, id, None).await?;
        D::commit(tx).await?;
        Ok(written)
    }

    async fn set_workflow_status(
        &self,
        tenant: &str,
        id: &str,
        status: WorkflowStatus,
        now_ms: i64,
    ) -> Result<Workflow, StoreError> {
        let mut tx = self.begin_write().await?;
        let args = [Arg::Text(tenant), Arg::Text(id), Arg::Text(status.as_str()), Arg::Int(now_ms)];
        if D::execute(&mut *tx, SET_STATUS, &args).await? == 0 {
            return Err(StoreError::workflow_not_found(id));
        }
        let workflow = fetch_version::<D>(&mut *tx, tenant, id, None).await?;
        D::commit(tx).await?;
        Ok(workflow)
    }

    async fn delete_workflow(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if D::execute(&mut *tx, DELETE, &[Arg::Text(tenant), Arg::Text(id)]).await? == 0 {
            return Err(StoreError::workflow_not_found(id));
        }
        D::commit(tx).await
    }

    async fn list_workflow_versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, StoreError> {
        let mut conn = self.acquire().await?;
        let rows = D::fetch_all(&mut *conn, VERSIONS, &[Arg::Text(tenant), Arg::Text(id)]).await?;
        if rows.is_empty() {
            return Err(StoreError::workflow_not_found(id));
        }
        rows.iter().map(rows::version_info).collect()
    }

    async fn get_version_source(
        &self,
        tenant: &str,
        id: &str,
        version: u32,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let mut conn = self.acquire().await?;
        let args = [Arg::Text(tenant), Arg::Text(id), Arg::Int(i64::from(version))];
        let Some(row) = D::fetch_optional(&mut *conn, VERSION_SOURCE, &args).await? else {
            // Tell an unknown workflow from an unknown version of a known one.
            fetch_version::<D>(&mut *conn, tenant, id, None).await?;
            return Err(StoreError::NotFound { entity: Entity::WorkflowVersion(version), id: id.to_owned() });
        };
        let Some(text) = row.opt_text("source")? else { return Ok(None) };
        match serde_json::from_str(&text) {
            Ok(source) => Ok(Some(source)),
            Err(err) => {
                tracing::warn!(workflow_id = %id, version, error = %err, "a stored definition source cannot be read");
                Ok(None)
            }
        }
    }
}
