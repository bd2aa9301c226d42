//! Data passing at run time: inputMap queries that select nothing, shared
//! state writes seen by later reads and rebuilt by replay, and writers of
//! one key never in flight together.

use serde_json::{Value, json};

use super::*;

fn agent(id: &str, deps: &[&str], input_map: Value) -> Value {
    json!({"id": id, "type": "agent", "agent": "worker", "task": "t", "dependsOn": deps, "inputMap": input_map})
}

#[test]
fn input_map_selecting_nothing_fails_the_step_naming_key_and_query() {
    let def = json!({"steps": [
        agent("fetch", &[], json!({"site": "$.input.website", "owner": "$.input.owner"})),
        agent("after", &["fetch"], json!({})),
    ]});
    let h = Harness::started(def, json!({"website": "https://acme.test"}));
    assert_eq!(h.status("fetch"), StepStatus::Failed);
    assert!(h.tasks.is_empty(), "nothing is dispatched with a missing input");
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).expect("step.failed");
    let error = failed.error.as_deref().expect("an error");
    for part in ["'fetch'", "'owner'", "$.input.owner", "selected nothing"] {
        assert!(error.contains(part), "{error} names {part}");
    }
    assert_eq!(failed.data, Some(json!({"code": "INPUT_MAP_EMPTY"})));
    assert_eq!(h.run.status(), RunStatus::Failed, "onFailure stop by default");
    assert_eq!(h.run.error_code(), Some(ErrorCode::InputMapEmpty));
    assert_eq!(h.run.can_retry_from(), Some("fetch"));
    assert_eq!(h.status("after"), StepStatus::Cancelled);
}

#[test]
fn input_map_failure_follows_goto_and_continue_routes() {
    // goto: the recovery step runs and the run completes.
    let def = json!({"steps": [
        {"id": "score", "type": "transform", "inputMap": {"s": "$.input.nope"}, "output": {"s": "$.input.s"},
         "onStepFailure": {"action": "goto", "target": "fallback"}},
        {"id": "fallback", "type": "transform", "output": {"s": "$.input.s"}},
        {"id": "use", "type": "transform", "dependsOn": ["score"], "output": {"s": "$.fallback.output.s"}},
    ]});
    let h = Harness::started(def, json!({"s": 5}));
    assert_eq!(h.status("score"), StepStatus::Failed);
    assert_eq!(h.output("use"), Some(json!({"s": 5})));
    assert_eq!(h.run.status(), RunStatus::Completed);

    // continue: independent branches finish and the run is partial.
    let def = json!({"onFailure": "continue", "steps": [
        {"id": "bad", "type": "transform", "inputMap": {"x": "$.input.nope"}, "output": {"x": "$.input.x"}},
        {"id": "good", "type": "transform", "output": {"x": "$.input.x"}},
    ]});
    let h = Harness::started(def, json!({"x": 1}));
    assert_eq!(h.run.status(), RunStatus::Partial);
    assert_eq!(h.run.can_retry_from(), Some("bad"));
    assert_eq!(h.output("good"), Some(json!({"x": 1})));
}

#[test]
fn input_map_of_a_step_that_ended_without_output_is_null() {
    // After a condition, the branch not taken is skipped: a join that reads
    // both branches gets null for the skipped one, not an error.
    let def = json!({"steps": [
        {"id": "check", "type": "condition", "expression": "$.input.n > 1",
         "onTrue": {"next": "big"}, "onFalse": {"next": "small"}},
        {"id": "big", "type": "transform", "output": {"v": "$.input.n"}},
        {"id": "small", "type": "transform", "output": {"v": "$.input.n"}},
        agent("join", &["big", "small"], json!({"big": "$.big.output.v", "small": "$.small.output.v"})),
    ]});
    let h = Harness::started(def, json!({"n": 3}));
    assert_eq!(h.task("join").input, json!({"big": 3, "small": null}));
}

