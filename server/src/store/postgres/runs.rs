//! How the run writer's group commit (`commit.rs`) writes the run tables
//! on Postgres: one `UNNEST` statement per table whatever the batch size, so
//! a commit costs a dozen round trips, not one per row.
//!
//! Column-wise arrays rather than multi-row `VALUES`: the statement text is
//! the same for every batch, so it is prepared once per connection, and no
//! batch can reach Postgres's 65,535 bound-parameter limit.

use serde_json::Value;
use sqlx::PgConnection;

use super::sql::{column, key_columns};
use super::text::{nul_safe, nul_safe_opt};
use crate::model::{EventRecord, RunRecord, StepRecord, TimerRecord};
use crate::store::rows::RUN_COLUMNS;
use crate::store::runs::{CommandRow, IdempotencyRow};
use crate::store::{RunTrace, StoreError};

fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(|v| v.to_string())
}

pub(super) async fn write_runs(tx: &mut PgConnection, runs: &[RunRecord]) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO runs ({RUN_COLUMNS}) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], \
             $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::text[], $20::text[], \
             $21::text[], $22::bigint[], $23::text[], $24::bigint[]) \
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
        .bind(column(runs, |r| nul_safe_opt(r.schedule_id.as_deref())))
        .bind(column(runs, |r| r.scheduled_ms))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Puts the trace context of each run the batch creates on its row (the
/// run upsert never touches these columns, so it is written once).
pub(super) async fn write_run_traces(tx: &mut PgConnection, traces: &[RunTrace]) -> Result<(), StoreError> {
    if traces.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE runs r SET trace_parent = t.parent, trace_state = t.state \
         FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(id, parent, state) WHERE r.id = t.id",
    )
    .bind(column(traces, |t| nul_safe(t.run_id.as_str())))
    .bind(column(traces, |t| nul_safe(t.context.traceparent.as_str())))
    .bind(column(traces, |t| nul_safe_opt(t.context.tracestate.as_deref())))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(super) async fn write_steps(tx: &mut PgConnection, steps: &[StepRecord]) -> Result<(), StoreError> {
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

pub(super) async fn write_events(tx: &mut PgConnection, events: &[EventRecord]) -> Result<(), StoreError> {
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

pub(super) async fn write_commands(tx: &mut PgConnection, commands: &[CommandRow]) -> Result<(), StoreError> {
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

pub(super) async fn write_timers(
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

pub(super) async fn write_idempotency(tx: &mut PgConnection, keys: &[IdempotencyRow]) -> Result<(), StoreError> {
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
