//! The SQLite side of runs: the reads of runs, steps and events, deletion,
//! and what recovery loads. The run writer's group commit is in
//! `sqlite_commit.rs`.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::StoreError;
use super::rows::{self, Columns, OPEN_RUNS, RUN_COLUMNS};
use super::runs::{OpenRun, RunPage, RunQuery};
use super::unreadable::listed;
use crate::model::{EventRecord, RunRecord, RunStatus, StepRecord, TimerRecord};

/// A run and its steps in list order.
pub(super) async fn get_run(
    pool: &SqlitePool,
    tenant: &str,
    id: &str,
) -> Result<(RunRecord, Vec<StepRecord>), StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ?1 AND id = ?2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(id).fetch_optional(pool).await?;
    let run = match row {
        Some(row) => rows::run(&row)?,
        None => return Err(StoreError::run_not_found(id)),
    };
    let rows = sqlx::query("SELECT * FROM run_steps WHERE run_id = ?1 ORDER BY position, key")
        .bind(id)
        .fetch_all(pool)
        .await?;
    let steps = rows.iter().map(rows::step).collect::<Result<Vec<_>, _>>()?;
    Ok((run, steps))
}

/// A page of runs, newest first.
pub(super) async fn list_runs(pool: &SqlitePool, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError> {
    const FILTER: &str = "tenant_id = ?1 AND (?2 IS NULL OR workflow_id = ?2) AND (?3 IS NULL OR status = ?3) \
         AND (?4 IS NULL OR user_id = ?4)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM runs WHERE {FILTER}")))
        .bind(tenant)
        .bind(query.workflow_id.as_deref())
        .bind(query.status.map(RunStatus::as_str))
        .bind(query.user_id.as_deref())
        .fetch_one(pool)
        .await?;
    let (after_ms, after_id) = match &query.after {
        Some((ms, id)) => (Some(*ms), Some(id.as_str())),
        None => (None, None),
    };
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE {FILTER} \
           AND (?5 IS NULL OR created_at < ?5 OR (created_at = ?5 AND id < ?6)) \
         ORDER BY created_at DESC, id DESC LIMIT ?7 OFFSET ?8"
    );
    // One row more than asked tells whether another page follows.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(query.workflow_id.as_deref())
        .bind(query.status.map(RunStatus::as_str))
        .bind(query.user_id.as_deref())
        .bind(after_ms)
        .bind(after_id)
        .bind(i64::from(query.limit) + 1)
        .bind(if query.after.is_some() { 0 } else { i64::from(query.offset) })
        .fetch_all(pool)
        .await?;
    let mut runs: Vec<RunRecord> =
        rows.iter().filter_map(|row| listed("run", &row.text("id").unwrap_or_default(), rows::run(row))).collect();
    let has_more = runs.len() > query.limit as usize;
    runs.truncate(query.limit as usize);
    Ok(RunPage { runs, total: total as u32, has_more })
}

/// Events of a run after `after`, in order, at most `limit`.
pub(super) async fn list_events(
    pool: &SqlitePool,
    tenant: &str,
    run_id: &str,
    after: u64,
    limit: u32,
) -> Result<Vec<EventRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.payload FROM run_events e JOIN runs r ON r.id = e.run_id AND r.tenant_id = ?1 \
         WHERE e.run_id = ?2 AND e.sequence > ?3 ORDER BY e.sequence LIMIT ?4",
    )
    .bind(tenant)
    .bind(run_id)
    .bind(after as i64)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let read = |row: &SqliteRow| -> Result<EventRecord, StoreError> {
        let payload: String = row.try_get("payload")?;
        serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("event of {run_id}: {e}")))
    };
    Ok(rows.iter().filter_map(|row| listed("event of run", run_id, read(row))).collect())
}

/// Deletes a run and everything recorded about it.
pub(super) async fn delete_run(pool: &SqlitePool, tenant: &str, id: &str) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let deleted = sqlx::query("DELETE FROM runs WHERE tenant_id = ?1 AND id = ?2")
        .bind(tenant)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::run_not_found(id));
    }
    for table in ["run_steps", "run_events", "run_commands", "timers", "tasks", "run_idempotency", "approvals"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE run_id = ?1")))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The run an idempotency key named since `since_ms`, if any.
pub(super) async fn find_idempotent(
    pool: &SqlitePool,
    tenant: &str,
    key: &str,
    since_ms: i64,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT run_id FROM run_idempotency WHERE tenant_id = ?1 AND idempotency_key = ?2 AND created_at > ?3",
    )
    .bind(tenant)
    .bind(key)
    .bind(since_ms)
    .fetch_optional(pool)
    .await?)
}

/// The runs the idempotency keys `keys` named since `since_ms`, in one
/// query: the keys travel as one JSON array of [tenant, key] pairs, so no
/// batch reaches SQLite's bound-parameter limit.
pub(super) async fn find_idempotent_many(
    pool: &SqlitePool,
    keys: &[(String, String)],
    since_ms: i64,
) -> Result<HashMap<(String, String), String>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let pairs = serde_json::to_string(keys).map_err(|e| StoreError::Corrupt(format!("idempotency keys: {e}")))?;
    let rows = sqlx::query(
        "SELECT i.tenant_id, i.idempotency_key, i.run_id \
         FROM json_each(?1) k JOIN run_idempotency i \
           ON i.tenant_id = json_extract(k.value, '$[0]') AND i.idempotency_key = json_extract(k.value, '$[1]') \
         WHERE i.created_at > ?2",
    )
    .bind(pairs)
    .bind(since_ms)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| Ok(((row.try_get("tenant_id")?, row.try_get("idempotency_key")?), row.try_get("run_id")?)))
        .collect()
}

/// Every run not in a terminal status, with its commands: two queries in
/// all, however many runs are open (recovery after a crash with thousands
/// of parked runs must not pay a round trip per run).
pub(super) async fn load_open_runs(pool: &SqlitePool) -> Result<Vec<OpenRun>, StoreError> {
    const OPEN: &str = OPEN_RUNS;
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE {OPEN}");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?;
    let mut open = Vec::with_capacity(rows.len());
    let mut index = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let run = rows::run(row)?;
        index.insert(run.id.clone(), open.len());
        open.push(OpenRun { run, commands: Vec::new() });
    }
    let sql = format!(
        "SELECT c.run_id, c.command FROM run_commands c JOIN runs r ON r.id = c.run_id \
         WHERE r.{OPEN} ORDER BY c.run_id, c.seq"
    );
    let mut commands = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(pool);
    while let Some(row) = futures_util::TryStreamExt::try_next(&mut commands).await? {
        let run_id: String = row.try_get("run_id")?;
        if let Some(&i) = index.get(&run_id) {
            open[i].commands.push(row.try_get("command")?);
        }
    }
    Ok(open)
}

/// Every armed timer.
pub(super) async fn list_timers(pool: &SqlitePool) -> Result<Vec<TimerRecord>, StoreError> {
    let rows =
        sqlx::query("SELECT run_id, step_key, tenant_id, due_at FROM timers ORDER BY due_at").fetch_all(pool).await?;
    rows.iter().map(rows::timer).collect()
}
