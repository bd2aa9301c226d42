//! Failures: retries, goto recovery, continue (partial) and stop.

use serde_json::{Value, json};

use super::*;

fn agent(id: &str, deps: &[&str]) -> Value {
    json!({"id": id, "type": "agent", "agent": "worker", "task": format!("do {id}"), "dependsOn": deps})
}

#[test]
fn retryable_failure_redispatches_until_retries_run_out() {
    let mut flaky = agent("flaky", &[]);
    flaky["retries"] = json!(2);
    let mut h = Harness::started(json!({"steps": [flaky, agent("after", &["flaky"])]}), json!({}));
    assert_eq!(h.task("flaky").attempt, 1);
    h.fail("flaky", "timeout 1", true);
    assert_eq!(h.task("flaky").attempt, 2);
    assert_eq!(h.status("flaky"), StepStatus::Running);
    let stale = h.apply(Command::StepSucceeded {
        step: "flaky".into(),
        attempt: 1,
        output: json!(1),
        cost_cents: 0,
        now_ms: 1,
        state_writes: None,
    });
    assert!(matches!(stale, Err(TransitionError::StaleAttempt { attempt: 1, current: 2, .. })));
    h.fail("flaky", "timeout 2", true);
    assert_eq!(h.task("flaky").attempt, 3);
    h.fail("flaky", "timeout 3", true);
    assert!(h.tasks.is_empty(), "retries are spent");
    let flaky = h.run.step("flaky").expect("row");
    assert_eq!((flaky.status, flaky.attempts, flaky.error), (StepStatus::Failed, 3, Some("timeout 3")));
    assert_eq!(h.run.status(), RunStatus::Failed);
    let retrying = h.events.iter().filter(|e| e.event_type == EventType::StepRetrying).count();
    assert_eq!(retrying, 2);

    let mut once = agent("once", &[]);
    once["retries"] = json!(5);
    let mut h = Harness::started(json!({"steps": [once]}), json!({}));
    h.fail("once", "bad input", false);
    assert_eq!(h.status("once"), StepStatus::Failed, "a non-retryable error is not retried");

    let def = json!({"onFailure": "retry", "retries": 1, "steps": [agent("a", &[])]});
    let mut h = Harness::started(def, json!({}));
    h.fail("a", "flap", true);
    h.succeed("a", json!("ok"));
    assert_eq!(h.run.status(), RunStatus::Completed, "run-level retries apply to steps without their own");
}

fn goto_workflow() -> Value {
    let mut enrich = agent("enrich", &["scrape"]);
    enrich["onStepFailure"] = json!({"action": "goto", "target": "enrich-fallback"});
    json!({"steps": [
        agent("scrape", &[]),
        enrich,
        {"id": "enrich-fallback", "type": "agent", "agent": "lite", "task": "t",
         "inputMap": {"company": "$.scrape.output.company"}},
        agent("publish", &["enrich"]),
    ]})
}

#[test]
fn goto_routes_to_the_recovery_step() {
    let mut h = Harness::started(goto_workflow(), json!({}));
    assert_eq!(h.keys(), ["scrape"], "a goto target does not start with the run");
    h.succeed("scrape", json!({"company": "Acme"}));
    h.fail("enrich", "api down", false);
    assert_eq!(h.status("enrich"), StepStatus::Failed);
    assert_eq!(h.keys(), ["enrich-fallback"]);
    assert_eq!(h.task("enrich-fallback").input, json!({"company": "Acme"}));
    assert_eq!(h.status("publish"), StepStatus::Pending, "dependents wait for the recovery step");
    h.succeed("enrich-fallback", json!({"lite": true}));
    h.succeed("publish", json!("done"));
    assert_eq!(h.run.status(), RunStatus::Completed, "a recovered failure does not fail the run");
    assert_eq!(h.run.can_retry_from(), None);

    let mut h = Harness::started(goto_workflow(), json!({}));
    h.succeed("scrape", json!({}));
    h.succeed("enrich", json!({}));
    h.succeed("publish", json!({}));
    assert_eq!(h.status("enrich-fallback"), StepStatus::Skipped, "never routed to: skipped at the end");
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.run.output(), Some(&json!({"publish": {}})), "skipped sinks are left out");
}

#[test]
fn continue_mode_ends_partial_with_can_retry_from() {
    let def = json!({"onFailure": "continue", "steps": [
        agent("a", &[]), agent("b", &[]), agent("after-a", &["a"]), agent("after-both", &["a", "b"]),
        agent("c", &["b"]),
    ]});
    let mut h = Harness::started(def, json!({}));
    h.fail("a", "boom", false);
    assert_eq!(h.status("after-a"), StepStatus::Skipped, "dependents of a failed step are skipped");
    assert_eq!(h.run.status(), RunStatus::Running, "independent branches go on");
    h.succeed("b", json!(2));
    assert_eq!(h.status("after-both"), StepStatus::Skipped, "one failed dependency is enough to skip");
    h.fail("c", "also", false);
    assert_eq!(h.run.status(), RunStatus::Partial);
    assert_eq!(h.run.can_retry_from(), Some("a"), "the first failed step in topological order");
    let last = h.events.last().expect("events");
    assert_eq!((last.event_type, last.can_retry_from.as_deref()), (EventType::RunPartial, Some("a")));

    let mut step_level = agent("x", &[]);
    step_level["onStepFailure"] = json!({"action": "continue"});
    let mut h = Harness::started(json!({"steps": [step_level, agent("y", &[])]}), json!({}));
    h.fail("x", "nope", false);
    h.succeed("y", json!(1));
    assert_eq!(h.run.status(), RunStatus::Partial, "a step-level continue overrides the run's stop");
}

#[test]
fn stop_mode_fails_the_run_and_cancels_in_flight_steps() {
    let def = json!({"steps": [
        agent("a", &[]), agent("b", &[]), agent("after", &["a", "b"]),
        {"id": "nap", "type": "delay", "duration": 5},
    ]});
    let mut h = Harness::started(def, json!({}));
    let outcome = h.fail("a", "fatal", false);
    assert_eq!(outcome.effects, [Effect::CancelTask { step: "b".into() }, Effect::CancelTimer { step: "nap".into() }]);
    assert_eq!(h.status("a"), StepStatus::Failed);
    for key in ["b", "after", "nap"] {
        assert_eq!(h.status(key), StepStatus::Cancelled, "{key}");
    }
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.error(), Some("fatal"));
    assert_eq!(h.run.can_retry_from(), Some("a"));
    let types: Vec<&str> = outcome.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["step.failed", "step.cancelled", "step.cancelled", "step.cancelled", "run.failed"]);
    let late = h.apply(Command::StepSucceeded {
        step: "b".into(),
        attempt: 1,
        output: json!(1),
        cost_cents: 0,
        now_ms: 1,
        state_writes: None,
    });
    assert_eq!(late, Err(TransitionError::Finished { status: RunStatus::Failed }));
}
