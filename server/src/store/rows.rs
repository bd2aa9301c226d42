//! One decoder per stored record, written once for both databases over
//! [`Columns`], the few typed column reads a decoder needs. SQLite's and
//! Postgres's rows each implement it (Postgres's undoing the NUL escape
//! of `postgres/text.rs`), so a column added to a record is read in one
//! place.
//!
//! Statuses are parsed here, once: a value the domain type does not know
//! is [`StoreError::Corrupt`] naming the table, the row and the value.

use serde_json::Value;

use super::StoreError;
use super::tasks::{TaskLease, TaskStatus};
use super::unreadable::json_or_marker;
use crate::model::{ApprovalKind, StepKind};
use crate::model::{
    ApprovalRecord, ApprovalStatus, Definition, RunRecord, RunStatus, StepRecord, StepStatus, TimerRecord, Workflow,
    WorkflowStatus, WorkflowVersionInfo,
};

/// Typed reads of one result row's columns, by name.
pub(crate) trait Columns {
    /// A `TEXT NOT NULL` column, as the caller stored it.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable `TEXT` column, as the caller stored it.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A column holding JSON text, as written (JSON text never holds the
    /// characters Postgres's escape rewrites).
    fn json_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A column holding a JSON array of strings (SQLite keeps it as text,
    /// Postgres as JSONB).
    fn string_list(&self, column: &str) -> Result<Vec<String>, StoreError>;
}

/// Columns of a run row, in the order the writers bind them.
pub(crate) const RUN_COLUMNS: &str = "id, tenant_id, workflow_id, workflow_version, user_id, status, input, output, \
     shared_state, error, cancel_reason, can_retry_from, cost_cents, trigger_label, idempotency_key, \
     created_at, started_at, completed_at, retry_of_run_id, error_code, pending_action, retention_ms, \
     schedule_id, scheduled_at";

/// The runs recovery loads: every status that is not terminal
/// ([`RunStatus::is_live`]).
pub(crate) const OPEN_RUNS: &str = "status IN ('queued', 'pending', 'running', 'paused')";

/// Columns of a workflow (`w`) joined with one of its versions (`v`), as
/// [`workflow`] reads them.
pub(crate) const WORKFLOW_COLUMNS: &str = "w.id, w.status, w.trigger_type, w.tags, w.latest_version, w.created_at, \
     v.version, v.definition, v.change_summary, v.created_at AS version_created_at";

/// Reads `column` of row `id` of `table` through `parse`.
fn parsed<T>(
    row: &impl Columns,
    (table, id): (&str, &str),
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let value = row.text(column)?;
    parse(&value).ok_or_else(|| StoreError::unknown_value(table, id, column, &value))
}

/// The `kind` column of row `id` of `table`: a step type's name.
pub(crate) fn step_kind(row: &impl Columns, at: (&str, &str)) -> Result<StepKind, StoreError> {
    parsed(row, at, "kind", StepKind::from_name)
}

/// A nullable JSON column; a value that cannot be read becomes a marker
/// (see `unreadable.rs`) rather than failing the whole row.
fn json_value(row: &impl Columns, column: &str, id: &str) -> Result<Option<Value>, StoreError> {
    Ok(row.json_text(column)?.map(|text| json_or_marker(&text, column, id)))
}

/// A JSON column that must hold a value of type `T`.
fn json_document<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
    column: &str,
    (table, id): (&str, &str),
) -> Result<T, StoreError> {
    let text = row.json_text(column)?.unwrap_or_default();
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} of {table} '{id}': {e}")))
}

fn count(value: i64) -> u32 {
    value as u32
}

