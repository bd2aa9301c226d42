//! The Postgres side of approvals: rows opened and decided in a run
//! writer's group commit (the reads are the shared `store/approvals.rs`).

use sqlx::PgConnection;

use super::sql::column;
use super::text::nul_safe;
use crate::store::StoreError;
use crate::store::runs::RunBatch;

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
