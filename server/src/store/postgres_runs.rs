//! The Postgres side of runs: the run writer's group commit (one
//! transaction, one `UNNEST` statement per table whatever the batch size, so
//! a commit costs a dozen round trips, not one per row) and the reads of
//! runs, steps and events.
//!
//! Column-wise arrays rather than multi-row `VALUES`: the statement text is
//! the same for every batch, so it is prepared once per connection, and no
//! batch can reach Postgres's 65,535 bound-parameter limit.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::postgres_text::{nul_safe, nul_safe_opt};
use super::rows::Columns;
use super::rows::{self, OPEN_RUNS, RUN_COLUMNS};
use super::runs::{CommandRow, IdempotencyRow, OpenRun, RunBatch, RunPage, RunQuery};
use super::unreadable::listed;
use super::{LeasedTask, StoreError};
use crate::model::{EventRecord, RunRecord, RunStatus, StepRecord, TimerRecord};

fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(|v| v.to_string())
}

/// Collects one column of `rows` as the array an `UNNEST` parameter takes.
pub(super) fn column<'a, T, U>(rows: &'a [T], get: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(get).collect()
}

/// Splits (run id, step key) pairs into the two arrays a keyed statement takes.
pub(super) fn key_columns(keys: &[(String, String)]) -> (Vec<Cow<'_, str>>, Vec<Cow<'_, str>>) {
    keys.iter().map(|(run, key)| (nul_safe(run), nul_safe(key))).unzip()
}

