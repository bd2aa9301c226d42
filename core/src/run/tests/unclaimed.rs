//! `TaskUnclaimed`: task.unclaimed is recorded once per attempt of a
//! waiting agent or planner task, changes nothing else, and a worker
//! arriving later completes the step as usual.

use serde_json::json;

use super::*;

fn one_agent(retries: u32) -> Value {
    json!({"steps": [{"id": "a", "type": "agent", "agent": "web-researcher", "task": "t", "retries": retries}]})
}

fn unclaimed(h: &mut Harness, key: &str, attempt: u32) -> Result<Outcome, TransitionError> {
    let command = Command::TaskUnclaimed { step: key.into(), attempt, agent: "web-researcher".into(), now_ms: 5_000 };
    h.apply(command)
}

#[test]
fn an_unclaimed_task_is_told_once_per_attempt_and_changes_nothing_else() {
    let mut h = Harness::started(one_agent(1), json!({}));
    let outcome = unclaimed(&mut h, "a", 1).expect("accepted");
    assert!(outcome.effects.is_empty(), "no task is queued again: {:?}", outcome.effects);
    let [event] = outcome.events.as_slice() else { panic!("one event: {:?}", outcome.events) };
    assert_eq!(event.event_type.as_str(), "task.unclaimed");
    assert_eq!((event.step_id.as_deref(), event.status), (Some("a"), "ready"));
    assert_eq!(event.data, Some(json!({"agent": "web-researcher", "attempt": 1})));
    assert_eq!(h.status("a"), StepStatus::Running, "the state machine keeps the attempt as dispatched");
    assert_eq!(h.run.step("a").unwrap().attempts, 1);

    let again = unclaimed(&mut h, "a", 1).unwrap_err();
    assert_eq!(again, TransitionError::AlreadyNoted { step: "a".into(), attempt: 1 });

    // The worker vanished; the next attempt may be told again.
    h.apply(Command::LeaseExpired { step: "a".into(), attempt: 1, now_ms: 6_000 }).unwrap();
    unclaimed(&mut h, "a", 1).expect_err("a stale attempt is refused");
    unclaimed(&mut h, "a", 2).expect("attempt 2 is told once too");
    assert_eq!(h.trace().iter().filter(|t| t.starts_with("task.unclaimed")).count(), 2);

    // A worker arriving later completes the run as usual.
    h.succeed("a", json!({"ok": true}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let late = unclaimed(&mut h, "a", 2).unwrap_err();
    assert!(matches!(late, TransitionError::Finished { .. }), "{late:?}");
}

#[test]
fn only_a_waiting_worker_task_can_be_unclaimed() {
    let mut h = Harness::started(
        json!({"steps": [
            {"id": "a", "type": "agent", "agent": "w", "task": "t"},
            {"id": "b", "type": "approval", "dependsOn": ["a"], "action": "ok"},
            {"id": "h", "type": "webhook", "url": "https://example.com/x"}
        ]}),
        json!({}),
    );
    let webhook = Command::TaskUnclaimed { step: "h".into(), attempt: 1, agent: "x".into(), now_ms: 5_000 };
    let refused = h.apply(webhook).unwrap_err();
    assert!(matches!(refused, TransitionError::NotInFlight { .. }), "the server runs webhooks itself: {refused:?}");
    let unknown = Command::TaskUnclaimed { step: "zz".into(), attempt: 1, agent: "w".into(), now_ms: 5_000 };
    assert!(matches!(h.apply(unknown).unwrap_err(), TransitionError::UnknownStep(_)));
    let pending = Command::TaskUnclaimed { step: "b".into(), attempt: 0, agent: "w".into(), now_ms: 5_000 };
    assert!(matches!(h.apply(pending).unwrap_err(), TransitionError::NotInFlight { .. }));
    let stale = Command::TaskUnclaimed { step: "a".into(), attempt: 2, agent: "w".into(), now_ms: 5_000 };
    assert!(matches!(h.apply(stale).unwrap_err(), TransitionError::StaleAttempt { .. }));
}

#[test]
fn a_step_run_again_from_the_start_may_be_noted_again() {
    let mut h = Harness::started(
        json!({"steps": [
            {"id": "a", "type": "agent", "agent": "web-researcher", "task": "t"},
            {"id": "gate", "type": "approval", "action": "go", "dependsOn": ["a"]}
        ]}),
        json!({}),
    );
    unclaimed(&mut h, "a", 1).expect("noted");
    h.succeed("a", json!({}));
    assert!(h.run.unclaimed.is_empty(), "a finished step forgets its note");
    let now_ms = h.now_ms + 10;
    h.apply(Command::Continue { from_step: Some("a".into()), now_ms }).expect("run again from a");
    let attempt = h.task("a").attempt;
    unclaimed(&mut h, "a", attempt).expect("the new wait is told too");
}

#[test]
fn the_noted_attempt_survives_a_replay_of_the_commands() {
    // The writer rebuilds a run after a restart by replaying its stored
    // commands: the replayed run refuses a second note too.
    let command = Command::TaskUnclaimed { step: "a".into(), attempt: 1, agent: "web-researcher".into(), now_ms: 5 };
    let text = serde_json::to_string(&command).unwrap();
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
    let mut h = Harness::started(one_agent(0), json!({}));
    h.apply(serde_json::from_str(&text).unwrap()).expect("accepted");
    let mut replayed = Harness::new(h.run.compiled().clone());
    replayed.start(json!({}));
    replayed.apply(serde_json::from_str(&text).unwrap()).expect("replayed");
    assert!(matches!(unclaimed(&mut replayed, "a", 1).unwrap_err(), TransitionError::AlreadyNoted { .. }));
}
