//! Issue 18's run semantics: workflow retries whatever onFailure says,
//! shared-state writers serialized in definition order, a state machine's
//! end states as steps, and a graph's response returning its input.

use serde_json::json;

use super::*;
use crate::run::ErrorCode;

#[test]
fn workflow_retries_apply_whatever_on_failure_says_then_on_failure_decides() {
    for on_failure in ["stop", "continue"] {
        let def = json!({"onFailure": on_failure, "retries": 2, "steps": [
            {"id": "a", "agent": "w", "task": "a"},
            {"id": "b", "agent": "w", "task": "b"},
        ]});
        let mut h = Harness::started(def, json!({}));
        h.succeed("b", json!({"ok": true}));
        h.fail("a", "boom 1", true);
        assert_eq!(h.task("a").attempt, 2, "{on_failure}: the first retry");
        h.fail("a", "boom 2", true);
        assert_eq!(h.task("a").attempt, 3, "{on_failure}: the second retry");
        h.fail("a", "boom 3", true);
        assert_eq!(h.status("a"), StepStatus::Failed, "{on_failure}: retries spent");
        assert_eq!(h.run.step("a").unwrap().attempts, 3);
        let expected = if on_failure == "stop" { RunStatus::Failed } else { RunStatus::Partial };
        assert_eq!(h.run.status(), expected, "{on_failure} decides once the retries are spent");
    }
}

#[test]
fn a_step_retries_setting_wins_over_the_workflow_one() {
    let def = json!({"retries": 5, "steps": [{"id": "a", "agent": "w", "task": "a", "retries": 1}]});
    let mut h = Harness::started(def, json!({}));
    h.fail("a", "boom", true);
    h.fail("a", "boom", true);
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.step("a").unwrap().attempts, 2);
}

#[test]
fn unordered_writers_run_one_after_the_other_in_definition_order() {
    // 'second' could start at once, but 'first' is defined before it and
    // writes the same key: it waits until 'first' has finished.
    let def = json!({"steps": [
        {"id": "gate", "agent": "w", "task": "g"},
        {"id": "first", "agent": "w", "task": "f", "dependsOn": ["gate"], "stateWrites": ["k"]},
        {"id": "second", "agent": "w", "task": "s", "stateWrites": ["k"]},
    ]});
    let mut h = Harness::started(def, json!({}));
    assert_eq!(h.keys(), ["gate"], "the later writer waits for the earlier one");
    h.succeed("gate", json!({}));
    assert_eq!(h.keys(), ["first"]);
    h.succeed("first", json!({"k": "from first"}));
    assert_eq!(h.keys(), ["second"]);
    h.succeed("second", json!({"k": "from second"}));
    assert_eq!(h.run.document()["state"]["k"], json!("from second"), "the later writer's value stays");
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn a_failed_or_skipped_earlier_writer_still_lets_the_later_one_run() {
    let def = json!({"onFailure": "continue", "steps": [
        {"id": "first", "agent": "w", "task": "f", "stateWrites": ["k"]},
        {"id": "second", "agent": "w", "task": "s", "stateWrites": ["k"]},
    ]});
    let mut h = Harness::started(def, json!({}));
    assert_eq!(h.keys(), ["first"]);
    h.fail("first", "boom", false);
    assert_eq!(h.keys(), ["second"], "ordering is not a dependency: a failure does not skip it");
    h.succeed("second", json!({}));
    assert_eq!(h.run.status(), RunStatus::Partial);
}

fn machine(end: Value) -> Value {
    json!({
        "states": {
            "check": {"type": "task", "task": "validate", "next": "create"},
            "create": {"type": "task", "task": "createAccount", "next": "end"},
            "end": end
        },
        "functions": ["validate", "createAccount"]
    })
}

#[test]
fn a_succeed_state_is_the_last_step_and_forwards_the_last_output() {
    let mut h = Harness::started(machine(json!({"type": "succeed"})), json!({"customer": "c"}));
    h.succeed("check", json!({"valid": true}));
    h.succeed("create", json!({"accountId": "acc_1"}));
    let ids: Vec<&str> = h.run.steps().iter().map(|s| s.step_id).collect();
    assert_eq!(ids, ["check", "create", "end"], "step ids are state names, the final state included");
    assert_eq!(h.status("end"), StepStatus::Completed);
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.run.output(), Some(&json!({"accountId": "acc_1"})), "the run's output is the last task's");
}

#[test]
fn a_fail_state_fails_the_run_with_its_error_and_cause() {
    let end = json!({"type": "fail", "error": "AccountRejected", "cause": "the customer is on a deny list"});
    let mut h = Harness::started(machine(end), json!({}));
    h.succeed("check", json!({}));
    h.succeed("create", json!({}));
    assert_eq!(h.status("end"), StepStatus::Failed);
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::StateFailed));
    assert_eq!(h.run.error(), Some("AccountRejected: the customer is on a deny list"));
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).unwrap();
    assert_eq!(
        failed.data,
        Some(json!({"code": "STATE_FAILED", "error": "AccountRejected", "cause": "the customer is on a deny list"}))
    );
}

#[test]
fn a_fail_state_fails_the_run_even_when_on_failure_continues() {
    let mut def = machine(json!({"type": "fail", "cause": "no"}));
    def["onFailure"] = json!("continue");
    let mut h = Harness::started(def, json!({}));
    h.succeed("check", json!({}));
    h.succeed("create", json!({}));
    assert_eq!((h.run.status(), h.run.error()), (RunStatus::Failed, Some("no")));
}

#[test]
fn a_starter_to_response_graph_returns_what_flows_into_the_response() {
    let direct = json!({
        "blocks": [{"id": "start", "type": "starter"}, {"id": "out", "type": "response"}],
        "edges": [{"source": "start", "target": "out"}]
    });
    let h = Harness::started(direct, json!({"question": "why"}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.output("start"), Some(json!({"question": "why"})), "the starter yields the run input");
    assert_eq!(h.run.output(), Some(&json!({"question": "why"})), "the response's input is the result");

    let through = json!({
        "blocks": [
            {"id": "start", "type": "starter"},
            {"id": "ask", "type": "agent_task", "config": {"agent_id": "a1", "goal": "Answer"}},
            {"id": "out", "type": "response"}
        ],
        "edges": [{"source": "start", "target": "ask"}, {"source": "ask", "target": "out"}]
    });
    let mut h = Harness::started(through, json!({"question": "why"}));
    h.succeed("ask", json!({"answer": 42}));
    assert_eq!(h.output("out"), Some(json!({"answer": 42})));
    assert_eq!(h.run.output(), Some(&json!({"answer": 42})));
}

#[test]
fn an_empty_transform_is_a_join_point_yielding_an_empty_object() {
    let def = json!({"steps": [
        {"id": "a", "agent": "w", "task": "a"},
        {"id": "b", "agent": "w", "task": "b"},
        {"id": "join", "type": "transform", "output": {}, "dependsOn": ["a", "b"]},
        {"id": "after", "agent": "w", "task": "c", "dependsOn": ["join"]},
    ]});
    let mut h = Harness::started(def, json!({}));
    h.succeed("a", json!({}));
    assert_eq!(h.status("join"), StepStatus::Pending, "it waits for every dependency");
    h.succeed("b", json!({}));
    assert_eq!(h.output("join"), Some(json!({})));
    assert_eq!(h.keys(), ["after"]);
}
