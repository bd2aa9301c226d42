//! The happy paths: pure steps inline, conditions and skips, parallel
//! steps, delays, cancelling, refused commands.

use serde_json::{Value, json};

use super::*;

fn agent(id: &str, deps: &[&str]) -> Value {
    json!({"id": id, "type": "agent", "agent": "worker", "task": format!("do {id}"), "dependsOn": deps})
}

fn transform(id: &str, deps: &[&str], output: Value) -> Value {
    json!({"id": id, "type": "transform", "dependsOn": deps, "output": output})
}

#[test]
fn chain_of_ten_transforms_completes_in_one_transition() {
    let mut steps = vec![transform("t0", &[], json!({"n": "$.input.n", "from": "$.input.missing"}))];
    for i in 1..10 {
        let prev = format!("t{}", i - 1);
        steps.push(transform(&format!("t{i}"), &[&prev], json!({"n": format!("$.{prev}.output.n")})));
    }
    let h = Harness::started(json!({"steps": steps}), json!({"n": 5}));
    assert_eq!(h.transitions, 1);
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert!(h.effects.is_empty(), "nothing external to do");
    let mut expected = vec!["run.started".to_owned()];
    for i in 0..10 {
        expected.push(format!("step.started t{i}"));
        expected.push(format!("step.completed t{i}"));
    }
    expected.push("run.completed".to_owned());
    assert_eq!(h.trace(), expected);
    assert_eq!(h.output("t0"), Some(json!({"n": 5, "from": null})), "a path matching nothing gives null");
    assert_eq!(h.run.output(), Some(&json!({"n": 5})), "the single sink's output is the run's");
}

