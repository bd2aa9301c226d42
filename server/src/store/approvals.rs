//! Approvals as the API and CheckToolUse read them. Rows are opened and
//! decided in the run writer's commits; [`ApprovalStore`] is the reads,
//! written once for both databases over [`Dialect`].

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::{self, Columns};
use super::unreadable::listed;
use crate::model::{ApprovalPage, ApprovalQuery, ApprovalRecord, ApprovalStatus};

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
            Arg::OptText(query.kind.as_deref()),
        ];
        let count = format!("SELECT COUNT(*) AS n {FROM} WHERE {FILTER}");
        let total = match D::fetch_optional(&mut *conn, &count, &filters).await? {
            Some(row) => row.int("n")?,
            None => 0,
        };
        let (after_ms, after_id) = match &query.after {
            Some((ms, id)) => (Some(*ms), Some(id.as_str())),
            None => (None, None),
        };
        let mut args = filters.to_vec();
        // One more than asked says whether another page follows.
        args.extend([Arg::OptInt(after_ms), Arg::OptText(after_id), Arg::Int(i64::from(query.limit) + 1)]);
        let page = format!(
            "SELECT {COLUMNS} {FROM} WHERE {FILTER} \
               AND (CAST(?7 AS BIGINT) IS NULL OR a.created_at < ?7 OR (a.created_at = ?7 AND a.id < ?8)) \
             ORDER BY a.created_at DESC, a.id DESC LIMIT ?9"
        );
        let rows = D::fetch_all(&mut *conn, &page, &args).await?;
        let mut approvals: Vec<_> = rows
            .iter()
            .filter_map(|row| listed("approval", &row.text("id").unwrap_or_default(), rows::approval(row)))
            .collect();
        let has_more = approvals.len() > query.limit as usize;
        approvals.truncate(query.limit as usize);
        Ok(ApprovalPage { approvals, total: u32::try_from(total).unwrap_or(u32::MAX), has_more })
    }
}