#[test]
fn input_map_of_a_map_item_names_the_item() {
    let def = json!({"steps": [
        {"id": "each", "type": "map", "over": "$.input.leads", "as": "lead",
         "step": {"id": "score", "type": "agent", "agent": "s", "task": "t", "inputMap": {"name": "$.lead.name"}}},
    ]});
    let mut h = Harness::started(def, json!({"leads": [{"name": "a"}, {"nom": "b"}]}));
    h.succeed("score[0]", json!({}));
    assert_eq!(h.status("score[1]"), StepStatus::Failed);
    let error = h.run.step("score[1]").and_then(|s| s.error).expect("item error").to_owned();
    assert!(error.contains("'score[1]'") && error.contains("$.lead.name"), "{error}");
    assert_eq!(h.run.error_code(), Some(ErrorCode::InputMapEmpty), "the map fails for its item's reason");
}

#[test]
fn state_writes_reach_later_reads_and_replay_rebuilds_them() {
    let def = json!({"steps": [
        {"id": "writer", "type": "agent", "agent": "w", "task": "t", "stateWrites": ["company"]},
        {"id": "reader", "type": "transform", "dependsOn": ["writer"], "stateReads": ["company"],
         "output": {"company": "$.state.company", "campaign": "$.state.campaign"}},
        {"id": "wait", "type": "delay", "duration": 60, "dependsOn": ["reader"]},
    ]});
    let wf = workflow(def);
    let mut h = Harness::new(wf.clone());
    let start = Command::Start { input: json!({}), shared_state: json!({"campaign": "q2"}), now_ms: 1 };
    let mut commands = vec![start.clone()];
    h.apply(start).expect("start");
    let done = Command::StepSucceeded {
        step: "writer".into(),
        attempt: 1,
        output: json!({"company": "Acme", "unlisted": 1}),
        cost_cents: 0,
        now_ms: 2,
        state_writes: None,
    };
    commands.push(done.clone());
    h.apply(done).expect("writer done");
    assert_eq!(h.output("reader"), Some(json!({"company": "Acme", "campaign": "q2"})));
    assert_eq!(h.run.document()["state"], json!({"campaign": "q2", "company": "Acme"}), "only declared keys");

    // Recovery replays the stored commands into a fresh state.
    let mut replayed = RunState::new("wfrun_test", "wf_test", 1, wf);
    for command in commands {
        let json = serde_json::to_string(&command).expect("serializes");
        transition(&mut replayed, serde_json::from_str(&json).expect("deserializes")).expect("replays");
    }
    assert_eq!(replayed.document()["state"], h.run.document()["state"]);
    assert_eq!(replayed.status(), RunStatus::Running, "parked on the delay, as before the restart");
}

#[test]
fn explicit_state_writes_win_over_the_output_and_undeclared_keys_change_nothing() {
    let def = json!({"steps": [
        {"id": "writer", "type": "agent", "agent": "w", "task": "t", "stateWrites": ["company", "tier"]},
        {"id": "reader", "type": "transform", "dependsOn": ["writer"], "stateReads": ["company", "tier"],
         "output": {"company": "$.state.company", "tier": "$.state.tier"}},
        {"id": "wait", "type": "delay", "duration": 60, "dependsOn": ["reader"]},
    ]});
    let wf = workflow(def);
    let mut h = Harness::new(wf.clone());
    let start = Command::Start { input: json!({}), shared_state: json!({}), now_ms: 1 };
    h.apply(start.clone()).expect("start");
    let writes = |pairs: Value| pairs.as_object().cloned();
    let done = |state_writes| Command::StepSucceeded {
        step: "writer".into(),
        attempt: 1,
        output: json!({"company": "from output", "tier": "gold"}),
        cost_cents: 0,
        now_ms: 2,
        state_writes,
    };
    let refused = h.apply(done(writes(json!({"company": "Acme", "region": "eu"}))));
    assert!(
        matches!(&refused, Err(TransitionError::UndeclaredStateWrites { keys, .. }) if keys == &["region"]),
        "{refused:?}"
    );
    assert_eq!(h.status("writer"), StepStatus::Running, "a refused completion changes nothing");
    assert_eq!(h.run.document()["state"], json!({}));

    let accepted = done(writes(json!({"company": "Acme"})));
    h.apply(accepted.clone()).expect("declared keys are accepted");
    assert_eq!(h.output("writer"), Some(json!({"company": "from output", "tier": "gold"})), "the output is as sent");
    assert_eq!(h.output("reader"), Some(json!({"company": "Acme", "tier": "gold"})), "explicit wins, output fills");

    let mut replayed = RunState::new("wfrun_test", "wf_test", 1, wf);
    for command in [start, accepted] {
        let json = serde_json::to_string(&command).expect("serializes");
        transition(&mut replayed, serde_json::from_str(&json).expect("deserializes")).expect("replays");
    }
    assert_eq!(replayed.document()["state"], h.run.document()["state"], "replay rebuilds the explicit writes");
}

