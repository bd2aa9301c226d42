//! The SQLite side of approvals: the reads of CheckToolUse and the
//! approval API (rows are opened and decided in the run writer's commits,
//! `sqlite_commit.rs`).

use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::StoreError;
use super::rows::{self, Columns};
use super::unreadable::listed;
use crate::model::{ApprovalPage, ApprovalQuery, ApprovalRecord};

/// Approvals with their run's workflow (a run's rows go with the run, so
/// the join always finds it; LEFT keeps an approval readable regardless).
const SELECT: &str =
    "SELECT a.*, COALESCE(r.workflow_id, '') AS workflow_id FROM approvals a LEFT JOIN runs r ON r.id = a.run_id";

/// One approval of a tenant, or `None`.
pub(super) async fn get(pool: &SqlitePool, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(SELECT);
    query.push(" WHERE a.tenant_id = ").push_bind(tenant.to_owned()).push(" AND a.id = ").push_bind(id.to_owned());
    let row = query.build().fetch_optional(pool).await?;
    row.as_ref().map(rows::approval).transpose()
}

/// A page of a tenant's approvals matching `query`, newest first.
pub(super) async fn list(pool: &SqlitePool, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, StoreError> {
    fn filters(b: &mut QueryBuilder<Sqlite>, tenant: &str, q: &ApprovalQuery) {
        b.push(" WHERE a.tenant_id = ").push_bind(tenant.to_owned());
        let status = q.status.map(|s| s.as_str().to_owned());
        let columns = [
            ("a.run_id", &q.run_id),
            ("r.workflow_id", &q.workflow_id),
            ("a.action", &q.action),
            ("a.status", &status),
            ("a.kind", &q.kind),
        ];
        for (column, value) in columns {
            if let Some(value) = value {
                b.push(format!(" AND {column} = ")).push_bind(value.clone());
            }
        }
    }
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM approvals a LEFT JOIN runs r ON r.id = a.run_id");
    filters(&mut count, tenant, query);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut page = QueryBuilder::<Sqlite>::new(SELECT);
    filters(&mut page, tenant, query);
    if let Some((created, id)) = &query.after {
        page.push(" AND (a.created_at < ").push_bind(*created);
        page.push(" OR (a.created_at = ").push_bind(*created).push(" AND a.id < ").push_bind(id.clone()).push("))");
    }
    // One more than asked says whether another page follows.
    page.push(" ORDER BY a.created_at DESC, a.id DESC LIMIT ").push_bind(i64::from(query.limit) + 1);
    let rows = page.build().fetch_all(pool).await?;
    let mut approvals: Vec<_> = rows
        .iter()
        .filter_map(|row| listed("approval", &row.text("id").unwrap_or_default(), rows::approval(row)))
        .collect();
    let has_more = approvals.len() > query.limit as usize;
    approvals.truncate(query.limit as usize);
    Ok(ApprovalPage { approvals, total: u32::try_from(total).unwrap_or(u32::MAX), has_more })
}
