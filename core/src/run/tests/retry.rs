//! `StartFrom`: a retry run takes over completed outputs without running
//! those steps, and runs the retried step and what follows it.

use serde_json::{Value, json};

use super::*;

fn chain() -> Value {
    json!({"steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "a"},
        {"id": "b", "type": "agent", "agent": "w", "task": "b", "dependsOn": ["a"], "inputMap": {"a": "$.a.output"}},
        {"id": "c", "type": "agent", "agent": "w", "task": "c", "dependsOn": ["b"], "inputMap": {"b": "$.b.output"}},
        {"id": "d", "type": "transform", "dependsOn": ["c"], "output": {"a": "$.a.output.n", "c": "$.c.output.n"}},
    ]})
}

fn start_from(h: &mut Harness, step: &str, reused: &[(&str, Value)]) -> Outcome {
    let command = Command::StartFrom {
        input: json!({}),
        shared_state: json!({"k": 1}),
        origin: RetryOrigin { run_id: "wfrun_source".into(), step_id: step.into() },
        reused: reused
            .iter()
            .map(|(s, o)| ReusedStep { step: (*s).into(), output: o.clone(), timed_out: false })
            .collect(),
        now_ms: 5,
    };
    h.apply(command).expect("start from is accepted")
}

#[test]
fn retry_reuses_upstream_outputs_and_runs_from_the_step() {
    let mut h = Harness::new(workflow(chain()));
    start_from(&mut h, "c", &[("a", json!({"n": 1})), ("b", json!({"n": 2}))]);
    assert_eq!(h.keys(), ["c"], "only the retried step is dispatched");
    assert_eq!(h.task("c").input, json!({"b": {"n": 2}}), "it reads the reused output");
    let trace = h.trace();
    assert_eq!(trace[..3], ["run.started", "step.completed a", "step.completed b"]);
    assert!(!trace.iter().any(|t| t == "step.started a" || t == "step.started b"), "{trace:?}");
    assert_eq!(h.events[0].data, Some(json!({"retryOf": "wfrun_source", "retryFrom": "c"})));
    assert_eq!(h.events[1].data, Some(json!({"reused": true, "fromRun": "wfrun_source"})));
    let a = h.run.step("a").expect("a");
    assert_eq!((a.status, a.attempts, a.started_ms), (StepStatus::Completed, 0, None), "reused, never started");
    assert_eq!(h.run.document()["state"], json!({"k": 1}), "the shared state given is the state");

    h.succeed("c", json!({"n": 3}));
    assert_eq!(h.output("d"), Some(json!({"a": 1, "c": 3})));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn a_reused_condition_keeps_its_branch() {
    let def = json!({"steps": [
        {"id": "check", "type": "condition", "expression": "$.input.n > 1",
         "onTrue": {"next": "yes"}, "onFalse": {"next": "no"}},
        {"id": "yes", "type": "agent", "agent": "w", "task": "y"},
        {"id": "no", "type": "agent", "agent": "w", "task": "n"},
    ]});
    let mut h = Harness::new(workflow(def));
    // The input would now take onTrue; the reused result says onFalse.
    let command = Command::StartFrom {
        input: json!({"n": 5}),
        shared_state: Value::Null,
        origin: RetryOrigin { run_id: "wfrun_source".into(), step_id: "no".into() },
        reused: vec![ReusedStep { step: "check".into(), output: json!({"result": false}), timed_out: false }],
        now_ms: 5,
    };
    h.apply(command).expect("accepted");
    assert_eq!(h.keys(), ["no"]);
    assert_eq!(h.status("yes"), StepStatus::Skipped);
}

#[test]
fn start_from_is_refused_on_a_started_run() {
    let mut h = Harness::new(workflow(chain()));
    start_from(&mut h, "c", &[]);
    let again = Command::StartFrom {
        input: json!({}),
        shared_state: Value::Null,
        origin: RetryOrigin { run_id: "x".into(), step_id: "a".into() },
        reused: vec![],
        now_ms: 6,
    };
    assert_eq!(h.apply(again), Err(TransitionError::AlreadyStarted));
    assert_eq!(h.keys(), ["a"], "nothing reused: everything runs");
}

#[test]
fn a_reused_wait_keeps_the_branch_it_took() {
    let def = json!({"steps": [
        {"id": "pay", "type": "wait", "event": "paid", "timeout": "1h", "onTimeout": {"next": "remind"}},
        {"id": "ship", "type": "agent", "agent": "w", "task": "ship", "dependsOn": ["pay"]},
        {"id": "remind", "type": "agent", "agent": "w", "task": "remind"},
    ]});
    for (timed_out, runs, skipped) in [(true, "remind", "ship"), (false, "ship", "remind")] {
        let mut h = Harness::new(workflow(def.clone()));
        let command = Command::StartFrom {
            input: json!({}),
            shared_state: Value::Null,
            origin: RetryOrigin { run_id: "wfrun_source".into(), step_id: runs.into() },
            reused: vec![ReusedStep { step: "pay".into(), output: Value::Null, timed_out }],
            now_ms: 5,
        };
        h.apply(command).expect("accepted");
        assert_eq!(h.keys(), [runs], "timed_out {timed_out}");
        assert_eq!(h.status(skipped), StepStatus::Skipped, "timed_out {timed_out}");
    }
}

#[test]
fn a_wait_that_times_out_marks_its_completion() {
    let def = json!({"steps": [
        {"id": "pay", "type": "wait", "event": "paid", "timeout": "1s", "onTimeout": {"next": "remind"}},
        {"id": "remind", "type": "transform", "output": {"was": "$.pay.output"}},
    ]});
    let mut h = Harness::started(def, json!({}));
    h.fire("pay");
    let completed =
        h.events.iter().find(|e| e.step_id.as_deref() == Some("pay") && e.event_type == EventType::StepCompleted);
    assert_eq!(completed.and_then(|e| e.data.clone()), Some(json!({"timedOut": true})));
}
