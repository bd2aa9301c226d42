//! PauseRun's hold and the plain ResumeRun: nothing starts while held,
//! in-flight work is recorded, ending the hold starts what became ready;
//! `from_step` runs a step and what it leads to again in the same run.

use serde_json::json;

use super::*;

fn pipeline() -> Value {
    json!({"steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "a", "retries": 1},
        {"id": "b", "type": "agent", "agent": "w", "task": "b"},
        {"id": "c", "type": "agent", "agent": "w", "task": "c", "dependsOn": ["a"]},
        {"id": "d", "type": "transform", "dependsOn": ["c", "b"], "output": {"c": "$.c.output"}},
    ]})
}

fn pause(h: &mut Harness, reason: &str) -> Result<Outcome, TransitionError> {
    let now_ms = h.now_ms;
    h.apply(Command::Pause { reason: reason.into(), now_ms })
}

fn resume(h: &mut Harness, from_step: Option<&str>) -> Result<Outcome, TransitionError> {
    let now_ms = h.now_ms;
    h.apply(Command::Continue { from_step: from_step.map(str::to_owned), now_ms })
}

#[test]
fn a_held_run_records_completions_but_starts_nothing_until_resumed() {
    let mut h = Harness::started(pipeline(), json!({}));
    pause(&mut h, "maintenance").expect("a running run pauses");
    assert_eq!(h.run.status(), RunStatus::Paused);
    let pending = h.run.pending_action().unwrap();
    assert_eq!(pending.kind, "manual");
    assert!(pending.message.contains("maintenance"), "{}", pending.message);
    assert_eq!(h.events.last().unwrap().event_type, EventType::RunPaused);

    h.succeed("a", json!({"n": 1}));
    assert_eq!(h.status("a"), StepStatus::Completed, "in-flight completions are recorded");
    assert_eq!(h.status("c"), StepStatus::Pending, "no new step starts while held");
    assert!(!h.tasks.contains_key("c"));
    h.succeed("b", json!({}));
    assert_eq!(h.run.status(), RunStatus::Paused, "nothing in flight does not finish a held run");

    let before = h.events.len();
    assert!(matches!(pause(&mut h, "again").unwrap_err(), TransitionError::NotRunning { .. }));
    assert_eq!(h.events.len(), before, "pausing a paused run changes nothing");

    resume(&mut h, None).expect("a held run resumes");
    assert_eq!(h.run.status(), RunStatus::Running);
    assert_eq!(h.trace()[before..], ["run.resumed", "step.started c"]);
    h.succeed("c", json!({"v": 3}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.output("d"), Some(json!({"c": {"v": 3}})));
    let finished = h.events.len();
    assert!(matches!(pause(&mut h, "late").unwrap_err(), TransitionError::NotRunning { .. }));
    assert!(matches!(resume(&mut h, None).unwrap_err(), TransitionError::Finished { .. }));
    assert_eq!(h.events.len(), finished);
}

#[test]
fn a_retry_due_while_held_waits_for_the_resume() {
    let mut h = Harness::started(pipeline(), json!({}));
    pause(&mut h, "").unwrap();
    h.fail("a", "flaky", true);
    assert!(!h.tasks.contains_key("a"), "the retry is not dispatched while held");
    assert_eq!(h.status("a"), StepStatus::Running);
    resume(&mut h, None).unwrap();
    assert_eq!(h.task("a").attempt, 2, "the kept retry goes out on resume");
}

#[test]
fn cancelling_a_held_run_withdraws_only_real_tasks() {
    let mut h = Harness::started(pipeline(), json!({}));
    pause(&mut h, "").unwrap();
    h.fail("a", "flaky", true);
    h.apply(Command::Cancel { reason: "stop".into(), now_ms: h.now_ms }).expect("cancel is accepted");
    assert_eq!(h.run.status(), RunStatus::Cancelled);
    assert!(h.tasks.is_empty());
    assert_eq!(h.run.pending_action(), None);
}

#[test]
fn a_plain_resume_of_a_run_held_by_a_step_gate_is_refused() {
    let def = json!({"steps": [{"id": "ok", "type": "approval", "action": "ship"}]});
    let mut h = Harness::started(def, json!({}));
    assert_eq!(h.run.status(), RunStatus::Paused);
    let before = h.events.len();
    assert!(matches!(resume(&mut h, None).unwrap_err(), TransitionError::NotHeld { .. }));
    assert!(matches!(pause(&mut h, "").unwrap_err(), TransitionError::NotRunning { .. }));
    assert_eq!(h.events.len(), before);
}

#[test]
fn from_step_runs_the_step_and_what_follows_again_keeping_the_rest() {
    let mut h = Harness::started(pipeline(), json!({}));
    h.succeed("a", json!({"n": 1}));
    pause(&mut h, "").unwrap();
    let before = h.events.len();
    assert!(matches!(resume(&mut h, Some("ghost")).unwrap_err(), TransitionError::UnknownStep(_)));
    assert_eq!(h.events.len(), before, "an unknown step changes nothing");

    // c is in flight: it is withdrawn and dispatched again at attempt 2.
    resume(&mut h, Some("a")).expect("from_step on a held run");
    assert_eq!(h.status("b"), StepStatus::Running, "b does not follow a: untouched");
    assert_eq!(h.task("a").attempt, 2, "attempts keep counting, fencing the old worker");
    assert_eq!(h.status("c"), StepStatus::Pending);
    assert!(h.trace().contains(&"step.reset a".to_owned()));
    assert!(h.run.document().get("a").is_none(), "the old output is dropped");
    h.succeed("a", json!({"n": 2}));
    h.succeed("c", json!({"v": 9}));
    h.succeed("b", json!({}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.output("d"), Some(json!({"c": {"v": 9}})));
}

#[test]
fn from_step_inside_a_map_is_refused() {
    let def = json!({"steps": [
        {"id": "m", "type": "map", "over": "$.input.xs", "step": {"id": "it", "type": "agent", "agent": "w", "task": "t"}},
        {"id": "gate", "type": "approval", "action": "x", "dependsOn": ["m"]},
    ]});
    let mut h = Harness::started(def, json!({"xs": [1]}));
    pause(&mut h, "").unwrap();
    let before = h.events.len();
    let err = resume(&mut h, Some("it")).unwrap_err();
    assert!(matches!(err, TransitionError::BadRewind { .. }), "{err}");
    assert!(err.to_string().contains("resume from 'm'"), "{err}");
    let err = resume(&mut h, Some("m")).unwrap_err();
    assert!(matches!(err, TransitionError::BadRewind { .. }), "a map with items is not reset in place: {err}");
    assert_eq!(h.events.len(), before);
}

#[test]
fn a_hold_survives_a_replay_of_the_commands() {
    let mut h = Harness::started(pipeline(), json!({}));
    let mut commands = vec![Command::Start { input: json!({}), shared_state: Value::Null, now_ms: 1_010 }];
    let pause_cmd = Command::Pause { reason: "x".into(), now_ms: h.now_ms };
    h.apply(pause_cmd.clone()).unwrap();
    commands.push(pause_cmd);
    let mut replayed = RunState::new("wfrun_test", "wf_test", 1, Arc::clone(h.run.compiled()));
    for command in commands {
        transition(&mut replayed, command).expect("replays");
    }
    assert_eq!(replayed.status(), RunStatus::Paused);
    assert_eq!(replayed.pending_action().map(|p| p.kind), Some("manual"));
}

#[test]
fn from_step_on_a_run_paused_at_an_approval_asks_again_with_a_new_approval() {
    let def = json!({"steps": [
        {"id": "draft", "type": "transform", "output": {"to": "$.input.to"}},
        {"id": "ok", "type": "approval", "action": "send", "dependsOn": ["draft"]},
    ]});
    let mut h = Harness::started(def, json!({"to": "a"}));
    let first = h.run.pending_action().unwrap().approval_id.unwrap();
    resume(&mut h, Some("draft")).expect("from_step on a gate-paused run");
    let second = h.run.pending_action().unwrap().approval_id.unwrap();
    assert_ne!(first, second, "the rerun asks with a new approval");
    assert_eq!(h.run.status(), RunStatus::Paused);
    let trace = h.trace();
    let expired = trace.iter().position(|t| t == "approval.decided ok").expect("the old approval closes");
    let reset = trace.iter().rposition(|t| t == "step.reset ok").unwrap();
    let resumed = trace.iter().rposition(|t| t == "run.resumed").unwrap();
    let asked = trace.iter().rposition(|t| t == "approval.pending ok").unwrap();
    assert!(expired < reset && reset < resumed && resumed < asked, "{trace:?}");
    assert!(trace.contains(&"step.completed draft".to_owned()));
}

#[test]
fn a_step_gate_opened_and_answered_while_held_leaves_the_run_held() {
    let def = json!({"policy": {"requireApprovalFor": ["send_email"]}, "steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "a"},
        {"id": "b", "type": "transform", "dependsOn": ["a"], "output": {"a": "$.a.output"}},
    ]});
    let mut h = Harness::started(def, json!({}));
    pause(&mut h, "").unwrap();
    let now_ms = h.now_ms;
    let ask = Command::ToolApprovalRequested {
        step: "a".into(),
        attempt: 1,
        approval_id: "appr_1".into(),
        tool: "send_email".into(),
        arguments: Value::Null,
        now_ms,
    };
    h.apply(ask).expect("an in-flight step may still ask");
    assert_eq!(h.run.pending_action().unwrap().kind, "manual", "the hold is what the run waits for first");
    assert_eq!(h.trace().iter().filter(|t| *t == "run.paused").count(), 1, "no second run.paused");
    let answer = Command::Answer {
        step: "a".into(),
        option: "approve".into(),
        decided_by: "alice".into(),
        comment: String::new(),
        approval_id: None,
        now_ms,
    };
    h.apply(answer).expect("the gate is answered");
    assert_eq!(h.run.status(), RunStatus::Paused, "still held");
    assert!(!h.trace().contains(&"run.resumed".to_owned()));
    resume(&mut h, None).unwrap();
    h.succeed("a", json!(1));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn from_step_withdraws_a_webhook_waiting_for_its_callback_and_dispatches_it_afresh() {
    let mut h = Harness::started(
        json!({"steps": [
            {"id": "a", "type": "agent", "agent": "w", "task": "a"},
            {"id": "hook", "type": "webhook", "url": "https://hooks.example.com/x", "waitForCallback": true,
             "dependsOn": ["a"]},
        ]}),
        json!({}),
    );
    h.succeed("a", json!({"n": 1}));
    assert_eq!(h.status("hook"), StepStatus::Waiting);
    assert_eq!(h.task("hook").attempt, 1);
    pause(&mut h, "").unwrap();

    let outcome = resume(&mut h, Some("a")).expect("from_step on a held run");
    assert!(
        outcome.effects.contains(&Effect::CancelTask { step: "hook".into() }),
        "the waiting webhook's task is withdrawn: {:?}",
        outcome.effects
    );
    assert_eq!(h.status("hook"), StepStatus::Pending);
    assert!(!h.tasks.contains_key("hook"), "no task of the old attempt is left in flight");
    // A callback for the withdrawn attempt is fenced off.
    let now_ms = h.now_ms + 1;
    let stale = Command::StepSucceeded {
        step: "hook".into(),
        attempt: 1,
        output: json!({}),
        cost_cents: 0,
        now_ms,
        state_writes: None,
    };
    assert!(h.apply(stale).is_err(), "the old attempt's callback is refused");

    h.succeed("a", json!({"n": 2}));
    assert_eq!(h.status("hook"), StepStatus::Waiting, "run again, waiting for a fresh callback");
    assert_eq!(h.task("hook").attempt, 2, "dispatched afresh, at the next attempt");
    h.succeed("hook", json!({"ok": true}));
    assert_eq!(h.run.status(), RunStatus::Completed);
}
