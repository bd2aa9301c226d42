//! Rows the writer stores, derived from a run's state after a transition
//! and from the events and effects the transition produced.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::engine::run::{ApprovalDecided, ApprovalOpened, ApprovalSubject, RunEvent, RunState, TaskDispatch};
use crate::model::{ApprovalDecision, ApprovalRecord, ApprovalStatus, EventRecord, RunRecord, StepRecord, TaskRecord};

/// What a run was started with that the pure state does not keep.
#[derive(Debug, Clone)]
pub struct RunMeta {
    /// Owning tenant.
    pub tenant: String,
    /// End user, or empty.
    pub user_id: String,
    /// What started it.
    pub trigger: String,
    /// Idempotency key, or empty.
    pub idempotency_key: String,
    /// The input as given.
    pub input: Value,
    /// For a retry run: the source run.
    pub retry_of_run_id: Option<String>,
    /// Accepted, ms since the epoch.
    pub created_ms: i64,
    /// Whether it started under a concurrent-run limit (so its end frees
    /// a slot). Recovered runs say yes: freeing a slot never held is a
    /// no-op.
    pub gated: bool,
    /// The schedule that started it, if one did.
    pub schedule_id: Option<String>,
    /// The schedule tick it stands for.
    pub scheduled_ms: Option<i64>,
}

/// The run row as the state stands.
pub fn run_record(state: &RunState, meta: &RunMeta) -> RunRecord {
    let (workflow_id, workflow_version) = state.workflow();
    let (started_ms, completed_ms) = state.times_ms();
    RunRecord {
        id: state.run_id().to_string(),
        tenant_id: meta.tenant.clone(),
        workflow_id: workflow_id.to_string(),
        workflow_version,
        user_id: meta.user_id.clone(),
        status: state.status(),
        input: Some(meta.input.clone()),
        output: state.output().cloned(),
        shared_state: state.document().get("state").cloned(),
        error: state.error().map(str::to_string),
        error_code: state.error_code().map(|c| c.as_str().to_string()),
        cancel_reason: state.cancel_reason().map(str::to_string),
        can_retry_from: state.can_retry_from().map(str::to_string),
        pending_action: state.pending_action().and_then(|p| serde_json::to_value(p).ok()),
        cost_cents: state.total_cost_cents(),
        trigger: meta.trigger.clone(),
        idempotency_key: meta.idempotency_key.clone(),
        retry_of_run_id: meta.retry_of_run_id.clone(),
        created_ms: meta.created_ms,
        started_ms,
        completed_ms,
        retention_ms: crate::engine::retention::own_retention_ms(state.version_workflow().definition()),
        schedule_id: meta.schedule_id.clone(),
        scheduled_ms: meta.scheduled_ms,
    }
}

/// Step rows of the instances in `keys` (every instance when `keys` is
/// `None`), with their position in the run's step list.
pub fn step_records(state: &RunState, keys: Option<&BTreeSet<String>>) -> Vec<StepRecord> {
    state
        .steps()
        .into_iter()
        .enumerate()
        .filter(|(_, view)| keys.is_none_or(|keys| keys.contains(&view.key)))
        .map(|(position, view)| StepRecord {
            run_id: state.run_id().to_string(),
            position: position as u32,
            step_id: view.step_id.to_string(),
            kind: view.kind,
            parent_id: view.parent_id.map(str::to_string),
            item_index: view.item_index,
            status: view.status,
            attempts: view.attempts,
            output: view.output.cloned(),
            error: view.error.map(str::to_string),
            cost_cents: view.cost_cents,
            started_ms: view.started_ms,
            completed_ms: view.completed_ms,
            key: view.key,
        })
        .collect()
}

/// The stored form of an event.
pub fn event_record(run_id: &str, event: &RunEvent) -> EventRecord {
    EventRecord {
        run_id: run_id.to_string(),
        sequence: event.sequence,
        event_type: event.event_type.as_str().to_string(),
        step_id: event.step_id.clone(),
        status: event.status.to_string(),
        output: event.output.clone(),
        error: event.error.clone(),
        cost_cents: event.cost_cents,
        total_cost_cents: event.total_cost_cents,
        can_retry_from: event.can_retry_from.clone(),
        action: event.action.clone(),
        data: event.data.clone(),
        duration_ms: event.duration_ms,
        created_ms: event.now_ms,
    }
}

/// The queue row of a dispatched task.
pub fn task_record(run_id: &str, tenant: &str, task: &TaskDispatch, now_ms: i64) -> TaskRecord {
    TaskRecord {
        // A re-queued attempt keeps the id already stored (the upsert does
        // not touch it), so this one only names a step's first task.
        task_id: crate::ids::new_task_id(),
        run_id: run_id.to_string(),
        step_key: task.step.clone(),
        tenant_id: tenant.to_string(),
        attempt: task.attempt,
        kind: task.kind,
        agent: task.agent.clone(),
        task: task.task.clone(),
        input: task.input.clone(),
        created_ms: now_ms,
        timeout_ms: task.timeout_ms,
    }
}

/// What an approval effect does to the approvals table.
pub enum ApprovalChange {
    /// A new row.
    Open(Box<ApprovalRecord>),
    /// The decision on it.
    Decide(ApprovalDecision),
}

/// The approvals row an opened approval inserts.
pub fn approval_opened(run_id: &str, tenant: &str, opened: &ApprovalOpened, now_ms: i64) -> ApprovalRecord {
    let (tool, arguments, default_action, expires_ms) = match &opened.subject {
        ApprovalSubject::ToolUse { tool, arguments } => (tool.clone(), arguments.clone(), String::new(), None),
        ApprovalSubject::Step { default_action, expires_ms } => {
            (String::new(), Value::Null, default_action.as_str().to_string(), *expires_ms)
        }
    };
    ApprovalRecord {
        id: opened.approval_id.clone(),
        tenant_id: tenant.to_string(),
        run_id: run_id.to_string(),
        workflow_id: String::new(),
        step_key: opened.step.clone(),
        kind: opened.kind(),
        action: opened.action.clone(),
        tool,
        arguments,
        message: opened.message.clone(),
        options: opened.options.clone(),
        status: ApprovalStatus::Pending,
        decision: String::new(),
        option: String::new(),
        decided_by: String::new(),
        comment: String::new(),
        default_action,
        expires_ms,
        created_ms: now_ms,
        decided_ms: None,
    }
}

/// The decision a decided approval records.
pub fn approval_decided(decided: &ApprovalDecided, now_ms: i64) -> ApprovalDecision {
    ApprovalDecision {
        id: decided.approval_id.clone(),
        status: decided.status(),
        decision: decided.decision.as_str().to_string(),
        option: decided.option.clone(),
        decided_by: decided.decided_by.clone(),
        comment: decided.comment.clone().unwrap_or_default(),
        decided_ms: now_ms,
    }
}
