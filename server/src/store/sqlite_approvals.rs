//! The SQLite side of approvals: rows opened and decided in a run writer's
//! group commit, and the read a worker's CheckToolUse makes.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::StoreError;
use super::runs::RunBatch;
use crate::model::ApprovalRecord;

/// Rows per multi-row statement, well under SQLite's bound-variable limit.
const CHUNK: usize = 1_000;

/// Writes the approvals of one group commit, inside its transaction:
/// openings first, so an approval opened and decided in one batch ends
/// decided.
pub(super) async fn write(tx: &mut SqliteConnection, batch: &RunBatch) -> Result<(), StoreError> {
    for chunk in batch.approvals_opened.chunks(CHUNK) {
        let mut builder = QueryBuilder::<Sqlite>::new(
            "INSERT INTO approvals (id, tenant_id, run_id, step_key, kind, action, tool, arguments, message, \
             options, status, created_at) ",
        );
        builder.push_values(chunk, |mut b, a| {
            let options = serde_json::to_string(&a.options).expect("strings serialize");
            b.push_bind(a.id.clone())
                .push_bind(a.tenant_id.clone())
                .push_bind(a.run_id.clone())
                .push_bind(a.step_key.clone())
                .push_bind(a.kind.clone())
                .push_bind(a.action.clone())
                .push_bind(a.tool.clone())
                .push_bind(a.arguments.to_string())
                .push_bind(a.message.clone())
                .push_bind(options)
                .push_bind(a.status.clone())
                .push_bind(a.created_ms);
        });
        // A replayed commit after a failed one may meet its own row.
        builder.push(" ON CONFLICT (id) DO NOTHING");
        builder.build().execute(&mut *tx).await?;
    }
    // Decisions are rare (a person's answer): one statement each is fine.
    for d in &batch.approvals_decided {
        sqlx::query(
            "UPDATE approvals SET status = ?2, decision = ?3, option = ?4, decided_by = ?5, decided_at = ?6 \
             WHERE id = ?1",
        )
        .bind(&d.id)
        .bind(&d.status)
        .bind(&d.decision)
        .bind(&d.option)
        .bind(&d.decided_by)
        .bind(d.decided_ms)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn approval_from_row(row: &SqliteRow) -> Result<ApprovalRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let corrupt = |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("{what} of approval {id}: {e}"));
    let arguments: String = row.try_get("arguments")?;
    let options: String = row.try_get("options")?;
    Ok(ApprovalRecord {
        tenant_id: row.try_get("tenant_id")?,
        run_id: row.try_get("run_id")?,
        step_key: row.try_get("step_key")?,
        kind: row.try_get("kind")?,
        action: row.try_get("action")?,
        tool: row.try_get("tool")?,
        arguments: serde_json::from_str(&arguments).map_err(|e| corrupt("arguments", e))?,
        message: row.try_get("message")?,
        options: serde_json::from_str(&options).map_err(|e| corrupt("options", e))?,
        status: row.try_get("status")?,
        decision: row.try_get("decision")?,
        option: row.try_get("option")?,
        decided_by: row.try_get("decided_by")?,
        created_ms: row.try_get("created_at")?,
        decided_ms: row.try_get("decided_at")?,
        id,
    })
}

/// One approval of a tenant, or `None`.
pub(super) async fn get(pool: &SqlitePool, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let row = sqlx::query("SELECT * FROM approvals WHERE tenant_id = ?1 AND id = ?2")
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(approval_from_row).transpose()
}