#[test]
fn condition_skips_the_branch_not_taken_and_propagates_skips() {
    let def = json!({"steps": [
        {"id": "check", "type": "condition", "expression": "$.input.score >= 70",
         "onTrue": {"next": "high"}, "onFalse": {"next": "low"}},
        transform("high", &[], json!({"tier": "$.input.score"})),
        transform("low", &[], json!({"tier": "$.input.score"})),
        transform("after-low", &["low"], json!({"x": "$.low.output"})),
        transform("after-after-low", &["after-low"], json!({"x": "$.input"})),
        transform("join", &["high", "low"], json!({"high": "$.high.output.tier", "low": "$.low.output.tier"})),
    ]});
    let h = Harness::started(def.clone(), json!({"score": 82}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.output("check"), Some(json!({"result": true})));
    assert_eq!(h.status("high"), StepStatus::Completed);
    assert_eq!(h.status("low"), StepStatus::Skipped);
    assert_eq!(h.status("after-low"), StepStatus::Skipped, "all dependencies skipped: skipped too");
    assert_eq!(h.status("after-after-low"), StepStatus::Skipped, "skips propagate down the chain");
    assert_eq!(h.status("join"), StepStatus::Completed, "some completed, some skipped: runs");
    assert_eq!(h.output("join"), Some(json!({"high": 82, "low": null})));
    assert!(h.trace().contains(&"step.skipped low".to_owned()));
    assert!(!h.trace().contains(&"step.started low".to_owned()), "a skipped step never starts");

    let h = Harness::started(def, json!({"score": 12}));
    assert_eq!(h.status("high"), StepStatus::Skipped);
    assert_eq!(h.status("after-after-low"), StepStatus::Completed);
}

#[test]
fn parallel_children_are_addressable_and_parent_waits_for_all() {
    let def = json!({"steps": [
        {"id": "research", "type": "parallel", "steps": [
            {"id": "twitter", "type": "agent", "agent": "social", "task": "Twitter for {{ input.company }}"},
            {"id": "news", "type": "agent", "agent": "news", "task": "News for {{ input.company }}",
             "inputMap": {"company": "$.input.company", "note": "$.input.note"}},
        ]},
        transform("reshape", &["research"], json!({"handle": "$.twitter.output.handle", "all": "$.research.output"})),
    ]});
    let mut h = Harness::started(def, json!({"company": "Stripe", "note": null}));
    assert_eq!(h.keys(), ["news", "twitter"]);
    assert_eq!(h.task("twitter").task.as_deref(), Some("Twitter for Stripe"));
    assert_eq!(h.task("twitter").agent.as_deref(), Some("social"));
    assert_eq!(h.task("news").input, json!({"company": "Stripe", "note": null}), "an explicit null was selected");
    assert_eq!(h.status("research"), StepStatus::Running);
    h.succeed("twitter", json!({"handle": "@stripe"}));
    assert_eq!(h.status("research"), StepStatus::Running, "the parent waits for every sub-step");
    assert_eq!(h.status("reshape"), StepStatus::Pending);
    h.succeed("news", json!({"articles": []}));
    assert_eq!(h.output("research"), Some(json!({"twitter": {"handle": "@stripe"}, "news": {"articles": []}})));
    assert_eq!(h.output("reshape").expect("reshape ran")["handle"], json!("@stripe"));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let views = h.run.steps();
    let twitter = views.iter().find(|v| v.key == "twitter").expect("twitter row");
    assert_eq!(twitter.parent_id, Some("research"));
}

#[test]
fn delay_arms_a_timer_and_completes_when_it_fires() {
    let def = json!({"steps": [
        {"id": "wait-a-bit", "type": "delay", "duration": 90},
        transform("after", &["wait-a-bit"], json!({"done": "$.input.x"})),
    ]});
    let mut h = Harness::new(workflow(def));
    let started_at = h.now_ms + 10;
    h.start(json!({"x": 1}));
    assert_eq!(h.effects, [Effect::ArmTimer { step: "wait-a-bit".into(), due_ms: started_at + 90_000 }]);
    assert_eq!(h.status("wait-a-bit"), StepStatus::Waiting);
    assert_eq!(h.run.status(), RunStatus::Running);
    let refused = h.try_succeed("wait-a-bit", json!({}), 0);
    assert!(matches!(refused, Err(TransitionError::NotInFlight { .. })), "only the timer ends a delay");
    h.fire("wait-a-bit");
    assert_eq!(h.status("wait-a-bit"), StepStatus::Completed);
    assert_eq!(h.output("after"), Some(json!({"done": 1})));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let again = h.apply(Command::TimerFired { step: "wait-a-bit".into(), now_ms: h.now_ms });
    assert!(matches!(again, Err(TransitionError::Finished { .. })));
}

#[test]
fn cancel_keeps_completed_outputs() {
    let def = json!({"steps": [agent("a", &[]), agent("b", &["a"]), agent("c", &["b"]),
        {"id": "nap", "type": "delay", "duration": 60}]});
    let mut h = Harness::started(def, json!({}));
    h.succeed("a", json!({"kept": true}));
    let outcome = h.apply(Command::Cancel { reason: "user asked".into(), now_ms: 5_000 }).expect("cancel accepted");
    assert_eq!(outcome.effects, [Effect::CancelTask { step: "b".into() }, Effect::CancelTimer { step: "nap".into() }]);
    assert_eq!(h.run.status(), RunStatus::Cancelled);
    assert_eq!(h.run.cancel_reason(), Some("user asked"));
    assert_eq!(h.output("a"), Some(json!({"kept": true})));
    assert_eq!(h.run.document()["a"]["output"], json!({"kept": true}));
    for key in ["b", "c", "nap"] {
        assert_eq!(h.status(key), StepStatus::Cancelled, "{key}");
    }
    let last = h.events.last().expect("events");
    assert_eq!(last.event_type, EventType::RunCancelled);
    assert_eq!(last.data, Some(json!({"reason": "user asked"})));
    assert!(matches!(h.try_succeed("b", json!({}), 0), Err(TransitionError::Finished { .. })));
    let twice = h.apply(Command::Cancel { reason: "again".into(), now_ms: 6_000 });
    assert_eq!(twice, Err(TransitionError::Finished { status: RunStatus::Cancelled }));
}

/// What a refused command must leave untouched.
fn snapshot(h: &Harness) -> (RunStatus, u64, Value, String, i64) {
    let steps = format!("{:?}", h.run.steps());
    (h.run.status(), h.run.next_sequence(), h.run.document().clone(), steps, h.run.total_cost_cents())
}

#[test]
fn stale_or_duplicate_completion_is_refused_and_changes_nothing() {
    let def = json!({"steps": [agent("a", &[]), agent("b", &["a"])]});
    let mut h = Harness::new(workflow(def));
    let early = h.apply(Command::StepSucceeded {
        step: "a".into(),
        attempt: 1,
        output: json!(1),
        cost_cents: 0,
        now_ms: 1,
        state_writes: None,
    });
    assert_eq!(early, Err(TransitionError::NotStarted));
    h.start(json!({}));
    let again = h.apply(Command::Start { input: json!({}), shared_state: Value::Null, now_ms: 2 });
    assert_eq!(again, Err(TransitionError::AlreadyStarted));
    h.succeed("a", json!({"v": 1}));
    let before = snapshot(&h);

    let duplicate = h.try_succeed("a", json!({"v": 2}), 5);
    assert!(matches!(duplicate, Err(TransitionError::NotInFlight { status: StepStatus::Completed, .. })));
    let stale = h.apply(Command::StepSucceeded {
        step: "b".into(),
        attempt: 7,
        output: json!(2),
        cost_cents: 5,
        now_ms: 9,
        state_writes: None,
    });
    assert!(matches!(stale, Err(TransitionError::StaleAttempt { attempt: 7, current: 1, .. })));
    let stale_failure = h.apply(Command::StepFailed {
        step: "b".into(),
        attempt: 0,
        error: "late".into(),
        retryable: true,
        cost_cents: 5,
        now_ms: 9,
    });
    assert!(matches!(stale_failure, Err(TransitionError::StaleAttempt { .. })));
    let unknown = h.try_succeed("nope", json!({}), 0);
    assert_eq!(unknown, Err(TransitionError::UnknownStep("nope".into())));
    let bad_item = h.try_succeed("a[0]", json!({}), 0);
    assert_eq!(bad_item, Err(TransitionError::UnknownStep("a[0]".into())));
    let not_a_timer = h.apply(Command::TimerFired { step: "b".into(), now_ms: 9 });
    assert!(matches!(not_a_timer, Err(TransitionError::NotInFlight { .. })));
    assert_eq!(snapshot(&h), before, "refused commands change nothing");

    h.succeed("b", json!({"v": 3}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let after_end = h.try_succeed("b", json!({}), 0);
    assert_eq!(after_end, Err(TransitionError::Finished { status: RunStatus::Completed }));
}

#[test]
fn event_sequences_are_consecutive() {
    let def =
        json!({"steps": [agent("a", &[]), agent("b", &[]), transform("t", &["a", "b"], json!({"a": "$.a.output"}))]});
    let mut h = Harness::started(def, json!({}));
    h.apply(Command::StepSucceeded {
        step: "b".into(),
        attempt: 1,
        output: json!(2),
        cost_cents: 30,
        now_ms: 50,
        state_writes: None,
    })
    .expect("b completes");
    h.apply(Command::StepSucceeded {
        step: "a".into(),
        attempt: 1,
        output: json!(1),
        cost_cents: 12,
        now_ms: 60,
        state_writes: None,
    })
    .expect("a completes");
    let sequences: Vec<u64> = h.events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        h.trace(),
        [
            "run.started",
            "step.started a",
            "step.started b",
            "step.completed b",
            "step.completed a",
            "step.started t",
            "step.completed t",
            "run.completed"
        ]
    );
    let last = h.events.last().expect("events");
    assert_eq!(last.total_cost_cents, Some(42), "run.completed carries the total cost");
    assert_eq!(last.now_ms, 60);
    assert_eq!(h.run.step("b").expect("b").cost_cents, 30);
}

#[test]
fn shared_state_starts_from_the_run_and_takes_declared_writes() {
    let def = json!({"steps": [
        {"id": "writer", "type": "agent", "agent": "w", "task": "t", "stateWrites": ["company"]},
        {"id": "reader", "type": "agent", "agent": "r", "task": "{{ state.company }} in {{ state.campaign }}",
         "dependsOn": ["writer"], "stateReads": ["company"]},
    ]});
    let mut h = Harness::new(workflow(def));
    h.apply(Command::Start { input: json!({}), shared_state: json!({"campaign": "q2"}), now_ms: 1 }).expect("start");
    h.succeed("writer", json!({"company": "Acme", "other": 1}));
    assert_eq!(h.run.document()["state"], json!({"campaign": "q2", "company": "Acme"}));
    assert_eq!(h.task("reader").task.as_deref(), Some("Acme in q2"));
}

#[test]
fn step_records_stay_small() {
    // 10k parked runs must fit well under 200 MB: records carry no output.
    assert!(std::mem::size_of::<super::super::state::StepRecord>() <= 72);
}

#[test]
fn output_failing_the_output_schema_fails_the_run() {
    let def = json!({
        "outputSchema": {"type": "object", "required": ["score"]},
        "steps": [transform("out", &[], json!({"score": "$.input.score"}))],
    });
    let h = Harness::started(def.clone(), json!({"score": 90}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    let def = json!({
        "outputSchema": {"type": "object", "properties": {"score": {"type": "number"}}},
        "steps": [transform("out", &[], json!({"score": "$.input.score"}))],
    });
    let h = Harness::started(def, json!({"score": "high"}));
    assert_eq!(h.run.status(), RunStatus::Failed);
    let error = h.run.error().expect("an error");
    assert!(error.contains("outputSchema"), "{error}");
    assert_eq!(h.run.error_code(), Some(ErrorCode::OutputSchemaViolation));
    assert_eq!(h.events.last().map(|e| e.event_type), Some(EventType::RunFailed));
}
