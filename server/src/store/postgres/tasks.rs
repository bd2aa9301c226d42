//! The Postgres side of the task queue inside the run writer's group
//! commit: the task rows (queued, done, cancelled), leases handed back, and
//! claims. Lease reads and heartbeats are the shared `store/tasks.rs`.
//!
//! Every change to a lease is conditional on its token, as on SQLite. The
//! claim skips rows another transaction holds (`FOR UPDATE SKIP LOCKED`), so
//! it never waits on, or double-claims, a task being claimed elsewhere.

use serde_json::Value;
use sqlx::{PgConnection, Row};

use super::sql::{column, key_columns};
use super::text::{nul_safe, nul_safe_opt};
use crate::store::StoreError;
use crate::store::rows::Columns;
use crate::store::runs::RunBatch;
use crate::store::tasks::{ClaimScope, LeasedTask, TaskClaim, TaskStatus};

/// Sets `status` on the tasks keyed (run id, step key); the lease is over.
async fn set_status(tx: &mut PgConnection, status: TaskStatus, keys: &[(String, String)]) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let (runs, steps) = key_columns(keys);
    sqlx::query(
        "UPDATE tasks SET status = $1, lease_owner = NULL, lease_deadline = NULL \
         FROM UNNEST($2::text[], $3::text[]) AS k(run_id, step_key) \
         WHERE tasks.run_id = k.run_id AND tasks.step_key = k.step_key",
    )
    .bind(status.as_str())
    .bind(runs)
    .bind(steps)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Keeps the token of the lease the step's timeout ended, before the
/// lease itself ends, so its late calls are told why.
async fn mark_timed_out(tx: &mut PgConnection, keys: &[(String, String)]) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let (runs, steps) = key_columns(keys);
    sqlx::query(
        "UPDATE tasks SET timed_out_token = lease_token FROM UNNEST($1::text[], $2::text[]) AS k(run_id, step_key) \
         WHERE tasks.run_id = k.run_id AND tasks.step_key = k.step_key AND tasks.status = 'leased'",
    )
    .bind(runs)
    .bind(steps)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes the task rows of one group commit, inside its transaction. A
/// task queued again (the next attempt) keeps its id and its last token, so
/// its next lease gets a higher one.
pub(super) async fn write(tx: &mut PgConnection, batch: &RunBatch) -> Result<(), StoreError> {
    mark_timed_out(tx, &batch.tasks_timed_out).await?;
    set_status(tx, TaskStatus::Done, &batch.tasks_done).await?;
    set_status(tx, TaskStatus::Cancelled, &batch.tasks_cancelled).await?;
    let tasks = &batch.tasks;
    if tasks.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tasks (task_id, run_id, step_key, tenant_id, attempt, kind, agent, task, input, created_at, \
             timeout_ms) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[]) \
         ON CONFLICT (run_id, step_key) DO UPDATE SET attempt = excluded.attempt, task = excluded.task, \
           input = excluded.input, created_at = excluded.created_at, status = 'queued', lease_owner = NULL, \
           lease_deadline = NULL, cost_so_far = 0, timeout_ms = excluded.timeout_ms, attempt_deadline = NULL, \
           claimed_by = NULL",
    )
    .bind(column(tasks, |t| nul_safe(t.task_id.as_str())))
    .bind(column(tasks, |t| nul_safe(t.run_id.as_str())))
    .bind(column(tasks, |t| nul_safe(t.step_key.as_str())))
    .bind(column(tasks, |t| nul_safe(t.tenant_id.as_str())))
    .bind(column(tasks, |t| i64::from(t.attempt)))
    .bind(column(tasks, |t| nul_safe(t.kind.as_str())))
    .bind(column(tasks, |t| nul_safe_opt(t.agent.as_deref())))
    .bind(column(tasks, |t| nul_safe_opt(t.task.as_deref())))
    .bind(column(tasks, |t| t.input.to_string()))
    .bind(column(tasks, |t| t.created_ms))
    .bind(column(tasks, |t| t.timeout_ms))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Claims the oldest queued task of the claim's agents and kinds, if any,
