//! `LeaseExpired` and `OutputRejected`: a vanished worker costs an attempt
//! (and fails the step with LEASE_EXPIRED when none are left); a refused
//! output fails the step for good with OUTPUT_INVALID; both are fenced by
//! the attempt like completions.

use serde_json::json;

use super::*;

fn one_agent(retries: u32) -> Value {
    json!({"steps": [{"id": "a", "type": "agent", "agent": "w", "task": "t", "retries": retries}]})
}

fn expire(h: &mut Harness, key: &str) -> Result<Outcome, TransitionError> {
    let attempt = h.task(key).attempt;
    h.apply(Command::LeaseExpired { step: key.into(), attempt, now_ms: 2_000 })
}

#[test]
fn an_expired_lease_dispatches_the_next_attempt_within_retries() {
    let mut h = Harness::started(one_agent(1), json!({}));
    expire(&mut h, "a").expect("accepted");
    assert_eq!(h.task("a").attempt, 2, "attempt 2 is queued");
    assert_eq!(h.status("a"), StepStatus::Running);
    assert_eq!(h.trace().last().unwrap(), "step.retrying a");

    let stale = h.apply(Command::LeaseExpired { step: "a".into(), attempt: 1, now_ms: 2_001 }).unwrap_err();
    assert!(matches!(stale, TransitionError::StaleAttempt { attempt: 1, current: 2, .. }), "{stale:?}");

    expire(&mut h, "a").expect("accepted");
    assert_eq!(h.status("a"), StepStatus::Failed, "no retries left");
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).unwrap();
    assert_eq!(failed.data, Some(json!({"code": "LEASE_EXPIRED"})));
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::LeaseExpired));
}

#[test]
fn a_rejected_output_fails_the_step_for_good_and_keeps_the_cost() {
    let mut h = Harness::started(one_agent(3), json!({}));
    let command = Command::OutputRejected {
        step: "a".into(),
        attempt: 1,
        error: "the output is too large".into(),
        fault: crate::run::OutputFault::Invalid,
        cost_cents: 7,
        now_ms: 2_000,
    };
    h.apply(command).expect("accepted");
    assert_eq!(h.status("a"), StepStatus::Failed, "retries do not apply: the same work gives the same output");
    assert_eq!(h.run.step("a").unwrap().cost_cents, 7);
    assert_eq!(h.run.total_cost_cents(), 7);
    assert_eq!(h.run.error_code(), Some(ErrorCode::OutputInvalid));
    let late = h.apply(Command::LeaseExpired { step: "a".into(), attempt: 1, now_ms: 2_001 }).unwrap_err();
    assert!(matches!(late, TransitionError::Finished { .. }), "{late:?}");
}

#[test]
fn lease_commands_replay_from_json() {
    let command = Command::LeaseExpired { step: "a".into(), attempt: 2, now_ms: 5 };
    let text = serde_json::to_string(&command).unwrap();
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
}
