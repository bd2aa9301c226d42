//! Completion order does not matter: every interleaving of worker answers
//! gives the same document, statuses and run output.

use serde_json::{Value, json};

use super::*;

fn fan_out() -> Value {
    json!({"steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "start {{ input.name }}"},
        {"id": "b", "type": "agent", "agent": "w", "task": "b", "dependsOn": ["a"], "inputMap": {"v": "$.a.output.v"}},
        {"id": "c", "type": "agent", "agent": "w", "task": "c", "dependsOn": ["a"]},
        {"id": "t", "type": "transform", "dependsOn": ["a"], "output": {"x": "$.a.output.v"}},
        {"id": "m", "type": "map", "dependsOn": ["a"], "over": "$.a.output.items", "as": "it", "concurrency": 2,
         "step": {"id": "m-item", "type": "agent", "agent": "w", "task": "item {{ it }}", "inputMap": {"it": "$.it"}}},
        {"id": "d", "type": "agent", "agent": "w", "task": "d", "dependsOn": ["b", "c"],
         "inputMap": {"b": "$.b.output", "c": "$.c.output"}},
        {"id": "e", "type": "transform", "dependsOn": ["d", "t", "m"],
         "output": {"d": "$.d.output", "t": "$.t.output", "m": "$.m.output"}},
    ]})
}

/// A worker whose answer depends only on what it was given.
fn answer(task: &TaskDispatch) -> Value {
    if task.step == "a" {
        return json!({"v": 7, "items": [1, 2, 3]});
    }
    json!({"step": task.step, "task": task.task, "input": task.input})
}

/// The parts of a finished run that must not depend on timing: status,
/// document, run output, and every instance's key, status and output.
type Final = (RunStatus, Value, Option<Value>, Vec<(String, StepStatus, Option<Value>)>);

fn result(h: &Harness) -> Final {
    let steps = h.run.steps().into_iter().map(|v| (v.key, v.status, v.output.cloned())).collect();
    (h.run.status(), h.run.document().clone(), h.run.output().cloned(), steps)
}

fn explore(h: Harness, results: &mut Vec<Final>) {
    if h.tasks.is_empty() {
        results.push(result(&h));
        return;
    }
    for key in h.keys() {
        let mut next = h.clone();
        let output = answer(next.task(&key));
        next.succeed(&key, output);
        explore(next, results);
    }
}

#[test]
fn any_completion_order_gives_the_same_outputs() {
    let h = Harness::started(fan_out(), json!({"name": "n"}));
    let mut results = Vec::new();
    explore(h, &mut results);
    assert!(results.len() > 100, "many orders explored: {}", results.len());
    let first = &results[0];
    assert_eq!(first.0, RunStatus::Completed);
    assert_eq!(first.1["m"]["output"][2]["input"], json!({"it": 3}), "map output in input order");
    assert_eq!(first.1["e"]["output"]["t"], json!({"x": 7}));
    for other in &results[1..] {
        assert_eq!(other, first);
    }
}