/// inside the writer's transaction `tx`: one round trip, the run's columns
/// joined in.
pub(super) async fn claim(tx: &mut PgConnection, claim: &TaskClaim<'_>) -> Result<Option<LeasedTask>, StoreError> {
    // A tenant's claim stays in its tenant; the built-in executor's takes
    // any tenant's task and acts in the task's own ($1 is NULL then).
    let in_tenant = match claim.scope {
        ClaimScope::Tenant(_) => "AND tenant_id = $1",
        ClaimScope::AnyTenant => "AND $1::text IS NULL",
    };
    let sql = format!(
        "WITH picked AS ( \
             SELECT run_id, step_key FROM tasks \
             WHERE status = 'queued' {in_tenant} AND agent = ANY($2::text[]) AND kind = ANY($3::text[]) \
             ORDER BY created_at, task_id LIMIT 1 FOR UPDATE SKIP LOCKED), \
         leased AS ( \
             UPDATE tasks t SET status = 'leased', lease_token = t.lease_token + 1, lease_owner = $4, \
                 claimed_by = $4, attempt_deadline = $6 + t.timeout_ms, lease_deadline = LEAST($5, $6 + t.timeout_ms), \
                 cost_so_far = 0 \
             FROM picked WHERE t.run_id = picked.run_id AND t.step_key = picked.step_key \
             RETURNING t.task_id, t.tenant_id, t.run_id, t.step_key, t.attempt, t.kind, t.agent, t.task, \
                 t.input, t.lease_token, t.lease_deadline, t.attempt_deadline, t.created_at) \
         SELECT l.*, r.id AS found_run, r.workflow_id, r.workflow_version, r.user_id, r.started_at, \
             r.trace_parent, r.trace_state \
         FROM leased l LEFT JOIN runs r ON r.id = l.run_id"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(claim.scope.tenant().map(nul_safe))
        .bind(claim.agents.iter().map(|a| nul_safe(a)).collect::<Vec<_>>())
        .bind(claim.kinds)
        .bind(nul_safe(claim.worker_id))
        .bind(claim.now_ms.saturating_add(claim.lease_ms))
        .bind(claim.now_ms)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    // SQLite reads the run with fetch_one; a task without its run is the
    // same error here.
    if row.try_get::<Option<String>, _>("found_run")?.is_none() {
        return Err(sqlx::Error::RowNotFound.into());
    }
    let input: String = row.try_get("input")?;
    let task_id = row.text("task_id")?;
    Ok(Some(LeasedTask {
        input: serde_json::from_str::<Value>(&input)
            .map_err(|e| StoreError::Corrupt(format!("input of task {task_id}: {e}")))?,
        tenant_id: row.text("tenant_id")?,
        run_id: row.text("run_id")?,
        step_key: row.text("step_key")?,
        workflow_id: row.text("workflow_id")?,
        workflow_version: row.try_get::<i64, _>("workflow_version")? as u32,
        user_id: row.text("user_id")?,
        run_started_ms: row.try_get("started_at")?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        kind: super::super::rows::step_kind(&row, ("task", &task_id))?,
        agent: row.opt_text("agent")?.unwrap_or_default(),
        task: row.opt_text("task")?,
        lease_token: row.try_get::<i64, _>("lease_token")? as u64,
        lease_deadline_ms: row.try_get("lease_deadline")?,
        attempt_deadline_ms: row.try_get("attempt_deadline")?,
        queued_ms: row.try_get("created_at")?,
        task_id,
        shared_state: None,
        trace_context: crate::store::TraceContext::from_columns(
            row.opt_text("trace_parent")?,
            row.opt_text("trace_state")?,
        ),
    }))
}

/// Hands leases back to the queue, as if never claimed (same attempt; the
/// token stays spent, so it can never complete), when the poll they were
/// made for left before hearing of them. One statement for all of them.
pub(super) async fn release(tx: &mut PgConnection, leases: &[(String, u64)]) -> Result<(), StoreError> {
    if leases.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE tasks SET status = 'queued', lease_owner = NULL, lease_deadline = NULL, claimed_by = NULL \
         FROM UNNEST($1::text[], $2::bigint[]) AS l(task_id, token) \
         WHERE tasks.task_id = l.task_id AND tasks.lease_token = l.token AND tasks.status = 'leased'",
    )
    .bind(column(leases, |l| nul_safe(l.0.as_str())))
    .bind(column(leases, |l| l.1 as i64))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
