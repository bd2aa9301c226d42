//! A run over its workflow's concurrent-run limit: `Enqueue` keeps it
//! Queued with nothing started, `Admit` starts it exactly as a direct
//! start would, and a queued run can be cancelled.

use serde_json::json;

use super::*;

fn definition() -> Value {
    json!({"timeout": 60, "steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "a"},
        {"id": "b", "type": "transform", "dependsOn": ["a"], "output": {"x": "$.input.x"}},
    ]})
}

fn enqueue(h: &mut Harness, input: Value) -> Result<Outcome, TransitionError> {
    let start = DeferredStart { input, shared_state: Value::Null, origin: None, reused: Vec::new() };
    let now_ms = h.now_ms;
    h.apply(Command::Enqueue { start, now_ms })
}

#[test]
fn a_queued_run_starts_nothing_until_admitted_then_runs_as_a_started_one() {
    let mut h = Harness::new(workflow(definition()));
    let out = enqueue(&mut h, json!({"x": 7})).expect("a pending run queues");
    assert_eq!(h.run.status(), RunStatus::Queued);
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].event_type, EventType::RunQueued);
    assert_eq!(out.events[0].status, "queued");
    assert!(out.effects.is_empty(), "no task, no timer: {:?}", out.effects);
    assert_eq!(h.status("a"), StepStatus::Pending);

    // Step commands and PauseRun wait for the start.
    assert_eq!(h.apply(Command::Pause { reason: "r".into(), now_ms: 1 }).unwrap_err(), TransitionError::NotStarted);
    let err = h.apply(Command::TimerFired { step: RUN_TIMER_KEY.into(), now_ms: 1 }).unwrap_err();
    assert_eq!(err, TransitionError::NotStarted);
    assert_eq!(enqueue(&mut h, json!({})).unwrap_err(), TransitionError::AlreadyStarted);

    let mut direct = Harness::new(workflow(definition()));
    direct.now_ms = 5_000;
    let started = direct.start(json!({"x": 7}));
    h.now_ms = 5_000;
    let admitted = h.apply(Command::Admit { now_ms: 5_000 }).expect("a queued run is admitted");
    assert_eq!(h.run.status(), RunStatus::Running);
    let types = |o: &Outcome| o.events.iter().map(|e| e.event_type).collect::<Vec<_>>();
    assert_eq!(types(&admitted), types(&started), "admitted as a direct start would be");
    assert_eq!(admitted.effects.len(), started.effects.len(), "{:?}", admitted.effects);
    assert_eq!(admitted.events[0].sequence, 2, "run.queued took sequence 1");
    assert_eq!(h.apply(Command::Admit { now_ms: 6_000 }).unwrap_err(), TransitionError::AlreadyStarted);

    h.succeed("a", json!({}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.output("b"), Some(json!({"x": 7})), "the queued input was kept");
}

#[test]
fn a_queued_run_can_be_cancelled_and_is_never_admitted_after() {
    let mut h = Harness::new(workflow(definition()));
    enqueue(&mut h, json!({"x": 1})).unwrap();
    let now_ms = h.now_ms;
    let out = h.apply(Command::Cancel { reason: "no longer needed".into(), now_ms }).expect("cancelled");
    assert_eq!(h.run.status(), RunStatus::Cancelled);
    assert_eq!(out.events.last().unwrap().event_type, EventType::RunCancelled);
    assert!(out.effects.iter().all(|e| !matches!(e, Effect::DispatchTask(_))), "{:?}", out.effects);
    let err = h.apply(Command::Admit { now_ms: 9_000 }).unwrap_err();
    assert_eq!(err, TransitionError::Finished { status: RunStatus::Cancelled });
}

#[test]
fn enqueue_and_admit_replay_from_their_json() {
    let start = DeferredStart {
        input: json!({"x": 2}),
        shared_state: json!({"k": 1}),
        origin: Some(RetryOrigin { run_id: "wfrun_src".into(), step_id: "a".into() }),
        reused: vec![ReusedStep { step: "a".into(), output: json!({}), timed_out: false }],
    };
    for command in [Command::Enqueue { start, now_ms: 3 }, Command::Admit { now_ms: 4 }] {
        let text = serde_json::to_string(&command).unwrap();
        assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command, "{text}");
    }
}