/// A workflow row joined with one version ([`WORKFLOW_COLUMNS`]).
pub(crate) fn workflow(row: &impl Columns) -> Result<Workflow, StoreError> {
    let id = row.text("id")?;
    let at = ("workflow", id.as_str());
    Ok(Workflow {
        status: parsed(row, at, "status", WorkflowStatus::parse)?,
        tags: row.string_list("tags")?,
        definition: json_document::<Definition>(row, "definition", at)?,
        trigger_type: row.text("trigger_type")?,
        latest_version: count(row.int("latest_version")?),
        version: count(row.int("version")?),
        change_summary: row.text("change_summary")?,
        created_at_ms: row.int("created_at")?,
        updated_at_ms: row.int("version_created_at")?,
        id,
    })
}

/// One entry of a workflow's version history.
pub(crate) fn version_info(row: &impl Columns) -> Result<WorkflowVersionInfo, StoreError> {
    Ok(WorkflowVersionInfo {
        version: count(row.int("version")?),
        change_summary: row.text("change_summary")?,
        created_at_ms: row.int("created_at")?,
    })
}

/// A run row ([`RUN_COLUMNS`]).
pub(crate) fn run(row: &impl Columns) -> Result<RunRecord, StoreError> {
    let id = row.text("id")?;
    Ok(RunRecord {
        tenant_id: row.text("tenant_id")?,
        workflow_id: row.text("workflow_id")?,
        workflow_version: count(row.int("workflow_version")?),
        user_id: row.text("user_id")?,
        status: parsed(row, ("run", &id), "status", RunStatus::parse)?,
        input: json_value(row, "input", &id)?,
        output: json_value(row, "output", &id)?,
        shared_state: json_value(row, "shared_state", &id)?,
        error: row.opt_text("error")?,
        error_code: row.opt_text("error_code")?,
        cancel_reason: row.opt_text("cancel_reason")?,
        can_retry_from: row.opt_text("can_retry_from")?,
        pending_action: json_value(row, "pending_action", &id)?,
        cost_cents: row.int("cost_cents")?,
        trigger: row.text("trigger_label")?,
        idempotency_key: row.text("idempotency_key")?,
        retry_of_run_id: row.opt_text("retry_of_run_id")?,
        created_ms: row.int("created_at")?,
        started_ms: row.opt_int("started_at")?,
        completed_ms: row.opt_int("completed_at")?,
        retention_ms: row.opt_int("retention_ms")?,
        schedule_id: row.opt_text("schedule_id")?,
        scheduled_ms: row.opt_int("scheduled_at")?,
        id,
    })
}

/// A `run_steps` row.
pub(crate) fn step(row: &impl Columns) -> Result<StepRecord, StoreError> {
    let run_id = row.text("run_id")?;
    let key = row.text("key")?;
    let at = format!("{run_id}/{key}");
    Ok(StepRecord {
        position: count(row.int("position")?),
        step_id: row.text("step_id")?,
        kind: step_kind(row, ("run step", &at))?,
        parent_id: row.opt_text("parent_id")?,
        item_index: row.opt_int("item_index")?.map(count),
        status: parsed(row, ("run step", &at), "status", StepStatus::parse)?,
        attempts: count(row.int("attempts")?),
        output: json_value(row, "output", &run_id)?,
        error: row.opt_text("error")?,
        cost_cents: row.int("cost_cents")?,
        started_ms: row.opt_int("started_at")?,
        completed_ms: row.opt_int("completed_at")?,
        run_id,
        key,
    })
}

/// A timer row.
pub(crate) fn timer(row: &impl Columns) -> Result<TimerRecord, StoreError> {
    Ok(TimerRecord {
        run_id: row.text("run_id")?,
        step_key: row.text("step_key")?,
        tenant_id: row.text("tenant_id")?,
        due_ms: row.int("due_at")?,
    })
}

