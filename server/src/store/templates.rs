//! Tenants' own workflow templates as the store keeps them (migration
//! 0017, table `templates`). Built-in templates are not rows: they ship
//! in the binary (`engine/templates/builtin.rs`) and the engine puts them
//! before these in every listing.
//!
//! [`TemplateStore`] is written once here for both databases over the
//! workflow dialect (its tag test reads a JSON list of tags the same way
//! for templates as for workflows). The definition is kept as the JSON
//! text the engine gave; the store never parses it, so a damaged one
//! reaches the engine, which answers it as unreadable instead of failing
//! the read.

use async_trait::async_trait;

use super::StoreError;
use super::dialect::Arg;
use super::paging;
use super::rows::Columns;
use super::workflows::WorkflowDialect;

/// A tenant's template as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    /// `tmpl_…`.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Catalogue category; empty for none.
    pub category: String,
    /// Labels for filtering.
    pub tags: Vec<String>,
    /// The workflow definition document, as JSON text.
    pub definition: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// Filters and window of a listing of one tenant's templates, ordered by
/// name, then id.
#[derive(Debug, Clone, Default)]
pub struct TemplateQuery {
    /// Only this category.
    pub category: Option<String>,
    /// Only templates carrying this tag.
    pub tag: Option<String>,
    /// Rows to skip.
    pub offset: u32,
    /// Most rows.
    pub limit: u32,
}

/// Where tenants' templates live.
#[async_trait]
pub trait TemplateStore: Send + Sync + 'static {
    /// Stores `template` unless its tenant already has `max` templates:
    /// false then, and nothing is stored.
    async fn insert_template(&self, template: &TemplateRecord, max: u32) -> Result<bool, StoreError>;

    /// A tenant's template by id.
    async fn get_template(&self, tenant: &str, id: &str) -> Result<Option<TemplateRecord>, StoreError>;

    /// A window of a tenant's templates matching the filters, and how many
    /// match in all. Rows that cannot be read are left out.
    async fn list_templates(
        &self,
        tenant: &str,
        query: &TemplateQuery,
    ) -> Result<(Vec<TemplateRecord>, u32), StoreError>;

    /// Deletes a tenant's template; false when the tenant has none of that id.
    async fn delete_template(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
}

/// The second half of the per-tenant lock key of template saves.
const TEMPLATE_LOCK: &str = "\u{1f}templates";

const COLUMNS: &str = "id, tenant_id, name, description, category, tags, definition, created_at";

/// A listing's filters (tenant ?1, category ?2, tag ?3) over `w`, the
/// alias the dialect's tag test `{has_tag}` names.
const FILTER: &str = "w.tenant_id = ?1 \
     AND (CAST(?2 AS TEXT) IS NULL OR w.category = ?2) \
     AND (CAST(?3 AS TEXT) IS NULL OR {has_tag})";

/// A row as a record. Tags that cannot be read (a hand-edited row) are
/// logged and read as none, so the row still answers.
fn template(row: &impl Columns) -> Result<TemplateRecord, StoreError> {
    let id = row.text("id")?;
    let tags = row.string_list("tags").unwrap_or_else(|err| {
        tracing::warn!(template = %id, error = %err, "a stored template's tags cannot be read; answering none");
        Vec::new()
    });
    Ok(TemplateRecord {
        id,
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        description: row.text("description")?,
        category: row.text("category")?,
        tags,
        definition: row.json_text("definition")?.unwrap_or_default(),
        created_ms: row.int("created_at")?,
    })
}

#[async_trait]
impl<D: WorkflowDialect> TemplateStore for D {
    async fn insert_template(&self, t: &TemplateRecord, max: u32) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // Two saves of one tenant must not both count below `max`: on
        // Postgres they queue on the dialect's per-tenant lock (the one
        // creates with a request id take, under a key no request id is);
        // SQLite's write transaction already serialises them.
        if let Some(lock) = D::LOCK_REQUEST {
            D::execute(&mut *tx, lock, &[Arg::Text(&t.tenant_id), Arg::Text(TEMPLATE_LOCK)]).await?;
        }
        let count = "SELECT COUNT(*) AS n FROM templates WHERE tenant_id = ?1";
        if paging::count::<D>(&mut *tx, count, &[Arg::Text(&t.tenant_id)]).await? >= max {
            return Ok(false);
        }
        let sql = format!("INSERT INTO templates ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        let args = [
            Arg::Text(&t.id),
            Arg::Text(&t.tenant_id),
            Arg::Text(&t.name),
            Arg::Text(&t.description),
            Arg::Text(&t.category),
            Arg::List(&t.tags),
            Arg::Json(&t.definition),
            Arg::Int(t.created_ms),
        ];
        D::execute(&mut *tx, &sql, &args).await?;
        D::commit(tx).await?;
        Ok(true)
    }

    async fn get_template(&self, tenant: &str, id: &str) -> Result<Option<TemplateRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE tenant_id = ?1 AND id = ?2");
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(tenant), Arg::Text(id)]).await?;
        row.as_ref().map(template).transpose()
    }

    async fn list_templates(
        &self,
        tenant: &str,
        query: &TemplateQuery,
    ) -> Result<(Vec<TemplateRecord>, u32), StoreError> {
        let filter = FILTER.replace("{has_tag}", D::HAS_TAG);
        let mut conn = self.acquire().await?;
        let filters = [Arg::Text(tenant), Arg::OptText(query.category.as_deref()), Arg::OptText(query.tag.as_deref())];
        let count = format!("SELECT COUNT(*) AS n FROM templates w WHERE {filter}");
        let total = paging::count::<D>(&mut *conn, &count, &filters).await?;
        if query.limit == 0 {
            return Ok((Vec::new(), total));
        }
        let sql = format!("SELECT {COLUMNS} FROM templates w WHERE {filter} ORDER BY w.name, w.id LIMIT ?4 OFFSET ?5");
        let mut args = filters.to_vec();
        args.extend([Arg::Int(i64::from(query.limit)), Arg::Int(i64::from(query.offset))]);
        let rows = D::fetch_all(&mut *conn, &sql, &args).await?;
        let (records, _) = paging::page(&rows, "template", query.limit, template);
        Ok((records, total))
    }

    async fn delete_template(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM templates WHERE tenant_id = ?1 AND id = ?2";
        Ok(D::execute(&mut *self.acquire().await?, sql, &[Arg::Text(tenant), Arg::Text(id)]).await? > 0)
    }
}
