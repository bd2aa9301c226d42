//! The dry pass and its pricing: maps sized by the input, conditions the
//! input decides (directly or through a transform), branches it does not
//! decide, recovery steps, and agents with no hint.

use serde_json::{Value, json};

use super::*;
use crate::engine::compile::compile;
use crate::model::definition::Definition;

fn compiled(value: Value) -> CompiledWorkflow {
    let def: Definition = serde_json::from_value(value).expect("deserializes");
    compile(&def).expect("valid definition")
}

fn hints(list: &[(&str, i64, i64)]) -> HashMap<String, CostHint> {
    list.iter()
        .map(|(agent, min, max)| (agent.to_string(), CostHint { min: *min, max: *max, currency: "usd".into() }))
        .collect()
}

fn step<'e>(estimate: &'e Estimate, id: &str) -> &'e StepEstimate {
    estimate.steps.iter().find(|s| s.step_id == id).unwrap_or_else(|| panic!("no {id} in {estimate:#?}"))
}

fn routed() -> CompiledWorkflow {
    compiled(json!({"steps": [
        {"id": "fan", "type": "map", "over": "$.input.leads", "as": "lead",
         "step": {"id": "score-lead", "type": "agent", "agent": "scorer", "task": "score {{ lead }}"}},
        {"id": "gate", "type": "condition", "dependsOn": ["fan"], "expression": "$.input.priority == 'high'",
         "onTrue": {"next": "deep"}, "onFalse": {"next": "light"}},
        {"id": "deep", "type": "agent", "agent": "researcher", "task": "deep"},
        {"id": "light", "type": "agent", "agent": "researcher", "task": "light"},
        {"id": "pick", "type": "transform", "output": {"n": "$.input.n"}},
        {"id": "check", "type": "condition", "dependsOn": ["pick"], "expression": "$.pick.output.n > 2",
         "onTrue": {"next": "big"}},
        {"id": "big", "type": "agent", "agent": "researcher", "task": "big"},
    ]}))
}

#[test]
fn the_input_sizes_maps_and_decides_conditions() {
    let hints = hints(&[("scorer", 2, 4), ("researcher", 10, 30)]);
    let high = estimate(&routed(), &json!({"leads": [1, 2, 3], "priority": "high", "n": 5}), &hints);
    assert_eq!((step(&high, "score-lead").calls_min, step(&high, "score-lead").calls_max), (3, 3));
    assert_eq!(step(&high, "fan").note, "3 items in the sample input");
    assert_eq!(step(&high, "light").calls_max, 0, "the branch not taken never runs");
    assert_eq!(step(&high, "big").calls_min, 1, "decided through the transform");
    // min: 3 × 2 (scorer) + 10 (deep) + 10 (big) = 26; max: 3 × 4 + 30 + 30 = 72.
    assert_eq!((high.min_cost, high.max_cost), (26, 72));
    assert_eq!((high.calls_min, high.calls_max), (5, 5));
    assert_eq!(high.step_count, 7, "all 8 steps but 'light', the map's sub-step once");
    assert!(high.unpriced_agents.is_empty());

    let low = estimate(&routed(), &json!({"leads": [], "priority": "low", "n": 1}), &hints);
    assert_eq!(step(&low, "light").calls_min, 1);
    assert_eq!((step(&low, "deep").calls_max, step(&low, "big").calls_max), (0, 0));
    assert_eq!((low.min_cost, low.max_cost), (10, 30));
}

#[test]
fn what_the_input_does_not_decide_counts_toward_the_maximum_only() {
    let workflow = compiled(json!({"steps": [
        {"id": "find", "type": "agent", "agent": "finder", "task": "find",
         "onStepFailure": {"action": "goto", "target": "rescue"}},
        {"id": "rescue", "type": "agent", "agent": "finder", "task": "rescue"},
        {"id": "each", "type": "map", "dependsOn": ["find"], "over": "$.find.output.items",
         "step": {"id": "one", "type": "agent", "agent": "finder", "task": "one"}},
        {"id": "gate", "type": "condition", "dependsOn": ["each"], "expression": "$.find.output.ok == true",
         "onTrue": {"next": "yes"}, "onFalse": {"next": "no"}},
        {"id": "yes", "type": "agent", "agent": "finder", "task": "yes"},
        {"id": "no", "type": "agent", "agent": "nobody-hints", "task": "no"},
    ]}));
    let e = estimate(&workflow, &json!({}), &hints(&[("finder", 1, 2)]));
    assert_eq!((step(&e, "rescue").calls_min, step(&e, "rescue").calls_max), (0, 1));
    assert_eq!((step(&e, "one").calls_min, step(&e, "one").calls_max), (0, UNRESOLVED_MAP_ITEMS));
    assert_eq!((step(&e, "yes").calls_min, step(&e, "no").calls_max), (0, 1));
    // min: find 1 × 1 = 1; max: (find 1 + rescue 1 + items 10 + yes 1) × 2 = 26, 'no' not priced.
    assert_eq!((e.min_cost, e.max_cost), (1, 26));
    assert_eq!((e.calls_min, e.calls_max), (1, 14));
    assert_eq!(e.unpriced_agents, ["nobody-hints"]);
    assert!(step(&e, "no").note.contains("no worker registered a cost hint"), "{}", step(&e, "no").note);
    assert!(step(&e, "gate").note.contains("does not decide"));
}

#[test]
fn planners_are_called_once_and_say_their_plan_is_not_counted() {
    let workflow = compiled(json!({"steps": [
        {"id": "plan", "type": "planner", "agent": "planner", "task": "plan"},
    ]}));
    let e = estimate(&workflow, &Value::Null, &hints(&[("planner", 7, 9)]));
    assert_eq!((e.calls_min, e.calls_max, e.min_cost, e.max_cost), (1, 1, 7, 9));
    assert!(step(&e, "plan").note.contains("not counted"));
}

#[test]
fn loops_count_their_iterations() {
    let def = compiled(json!({"steps": [
        {"id": "each", "type": "loop", "over": "$.input.xs", "maxIterations": 5,
         "step": {"id": "body", "type": "agent", "agent": "w", "task": "t"}},
        {"id": "poll", "type": "loop", "until": "$.check.output.done == true", "maxIterations": 4,
         "step": {"id": "check", "type": "agent", "agent": "w", "task": "t"}},
    ]}));
    let found = estimate(&def, &json!({"xs": [1, 2, 3]}), &hints(&[("w", 1, 2)]));
    let calls = |id: &str| (step(&found, id).calls_min, step(&found, id).calls_max);
    assert_eq!(calls("body"), (3, 3), "one iteration per item");
    assert_eq!(calls("check"), (1, 4), "an until loop runs at least once, at most maxIterations");
    assert!(step(&found, "poll").note.contains("1 to 4 iterations"), "{}", step(&found, "poll").note);
}
