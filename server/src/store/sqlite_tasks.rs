//! The SQLite side of the task queue outside the run writer's commits
//! (those, claims included, are in `sqlite_commit.rs`): lease reads,
//! heartbeats that extend a live lease, withdrawals, and the expired
//! leases the sweeper returns to the writer.

use sqlx::{Row, SqlitePool};

use super::StoreError;
use super::rows::{self, LEASE_SELECT};
use super::tasks::{ExpiredLease, TaskLease};

/// A task's lease state, or `None` for an unknown id.
pub(super) async fn get(pool: &SqlitePool, tenant: &str, task_id: &str) -> Result<Option<TaskLease>, StoreError> {
    let sql = format!("{LEASE_SELECT} WHERE t.tenant_id = ?1 AND t.task_id = ?2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(task_id).fetch_optional(pool).await?;
    row.as_ref().map(rows::lease).transpose()
}

/// Moves a live lease's deadline, never past its attempt's deadline, and
/// records the cost so far; `None` when the lease is not live (other
/// token, not leased, or already expired).
pub(super) async fn extend(
    pool: &SqlitePool,
    tenant: &str,
    task_id: &str,
    token: u64,
    deadline_ms: i64,
    cost_so_far_cents: i64,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let deadline: Option<i64> = sqlx::query_scalar(
        "UPDATE tasks SET lease_deadline = MIN(?4, COALESCE(attempt_deadline, ?4)), cost_so_far = ?5 \
         WHERE tenant_id = ?1 AND task_id = ?2 AND lease_token = ?3 AND status = 'leased' AND lease_deadline > ?6 \
         RETURNING lease_deadline",
    )
    .bind(tenant)
    .bind(task_id)
    .bind(token as i64)
    .bind(deadline_ms)
    .bind(cost_so_far_cents)
    .bind(now_ms)
    .fetch_optional(pool)
    .await?;
    Ok(deadline)
}

/// At most `limit` leases whose deadline is at or before `now_ms`, oldest first.
pub(super) async fn expired(pool: &SqlitePool, now_ms: i64, limit: u32) -> Result<Vec<ExpiredLease>, StoreError> {
    let rows = sqlx::query(
        "SELECT task_id, tenant_id, run_id, step_key, attempt, lease_token, \
         CASE WHEN lease_deadline >= attempt_deadline THEN timeout_ms END AS timed_out_after FROM tasks \
         WHERE status = 'leased' AND lease_deadline <= ?1 ORDER BY lease_deadline LIMIT ?2",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ExpiredLease {
                task_id: row.try_get("task_id")?,
                tenant_id: row.try_get("tenant_id")?,
                run_id: row.try_get("run_id")?,
                step_key: row.try_get("step_key")?,
                attempt: row.try_get::<i64, _>("attempt")? as u32,
                lease_token: row.try_get::<i64, _>("lease_token")? as u64,
                timed_out_after_ms: row.try_get("timed_out_after")?,
            })
        })
        .collect()
}

/// The earliest deadline of a live lease.
pub(super) async fn next_deadline(pool: &SqlitePool) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT MIN(lease_deadline) FROM tasks WHERE status = 'leased'").fetch_one(pool).await?)
}

/// Withdraws a lease the run no longer wants (its run is gone or its step
/// moved on), unless the token changed meanwhile.
pub(super) async fn withdraw(pool: &SqlitePool, task_id: &str, token: u64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tasks SET status = 'cancelled', lease_owner = NULL, lease_deadline = NULL \
         WHERE task_id = ?1 AND lease_token = ?2 AND status = 'leased'",
    )
    .bind(task_id)
    .bind(token as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Live leases per worker of a tenant: (worker id, count).
pub(super) async fn leases_by_owner(pool: &SqlitePool, tenant: &str) -> Result<Vec<(String, u32)>, StoreError> {
    let rows = sqlx::query(
        "SELECT lease_owner, COUNT(*) AS n FROM tasks WHERE status = 'leased' AND tenant_id = ?1 GROUP BY lease_owner",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let owner: Option<String> = row.try_get("lease_owner")?;
            Ok((owner.unwrap_or_default(), row.try_get::<i64, _>("n")? as u32))
        })
        .collect()
}

/// How many tasks of a run wait for a worker or are held by one.
pub(super) async fn count_open(pool: &SqlitePool, run_id: &str) -> Result<u32, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE run_id = ?1 AND status IN ('queued', 'leased')")
        .bind(run_id)
        .fetch_one(pool)
        .await?;
    Ok(n as u32)
}
