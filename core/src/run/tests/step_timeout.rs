//! A step's `timeout` on worker steps: agent and planner tasks carry it
//! (the store starts its clock at the claim), the server's own steps do
//! not; `StepTimedOut` costs an attempt like a lost lease, fails the step
//! with STEP_TIMEOUT when no retries are left, and is fenced by attempt.

use serde_json::json;

use super::*;

fn timed_agent(retries: u32) -> Value {
    json!({"steps": [{"id": "a", "type": "agent", "agent": "w", "task": "t", "timeout": "3s", "retries": retries}]})
}

fn time_out(h: &mut Harness, key: &str) -> Result<Outcome, TransitionError> {
    let attempt = h.task(key).attempt;
    h.apply(Command::StepTimedOut { step: key.into(), attempt, timeout_ms: 3_000, now_ms: 5_000 })
}

#[test]
fn worker_tasks_carry_their_step_timeout_and_the_servers_own_do_not() {
    let h = Harness::started(timed_agent(0), json!({}));
    assert_eq!(h.task("a").timeout_ms, Some(3_000));
    let planner = json!({"steps": [{"id": "p", "type": "planner", "agent": "w", "task": "t", "timeout": "1m"}]});
    assert_eq!(Harness::started(planner, json!({})).task("p").timeout_ms, Some(60_000));
    let untimed = json!({"steps": [{"id": "a", "type": "agent", "agent": "w", "task": "t"}]});
    assert_eq!(Harness::started(untimed, json!({})).task("a").timeout_ms, None);
    let webhook = json!({"steps": [{"id": "h", "type": "webhook", "url": "https://example.com/", "timeout": "3s"}]});
    assert_eq!(Harness::started(webhook, json!({})).task("h").timeout_ms, None, "the executor times it");
}

#[test]
fn a_timed_out_attempt_is_retried_then_fails_the_step_with_step_timeout() {
    let mut h = Harness::started(timed_agent(1), json!({}));
    time_out(&mut h, "a").expect("accepted");
    assert_eq!(h.task("a").attempt, 2, "attempt 2 is queued");
    assert_eq!(h.task("a").timeout_ms, Some(3_000), "with the same timeout, counted from its own claim");
    assert_eq!(h.status("a"), StepStatus::Running);
    let retrying = h.events.iter().find(|e| e.event_type == EventType::StepRetrying).unwrap();
    assert_eq!(retrying.error.as_deref(), Some("attempt 1 passed the step's timeout of 3s"));

    let stale = h.apply(Command::StepTimedOut { step: "a".into(), attempt: 1, timeout_ms: 3_000, now_ms: 5_001 });
    assert!(matches!(stale, Err(TransitionError::StaleAttempt { attempt: 1, current: 2, .. })), "{stale:?}");

    time_out(&mut h, "a").expect("accepted");
    assert_eq!(h.status("a"), StepStatus::Failed, "no retries left");
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).unwrap();
    assert_eq!(failed.data, Some(json!({"code": "STEP_TIMEOUT"})));
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::StepTimeout));
}

#[test]
fn step_timeouts_replay_from_json() {
    let command = Command::StepTimedOut { step: "a".into(), attempt: 2, timeout_ms: 1_000, now_ms: 5 };
    let text = serde_json::to_string(&command).unwrap();
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
}
