//! Time in events and the run's own timeout: durations come from the
//! commands' clocks, and a workflow `timeout` fails the run with RUN_TIMEOUT.

use serde_json::json;

use super::*;

#[test]
fn step_and_run_events_carry_their_durations() {
    let def = json!({"steps": [
        {"id": "work", "type": "agent", "agent": "w", "task": "t"},
        {"id": "after", "type": "transform", "dependsOn": ["work"], "output": {"w": "$.work.output"}},
    ]});
    let mut h = Harness::new(workflow(def));
    h.apply(Command::Start { input: json!({}), shared_state: json!(null), now_ms: 1_000 }).expect("start");
    let done = Command::StepSucceeded {
        step: "work".into(),
        attempt: 1,
        output: json!({}),
        cost_cents: 0,
        now_ms: 3_500,
        state_writes: None,
    };
    h.apply(done).expect("done");
    let find = |kind: EventType, step: Option<&str>| {
        h.events.iter().find(|e| e.event_type == kind && e.step_id.as_deref() == step).expect("event").duration_ms
    };
    assert_eq!(find(EventType::StepCompleted, Some("work")), Some(2_500));
    assert_eq!(find(EventType::StepCompleted, Some("after")), Some(0), "started and done in one transition");
    assert_eq!(find(EventType::RunCompleted, None), Some(2_500));
    assert_eq!(find(EventType::StepStarted, Some("work")), None, "only ends carry a duration");
}

#[test]
fn run_timeout_fails_the_run_with_run_timeout() {
    let def = json!({"timeout": 30, "steps": [{"id": "work", "type": "agent", "agent": "w", "task": "t"}]});
    let mut h = Harness::started(def, json!({}));
    assert_eq!(h.timers.get(RUN_TIMER_KEY).copied(), Some(1_010 + 30_000), "armed at start");
    h.fire(RUN_TIMER_KEY);
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::RunTimeout));
    assert!(h.run.error().is_some_and(|e| e.contains("30 s")));
    assert!(h.tasks.is_empty(), "the work in flight is withdrawn");
    assert_eq!(h.status("work"), StepStatus::Cancelled);
}

#[test]
fn a_run_that_ends_first_withdraws_its_timer() {
    let def = json!({"timeout": 30, "steps": [{"id": "work", "type": "agent", "agent": "w", "task": "t"}]});
    let mut h = Harness::started(def, json!({}));
    h.succeed("work", json!({}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert!(h.timers.is_empty(), "the run timer was cancelled");
    let late = h.apply(Command::TimerFired { step: RUN_TIMER_KEY.into(), now_ms: 99_999 });
    assert!(matches!(late, Err(TransitionError::Finished { .. })), "a late firing changes nothing");
}
