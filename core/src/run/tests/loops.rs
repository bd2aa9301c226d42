//! Loop steps: one iteration at a time, over a list or while/until a
//! condition holds, bounded by maxIterations, every output kept.

use serde_json::json;

use super::*;
use crate::run::ErrorCode;

fn over_loop(max: u32) -> Value {
    json!({"steps": [
        {"id": "each", "type": "loop", "over": "$.input.xs", "as": "x", "maxIterations": max,
         "step": {"id": "work", "type": "agent", "agent": "w", "task": "do {{ x }}", "inputMap": {"x": "$.x"}}},
        {"id": "after", "type": "transform", "dependsOn": ["each"], "output": {"all": "$.each.output"}},
    ]})
}

#[test]
fn a_list_loop_runs_one_iteration_at_a_time_and_keeps_every_output() {
    let mut h = Harness::started(over_loop(10), json!({"xs": ["a", "b", "c"]}));
    for (i, x) in ["a", "b", "c"].iter().enumerate() {
        let key = format!("work[{i}]");
        assert_eq!(h.keys(), std::slice::from_ref(&key), "one iteration in flight");
        assert_eq!(h.task(&key).input, json!({"x": x}));
        assert_eq!(h.task(&key).task.as_deref(), Some(format!("do {x}").as_str()));
        h.succeed(&key, json!({"done": x}));
    }
    let all = json!([{"done": "a"}, {"done": "b"}, {"done": "c"}]);
    assert_eq!(h.output("each"), Some(all.clone()));
    assert_eq!(h.output("after"), Some(json!({"all": all})));
    assert_eq!(h.output("work[1]"), Some(json!({"done": "b"})));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let started: Vec<String> = h.trace().into_iter().filter(|t| t.starts_with("step.started work")).collect();
    assert_eq!(started, ["step.started work[0]", "step.started work[1]", "step.started work[2]"]);
}

#[test]
fn a_list_longer_than_max_iterations_fails_with_loop_limit() {
    let h = Harness::started(over_loop(2), json!({"xs": [1, 2, 3]}));
    assert!(h.tasks.is_empty(), "no iteration runs");
    assert_eq!(h.status("each"), StepStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::LoopLimit));
    assert!(h.run.error().unwrap().contains("maxIterations 2"), "{:?}", h.run.error());
}

fn counter(driver: &str, expression: &str, max: u32) -> Value {
    json!({"steps": [
        {"id": "count", "type": "loop", driver: expression, "maxIterations": max, "as": "i",
         "step": {"id": "inc", "type": "transform", "output": {"i": "$.i", "seen": "$.count.output"}}},
    ]})
}

#[test]
fn a_while_loop_ends_when_its_condition_turns_false() {
    let h = Harness::started(counter("while", "length($.count.output) < 3", 10), json!({}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let out = h.output("count").unwrap();
    assert_eq!(out.as_array().unwrap().len(), 3);
    assert_eq!(out[2]["i"], json!(2), "the binding is the iteration index");
    assert_eq!(out[2]["seen"].as_array().unwrap().len(), 2, "an iteration sees the outputs before it");
}

#[test]
fn a_while_loop_whose_condition_is_false_at_once_runs_no_iteration() {
    let h = Harness::started(counter("while", "$.input.go == true", 10), json!({"go": false}));
    assert_eq!(h.output("count"), Some(json!([])));
}

#[test]
fn an_until_loop_runs_at_least_once_and_stops_when_true() {
    let h = Harness::started(counter("until", "$.i >= 0", 10), json!({}));
    assert_eq!(h.output("count").unwrap().as_array().unwrap().len(), 1);
    let h = Harness::started(counter("until", "$.i == 4", 10), json!({}));
    assert_eq!(h.run.error(), None);
    assert_eq!(h.output("count").unwrap().as_array().unwrap().len(), 5);
    let h = Harness::started(counter("until", "$.inc.output.i == 2", 10), json!({}));
    assert_eq!(h.output("count").unwrap().as_array().unwrap().len(), 3, "the body's latest output is visible");
}

#[test]
fn a_condition_that_never_ends_fails_at_max_iterations_keeping_the_outputs() {
    let h = Harness::started(counter("while", "$.input.forever == true", 4), json!({"forever": true}));
    assert_eq!(h.status("count"), StepStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::LoopLimit));
    assert!(h.run.error().unwrap().contains("maxIterations 4"), "{:?}", h.run.error());
    assert_eq!(
        h.output("inc[3]"),
        Some(
            json!({"i": 3, "seen": [{"i": 0, "seen": []}, {"i": 1, "seen": [{"i": 0, "seen": []}]}, {"i": 2, "seen": [{"i": 0, "seen": []}, {"i": 1, "seen": [{"i": 0, "seen": []}]}]}]})
        )
    );
    assert!(h.run.step("inc[4]").is_none(), "no fifth iteration");
}

#[test]
fn a_failed_iteration_fails_the_loop_and_a_loop_is_not_run_while_held() {
    let mut h = Harness::started(over_loop(10), json!({"xs": [1, 2]}));
    h.apply(Command::Pause { reason: String::new(), now_ms: h.now_ms }).unwrap();
    h.succeed("work[0]", json!(1));
    assert!(h.tasks.is_empty(), "the next iteration waits for the resume");
    h.apply(Command::Continue { from_step: None, now_ms: h.now_ms }).unwrap();
    h.fail("work[1]", "boom", false);
    assert_eq!(h.status("each"), StepStatus::Failed);
    assert!(h.run.error().unwrap().contains("item 1 of loop step 'each' failed"), "{:?}", h.run.error());
}

#[test]
fn a_loop_condition_is_held_to_the_query_cost_limit_as_each_iteration_grows_the_state() {
    let big: Vec<u32> = (0..20_000).collect();
    let def = json!({"steps": [
        {"id": "count", "type": "loop", "while": "count($..*) > 0", "maxIterations": 1000,
         "step": {"id": "copy", "type": "transform", "output": {"b": "$.input.big"}}},
    ]});
    let h = Harness::started(def, json!({"big": big}));
    assert_eq!(h.status("count"), StepStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::ExpressionTooExpensive));
    let error = h.run.error().unwrap();
    assert!(error.contains("count($..*) > 0") && error.contains("MAX_QUERY_NODES"), "{error}");
    assert_eq!(h.status("copy[0]"), StepStatus::Completed, "the first check passed: the state was small");
}
