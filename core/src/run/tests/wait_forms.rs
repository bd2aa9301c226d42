//! Wait steps in their duration and condition forms: a duration is a
//! delay; a condition is checked as the step starts and again whenever a
//! step completes, with a timeout as for event waits.

use serde_json::json;

use super::*;
use crate::run::ErrorCode;

#[test]
fn a_duration_wait_is_a_delay() {
    let def = json!({"steps": [
        {"id": "pause", "type": "wait", "config": {"duration": "30s"}},
        {"id": "after", "type": "transform", "dependsOn": ["pause"]},
    ]});
    let mut h = Harness::started(def, json!({}));
    assert_eq!((h.status("pause"), h.run.status()), (StepStatus::Waiting, RunStatus::Running));
    assert_eq!(h.timers.get("pause"), Some(&(h.now_ms + 30_000)));
    h.fire("pause");
    assert_eq!(h.output("pause"), Some(json!({})));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn a_duration_wait_given_as_a_number_of_seconds() {
    let def = json!({"steps": [{"id": "pause", "type": "wait", "config": {"duration": 2}}]});
    let h = Harness::started(def, json!({}));
    assert_eq!(h.timers.get("pause"), Some(&(h.now_ms + 2_000)));
}

fn on_state(timeout: Option<&str>, on_timeout: bool) -> Value {
    let mut wait = json!({"id": "ready", "type": "wait", "config": {"condition": "$.state.stock >= 3"}});
    if let Some(timeout) = timeout {
        wait["timeout"] = json!(timeout);
    }
    if on_timeout {
        wait["onTimeout"] = json!({"next": "late"});
    }
    json!({"steps": [
        {"id": "restock", "agent": "w", "task": "r", "stateWrites": ["stock"]},
        {"id": "again", "agent": "w", "task": "r2", "dependsOn": ["restock"], "stateWrites": ["stock"]},
        wait,
        {"id": "ship", "type": "transform", "dependsOn": ["ready"], "output": {"stock": "$.state.stock"}},
        {"id": "late", "type": "transform"},
    ]})
}

#[test]
fn a_condition_wait_completes_once_shared_state_makes_it_hold() {
    let mut h = Harness::started(on_state(None, false), json!({}));
    assert_eq!(h.status("ready"), StepStatus::Waiting, "false as it starts");
    h.succeed("restock", json!({"stock": 1}));
    assert_eq!(h.status("ready"), StepStatus::Waiting, "still false after the first change");
    h.succeed("again", json!({"stock": 5}));
    assert_eq!(h.output("ready"), Some(json!({})));
    assert_eq!(h.output("ship"), Some(json!({"stock": 5})));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn a_condition_that_already_holds_completes_at_once() {
    let def = json!({"steps": [{"id": "go", "type": "wait", "expression": "$.input.n > 1"}]});
    let h = Harness::started(def, json!({"n": 2}));
    assert_eq!(h.status("go"), StepStatus::Completed);
    assert!(h.timers.is_empty());
}

#[test]
fn a_condition_wait_met_in_time_withdraws_its_timer() {
    let mut h = Harness::started(on_state(Some("1h"), true), json!({}));
    assert!(h.timers.contains_key("ready"));
    h.succeed("restock", json!({"stock": 9}));
    assert!(!h.timers.contains_key("ready"), "the met condition withdraws the timer");
    assert_eq!(h.status("late"), StepStatus::Skipped);
}

#[test]
fn a_condition_wait_times_out_down_its_branch_or_fails() {
    let mut h = Harness::started(on_state(Some("10s"), true), json!({}));
    h.fire("ready");
    assert_eq!((h.status("ready"), h.output("ready")), (StepStatus::Completed, Some(Value::Null)));
    h.succeed("restock", json!({"stock": 9}));
    h.succeed("again", json!({"stock": 9}));
    assert_eq!(h.status("ship"), StepStatus::Skipped);
    assert_eq!(h.status("late"), StepStatus::Completed);

    let mut h = Harness::started(on_state(Some("10s"), false), json!({}));
    h.fire("ready");
    assert_eq!(h.status("ready"), StepStatus::Failed);
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).unwrap();
    assert_eq!(failed.data.as_ref().unwrap()["code"], ErrorCode::WaitTimeout.as_str());
}

#[test]
fn cancelling_a_run_withdraws_a_condition_wait_timer() {
    let mut h = Harness::started(on_state(Some("1h"), false), json!({}));
    let now_ms = h.now_ms;
    h.apply(Command::Cancel { reason: "test".into(), now_ms }).expect("cancel");
    assert!(!h.timers.contains_key("ready"));
}

#[test]
fn wait_forms_are_exclusive_and_conditions_are_parsed() {
    let both = json!({"steps": [{"id": "w", "type": "wait", "event": "e", "duration": 3}]});
    let def: crate::model::definition::Definition = serde_json::from_value(both).unwrap();
    let problems = crate::compile::validate(&def);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].field, "steps[0].duration");
    let bad = json!({"steps": [{"id": "w", "type": "wait", "config": {"condition": "$.state.x >>= 1"}}]});
    let def: crate::model::definition::Definition = serde_json::from_value(bad).unwrap();
    assert!(crate::compile::compile(&def).is_err());
    let text = json!({"steps": [{"id": "w", "type": "wait", "config": {"duration": "soon"}}]});
    let def: crate::model::definition::Definition = serde_json::from_value(text).unwrap();
    let problems = crate::compile::compile(&def).unwrap_err();
    assert!(problems[0].message.contains("not a duration"), "{problems:#?}");
}
