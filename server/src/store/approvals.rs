//! Approvals as the API and CheckToolUse read them. Rows are opened and
//! decided in the run writer's commits; [`ApprovalStore`] is the reads,
//! written once for both databases over [`Dialect`].

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::paging;
use super::rows;
use crate::model::{ApprovalKind, ApprovalPage, ApprovalQuery, ApprovalRecord, ApprovalStatus};

/// Approvals with their run's workflow (a run's rows go with the run, so
/// the join always finds it; LEFT keeps an approval readable regardless).
const FROM: &str = "FROM approvals a LEFT JOIN runs r ON r.id = a.run_id";
const COLUMNS: &str = "a.*, COALESCE(r.workflow_id, '') AS workflow_id";

/// A listing's filters (tenant, run, workflow, action, status, kind).
const FILTER: &str = "a.tenant_id = ?1 \
     AND (CAST(?2 AS TEXT) IS NULL OR a.run_id = ?2) \
     AND (CAST(?3 AS TEXT) IS NULL OR r.workflow_id = ?3) \
     AND (CAST(?4 AS TEXT) IS NULL OR a.action = ?4) \
     AND (CAST(?5 AS TEXT) IS NULL OR a.status = ?5) \
     AND (CAST(?6 AS TEXT) IS NULL OR a.kind = ?6)";

/// Where approvals are read.
#[async_trait]
pub trait ApprovalStore: Send + Sync + 'static {
    /// One approval; `None` for an unknown id.
    async fn get_approval(&self, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;

    /// A page of approvals, newest first.
    async fn list_approvals(&self, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, StoreError>;
}

#[async_trait]
impl<D: Dialect> ApprovalStore for D {
    async fn get_approval(&self, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} {FROM} WHERE a.tenant_id = ?1 AND a.id = ?2");
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(tenant), Arg::Text(id)]).await?;
        row.as_ref().map(rows::approval).transpose()
    }

    async fn list_approvals(&self, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, StoreError> {
        let mut conn = self.acquire().await?;
        let filters = [
            Arg::Text(tenant),
            Arg::OptText(query.run_id.as_deref()),
            Arg::OptText(query.workflow_id.as_deref()),
            Arg::OptText(query.action.as_deref()),
            Arg::OptText(query.status.map(ApprovalStatus::as_str)),
            Arg::OptText(query.kind.map(ApprovalKind::as_str)),
        ];
        let total =
            paging::count::<D>(&mut *conn, &format!("SELECT COUNT(*) AS n {FROM} WHERE {FILTER}"), &filters).await?;
        let mut args = filters.to_vec();
        args.extend(paging::after(&query.after));
        args.push(paging::limit_plus_one(query.limit));
        let page = format!(
            "SELECT {COLUMNS} {FROM} WHERE {FILTER} \
               AND (CAST(?7 AS BIGINT) IS NULL OR a.created_at < ?7 OR (a.created_at = ?7 AND a.id < ?8)) \
             ORDER BY a.created_at DESC, a.id DESC LIMIT ?9"
        );
        let rows = D::fetch_all(&mut *conn, &page, &args).await?;
        let (approvals, has_more) = paging::page(&rows, "approval", query.limit, rows::approval);
        Ok(ApprovalPage { approvals, total, has_more })
    }
}
