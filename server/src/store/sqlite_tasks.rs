//! The SQLite side of the task queue: the task rows of a group commit
//! (queued, done, cancelled), a worker's claim (one `BEGIN IMMEDIATE`
//! transaction: oldest queued task of its agents, next fencing token,
//! deadline), heartbeats that extend a live lease, and the expired leases
//! the sweeper returns to the writer.

use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::StoreError;
use super::runs::RunBatch;
use super::tasks::{ExpiredLease, LeasedTask, TaskClaim, TaskLease, TaskStatus};

/// Rows per multi-row statement, well under SQLite's bound-variable limit.
const CHUNK: usize = 2_000;

/// Sets `status` on the tasks keyed (run id, step key); the lease is over.
async fn set_status(
    tx: &mut SqliteConnection,
    status: TaskStatus,
    keys: &[(String, String)],
) -> Result<(), StoreError> {
    for chunk in keys.chunks(CHUNK) {
        let mut builder = QueryBuilder::<Sqlite>::new("UPDATE tasks SET status = ");
        builder.push_bind(status.as_str());
        builder.push(", lease_owner = NULL, lease_deadline = NULL WHERE (run_id, step_key) IN (");
        builder.push_values(chunk, |mut b, (run, key)| {
            b.push_bind(run.clone()).push_bind(key.clone());
        });
        builder.push(")");
        builder.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Writes the task rows of one group commit, inside its transaction. A
/// task queued again (the next attempt) keeps its id and its last token, so
/// its next lease gets a higher one.
pub(super) async fn write(tx: &mut SqliteConnection, batch: &RunBatch) -> Result<(), StoreError> {
    set_status(tx, TaskStatus::Done, &batch.tasks_done).await?;
    set_status(tx, TaskStatus::Cancelled, &batch.tasks_cancelled).await?;
    for chunk in batch.tasks.chunks(CHUNK) {
        let mut builder = QueryBuilder::<Sqlite>::new(
            "INSERT INTO tasks (task_id, run_id, step_key, tenant_id, attempt, kind, agent, task, input, created_at) ",
        );
        builder.push_values(chunk, |mut b, t| {
            b.push_bind(t.task_id.clone())
                .push_bind(t.run_id.clone())
                .push_bind(t.step_key.clone())
                .push_bind(t.tenant_id.clone())
                .push_bind(i64::from(t.attempt))
                .push_bind(t.kind.clone())
                .push_bind(t.agent.clone())
                .push_bind(t.task.clone())
                .push_bind(t.input.to_string())
                .push_bind(t.created_ms);
        });
        builder.push(
            " ON CONFLICT (run_id, step_key) DO UPDATE SET attempt = excluded.attempt, task = excluded.task, \
              input = excluded.input, created_at = excluded.created_at, status = 'queued', lease_owner = NULL, \
              lease_deadline = NULL, cost_so_far = 0",
        );
        builder.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Claims the oldest queued task of the claim's agents and kinds, if any,
/// inside the writer's transaction `tx`.
pub(super) async fn claim(tx: &mut SqliteConnection, claim: &TaskClaim<'_>) -> Result<Option<LeasedTask>, StoreError> {
    let mut builder =
        QueryBuilder::<Sqlite>::new("UPDATE tasks SET status = 'leased', lease_token = lease_token + 1, ");
    builder.push("lease_owner = ").push_bind(claim.worker_id);
    builder.push(", lease_deadline = ").push_bind(claim.now_ms.saturating_add(claim.lease_ms));
    builder.push(", cost_so_far = 0 WHERE (run_id, step_key) = (SELECT run_id, step_key FROM tasks ");
    builder.push("WHERE status = 'queued' AND tenant_id = ").push_bind(claim.tenant);
    builder.push(" AND agent IN (");
    let mut agents = builder.separated(", ");
    for agent in claim.agents {
        agents.push_bind(agent.as_str());
    }
    builder.push(") AND kind IN (");
    let mut kinds = builder.separated(", ");
    for kind in claim.kinds {
        kinds.push_bind(*kind);
    }
    builder.push(
        ") ORDER BY created_at, task_id LIMIT 1) \
         RETURNING task_id, run_id, step_key, attempt, kind, agent, task, input, lease_token, lease_deadline",
    );
    let Some(row) = builder.build().fetch_optional(&mut *tx).await? else { return Ok(None) };
    let run_id: String = row.try_get("run_id")?;
    let run = sqlx::query("SELECT workflow_id, workflow_version, user_id, started_at FROM runs WHERE id = ?1")
        .bind(&run_id)
        .fetch_one(&mut *tx)
        .await?;
    let input: String = row.try_get("input")?;
    let task_id: String = row.try_get("task_id")?;
    let leased = LeasedTask {
        input: serde_json::from_str::<Value>(&input)
            .map_err(|e| StoreError::Corrupt(format!("input of task {task_id}: {e}")))?,
        step_key: row.try_get("step_key")?,
        workflow_id: run.try_get("workflow_id")?,
        workflow_version: run.try_get::<i64, _>("workflow_version")? as u32,
        user_id: run.try_get("user_id")?,
        run_started_ms: run.try_get("started_at")?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        kind: row.try_get("kind")?,
        agent: row.try_get::<Option<String>, _>("agent")?.unwrap_or_default(),
        task: row.try_get("task")?,
        lease_token: row.try_get::<i64, _>("lease_token")? as u64,
        lease_deadline_ms: row.try_get("lease_deadline")?,
        task_id,
        run_id,
    };
    Ok(Some(leased))
}

/// Hands a lease back to the queue, as if never claimed (same attempt; the
/// token stays spent, so it can never complete), when the poll it was made
/// for left before hearing of it.
pub(super) async fn release(tx: &mut SqliteConnection, task_id: &str, token: u64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tasks SET status = 'queued', lease_owner = NULL, lease_deadline = NULL \
         WHERE task_id = ?1 AND lease_token = ?2 AND status = 'leased'",
    )
    .bind(task_id)
    .bind(token as i64)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn lease_from_row(row: &SqliteRow) -> Result<TaskLease, StoreError> {
    let task_id: String = row.try_get("task_id")?;
    let status: String = row.try_get("status")?;
    Ok(TaskLease {
        status: TaskStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("task {task_id} has unknown status '{status}'")))?,
        run_id: row.try_get("run_id")?,
        step_key: row.try_get("step_key")?,
        kind: row.try_get("kind")?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        lease_token: row.try_get::<i64, _>("lease_token")? as u64,
        lease_deadline_ms: row.try_get("lease_deadline")?,
        lease_owner: row.try_get("lease_owner")?,
        workflow_id: row.try_get::<Option<String>, _>("workflow_id")?.unwrap_or_default(),
        workflow_version: row.try_get::<Option<i64>, _>("workflow_version")?.unwrap_or_default() as u32,
        step_status: row.try_get::<Option<String>, _>("step_status")?.unwrap_or_default(),
        step_cost_cents: row.try_get::<Option<i64>, _>("step_cost")?.unwrap_or_default(),
        task_id,
    })
}

/// A task's lease state, or `None` for an unknown id.
pub(super) async fn get(pool: &SqlitePool, tenant: &str, task_id: &str) -> Result<Option<TaskLease>, StoreError> {
    let row = sqlx::query(
        "SELECT t.task_id, t.run_id, t.step_key, t.kind, t.attempt, t.status, t.lease_token, t.lease_deadline, \
         t.lease_owner, s.status AS step_status, s.cost_cents AS step_cost, r.workflow_id, r.workflow_version \
         FROM tasks t LEFT JOIN run_steps s ON s.run_id = t.run_id AND s.key = t.step_key \
         LEFT JOIN runs r ON r.id = t.run_id \
         WHERE t.tenant_id = ?1 AND t.task_id = ?2",
    )
    .bind(tenant)
    .bind(task_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(lease_from_row).transpose()
}

/// Moves a live lease's deadline and records the cost so far; `None` when
/// the lease is not live (other token, not leased, or already expired).
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
        "UPDATE tasks SET lease_deadline = ?4, cost_so_far = ?5 \
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
        "SELECT task_id, tenant_id, run_id, step_key, attempt, lease_token FROM tasks \
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
