//! The Postgres side of approvals: rows opened and decided in a run
//! writer's group commit, and the reads of CheckToolUse and the approval
//! API.

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use super::StoreError;
use super::postgres_runs::column;
use super::postgres_text::nul_safe;
use super::rows;
use super::rows::Columns;
use super::runs::RunBatch;
use super::unreadable::listed;
use crate::model::{ApprovalPage, ApprovalQuery, ApprovalRecord};

/// Writes the approvals of one group commit, inside its transaction:
/// openings first, so an approval opened and decided in one batch ends
/// decided.
pub(super) async fn write(tx: &mut PgConnection, batch: &RunBatch) -> Result<(), StoreError> {
    let opened = &batch.approvals_opened;
    if !opened.is_empty() {
        // A replayed commit after a failed one may meet its own row.
        sqlx::query(
            "INSERT INTO approvals (id, tenant_id, run_id, step_key, kind, action, tool, arguments, message, \
               options, status, default_action, expires_at, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], \
                 $14::bigint[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(column(opened, |a| nul_safe(a.id.as_str())))
        .bind(column(opened, |a| nul_safe(a.tenant_id.as_str())))
        .bind(column(opened, |a| nul_safe(a.run_id.as_str())))
        .bind(column(opened, |a| nul_safe(a.step_key.as_str())))
        .bind(column(opened, |a| nul_safe(a.kind.as_str())))
        .bind(column(opened, |a| nul_safe(a.action.as_str())))
        .bind(column(opened, |a| nul_safe(a.tool.as_str())))
        .bind(column(opened, |a| a.arguments.to_string()))
        .bind(column(opened, |a| nul_safe(a.message.as_str())))
        .bind(column(opened, |a| serde_json::to_string(&a.options).expect("strings serialize")))
        .bind(column(opened, |a| a.status.as_str()))
        .bind(column(opened, |a| nul_safe(a.default_action.as_str())))
        .bind(column(opened, |a| a.expires_ms))
        .bind(column(opened, |a| a.created_ms))
        .execute(&mut *tx)
        .await?;
    }
    // Decisions are rare (a person's answer): one statement each is fine.
    for d in &batch.approvals_decided {
        sqlx::query(
            "UPDATE approvals SET status = $2, decision = $3, option = $4, decided_by = $5, decided_at = $6, \
             comment = $7 WHERE id = $1",
        )
        .bind(nul_safe(&d.id))
        .bind(d.status.as_str())
        .bind(nul_safe(&d.decision))
        .bind(nul_safe(&d.option))
        .bind(nul_safe(&d.decided_by))
        .bind(d.decided_ms)
        .bind(nul_safe(&d.comment))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Approvals with their run's workflow (a run's rows go with the run, so
/// the join always finds it; LEFT keeps an approval readable regardless).
const SELECT: &str =
    "SELECT a.*, COALESCE(r.workflow_id, '') AS workflow_id FROM approvals a LEFT JOIN runs r ON r.id = a.run_id";

/// One approval of a tenant, or `None`.
pub(super) async fn get(pool: &PgPool, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let sql = format!("{SELECT} WHERE a.tenant_id = $1 AND a.id = $2");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(nul_safe(tenant)).bind(nul_safe(id)).fetch_optional(pool).await?;
    row.as_ref().map(rows::approval).transpose()
}

/// A page of a tenant's approvals matching `query`, newest first.
pub(super) async fn list(pool: &PgPool, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, StoreError> {
    fn filters(b: &mut QueryBuilder<Postgres>, tenant: &str, q: &ApprovalQuery) {
        b.push(" WHERE a.tenant_id = ").push_bind(nul_safe(tenant).into_owned());
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
                b.push(format!(" AND {column} = ")).push_bind(nul_safe(value).into_owned());
            }
        }
    }
    let mut count =
        QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM approvals a LEFT JOIN runs r ON r.id = a.run_id");
    filters(&mut count, tenant, query);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut page = QueryBuilder::<Postgres>::new(SELECT);
    filters(&mut page, tenant, query);
    if let Some((created, id)) = &query.after {
        page.push(" AND (a.created_at < ").push_bind(*created);
        page.push(" OR (a.created_at = ")
            .push_bind(*created)
            .push(" AND a.id < ")
            .push_bind(nul_safe(id).into_owned())
            .push("))");
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