async fn write_runs(tx: &mut PgConnection, runs: &[RunRecord]) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO runs ({RUN_COLUMNS}) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], \
             $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::text[], $20::text[], \
             $21::text[], $22::bigint[]) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, output = excluded.output, \
           pending_action = excluded.pending_action, \
           shared_state = excluded.shared_state, error = excluded.error, error_code = excluded.error_code, \
           cancel_reason = excluded.cancel_reason, \
           can_retry_from = excluded.can_retry_from, cost_cents = excluded.cost_cents, \
           started_at = excluded.started_at, completed_at = excluded.completed_at"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(column(runs, |r| nul_safe(r.id.as_str())))
        .bind(column(runs, |r| nul_safe(r.tenant_id.as_str())))
        .bind(column(runs, |r| nul_safe(r.workflow_id.as_str())))
        .bind(column(runs, |r| i64::from(r.workflow_version)))
        .bind(column(runs, |r| nul_safe(r.user_id.as_str())))
        .bind(column(runs, |r| r.status.as_str()))
        .bind(column(runs, |r| json_text(&r.input)))
        .bind(column(runs, |r| json_text(&r.output)))
        .bind(column(runs, |r| json_text(&r.shared_state)))
        .bind(column(runs, |r| nul_safe_opt(r.error.as_deref())))
        .bind(column(runs, |r| nul_safe_opt(r.cancel_reason.as_deref())))
        .bind(column(runs, |r| nul_safe_opt(r.can_retry_from.as_deref())))
        .bind(column(runs, |r| r.cost_cents))
        .bind(column(runs, |r| nul_safe(r.trigger.as_str())))
        .bind(column(runs, |r| nul_safe(r.idempotency_key.as_str())))
        .bind(column(runs, |r| r.created_ms))
        .bind(column(runs, |r| r.started_ms))
        .bind(column(runs, |r| r.completed_ms))
        .bind(column(runs, |r| nul_safe_opt(r.retry_of_run_id.as_deref())))
        .bind(column(runs, |r| nul_safe_opt(r.error_code.as_deref())))
        .bind(column(runs, |r| json_text(&r.pending_action)))
        .bind(column(runs, |r| r.retention_ms))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn write_steps(tx: &mut PgConnection, steps: &[StepRecord]) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO run_steps (run_id, key, position, step_id, kind, parent_id, item_index, status, attempts, \
           output, error, cost_cents, started_at, completed_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
             $7::bigint[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], \
             $14::bigint[]) \
         ON CONFLICT (run_id, key) DO UPDATE SET position = excluded.position, status = excluded.status, \
           attempts = excluded.attempts, output = excluded.output, error = excluded.error, \
           cost_cents = excluded.cost_cents, started_at = excluded.started_at, completed_at = excluded.completed_at",
    )
    .bind(column(steps, |s| nul_safe(s.run_id.as_str())))
    .bind(column(steps, |s| nul_safe(s.key.as_str())))
    .bind(column(steps, |s| i64::from(s.position)))
    .bind(column(steps, |s| nul_safe(s.step_id.as_str())))
    .bind(column(steps, |s| nul_safe(s.kind.as_str())))
    .bind(column(steps, |s| nul_safe_opt(s.parent_id.as_deref())))
    .bind(column(steps, |s| s.item_index.map(i64::from)))
    .bind(column(steps, |s| s.status.as_str()))
    .bind(column(steps, |s| i64::from(s.attempts)))
    .bind(column(steps, |s| json_text(&s.output)))
    .bind(column(steps, |s| nul_safe_opt(s.error.as_deref())))
    .bind(column(steps, |s| s.cost_cents))
    .bind(column(steps, |s| s.started_ms))
    .bind(column(steps, |s| s.completed_ms))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_events(tx: &mut PgConnection, events: &[EventRecord]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO run_events (run_id, sequence, type, payload, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])",
    )
    .bind(column(events, |e| nul_safe(e.run_id.as_str())))
    .bind(column(events, |e| e.sequence as i64))
    .bind(column(events, |e| nul_safe(e.event_type.as_str())))
    .bind(column(events, |e| serde_json::to_string(e).expect("events always serialize")))
    .bind(column(events, |e| e.created_ms))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_commands(tx: &mut PgConnection, commands: &[CommandRow]) -> Result<(), StoreError> {
    if commands.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO run_commands (run_id, seq, command) SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])",
    )
    .bind(column(commands, |c| nul_safe(c.run_id.as_str())))
    .bind(column(commands, |c| i64::from(c.position)))
    .bind(column(commands, |c| nul_safe(c.command.as_str())))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_timers(
    tx: &mut PgConnection,
    done: &[(String, String)],
    armed: &[TimerRecord],
) -> Result<(), StoreError> {
    if !done.is_empty() {
        let (runs, keys) = key_columns(done);
        sqlx::query("DELETE FROM timers WHERE (run_id, step_key) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))")
            .bind(runs)
            .bind(keys)
            .execute(&mut *tx)
            .await?;
    }
    if !armed.is_empty() {
        sqlx::query(
            "INSERT INTO timers (run_id, step_key, tenant_id, due_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
             ON CONFLICT (run_id, step_key) DO UPDATE SET due_at = excluded.due_at",
        )
        .bind(column(armed, |t| nul_safe(t.run_id.as_str())))
        .bind(column(armed, |t| nul_safe(t.step_key.as_str())))
        .bind(column(armed, |t| nul_safe(t.tenant_id.as_str())))
        .bind(column(armed, |t| t.due_ms))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn write_idempotency(tx: &mut PgConnection, keys: &[IdempotencyRow]) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    // An expired key (older than its TTL) is taken over by the new run.
    sqlx::query(
        "INSERT INTO run_idempotency (tenant_id, idempotency_key, run_id, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
         ON CONFLICT (tenant_id, idempotency_key) DO UPDATE SET run_id = excluded.run_id, \
           created_at = excluded.created_at",
    )
    .bind(column(keys, |i| nul_safe(i.tenant_id.as_str())))
    .bind(column(keys, |i| nul_safe(i.key.as_str())))
    .bind(column(keys, |i| nul_safe(i.run_id.as_str())))
    .bind(column(keys, |i| i.created_ms))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes one group commit atomically, then makes its claims in the same
/// transaction.
pub(super) async fn commit(pool: &PgPool, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
    super::postgres_cluster::outlived_lease(write_batch(pool, batch).await, batch.fence.as_ref())
}

async fn write_batch(pool: &PgPool, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
    let mut tx = pool.begin().await?;
    if let Some(fence) = &batch.fence {
        super::postgres_cluster::check_fence(&mut tx, fence).await?;
    }
    write_runs(&mut tx, &batch.runs).await?;
    write_steps(&mut tx, &batch.steps).await?;
    write_events(&mut tx, &batch.events).await?;
    write_commands(&mut tx, &batch.commands).await?;
    write_timers(&mut tx, &batch.timers_done, &batch.timers).await?;
    super::postgres_tasks::write(&mut tx, batch).await?;
    super::postgres_approvals::write(&mut tx, batch).await?;
    write_idempotency(&mut tx, &batch.idempotency).await?;
    super::postgres_tasks::release(&mut tx, &batch.releases).await?;
    let mut claimed = Vec::with_capacity(batch.claims.len());
    for claim in &batch.claims {
        claimed.push(super::postgres_tasks::claim(&mut tx, &claim.as_claim()).await?);
    }
    super::postgres_cluster::answer_in_commit(&mut tx, &batch.inbox_done).await?;
    if batch.notify {
        super::postgres_cluster::notify_in_commit(&mut tx, batch).await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

/// A run and its steps in list order.
pub(super) async fn get_run(pool: &PgPool, tenant: &str, id: &str) -> Result<(RunRecord, Vec<StepRecord>), StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 AND id = $2");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(nul_safe(tenant)).bind(nul_safe(id)).fetch_optional(pool).await?;
    let run = match row {
        Some(row) => rows::run(&row)?,
        None => return Err(StoreError::run_not_found(id)),
    };
    let rows = sqlx::query("SELECT * FROM run_steps WHERE run_id = $1 ORDER BY position, key")
        .bind(nul_safe(id))
        .fetch_all(pool)
        .await?;
    let steps = rows.iter().map(rows::step).collect::<Result<Vec<_>, _>>()?;
    Ok((run, steps))
}

/// A page of runs, newest first.
pub(super) async fn list_runs(pool: &PgPool, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError> {
    const FILTER: &str = "tenant_id = $1 AND ($2::text IS NULL OR workflow_id = $2) \
         AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR user_id = $4)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM runs WHERE {FILTER}")))
        .bind(nul_safe(tenant))
        .bind(nul_safe_opt(query.workflow_id.as_deref()))
        .bind(query.status.map(RunStatus::as_str))
        .bind(nul_safe_opt(query.user_id.as_deref()))
        .fetch_one(pool)
        .await?;
    let (after_ms, after_id) = match &query.after {
        Some((ms, id)) => (Some(*ms), Some(id.as_str())),
        None => (None, None),
    };
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE {FILTER} \
           AND ($5::bigint IS NULL OR created_at < $5 OR (created_at = $5 AND id < $6)) \
         ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
    );
    // One row more than asked tells whether another page follows.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(nul_safe(tenant))
        .bind(nul_safe_opt(query.workflow_id.as_deref()))
        .bind(query.status.map(RunStatus::as_str))
        .bind(nul_safe_opt(query.user_id.as_deref()))
        .bind(after_ms)
        .bind(nul_safe_opt(after_id))
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
    pool: &PgPool,
    tenant: &str,
    run_id: &str,
    after: u64,
    limit: u32,
) -> Result<Vec<EventRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.payload FROM run_events e JOIN runs r ON r.id = e.run_id AND r.tenant_id = $1 \
         WHERE e.run_id = $2 AND e.sequence > $3 ORDER BY e.sequence LIMIT $4",
    )
    .bind(nul_safe(tenant))
    .bind(nul_safe(run_id))
    .bind(after as i64)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let read = |row: &PgRow| -> Result<EventRecord, StoreError> {
        let payload: String = row.try_get("payload")?;
        serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("event of {run_id}: {e}")))
    };
    Ok(rows.iter().filter_map(|row| listed("event of run", run_id, read(row))).collect())
}