/// An approval row with its run's `workflow_id`.
pub(crate) fn approval(row: &impl Columns) -> Result<ApprovalRecord, StoreError> {
    let id = row.text("id")?;
    let at = ("approval", id.as_str());
    Ok(ApprovalRecord {
        tenant_id: row.text("tenant_id")?,
        run_id: row.text("run_id")?,
        workflow_id: row.text("workflow_id")?,
        step_key: row.text("step_key")?,
        kind: parsed(row, at, "kind", ApprovalKind::parse)?,
        action: row.text("action")?,
        tool: row.text("tool")?,
        arguments: json_document(row, "arguments", at)?,
        message: row.text("message")?,
        options: json_document(row, "options", at)?,
        status: parsed(row, at, "status", ApprovalStatus::parse)?,
        decision: row.text("decision")?,
        option: row.text("option")?,
        decided_by: row.text("decided_by")?,
        comment: row.text("comment")?,
        default_action: row.text("default_action")?,
        expires_ms: row.opt_int("expires_at")?,
        created_ms: row.int("created_at")?,
        decided_ms: row.opt_int("decided_at")?,
        id,
    })
}

/// What [`lease`] reads: a task with its step's and run's state.
pub(crate) const LEASE_SELECT: &str = "SELECT t.task_id, t.run_id, t.step_key, t.kind, t.attempt, t.status, \
     t.lease_token, t.lease_deadline, t.lease_owner, t.attempt_deadline, t.timeout_ms, t.timed_out_token, \
     s.status AS step_status, s.cost_cents AS step_cost, r.workflow_id, r.workflow_version, \
     r.status AS run_status, r.pending_action \
     FROM tasks t LEFT JOIN run_steps s ON s.run_id = t.run_id AND s.key = t.step_key \
     LEFT JOIN runs r ON r.id = t.run_id";

/// A task's lease state ([`LEASE_SELECT`]).
pub(crate) fn lease(row: &impl Columns) -> Result<TaskLease, StoreError> {
    let task_id = row.text("task_id")?;
    let at = ("task", task_id.as_str());
    let step_status = match row.opt_text("step_status")? {
        Some(status) => Some(
            StepStatus::parse(&status)
                .ok_or_else(|| StoreError::unknown_value("task step", &task_id, "status", &status))?,
        ),
        None => None,
    };
    Ok(TaskLease {
        status: parsed(row, at, "status", TaskStatus::parse)?,
        run_id: row.text("run_id")?,
        step_key: row.text("step_key")?,
        kind: step_kind(row, at)?,
        attempt: count(row.int("attempt")?),
        lease_token: row.int("lease_token")? as u64,
        lease_deadline_ms: row.opt_int("lease_deadline")?,
        lease_owner: row.opt_text("lease_owner")?,
        attempt_deadline_ms: row.opt_int("attempt_deadline")?,
        timeout_ms: row.opt_int("timeout_ms")?,
        timed_out_token: row.opt_int("timed_out_token")?.map(|t| t as u64),
        workflow_id: row.opt_text("workflow_id")?.unwrap_or_default(),
        workflow_version: count(row.opt_int("workflow_version")?.unwrap_or_default()),
        step_status,
        step_cost_cents: row.opt_int("step_cost")?.unwrap_or_default(),
        run_held: run_held(row)?,
        task_id,
    })
}

/// Whether the task's run is held by PauseRun: paused, waiting for a
/// "manual" resume. Read in Rust, not with JSON functions in SQL:
/// Postgres's refuse a document holding `\u0000` anywhere in it.
fn run_held(row: &impl Columns) -> Result<bool, StoreError> {
    if row.opt_text("run_status")?.as_deref() != Some(RunStatus::Paused.as_str()) {
        return Ok(false);
    }
    let Some(pending) = row.json_text("pending_action")? else { return Ok(false) };
    let pending: Value =
        serde_json::from_str(&pending).map_err(|e| StoreError::Corrupt(format!("pending action: {e}")))?;
    Ok(pending.get("type").and_then(Value::as_str) == Some("manual"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_runs_filter_names_every_live_status() {
        let live: Vec<_> = RunStatus::ALL.into_iter().filter(|s| s.is_live()).map(|s| format!("'{s}'")).collect();
        assert_eq!(OPEN_RUNS, format!("status IN ({})", live.join(", ")));
    }
}
