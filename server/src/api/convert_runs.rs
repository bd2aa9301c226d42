//! Conversions of runs, step runs and run events between the domain
//! records and `weft.v1` messages.
//!
//! Stored values are checked on the way out as well: a value deeper than
//! any the engine keeps now (`MAX_STORED_DEPTH`: written before the limit
//! existed, or put into the database by hand) would make the whole response
//! undecodable
//! for every client, so it is replaced by a string that says so, and
//! logged, instead of failing each read of the run or of any list holding
//! it.

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};
use weft_proto::v1 as pb;

use crate::api::convert::{timestamp, value_to_pb};
use crate::api::error;
use crate::engine::tasks::{StepAttempts, StepWaits};
use crate::model::json_limits::check_stored_depth;
use crate::model::{EventRecord, RunRecord, RunStatus, StepRecord, StepStatus};

/// What a stored value too deep to send becomes, with why.
fn omitted(run_id: &str, field: &str, value: &Value) -> Option<String> {
    let fault = check_stored_depth(value, field).err()?;
    tracing::warn!(run_id, field, error = %fault, "a stored value is too deep to send; answering a marker instead");
    Some(format!("[value omitted: {fault}]"))
}

/// A stored value as `google.protobuf.Value`, or the marker string when it
/// is too deep to send.
pub fn stored_value_to_pb(value: &Value, run_id: &str, field: &str) -> prost_types::Value {
    match omitted(run_id, field, value) {
        Some(marker) => prost_types::Value { kind: Some(Kind::StringValue(marker)) },
        None => value_to_pb(value),
    }
}

/// A stored object as `google.protobuf.Struct`, or `{"omitted": marker}`
/// when it is too deep to send; `None` when it is not an object.
pub fn stored_struct_to_pb(value: &Value, run_id: &str, field: &str) -> Option<prost_types::Struct> {
    match omitted(run_id, field, value) {
        Some(marker) => struct_to_pb(&serde_json::json!({ "omitted": marker })),
        None => struct_to_pb(value),
    }
}

/// A `google.protobuf.Value` as JSON. Whole numbers within f64's exact
/// range become JSON integers, so `3` stays `3`.
pub fn value_from_pb(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Value::Number(Number::from(*n as i64))
            } else {
                Number::from_f64(*n).map(Value::Number).unwrap_or(Value::Null)
            }
        }
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(value_from_pb).collect()),
        Some(Kind::StructValue(s)) => struct_from_pb(s),
    }
}

/// A `google.protobuf.Struct` as a JSON object.
pub fn struct_from_pb(value: &prost_types::Struct) -> Value {
    Value::Object(value.fields.iter().map(|(k, v)| (k.clone(), value_from_pb(v))).collect::<Map<_, _>>())
}

pub fn struct_to_pb(value: &Value) -> Option<prost_types::Struct> {
    match value_to_pb(value).kind {
        Some(Kind::StructValue(s)) => Some(s),
        _ => None,
    }
}

fn money(cents: i64) -> pb::Money {
    pb::Money { amount: cents, currency: "usd".into() }
}

/// A run status as the enum.
pub fn run_status_to_pb(status: RunStatus) -> pb::RunStatus {
    match status {
        RunStatus::Pending => pb::RunStatus::Pending,
        RunStatus::Running => pb::RunStatus::Running,
        RunStatus::Paused => pb::RunStatus::Paused,
        RunStatus::Completed => pb::RunStatus::Completed,
        RunStatus::Failed => pb::RunStatus::Failed,
        RunStatus::Partial => pb::RunStatus::Partial,
        RunStatus::Cancelled => pb::RunStatus::Cancelled,
        RunStatus::Queued => pb::RunStatus::Queued,
    }
}

