//! Conversions of the worker surface: claimed tasks and registered workers
//! to their messages, and the request values workers send (money, outputs
//! that JSON cannot hold) to domain values.

use prost_types::value::Kind;
use serde_json::Value;
use tonic::Status;
use weft_proto::v1 as pb;

use crate::api::convert::timestamp;
use crate::api::convert_runs::{struct_to_pb, value_from_pb};
use crate::api::descriptors::json_to_message;
use crate::api::error;
use crate::engine::tasks::{PolledTask, TaskOutput, ToolAnswer};
use crate::engine::workers::{AgentCostHint, WorkerEntry};
use crate::model::definition::{Money, Policy};
use crate::store::TraceContext;

/// The only currency costs are kept in.
const CURRENCY: &str = "usd";

/// Cents of a Money a worker sent: unset is zero; negative amounts and
/// other currencies are INVALID_ARGUMENT.
pub fn cents(money: Option<&pb::Money>, field: &str) -> Result<i64, Status> {
    let Some(money) = money else { return Ok(0) };
    if money.amount < 0 {
        return Err(error::invalid_argument(field, "must not be negative"));
    }
    if !money.currency.is_empty() && !money.currency.eq_ignore_ascii_case(CURRENCY) {
        return Err(error::invalid_argument(
            field,
            format!("currency must be \"{CURRENCY}\", got \"{}\"", money.currency),
        ));
    }
    Ok(money.amount)
}

fn money_to_pb(money: &Money) -> pb::Money {
    let currency = if money.currency.is_empty() { CURRENCY.to_string() } else { money.currency.clone() };
    pb::Money { amount: money.amount, currency }
}

/// A cost hint as registered; the amounts are checked by the caller.
pub fn cost_hint_from_pb(hint: &pb::AgentCostHint) -> AgentCostHint {
    let money = |m: Option<&pb::Money>| Money {
        amount: m.map_or(0, |m| m.amount),
        currency: m.map(|m| m.currency.to_ascii_lowercase()).unwrap_or_default(),
    };
    AgentCostHint { agent: hint.agent.clone(), min: money(hint.min_cost.as_ref()), max: money(hint.max_cost.as_ref()) }
}

/// The path of the first number JSON cannot hold (NaN, ±infinity) in a
/// `Value`, e.g. `output.scores[2]`.
fn non_finite(value: &prost_types::Value, path: &str) -> Option<String> {
    match &value.kind {
        Some(Kind::NumberValue(n)) if !n.is_finite() => Some(format!("{n} at {path}")),
        Some(Kind::ListValue(list)) => {
            list.values.iter().enumerate().find_map(|(i, v)| non_finite(v, &format!("{path}[{i}]")))
        }
        Some(Kind::StructValue(s)) => s.fields.iter().find_map(|(k, v)| non_finite(v, &format!("{path}.{k}"))),
        _ => None,
    }
}

/// A worker's output: unset is null; a number JSON cannot hold makes it
/// not JSON.
pub fn output_from_pb(output: Option<&prost_types::Value>) -> TaskOutput {
    match output {
        None => TaskOutput::Json(Value::Null),
        Some(value) => match non_finite(value, "output") {
            Some(where_) => TaskOutput::NotJson(where_),
            None => TaskOutput::Json(value_from_pb(value)),
        },
    }
}

/// CompleteTask's `state_writes` as a JSON object; a number JSON cannot
/// hold is InvalidArgument naming where it is.
pub fn state_writes_from_pb(writes: &prost_types::Struct) -> Result<serde_json::Map<String, Value>, Status> {
    let value = prost_types::Value { kind: Some(Kind::StructValue(writes.clone())) };
    if let Some(where_) = non_finite(&value, "state_writes") {
        return Err(error::invalid_argument("state_writes", format!("holds a number JSON cannot: {where_}")));
    }
    Ok(writes.fields.iter().map(|(key, value)| (key.clone(), value_from_pb(value))).collect())
}

fn policy_to_pb(policy: &Policy) -> Option<pb::WorkflowPolicy> {
    let json = serde_json::to_value(policy).ok()?;
    match json_to_message("weft.v1.WorkflowPolicy", json) {
        Ok(message) => Some(message),
        Err(err) => {
            tracing::error!(error = %err, "a stored policy does not map onto weft.v1.WorkflowPolicy");
            None
        }
    }
}

