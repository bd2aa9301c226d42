//! The Postgres side of worker registrations (see `workers.rs`): one table
//! every replica reads and writes, so a worker registered through one
//! replica polls through any other. Times are the replicas' clocks, as the
//! engine passes them: a skew of seconds is nothing against the forget
//! window of minutes.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::StoreError;
use super::postgres::PostgresStore;
use super::postgres_text::nul_safe;
use super::rows::Columns;
use super::workers::{WorkerRecord, WorkerStore, decode, encode, readable};

const COLUMNS: &str = "id, registration, registered_at, last_seen";

fn worker_from_row(row: &PgRow) -> Result<WorkerRecord, StoreError> {
    let document: String = row.try_get("registration")?;
    decode(row.text("id")?, &document, row.try_get("registered_at")?, row.try_get("last_seen")?)
}

#[async_trait]
impl WorkerStore for PostgresStore {
    async fn upsert_worker(&self, tenant: &str, worker: &WorkerRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workers (tenant_id, id, registration, registered_at, last_seen) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET registration = excluded.registration, \
             registered_at = excluded.registered_at, last_seen = excluded.last_seen",
        )
        .bind(nul_safe(tenant))
        .bind(nul_safe(&worker.worker_id))
        .bind(encode(worker))
        .bind(worker.registered_ms)
        .bind(worker.last_seen_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn touch_worker(
        &self,
        tenant: &str,
        worker_id: &str,
        now_ms: i64,
        seen_since_ms: i64,
    ) -> Result<Option<WorkerRecord>, StoreError> {
        let sql = format!(
            "UPDATE workers SET last_seen = GREATEST(last_seen, $3) \
             WHERE tenant_id = $1 AND id = $2 AND last_seen >= $4 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(nul_safe(tenant))
            .bind(nul_safe(worker_id))
            .bind(now_ms)
            .bind(seen_since_ms)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(worker_from_row).transpose()
    }

    async fn list_workers(
        &self,
        tenant: &str,
        seen_since_ms: i64,
        limit: u32,
    ) -> Result<Vec<WorkerRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM workers WHERE tenant_id = $1 AND last_seen >= $2 \
             ORDER BY last_seen DESC, id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(nul_safe(tenant))
            .bind(seen_since_ms)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        Ok(readable(rows.iter().map(worker_from_row).collect()))
    }

    async fn count_other_workers(&self, tenant: &str, worker_id: &str, seen_since_ms: i64) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM workers WHERE tenant_id = $1 AND id <> $2 AND last_seen >= $3")
                .bind(nul_safe(tenant))
                .bind(nul_safe(worker_id))
                .bind(seen_since_ms)
                .fetch_one(self.pool())
                .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn prune_workers(&self, seen_before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            // The outer condition is checked again on a row a registration
            // rewrote meanwhile, so a worker that just came back stays.
            "DELETE FROM workers WHERE (tenant_id, id) IN \
             (SELECT tenant_id, id FROM workers WHERE last_seen < $1 LIMIT $2) AND last_seen < $1",
        )
        .bind(seen_before_ms)
        .bind(i64::from(limit))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
