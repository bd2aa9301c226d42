//! Map steps: one sub-step instance per item, bounded concurrency, output
//! in input order.

use serde_json::{Value, json};

use super::*;

fn scoring_map(concurrency: u32) -> Value {
    json!({"steps": [
        {"id": "score-each", "type": "map", "over": "$.input.leads", "as": "lead", "concurrency": concurrency,
         "step": {"id": "score-lead", "type": "agent", "agent": "scorer", "task": "Score {{ lead.company }}",
                  "inputMap": {"lead": "$.lead"}}},
        {"id": "summary", "type": "transform", "dependsOn": ["score-each"], "output": {"scores": "$.score-each.output"}},
    ]})
}

/// A tiny deterministic PRNG (xorshift), so shuffles need no crate.
pub(super) struct Xorshift(pub(super) u64);

impl Xorshift {
    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn map_keeps_input_order_with_concurrency_3() {
    let leads: Vec<Value> = (0..10).map(|i| json!({"company": format!("c{i}")})).collect();
    for seed in 1..=20 {
        let mut h = Harness::started(scoring_map(3), json!({"leads": leads}));
        let mut rng = Xorshift(seed);
        let mut max_in_flight = 0;
        while !h.tasks.is_empty() {
            max_in_flight = max_in_flight.max(h.tasks.len());
            assert!(h.tasks.len() <= 3, "never more than 3 items in flight: {:?}", h.keys());
            let keys = h.keys();
            let key = &keys[rng.below(keys.len())];
            let task = h.task(key).clone();
            assert_eq!(task.task, Some(format!("Score {}", task.input["lead"]["company"].as_str().unwrap_or("?"))));
            let company = task.input["lead"]["company"].clone();
            h.succeed(key, json!({"company": company}));
        }
        assert_eq!(max_in_flight, 3);
        assert_eq!(h.run.status(), RunStatus::Completed);
        let expected: Vec<Value> = leads.iter().map(|l| json!({"company": l["company"]})).collect();
        assert_eq!(h.output("score-each"), Some(Value::Array(expected.clone())), "seed {seed}");
        assert_eq!(h.output("summary"), Some(json!({"scores": expected})));
        assert_eq!(h.output("score-lead[4]"), Some(json!({"company": "c4"})));
        assert!(h.run.document().get("lead").is_none(), "the binding is not left in the document");
    }
}

#[test]
fn map_items_are_rows_with_their_parent_and_index() {
    let mut h = Harness::started(scoring_map(0), json!({"leads": [{"company": "a"}, {"company": "b"}]}));
    assert_eq!(h.keys(), ["score-lead[0]"], "concurrency 0 means one at a time");
    assert_eq!(h.status("score-lead[1]"), StepStatus::Ready, "queued items are ready, not started");
    h.succeed("score-lead[0]", json!(1));
    h.succeed("score-lead[1]", json!(2));
    let views = h.run.steps();
    let keys: Vec<&str> = views.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(keys, ["score-each", "score-lead[0]", "score-lead[1]", "summary"]);
    assert_eq!(views[2].parent_id, Some("score-each"));
    assert_eq!(views[2].item_index, Some(1));
    assert_eq!(h.output("score-each"), Some(json!([1, 2])));
}

#[test]
fn map_over_an_empty_array_completes_at_once() {
    let h = Harness::started(scoring_map(3), json!({"leads": []}));
    assert_eq!(h.output("score-each"), Some(json!([])));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn map_over_a_non_array_fails_the_step_clearly() {
    let h = Harness::started(scoring_map(3), json!({"leads": "not a list"}));
    let map = h.run.step("score-each").expect("map row");
    assert_eq!(map.status, StepStatus::Failed);
    let error = map.error.expect("an error");
    assert!(error.contains("score-each") && error.contains("array") && error.contains("a string"), "{error}");
    assert_eq!(h.status("summary"), StepStatus::Cancelled);
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.can_retry_from(), Some("score-each"));
    let missing = Harness::started(scoring_map(3), json!({}));
    let error = missing.run.step("score-each").and_then(|s| s.error.map(str::to_owned)).expect("an error");
    assert!(error.contains("nothing"), "{error}");
}

#[test]
fn map_of_transforms_runs_inline() {
    let def = json!({"steps": [
        {"id": "double", "type": "map", "over": "$.input.xs", "as": "x", "concurrency": 2,
         "step": {"id": "wrap", "type": "transform", "output": {"value": "$.x", "all": "$.input.xs[0]"}}},
    ]});
    let h = Harness::started(def, json!({"xs": [3, 1, 2]}));
    assert_eq!(h.transitions, 1);
    assert_eq!(
        h.output("double"),
        Some(json!([{"value": 3, "all": 3}, {"value": 1, "all": 3}, {"value": 2, "all": 3}]))
    );
}

#[test]
fn a_failed_item_fails_the_map_and_cancels_the_other_items() {
    let def = json!({"onFailure": "continue", "steps": scoring_map(2)["steps"].clone()});
    let mut h = Harness::started(def, json!({"leads": [{"company": "a"}, {"company": "b"}, {"company": "c"}]}));
    let outcome = h.fail("score-lead[1]", "scorer crashed", false);
    assert!(outcome.effects.contains(&Effect::CancelTask { step: "score-lead[0]".into() }));
    assert_eq!(h.status("score-lead[0]"), StepStatus::Cancelled);
    assert_eq!(h.status("score-lead[2]"), StepStatus::Cancelled, "queued items are cancelled too");
    let error = h.run.step("score-each").and_then(|s| s.error.map(str::to_owned)).expect("map error");
    assert!(error.contains("item 1") && error.contains("scorer crashed"), "{error}");
    assert_eq!(h.status("summary"), StepStatus::Skipped);
    assert_eq!(h.run.status(), RunStatus::Partial);
}