/// A claimed task as handed to its worker.
pub fn task_to_pb(polled: &PolledTask) -> pb::Task {
    let task = &polled.leased;
    pb::Task {
        task_id: task.task_id.clone(),
        run_id: task.run_id.clone(),
        workflow_id: task.workflow_id.clone(),
        step_id: task.step_key.clone(),
        agent: task.agent.clone(),
        kind: task.kind.as_str().to_string(),
        task: task.task.clone().unwrap_or_default(),
        input: struct_to_pb(&task.input),
        state: task.shared_state.as_ref().and_then(struct_to_pb),
        attempt: task.attempt,
        deadline: polled.deadline_ms.map(timestamp),
        lease_token: task.lease_token,
        lease_expire_time: Some(timestamp(task.lease_deadline_ms)),
        policy: polled.policy.as_ref().and_then(policy_to_pb),
        language: String::new(),
        script: String::new(),
        user_id: task.user_id.clone(),
        trace_context: trace_context_to_pb(task.trace_context.as_ref()),
    }
}

/// The run's trace context as the W3C header names map it; empty when
/// the run was started outside a trace.
fn trace_context_to_pb(context: Option<&TraceContext>) -> std::collections::HashMap<String, String> {
    let Some(context) = context else { return Default::default() };
    let mut map = std::collections::HashMap::with_capacity(2);
    map.insert("traceparent".to_owned(), context.traceparent.clone());
    if let Some(state) = &context.tracestate {
        map.insert("tracestate".to_owned(), state.clone());
    }
    map
}

/// A registered worker as listed, with its live lease count.
pub fn worker_to_pb(entry: &WorkerEntry, in_flight: u32) -> pb::WorkerInfo {
    let registration = &entry.registration;
    pb::WorkerInfo {
        worker_id: registration.worker_id.clone(),
        name: registration.name.clone(),
        agents: registration.agents.clone(),
        concurrency: registration.concurrency,
        in_flight,
        cost_hints: registration
            .cost_hints
            .iter()
            .map(|hint| pb::AgentCostHint {
                agent: hint.agent.clone(),
                min_cost: Some(money_to_pb(&hint.min)),
                max_cost: Some(money_to_pb(&hint.max)),
            })
            .collect(),
        last_poll_time: Some(timestamp(entry.last_seen_ms)),
        register_time: Some(timestamp(entry.registered_ms)),
    }
}

/// The answer to CheckToolUse.
pub fn tool_answer_to_pb(answer: ToolAnswer) -> pb::CheckToolUseResponse {
    let (decision, reason, approval_id) = match answer {
        ToolAnswer::Allow { reason, approval_id } => (pb::ToolDecision::Allow, reason, approval_id.unwrap_or_default()),
        ToolAnswer::Deny { reason, approval_id } => (pb::ToolDecision::Deny, reason, approval_id.unwrap_or_default()),
        ToolAnswer::Pending { reason, approval_id } => (pb::ToolDecision::RequireApproval, reason, approval_id),
    };
    pb::CheckToolUseResponse { decision: decision as i32, reason, approval_id }
}

/// A refusal as a ConnectWorker stream's report answer carries it: the code,
/// message and details (ErrorInfo, BadRequest) the unary RPC would have
/// answered with.
pub fn status_to_pb(status: &Status) -> tonic_types::Status {
    use prost::Message;
    // tonic-types keeps the details as an encoded google.rpc.Status.
    let details = tonic_types::Status::decode(status.details()).map(|s| s.details).unwrap_or_default();
    tonic_types::Status { code: status.code() as i32, message: status.message().to_owned(), details }
}

/// One agent's queue as `weft.v1.AgentQueue`.
pub fn agent_queue_to_pb(queue: &crate::engine::tasks::AgentQueue) -> pb::AgentQueue {
    pb::AgentQueue {
        agent: queue.agent.clone(),
        queued: queue.queued,
        live_workers: queue.live_workers,
        served: queue.served,
        oldest_queued_time: Some(timestamp(queue.oldest_ms)),
    }
}