/// A status filter as the domain status; `None` for UNSPECIFIED.
pub fn run_status_from_pb(status: i32) -> Result<Option<RunStatus>, tonic::Status> {
    match pb::RunStatus::try_from(status) {
        Ok(pb::RunStatus::Unspecified) => Ok(None),
        Ok(pb::RunStatus::Pending) => Ok(Some(RunStatus::Pending)),
        Ok(pb::RunStatus::Running) => Ok(Some(RunStatus::Running)),
        Ok(pb::RunStatus::Paused) => Ok(Some(RunStatus::Paused)),
        Ok(pb::RunStatus::Completed) => Ok(Some(RunStatus::Completed)),
        Ok(pb::RunStatus::Failed) => Ok(Some(RunStatus::Failed)),
        Ok(pb::RunStatus::Partial) => Ok(Some(RunStatus::Partial)),
        Ok(pb::RunStatus::Cancelled) => Ok(Some(RunStatus::Cancelled)),
        Ok(pb::RunStatus::Queued) => Ok(Some(RunStatus::Queued)),
        Err(_) => Err(error::invalid_argument("status", format!("unknown run status {status}"))),
    }
}

fn step_status_to_pb(status: StepStatus) -> pb::StepStatus {
    match status {
        StepStatus::Pending => pb::StepStatus::Pending,
        StepStatus::Ready => pb::StepStatus::Ready,
        StepStatus::Running => pb::StepStatus::Running,
        StepStatus::Paused => pb::StepStatus::Paused,
        StepStatus::Waiting => pb::StepStatus::Waiting,
        StepStatus::Completed => pb::StepStatus::Completed,
        StepStatus::Failed => pb::StepStatus::Failed,
        StepStatus::Skipped => pb::StepStatus::Skipped,
        StepStatus::Cancelled => pb::StepStatus::Cancelled,
    }
}

/// Whole seconds from `start` to `end`, or to `now_ms` while not ended.
fn seconds(start: Option<i64>, end: Option<i64>, now_ms: i64) -> u32 {
    match start {
        Some(start) => ((end.unwrap_or(now_ms) - start).max(0) / 1000) as u32,
        None => 0,
    }
}

/// A step as `weft.v1.StepRun`. Its latest attempt's input and worker come
/// from its task (`attempts`), except for a step that is pending or
/// skipped: one reset by ResumeRun `from_step` keeps its old task row,
/// which no longer says anything about the attempt to come.
fn step_to_pb(step: &StepRecord, waits: &StepWaits, attempts: &StepAttempts, now_ms: i64) -> pb::StepRun {
    let attempt = match step.status {
        StepStatus::Pending | StepStatus::Skipped => None,
        _ => attempts.get(&step.key),
    };
    pb::StepRun {
        id: step.key.clone(),
        r#type: step.kind.as_str().to_string(),
        status: step_status_to_pb(step.status) as i32,
        attempts: step.attempts,
        output: step.output.as_ref().map(|v| stored_value_to_pb(v, &step.run_id, "steps.output")),
        error: step.error.clone().unwrap_or_default(),
        cost: Some(money(step.cost_cents)),
        duration: seconds(step.started_ms, step.completed_ms, now_ms),
        parent_id: step.parent_id.clone().unwrap_or_default(),
        item_index: step.item_index,
        waiting_for: waits.get(&step.key).to_owned(),
        start_time: step.started_ms.map(timestamp),
        complete_time: step.completed_ms.map(timestamp),
        input: attempt.and_then(|a| a.input.as_ref()).and_then(|v| stored_input_to_pb(v, &step.run_id, &step.key)),
        worker_id: attempt.map(|a| a.worker_id.clone()).unwrap_or_default(),
    }
}

/// A task's stored input as `google.protobuf.Value`; unset, with a
/// warning, when it is too deep to send, so the rest of the run still
/// reads.
fn stored_input_to_pb(value: &Value, run_id: &str, step: &str) -> Option<prost_types::Value> {
    match check_stored_depth(value, "tasks.input") {
        Ok(()) => Some(value_to_pb(value)),
        Err(fault) => {
            tracing::warn!(run_id, step, error = %fault, "a task's stored input is too deep to send; answering it unset");
            None
        }
    }
}

