//! Retention on Postgres: each batch is one statement (data-modifying
//! CTEs), so it is one round trip and one short transaction. Postgres has
//! no single writer to hold up, and deleted rows are reclaimed by its
//! autovacuum.
//!
//! With several replicas each deletes only runs (and keys, tombstones) of
//! the partitions it holds; the caller passes them. Keys and tombstones go
//! with the partition of their run, create request ids with that of their
//! workflow, so exactly one replica looks after each row.

use std::time::Instant;

use async_trait::async_trait;
use sqlx::{PgPool, Row};

use super::PostgresStore;
use super::sql::partition_ids;
use super::text::nul_safe;
use crate::store::StoreError;
use crate::store::cluster::partition_sql;
use crate::store::retention::{FINISHED_SQL, KeySweep, RetentionStore, RunSweep, Swept};

/// `($n::int[] IS NULL OR <partition of column> = ANY($n))`.
fn in_partitions(column: &str, n: u8) -> String {
    format!("(${n}::int[] IS NULL OR {} = ANY(${n}::int[]))", partition_sql(column))
}

/// Deletes one batch of finished runs past their retention with all their
/// rows, leaving a tombstone for each.
async fn sweep_runs(pool: &PgPool, sweep: &RunSweep) -> Result<Swept, StoreError> {
    let runs = sweep.max_runs.max(1);
    let part = in_partitions("id", 4);
    let children = ["run_events", "run_steps", "run_commands", "tasks", "timers", "approvals"]
        .iter()
        .enumerate()
        .map(|(i, table)| format!("c{i} AS (DELETE FROM {table} WHERE run_id IN (SELECT id FROM doomed) RETURNING 1)"))
        .collect::<Vec<_>>()
        .join(", ");
    let counted = (0..6).map(|i| format!("(SELECT count(*) FROM c{i})")).collect::<Vec<_>>().join(" + ");
    let sql = format!(
        "WITH doomed AS ( \
           (SELECT id, tenant_id, idempotency_key FROM runs \
             WHERE retention_ms IS NULL AND {FINISHED_SQL} AND completed_at < $1 AND {part} \
             ORDER BY completed_at LIMIT $3) \
           UNION ALL \
           (SELECT id, tenant_id, idempotency_key FROM runs \
             WHERE retention_ms IS NOT NULL AND {FINISHED_SQL} AND completed_at + retention_ms < $2 AND {part} \
             ORDER BY completed_at + retention_ms LIMIT $3)), \
         {children}, \
         keys AS (DELETE FROM run_idempotency k USING doomed d \
           WHERE k.tenant_id = d.tenant_id AND k.idempotency_key = d.idempotency_key AND k.run_id = d.id RETURNING 1), \
         gone AS (DELETE FROM runs WHERE id IN (SELECT id FROM doomed) AND {FINISHED_SQL} RETURNING id, tenant_id), \
         marked AS (INSERT INTO run_tombstones (run_id, tenant_id, deleted_at) SELECT id, tenant_id, $2 FROM gone \
           ON CONFLICT (run_id) DO UPDATE SET deleted_at = excluded.deleted_at RETURNING 1) \
         SELECT (SELECT count(*) FROM doomed) AS candidates, (SELECT count(*) FROM gone) AS runs, \
           {counted} + (SELECT count(*) FROM keys) + (SELECT count(*) FROM gone) AS rows"
    );
    let started = Instant::now();
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(sweep.now_ms.saturating_sub(sweep.retention_ms))
        .bind(sweep.now_ms)
        .bind(i64::from(runs))
        .bind(sweep.partitions.as_deref().map(partition_ids))
        .fetch_one(pool)
        .await?;
    let candidates: i64 = row.try_get("candidates")?;
    Ok(Swept {
        runs: row.try_get::<i64, _>("runs")? as u32,
        rows: row.try_get::<i64, _>("rows")? as u32,
        // Either rule may have had more behind a full list.
        more: candidates >= i64::from(runs),
        held: started.elapsed(),
    })
}

/// Deletes one batch of expired idempotency keys, create request ids and
/// tombstones (at most `max_rows` of each).
async fn sweep_keys(pool: &PgPool, sweep: &KeySweep) -> Result<Swept, StoreError> {
    let sql = format!(
        "WITH keys AS (DELETE FROM run_idempotency WHERE created_at < $1 AND (tenant_id, idempotency_key) IN \
           (SELECT tenant_id, idempotency_key FROM run_idempotency WHERE created_at < $1 AND {} \
             ORDER BY created_at LIMIT $3) RETURNING 1), \
         requests AS (DELETE FROM workflow_create_requests WHERE created_at < $1 AND (tenant_id, request_id) IN \
           (SELECT tenant_id, request_id FROM workflow_create_requests WHERE created_at < $1 AND {} \
             ORDER BY created_at LIMIT $3) RETURNING 1), \
         marks AS (DELETE FROM run_tombstones WHERE deleted_at < $2 AND run_id IN \
           (SELECT run_id FROM run_tombstones WHERE deleted_at < $2 AND {} ORDER BY deleted_at LIMIT $3) \
           RETURNING 1) \
         SELECT (SELECT count(*) FROM keys) AS keys, (SELECT count(*) FROM requests) AS requests, \
           (SELECT count(*) FROM marks) AS marks",
        in_partitions("run_id", 4),
        in_partitions("workflow_id", 4),
        in_partitions("run_id", 4),
    );
    let started = Instant::now();
    let limit = i64::from(sweep.max_rows.max(1));
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(sweep.keys_before_ms)
        .bind(sweep.tombstones_before_ms)
        .bind(limit)
        .bind(sweep.partitions.as_deref().map(partition_ids))
        .fetch_one(pool)
        .await?;
    let counts = [row.try_get::<i64, _>("keys")?, row.try_get("requests")?, row.try_get("marks")?];
    Ok(Swept {
        runs: 0,
        rows: counts.iter().sum::<i64>() as u32,
        more: counts.iter().any(|&n| n >= limit),
        held: started.elapsed(),
    })
}

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn sweep_finished_runs(&self, sweep: &RunSweep) -> Result<Swept, StoreError> {
        sweep_runs(self.pool(), sweep).await
    }

    async fn sweep_expired_keys(&self, sweep: &KeySweep) -> Result<Swept, StoreError> {
        sweep_keys(self.pool(), sweep).await
    }

    async fn run_tombstone(&self, tenant: &str, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT deleted_at FROM run_tombstones WHERE run_id = $1 AND tenant_id = $2")
            .bind(nul_safe(id))
            .bind(nul_safe(tenant))
            .fetch_optional(self.pool())
            .await?)
    }

    /// Nothing to do: autovacuum reclaims deleted rows.
    async fn reclaim_space(&self) -> Result<Swept, StoreError> {
        Ok(Swept::default())
    }
}
