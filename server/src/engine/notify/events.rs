//! The events a subscription can ask for, their public names, the run
//! events they come from, and the JSON body a delivery carries.
//!
//! Four names are the run log's own; the cost overrun is published as
//! `workflow.step.cost_exceeded`, the name the workflow documents give the
//! webhook, while the run log and its streams keep `step.cost_exceeded`.
//! The list of run event types here is also the `WHEN` clause of the
//! outbox trigger in migration 0014; a test holds them together.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::engine::run::EventType;
use crate::model::EventRecord;
use crate::store::notifications::OutboxEntry;

/// An event notification webhooks deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyEvent {
    /// A run completed.
    RunCompleted,
    /// A run failed.
    RunFailed,
    /// A run ended partial: a non-critical step failed.
    RunPartial,
    /// A step waits for a person's approval.
    ApprovalPending,
    /// A step passed the policy's maxCostPerStep and was paused.
    StepCostExceeded,
}

impl NotifyEvent {
    /// Every event, in the order the documentation lists them.
    pub const ALL: [Self; 5] =
        [Self::RunCompleted, Self::RunFailed, Self::RunPartial, Self::ApprovalPending, Self::StepCostExceeded];

    /// The name subscriptions and deliveries use.
    pub fn name(self) -> &'static str {
        match self {
            Self::RunCompleted => "run.completed",
            Self::RunFailed => "run.failed",
            Self::RunPartial => "run.partial",
            Self::ApprovalPending => "approval.pending",
            Self::StepCostExceeded => "workflow.step.cost_exceeded",
        }
    }

    /// The run event it is recorded as.
    pub fn run_event(self) -> EventType {
        match self {
            Self::RunCompleted => EventType::RunCompleted,
            Self::RunFailed => EventType::RunFailed,
            Self::RunPartial => EventType::RunPartial,
            Self::ApprovalPending => EventType::ApprovalPending,
            Self::StepCostExceeded => EventType::StepCostExceeded,
        }
    }

    /// The event a public name means.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.name() == name)
    }

    /// The event a stored run event type is, if it is one that is notified.
    pub fn from_run_event(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.run_event().as_str() == event_type)
    }
}

/// `ms` since the epoch as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}

/// A cost in cents as the documents write it.
fn cost(cents: i64) -> Value {
    json!({ "amount": cents, "currency": "usd" })
}

/// The JSON body of every delivery of `entry` as `event`:
/// `{id, type, createdAt, data: {runId, workflowId, status, …}}`, where
/// `data` also carries whichever of the run event's `stepId`, `output`,
/// `error`, `cost`, `totalCost`, `canRetryFrom`, `action`, `durationMs`
/// and `details` it has.
pub fn body(event: NotifyEvent, entry: &OutboxEntry) -> String {
    let mut data = Map::new();
    data.insert("runId".into(), Value::from(entry.run_id.as_str()));
    data.insert("workflowId".into(), Value::from(entry.workflow_id.as_str()));
    match serde_json::from_str::<EventRecord>(&entry.payload) {
        Ok(recorded) => {
            data.insert("status".into(), Value::from(recorded.status));
            let fields = [
                ("stepId", recorded.step_id.map(Value::from)),
                ("output", recorded.output.map(crate::engine::builtin::whole_numbers)),
                ("error", recorded.error.map(Value::from)),
                ("cost", recorded.cost_cents.map(cost)),
                ("totalCost", recorded.total_cost_cents.map(cost)),
                ("canRetryFrom", recorded.can_retry_from.map(Value::from)),
                ("action", recorded.action.map(Value::from)),
                ("durationMs", recorded.duration_ms.map(Value::from)),
                ("details", recorded.data.map(crate::engine::builtin::whole_numbers)),
            ];
            data.extend(fields.into_iter().filter_map(|(name, value)| Some((name.to_owned(), value?))));
        }
        // The run log is written by the engine, so this is a bug or damage;
        // the receiver still learns which run and event.
        Err(err) => tracing::error!(run = %entry.run_id, sequence = entry.sequence, error = %err,
            "a notified run event could not be read; its delivery carries only the run's ids"),
    }
    json!({
        "id": format!("{}.{}", entry.run_id, entry.sequence),
        "type": event.name(),
        "createdAt": rfc3339(entry.created_ms),
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_cost_overrun_has_its_documented_name() {
        for event in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::from_name(event.name()), Some(event));
            assert_eq!(NotifyEvent::from_run_event(event.run_event().as_str()), Some(event));
        }
        assert_eq!(NotifyEvent::from_run_event("step.cost_exceeded"), Some(NotifyEvent::StepCostExceeded));
        assert_eq!(NotifyEvent::from_name("step.cost_exceeded"), None);
        assert_eq!(NotifyEvent::from_run_event("step.completed"), None);
    }

    #[test]
    fn the_outbox_trigger_records_exactly_the_notified_run_events() {
        let wanted: Vec<String> =
            NotifyEvent::ALL.iter().map(|event| format!("'{}'", event.run_event().as_str())).collect();
        let clause = format!("NEW.type IN ({})", wanted.join(", "));
        for migration in [
            include_str!("../../../migrations/sqlite/0014_notifications.sql"),
            include_str!("../../../migrations/postgres/0014_notifications.sql"),
        ] {
            assert!(migration.contains(&clause), "the trigger's WHEN clause is {clause}");
        }
    }

    #[test]
    fn a_body_carries_the_run_and_the_events_fields() {
        let recorded = EventRecord {
            run_id: "wfrun_1".into(),
            sequence: 7,
            event_type: "run.partial".into(),
            step_id: None,
            status: "partial".into(),
            output: Some(json!({"n": 2.0})),
            error: None,
            cost_cents: None,
            total_cost_cents: Some(0),
            can_retry_from: Some("enrich".into()),
            action: None,
            data: None,
            duration_ms: Some(1500),
            created_ms: 1_000,
        };
        let entry = OutboxEntry {
            run_id: "wfrun_1".into(),
            sequence: 7,
            tenant_id: "t".into(),
            workflow_id: "wf_1".into(),
            event_type: "run.partial".into(),
            payload: serde_json::to_string(&recorded).unwrap(),
            created_ms: 1_000,
        };
        let body: Value = serde_json::from_str(&body(NotifyEvent::RunPartial, &entry)).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "wfrun_1.7", "type": "run.partial", "createdAt": "1970-01-01T00:00:01.000Z",
                "data": {"runId": "wfrun_1", "workflowId": "wf_1", "status": "partial", "output": {"n": 2},
                         "totalCost": {"amount": 0, "currency": "usd"}, "canRetryFrom": "enrich", "durationMs": 1500}
            })
        );
    }
}