/// Deletes a run and everything recorded about it.
pub(super) async fn delete_run(pool: &PgPool, tenant: &str, id: &str) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let deleted = sqlx::query("DELETE FROM runs WHERE tenant_id = $1 AND id = $2")
        .bind(nul_safe(tenant))
        .bind(nul_safe(id))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::run_not_found(id));
    }
    for table in ["run_steps", "run_events", "run_commands", "timers", "tasks", "run_idempotency", "approvals"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE run_id = $1")))
            .bind(nul_safe(id))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The run an idempotency key named since `since_ms`, if any.
pub(super) async fn find_idempotent(
    pool: &PgPool,
    tenant: &str,
    key: &str,
    since_ms: i64,
) -> Result<Option<String>, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT run_id FROM run_idempotency WHERE tenant_id = $1 AND idempotency_key = $2 AND created_at > $3",
    )
    .bind(nul_safe(tenant))
    .bind(nul_safe(key))
    .bind(since_ms)
    .fetch_optional(pool)
    .await?;
    Ok(found.map(super::postgres_text::restore))
}

/// The runs the idempotency keys `keys` named since `since_ms`, in one
/// query over two arrays.
pub(super) async fn find_idempotent_many(
    pool: &PgPool,
    keys: &[(String, String)],
    since_ms: i64,
) -> Result<HashMap<(String, String), String>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (tenants, names) = key_columns(keys);
    let rows = sqlx::query(
        "SELECT i.tenant_id, i.idempotency_key, i.run_id \
         FROM UNNEST($1::text[], $2::text[]) AS k(tenant_id, idempotency_key) JOIN run_idempotency i \
           ON i.tenant_id = k.tenant_id AND i.idempotency_key = k.idempotency_key \
         WHERE i.created_at > $3",
    )
    .bind(tenants)
    .bind(names)
    .bind(since_ms)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|row| Ok(((row.text("tenant_id")?, row.text("idempotency_key")?), row.text("run_id")?))).collect()
}