#[test]
fn map_items_writing_one_key_run_one_at_a_time_in_order() {
    let def = json!({"steps": [
        {"id": "each", "type": "map", "over": "$.input.items", "as": "it", "concurrency": 4,
         "step": {"id": "tally", "type": "agent", "agent": "a", "task": "t", "stateWrites": ["total"],
                  "inputMap": {"it": "$.it", "total": "$.state.total"}}},
    ]});
    let mut h = Harness::new(workflow(def));
    let start =
        Command::Start { input: json!({"items": [1, 2, 3, 4, 5]}), shared_state: json!({"total": 0}), now_ms: 1 };
    h.apply(start).expect("start");
    let mut order = Vec::new();
    while !h.tasks.is_empty() {
        assert_eq!(h.tasks.len(), 1, "one writer of 'total' in flight, despite concurrency 4: {:?}", h.keys());
        assert_eq!(h.run.writers_in_flight(), h.keys(), "the in-flight writer set is the task in flight");
        let key = h.keys()[0].clone();
        let task = h.task(&key).clone();
        // Each item sees the total its predecessor wrote: no lost update.
        let total = task.input["total"].as_i64().expect("total") + task.input["it"].as_i64().expect("item");
        order.push(key.clone());
        h.succeed(&key, json!({"total": total}));
    }
    assert_eq!(order, ["tally[0]", "tally[1]", "tally[2]", "tally[3]", "tally[4]"]);
    assert_eq!(h.run.document()["state"]["total"], json!(15));
    assert!(h.run.writers_in_flight().is_empty());
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn map_items_without_state_writes_keep_their_concurrency() {
    let def = json!({"steps": [
        {"id": "each", "type": "map", "over": "$.input.items", "as": "it", "concurrency": 3,
         "step": {"id": "look", "type": "agent", "agent": "a", "task": "t", "stateReads": ["total"]}},
    ]});
    let h = Harness::started(def, json!({"items": [1, 2, 3, 4]}));
    assert_eq!(h.keys().len(), 3, "readers are not serialized");
    assert!(h.run.writers_in_flight().is_empty());
}

#[test]
fn a_failed_writer_releases_its_key() {
    let def = json!({"onFailure": "continue", "steps": [
        {"id": "each", "type": "map", "over": "$.input.items", "as": "it", "concurrency": 2,
         "step": {"id": "w", "type": "agent", "agent": "a", "task": "t", "stateWrites": ["k"], "retries": 1}},
        {"id": "solo", "type": "agent", "agent": "a", "task": "t"},
    ]});
    let mut h = Harness::started(def, json!({"items": [1, 2]}));
    assert_eq!(h.keys(), ["solo", "w[0]"]);
    h.fail("w[0]", "flaky", true);
    assert_eq!(h.keys(), ["solo", "w[0]"], "a retry keeps the key; the next item still waits");
    h.fail("w[0]", "down", true);
    assert!(h.run.writers_in_flight().is_empty(), "failed for good: the key is free");
    assert_eq!(h.status("w[1]"), StepStatus::Cancelled, "a failed item cancels the rest of its map");
    h.succeed("solo", json!({}));
    assert_eq!(h.run.status(), RunStatus::Partial);
}
