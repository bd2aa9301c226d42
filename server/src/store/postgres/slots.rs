//! [`SlotStore`] on Postgres: each grant is a transaction that first takes
//! a transaction-scoped advisory lock on (tenant, workflow), so grants for
//! one workflow from any replica take turns while they count its slots;
//! grants for other workflows do not wait.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::PostgresStore;
use super::sql::column;
use super::text::nul_safe;
use crate::store::slots::{PausedRuns, SlotAsk, SlotStore, StalledAdmission};
use crate::store::{RunBatch, StoreError};

/// Key space of this lock among the server's advisory locks.
const LOCK_SPACE: i32 = 19;

async fn lock(tx: &mut PgConnection, tenant: &str, workflow_id: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2 || chr(31) || $3))")
        .bind(LOCK_SPACE)
        .bind(nul_safe(tenant))
        .bind(nul_safe(workflow_id))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn occupied(
    tx: &mut PgConnection,
    tenant: &str,
    workflow_id: &str,
    paused: PausedRuns,
) -> Result<u32, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM run_slots s LEFT JOIN runs r ON r.id = s.run_id \
         WHERE s.tenant_id = $1 AND s.workflow_id = $2 AND ($3 OR r.status IS NULL OR r.status <> 'paused')",
    )
    .bind(nul_safe(tenant))
    .bind(nul_safe(workflow_id))
    .bind(matches!(paused, PausedRuns::HoldSlots))
    .fetch_one(&mut *tx)
    .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

async fn insert_slots(
    tx: &mut PgConnection,
    run_ids: &[&str],
    tenant: &str,
    workflow_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    if run_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO run_slots (run_id, tenant_id, workflow_id, taken_at) \
         SELECT id, $2, $3, $4 FROM UNNEST($1::text[]) AS t(id) ON CONFLICT (run_id) DO NOTHING",
    )
    .bind(column(run_ids, |id| nul_safe(id)))
    .bind(nul_safe(tenant))
    .bind(nul_safe(workflow_id))
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl SlotStore for PostgresStore {
    async fn take_slots(&self, asks: &[SlotAsk], paused: PausedRuns, now_ms: i64) -> Result<Vec<bool>, StoreError> {
        // Workflows in a fixed order, so two replicas' grants never wait on
        // each other's locks in a cycle.
        let mut by_workflow: std::collections::BTreeMap<(&str, &str), Vec<usize>> = Default::default();
        for (i, ask) in asks.iter().enumerate() {
            by_workflow.entry((ask.tenant_id.as_str(), ask.workflow_id.as_str())).or_default().push(i);
        }
        let mut granted = vec![false; asks.len()];
        let mut tx = self.pool().begin().await?;
        for ((tenant, workflow_id), indexes) in by_workflow {
            lock(&mut tx, tenant, workflow_id).await?;
            let used = occupied(&mut tx, tenant, workflow_id, paused).await?;
            let queued: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM run_queue WHERE tenant_id = $1 AND workflow_id = $2 LIMIT 1")
                    .bind(nul_safe(tenant))
                    .bind(nul_safe(workflow_id))
                    .fetch_optional(&mut *tx)
                    .await?;
            if queued.is_some() {
                continue;
            }
            let mut taken = Vec::new();
            // In the batch's order; the first refused queues the rest.
            for (i, used) in indexes.into_iter().zip(used..) {
                if used >= asks[i].max_running {
                    break;
                }
                granted[i] = true;
                taken.push(asks[i].run_id.as_str());
            }
            insert_slots(&mut tx, &taken, tenant, workflow_id, now_ms).await?;
        }
        tx.commit().await?;
        Ok(granted)
    }

    async fn admit_queued(
        &self,
        tenant: &str,
        workflow_id: &str,
        paused: PausedRuns,
        most: u32,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool().begin().await?;
        lock(&mut tx, tenant, workflow_id).await?;
        let mut used = occupied(&mut tx, tenant, workflow_id, paused).await?;
        let head: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT seq, run_id, max_running FROM run_queue WHERE tenant_id = $1 AND workflow_id = $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(nul_safe(tenant))
        .bind(nul_safe(workflow_id))
        .bind(i64::from(most))
        .fetch_all(&mut *tx)
        .await?;
        let mut seqs = Vec::new();
        let mut admitted = Vec::new();
        for (seq, run_id, max_running) in head {
            // In arrival order: the head waits, so everything behind it does.
            if i64::from(used) >= max_running {
                break;
            }
            used += 1;
            seqs.push(seq);
            admitted.push(run_id);
        }
        if !admitted.is_empty() {
            sqlx::query("DELETE FROM run_queue WHERE seq = ANY($1::bigint[])").bind(&seqs).execute(&mut *tx).await?;
            let ids: Vec<&str> = admitted.iter().map(String::as_str).collect();
            insert_slots(&mut tx, &ids, tenant, workflow_id, now_ms).await?;
        }
        tx.commit().await?;
        Ok(admitted)
    }

    async fn queued_workflows(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT DISTINCT tenant_id, workflow_id FROM run_queue").fetch_all(self.pool()).await?)
    }

    async fn stalled_admissions(&self, before_ms: i64) -> Result<Vec<StalledAdmission>, StoreError> {
        sqlx::query(
            "DELETE FROM run_slots WHERE taken_at < $1 AND NOT EXISTS (SELECT 1 FROM runs r \
             WHERE r.id = run_slots.run_id AND r.status IN ('queued', 'pending', 'running', 'paused'))",
        )
        .bind(before_ms)
        .execute(self.pool())
        .await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT s.tenant_id, s.run_id FROM run_slots s JOIN runs r ON r.id = s.run_id \
             WHERE s.taken_at < $1 AND r.status = 'queued'",
        )
        .bind(before_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(tenant_id, run_id)| StalledAdmission { tenant_id, run_id }).collect())
    }
}

/// The batch's queue rows, and the slot and queue rows of runs that ended.
pub(super) async fn write_in_commit(tx: &mut PgConnection, batch: &RunBatch) -> Result<(), StoreError> {
    let queued = &batch.queued;
    if !queued.is_empty() {
        // WITH ORDINALITY keeps the batch's order in the identity column.
        sqlx::query(
            "INSERT INTO run_queue (run_id, tenant_id, workflow_id, max_running, queued_at) \
             SELECT r, t, w, m, q FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) \
             WITH ORDINALITY AS u(r, t, w, m, q, n) ORDER BY n ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(column(queued, |q| nul_safe(q.run_id.as_str())))
        .bind(column(queued, |q| nul_safe(q.tenant_id.as_str())))
        .bind(column(queued, |q| nul_safe(q.workflow_id.as_str())))
        .bind(column(queued, |q| i64::from(q.max_running)))
        .bind(column(queued, |q| q.queued_ms))
        .execute(&mut *tx)
        .await?;
    }
    if !batch.slots_freed.is_empty() {
        let ids = column(&batch.slots_freed, |id| nul_safe(id.as_str()));
        sqlx::query("DELETE FROM run_slots WHERE run_id = ANY($1::text[])").bind(&ids).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM run_queue WHERE run_id = ANY($1::text[])").bind(&ids).execute(&mut *tx).await?;
    }
    Ok(())
}
