//! Approval steps: the step pauses the run as it starts, a decision
//! completes it (or, denied, fails it with APPROVAL_DENIED for its route),
//! the timer applies the default action, and the derived approval id
//! replays to the same value.

use serde_json::json;

use super::*;
use crate::run::ErrorCode;

fn gated(timeout: &str, default_action: &str) -> Value {
    json!({"steps": [
        {"id": "gate", "type": "approval", "action": "send_email", "timeout": timeout,
         "defaultAction": default_action, "options": ["approve", "reject", "escalate"]},
        {"id": "send", "type": "transform", "dependsOn": ["gate"], "output": {"d": "$.gate.output.decision"}},
    ]})
}

fn answer(h: &mut Harness, option: &str, comment: &str) -> Result<Outcome, TransitionError> {
    let now_ms = h.now_ms;
    h.apply(Command::Answer {
        step: "gate".into(),
        option: option.into(),
        decided_by: "alice".into(),
        comment: comment.into(),
        approval_id: None,
        now_ms,
    })
}

#[test]
fn an_approval_step_pauses_until_decided_and_cancels_its_timer() {
    let mut h = Harness::started(gated("4h", ""), json!({}));
    assert_eq!((h.status("gate"), h.run.status()), (StepStatus::Paused, RunStatus::Paused));
    let pending = h.run.pending_action().unwrap();
    assert_eq!((pending.kind, pending.message.as_str()), ("approval", "Approve send_email?"));
    assert_eq!(pending.options, ["approve", "reject", "escalate"]);
    assert!(h.timers.contains_key("gate"), "the timeout is a durable timer");
    assert!(matches!(answer(&mut h, "maybe", "").unwrap_err(), TransitionError::BadAnswer { .. }));

    answer(&mut h, "escalate", "ask bob").expect("accepted");
    assert!(!h.timers.contains_key("gate"), "a decision withdraws the timer");
    assert_eq!(h.output("gate"), Some(json!({"decision": "escalate", "decidedBy": "alice", "comment": "ask bob"})));
    assert_eq!(h.output("send"), Some(json!({"d": "escalate"})));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn a_denial_fails_the_step_with_approval_denied() {
    let mut h = Harness::started(gated("", ""), json!({}));
    assert!(h.timers.is_empty(), "no timeout, no timer");
    answer(&mut h, "deny", "").expect("deny reads as reject");
    assert_eq!(h.status("gate"), StepStatus::Failed);
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).unwrap();
    assert_eq!(failed.data.as_ref().unwrap()["code"], ErrorCode::ApprovalDenied.as_str());
    assert_eq!(h.run.status(), RunStatus::Failed);
}

#[test]
fn the_timer_applies_the_default_action_and_replays_the_same() {
    let mut h = Harness::started(gated("1s", "approve"), json!({}));
    let pending_id = h.run.pending_action().unwrap().approval_id.unwrap();
    h.fire("gate");
    assert_eq!(h.output("gate"), Some(json!({"decision": "approve", "decidedBy": "system:timeout"})));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let decided = h.events.iter().find(|e| e.event_type == EventType::ApprovalDecided).unwrap();
    assert_eq!(decided.data.as_ref().unwrap()["expired"], true);
    assert_eq!(decided.data.as_ref().unwrap()["approvalId"], pending_id.as_str());

    // The id is derived from the run and the step, so a replay opens the same one.
    let mut again = Harness::started(gated("1s", "approve"), json!({}));
    assert_eq!(again.run.pending_action().unwrap().approval_id.unwrap(), pending_id);
    assert!(pending_id.starts_with("appr_") && pending_id.len() == 31, "{pending_id}");
    let stale = again.apply(Command::Answer {
        step: "gate".into(),
        option: "approve".into(),
        decided_by: "alice".into(),
        comment: String::new(),
        approval_id: Some("appr_other".into()),
        now_ms: 5,
    });
    assert!(matches!(stale.unwrap_err(), TransitionError::NotPaused { .. }), "another approval's decision");
}

#[test]
fn approval_rows_travel_as_effects_that_agree_with_their_events() {
    let mut h = Harness::started(gated("4h", "approve"), json!({}));
    let opened: Vec<ApprovalOpened> = h
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::ApprovalOpened(opened) => Some(opened.clone()),
            _ => None,
        })
        .collect();
    let [opened] = opened.as_slice() else { panic!("one approval opened: {:?}", h.effects) };
    let pending = h.events.iter().find(|e| e.event_type == EventType::ApprovalPending).expect("approval.pending");
    assert_eq!(pending.data.as_ref(), Some(&opened.data()), "the event's data is the effect's");
    assert_eq!(pending.action.as_deref(), Some(opened.action.as_str()));
    assert_eq!(Some(opened.approval_id.clone()), h.run.pending_action().unwrap().approval_id);
    assert_eq!((opened.step.as_str(), opened.kind()), ("gate", crate::model::ApprovalKind::Step));
    let due = h.timers["gate"];
    assert_eq!(opened.subject, ApprovalSubject::Step { default_action: Decision::Approve, expires_ms: Some(due) });
    assert_eq!(h.run.pending_action().unwrap().expires_at, Some(due), "the pending action says when it expires");

    // The timer decides: the default action applies, the approval expires.
    let outcome = h.fire("gate");
    let decided = outcome.effects.iter().find_map(|e| match e {
        Effect::ApprovalDecided(decided) => Some(decided),
        _ => None,
    });
    let decided = decided.expect("the decision is an effect");
    let event = outcome.events.iter().find(|e| e.event_type == EventType::ApprovalDecided).expect("approval.decided");
    assert_eq!(event.data.as_ref(), Some(&decided.data()));
    assert_eq!((decided.decision, decided.status()), (Decision::Approve, crate::model::ApprovalStatus::Expired));
    assert_eq!(
        (decided.approval_id.as_str(), decided.decided_by.as_str()),
        (opened.approval_id.as_str(), "system:timeout")
    );
}