/// A paused run's pending action, stored as the JSON the engine wrote.
fn pending_action_to_pb(action: &Value) -> pb::PendingAction {
    let text = |key: &str| action.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    pb::PendingAction {
        step: text("step"),
        r#type: text("type"),
        message: text("message"),
        options: action
            .get("options")
            .and_then(Value::as_array)
            .map(|o| o.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        event: text("event"),
        approval_id: text("approvalId"),
        tool: text("tool"),
        // Written by the engine since #23; older pending actions have none.
        // Kept to RFC 3339's years, so that stored data cannot break a read.
        expire_time: action
            .get("expiresAt")
            .and_then(Value::as_i64)
            .filter(|ms| (0..=MAX_RFC3339_MS).contains(ms))
            .map(timestamp),
    }
}

/// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write.
const MAX_RFC3339_MS: i64 = 253_402_300_799_999;

/// A run (with its steps, when read) as `weft.v1.Run`; `waits` says what
/// waiting steps wait for, `attempts` what their latest attempts ran with.
pub fn run_to_pb(
    run: &RunRecord,
    steps: &[StepRecord],
    waits: &StepWaits,
    attempts: &StepAttempts,
    now_ms: i64,
) -> pb::Run {
    let error = match (run.status, &run.error) {
        (RunStatus::Failed, Some(message)) => Some(pb::RunError {
            // Runs stored before codes were recorded failed at a step.
            code: run.error_code.clone().unwrap_or_else(|| "STEP_FAILED".into()),
            message: message.clone(),
            step_id: run.can_retry_from.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    pb::Run {
        id: run.id.clone(),
        workflow_id: run.workflow_id.clone(),
        workflow_version: run.workflow_version,
        user_id: run.user_id.clone(),
        status: run_status_to_pb(run.status) as i32,
        input: run.input.as_ref().filter(|i| !i.is_null()).map(|v| stored_value_to_pb(v, &run.id, "input")),
        output: run.output.as_ref().map(|v| stored_value_to_pb(v, &run.id, "output")),
        shared_state: run.shared_state.as_ref().and_then(|v| stored_struct_to_pb(v, &run.id, "shared_state")),
        steps: steps.iter().map(|s| step_to_pb(s, waits, attempts, now_ms)).collect(),
        cost: Some(money(run.cost_cents)),
        duration: seconds(run.started_ms, run.completed_ms, now_ms),
        can_retry_from: run.can_retry_from.clone().unwrap_or_default(),
        pending_action: run.pending_action.as_ref().map(pending_action_to_pb),
        error,
        cancel_reason: run.cancel_reason.clone().unwrap_or_default(),
        trigger: run.trigger.clone(),
        idempotency_key: run.idempotency_key.clone(),
        retry_of_run_id: run.retry_of_run_id.clone().unwrap_or_default(),
        current_step: String::new(),
        schedule_id: run.schedule_id.clone().unwrap_or_default(),
        scheduled_time: run.scheduled_ms.map(timestamp),
        create_time: Some(timestamp(run.created_ms)),
        start_time: run.started_ms.map(timestamp),
        complete_time: run.completed_ms.map(timestamp),
    }
}

/// A recorded event as `weft.v1.RunEvent`.
pub fn event_to_pb(event: &EventRecord) -> pb::RunEvent {
    pb::RunEvent {
        run_id: event.run_id.clone(),
        sequence: event.sequence,
        r#type: event.event_type.clone(),
        step_id: event.step_id.clone().unwrap_or_default(),
        status: event.status.clone(),
        output: event.output.as_ref().map(|v| stored_value_to_pb(v, &event.run_id, "event.output")),
        error: event.error.clone().unwrap_or_default(),
        cost: event.cost_cents.map(money),
        total_cost: event.total_cost_cents.map(money),
        can_retry_from: event.can_retry_from.clone().unwrap_or_default(),
        action: event.action.clone().unwrap_or_default(),
        duration_seconds: event.duration_ms.map_or(0, |ms| (ms.max(0) / 1000) as u32),
        data: event.data.as_ref().and_then(|v| stored_struct_to_pb(v, &event.run_id, "event.data")),
        create_time: Some(timestamp(event.created_ms)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pending_actions_deadline_is_read_only_when_rfc_3339_can_write_it() {
        let read = |at: Value| pending_action_to_pb(&json!({"step": "gate", "type": "approval", "expiresAt": at}));
        assert_eq!(read(json!(1_796_698_680_500_i64)).expire_time, Some(timestamp(1_796_698_680_500)));
        for damaged in [json!(-1), json!(i64::MAX), json!("soon"), json!(1.5), Value::Null] {
            assert_eq!(read(damaged.clone()).expire_time, None, "{damaged}");
        }
        let older = pending_action_to_pb(&json!({"step": "pay", "type": "event", "event": "paid"}));
        assert_eq!((older.event.as_str(), older.expire_time), ("paid", None));
    }
}