/// Every run not in a terminal status (of `partitions`, when given), with
/// its commands: two queries in all, however many runs are open.
pub(super) async fn load_open_runs(pool: &PgPool, partitions: Option<&[u16]>) -> Result<Vec<OpenRun>, StoreError> {
    use super::postgres_tasks::{in_partitions, partition_ids};
    const OPEN: &str = OPEN_RUNS;
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE {OPEN} {}", in_partitions("id", partitions, 1));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(partitions) = partitions {
        query = query.bind(partition_ids(partitions));
    }
    let rows = query.fetch_all(pool).await?;
    let mut open = Vec::with_capacity(rows.len());
    let mut index = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let run = rows::run(row)?;
        index.insert(run.id.clone(), open.len());
        open.push(OpenRun { run, commands: Vec::new() });
    }
    let sql = format!(
        "SELECT c.run_id, c.command FROM run_commands c JOIN runs r ON r.id = c.run_id \
         WHERE r.{OPEN} {} ORDER BY c.run_id, c.seq",
        in_partitions("r.id", partitions, 1)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(partitions) = partitions {
        query = query.bind(partition_ids(partitions));
    }
    let mut commands = query.fetch(pool);
    while let Some(row) = futures_util::TryStreamExt::try_next(&mut commands).await? {
        let run_id: String = row.text("run_id")?;
        if let Some(&i) = index.get(&run_id) {
            open[i].commands.push(row.text("command")?);
        }
    }
    Ok(open)
}

/// Every armed timer (of runs of `partitions`, when given).
pub(super) async fn list_timers(pool: &PgPool, partitions: Option<&[u16]>) -> Result<Vec<TimerRecord>, StoreError> {
    use super::postgres_tasks::{in_partitions, partition_ids};
    let sql = format!(
        "SELECT run_id, step_key, tenant_id, due_at FROM timers WHERE true {} ORDER BY due_at",
        in_partitions("run_id", partitions, 1)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(partitions) = partitions {
        query = query.bind(partition_ids(partitions));
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(rows::timer).collect()
}
