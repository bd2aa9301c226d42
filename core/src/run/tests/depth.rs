//! The JSON nesting limit inside the engine: outputs the engine builds and
//! inputs it gathers for a task are held to it like values from outside,
//! and a rejected output keeps the rule it broke across a replay.

use serde_json::{Value, json};

use super::*;
use crate::model::json_limits::MAX_JSON_DEPTH;

/// `{"a": {"a": … 1}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

fn failure_code(h: &Harness, step: &str) -> Option<Value> {
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed && e.step_id.as_deref() == Some(step));
    failed.and_then(|e| e.data.clone()).map(|d| d["code"].clone())
}

#[test]
fn a_transform_output_past_the_limit_fails_the_step_as_too_deep() {
    let def = json!({"steps": [{"id": "wrap", "type": "transform", "output": {"w": "$.input"}}]});
    let h = Harness::started(def.clone(), nested(MAX_JSON_DEPTH - 1));
    assert_eq!(h.status("wrap"), StepStatus::Completed, "depth {MAX_JSON_DEPTH} is kept");
    let h = Harness::started(def, nested(MAX_JSON_DEPTH));
    assert_eq!(h.status("wrap"), StepStatus::Failed);
    assert_eq!(failure_code(&h, "wrap"), Some(json!("OUTPUT_TOO_DEEP")));
    assert_eq!(h.output("wrap"), None, "the output is not kept");
    assert_eq!(h.run.error_code(), Some(ErrorCode::OutputTooDeep));
}

#[test]
fn an_input_map_gathering_too_deep_a_value_fails_before_dispatch() {
    let def = json!({"steps": [
        {"id": "a", "type": "agent", "agent": "worker", "task": "t", "inputMap": {"all": "$"}},
    ]});
    let h = Harness::started(def, nested(MAX_JSON_DEPTH));
    assert!(h.tasks.is_empty(), "no worker is handed a task it could not decode");
    assert_eq!(h.status("a"), StepStatus::Failed);
    assert_eq!(failure_code(&h, "a"), Some(json!("INPUT_TOO_DEEP")));
    let error = h.events.iter().find(|e| e.event_type == EventType::StepFailed).and_then(|e| e.error.clone());
    assert!(error.is_some_and(|e| e.contains("input.all.input")), "the path is named");
}

#[test]
fn a_too_deep_rejection_fails_the_step_with_its_code_and_old_commands_replay() {
    let one_agent = json!({"steps": [{"id": "a", "type": "agent", "agent": "w", "task": "t", "retries": 3}]});
    let mut h = Harness::started(one_agent, json!({}));
    let command = Command::OutputRejected {
        step: "a".into(),
        attempt: 1,
        error: "the output was refused".into(),
        fault: OutputFault::TooDeep,
        cost_cents: 0,
        now_ms: 2_000,
    };
    h.apply(command).expect("accepted");
    assert_eq!(h.status("a"), StepStatus::Failed, "retries do not apply");
    assert_eq!(h.run.error_code(), Some(ErrorCode::OutputTooDeep));
    // Stored before `fault` existed: read as OUTPUT_INVALID, as it was applied.
    let old = r#"{"command":"outputRejected","step":"a","attempt":1,"error":"x","costCents":0,"nowMs":1}"#;
    let read: Command = serde_json::from_str(old).unwrap();
    assert!(matches!(read, Command::OutputRejected { fault: OutputFault::Invalid, .. }));
}
