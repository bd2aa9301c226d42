//! The inbox's messages and answers as they travel between replicas, as
//! JSON in the inbox rows. A leaf: the writer encodes answers in the
//! commit that applies a message, the facade posts messages, the pump
//! reads them, and none of them needs the others to do so.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::run::{Command, RetryOrigin, ReusedStep, TransitionError};
use crate::store::TraceContext;

/// A message for the holder of a run.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "message", rename_all = "camelCase")]
pub(crate) enum Message {
    /// Apply this command to the run.
    Command { command: Box<Command> },
    /// Start this run (in the message's partition).
    Start { start: Box<StartSpec> },
}

/// A start as it travels: everything but the compiled workflow, which the
/// holder compiles (versions never change).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartSpec {
    pub(crate) id: String,
    pub(crate) tenant: String,
    pub(crate) workflow_id: String,
    pub(crate) workflow_version: u32,
    pub(crate) user_id: String,
    pub(crate) trigger: String,
    pub(crate) idempotency_key: String,
    pub(crate) input: Value,
    pub(crate) shared_state: Value,
    pub(crate) now_ms: i64,
    /// Absent in messages from older replicas: no schedule.
    #[serde(default)]
    pub(crate) schedule_id: String,
    #[serde(default)]
    pub(crate) scheduled_ms: Option<i64>,
    pub(crate) retry_origin: Option<RetryOrigin>,
    pub(crate) reused: Vec<ReusedStep>,
    /// The run's W3C trace context, so a run started through another
    /// replica joins its caller's trace too. Absent from older replicas'
    /// messages: no context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tracestate: Option<String>,
}

impl StartSpec {
    /// The trace context the start carries, validated by the replica that
    /// received the request.
    pub(crate) fn trace(&self) -> Option<TraceContext> {
        TraceContext::from_columns(self.traceparent.clone(), self.tracestate.clone())
    }
}

/// The holder's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub(crate) enum Answer {
    /// The command was applied and committed.
    Applied,
    /// The run was started (or the idempotency key named an earlier one).
    Started { run_id: String, existing: bool },
    /// `transition` refused the command; nothing changed.
    Refused { error: TransitionError },
    /// The run is finished, or unknown.
    NotLive,
    /// The start failed; nothing changed.
    Failed { message: String },
}

pub(crate) fn to_json(answer: &Answer) -> String {
    serde_json::to_string(answer).expect("answers always serialize")
}

/// The answer to a command applied in a commit.
pub(crate) fn applied() -> String {
    to_json(&Answer::Applied)
}

/// The answer to a start committed (or found by its key).
pub(crate) fn started(run_id: &str, existing: bool) -> String {
    to_json(&Answer::Started { run_id: run_id.to_string(), existing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::run::StepStatus;

    #[test]
    fn refusals_cross_replicas_intact() {
        let error = TransitionError::NotInFlight {
            step: "a".into(),
            status: StepStatus::Paused,
            expected: "running external work".into(),
        };
        let json = to_json(&Answer::Refused { error: error.clone() });
        let back: Answer = serde_json::from_str(&json).unwrap();
        assert!(matches!(back, Answer::Refused { error: e } if e == error), "{json}");
        let stale = TransitionError::StaleAttempt { step: "b".into(), attempt: 1, current: 2 };
        let back: Answer = serde_json::from_str(&to_json(&Answer::Refused { error: stale.clone() })).unwrap();
        assert!(matches!(back, Answer::Refused { error: e } if e == stale));
    }

    #[test]
    fn commands_travel_as_json_and_come_back_equal() {
        let command = Command::Cancel { reason: "stop".into(), now_ms: 5 };
        let body = serde_json::to_string(&Message::Command { command: Box::new(command.clone()) }).unwrap();
        let Message::Command { command: back } = serde_json::from_str(&body).unwrap() else { panic!("{body}") };
        assert_eq!(*back, command);
    }

    fn start(traceparent: Option<&str>, tracestate: Option<&str>) -> StartSpec {
        StartSpec {
            id: "wfrun_a".into(),
            tenant: "default".into(),
            workflow_id: "wf_a".into(),
            workflow_version: 1,
            user_id: String::new(),
            trigger: "api".into(),
            idempotency_key: String::new(),
            input: serde_json::json!({}),
            shared_state: Value::Null,
            now_ms: 1,
            schedule_id: String::new(),
            scheduled_ms: None,
            retry_origin: None,
            reused: Vec::new(),
            traceparent: traceparent.map(str::to_string),
            tracestate: tracestate.map(str::to_string),
        }
    }

    #[test]
    fn a_start_carries_its_trace_context_across_replicas() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let body =
            serde_json::to_string(&Message::Start { start: Box::new(start(Some(parent), Some("k=v"))) }).unwrap();
        let Message::Start { start: back } = serde_json::from_str(&body).unwrap() else { panic!("{body}") };
        let trace = back.trace().expect("the context survives the inbox");
        assert_eq!(trace.traceparent, parent);
        assert_eq!(trace.tracestate.as_deref(), Some("k=v"));

        // Without a context nothing is written, and a message from an
        // older replica (no such keys) reads as no context.
        let body = serde_json::to_string(&Message::Start { start: Box::new(start(None, None)) }).unwrap();
        assert!(!body.contains("traceparent"), "{body}");
        let Message::Start { start: back } = serde_json::from_str(&body).unwrap() else { panic!("{body}") };
        assert_eq!(back.trace(), None);
    }
}
