//! Wait steps: the step pauses the run for its named event, the event
//! completes it with its payload, a wrong event is refused, and the timer
//! takes the onTimeout branch (skipping the other) or, without one, fails
//! the step with WAIT_TIMEOUT.

use serde_json::json;

use super::*;
use crate::run::ErrorCode;

fn waiting(timeout: &str, on_timeout: bool) -> Value {
    let mut wait = json!({"id": "pay", "type": "wait", "event": "payment.confirmed", "timeout": timeout});
    if on_timeout {
        wait["onTimeout"] = json!({"next": "late"});
    }
    json!({"steps": [
        wait,
        {"id": "ship", "type": "transform", "dependsOn": ["pay"], "output": {"amount": "$.pay.output.amount"}},
        {"id": "late", "type": "transform", "output": {"was": "$.pay.output"}},
    ]})
}

fn event(h: &mut Harness, name: &str, payload: Value) -> Result<Outcome, TransitionError> {
    let now_ms = h.now_ms;
    h.apply(Command::Event { event: name.into(), payload, now_ms })
}

#[test]
fn a_wait_pauses_until_its_event_whose_payload_is_its_output() {
    let mut h = Harness::started(waiting("1h", true), json!({}));
    assert_eq!((h.status("pay"), h.run.status()), (StepStatus::Paused, RunStatus::Paused));
    let pending = h.run.pending_action().unwrap();
    assert_eq!((pending.kind, pending.event.as_deref()), ("event", Some("payment.confirmed")));
    assert!(h.timers.contains_key("pay"), "the timeout is a durable timer");
    assert_eq!(pending.expires_at, Some(h.timers["pay"]), "the pending action says when the wait times out");
    assert_eq!(h.timers["pay"], h.now_ms + 3_600_000);

    let before = h.events.len();
    assert!(matches!(event(&mut h, "payment.failed", json!({})).unwrap_err(), TransitionError::NoWait { .. }));
    assert_eq!((h.events.len(), h.status("pay")), (before, StepStatus::Paused), "a wrong event changes nothing");

    event(&mut h, "payment.confirmed", json!({"amount": 42})).expect("accepted");
    assert!(!h.timers.contains_key("pay"), "the event withdraws the timer");
    assert_eq!(h.output("pay"), Some(json!({"amount": 42})));
    assert_eq!(h.output("ship"), Some(json!({"amount": 42})));
    assert_eq!(h.status("late"), StepStatus::Skipped, "the timeout branch is not taken");
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert!(matches!(event(&mut h, "payment.confirmed", json!({})).unwrap_err(), TransitionError::Finished { .. }));
}

#[test]
fn the_timer_takes_the_timeout_branch_and_skips_the_other() {
    let mut h = Harness::started(waiting("1s", true), json!({}));
    h.fire("pay");
    assert_eq!((h.status("pay"), h.output("pay")), (StepStatus::Completed, Some(Value::Null)));
    assert_eq!(h.status("ship"), StepStatus::Skipped);
    assert_eq!(h.output("late"), Some(json!({"was": null})));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn without_on_timeout_the_timer_fails_the_step_with_wait_timeout() {
    let wf = json!({"steps": [{"id": "pay", "type": "wait", "event": "e", "timeout": "1s"}]});
    let mut h = Harness::started(wf, json!({}));
    h.fire("pay");
    assert_eq!(h.status("pay"), StepStatus::Failed);
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).unwrap();
    assert_eq!(failed.data.as_ref().unwrap()["code"], ErrorCode::WaitTimeout.as_str());
}
