//! Step pauses and cost ceilings: a tool approval pauses the step and the
//! run until answered; maxCostPerStep pauses (holding a completion's
//! output back); maxTotalCost cancels the run with the figures; answers are
//! checked against the pending action's options; everything replays.

use serde_json::json;

use super::*;

fn chain(policy: Value) -> Value {
    json!({"policy": policy, "steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "t"},
        {"id": "b", "type": "agent", "agent": "w", "task": "t", "dependsOn": ["a"]},
    ]})
}

fn answer(h: &mut Harness, step: &str, option: &str) -> Result<Outcome, TransitionError> {
    h.apply(Command::Answer {
        step: step.into(),
        option: option.into(),
        decided_by: "alice".into(),
        comment: String::new(),
        approval_id: None,
        now_ms: 3_000,
    })
}

fn ask_tool(h: &mut Harness, step: &str) -> Outcome {
    let command = Command::ToolApprovalRequested {
        step: step.into(),
        attempt: 1,
        approval_id: "appr_1".into(),
        tool: "update_crm".into(),
        arguments: json!({"id": 7}),
        now_ms: 2_000,
    };
    h.apply(command).expect("accepted")
}

#[test]
fn a_tool_approval_pauses_the_step_and_the_run_until_answered() {
    let mut h = Harness::started(chain(json!({"requireApprovalFor": ["update_crm"]})), json!({}));
    ask_tool(&mut h, "a");
    assert_eq!((h.status("a"), h.run.status()), (StepStatus::Paused, RunStatus::Paused));
    assert_eq!(h.trace()[h.trace().len() - 2..], ["approval.pending a", "run.paused"]);
    let pending = h.run.pending_action().unwrap();
    assert_eq!((pending.kind, pending.approval_id.as_deref()), ("tool_approval", Some("appr_1")));
    assert_eq!(pending.options, ["approve", "reject"]);

    let early = h.try_succeed("a", json!({}), 0).unwrap_err();
    assert!(matches!(early, TransitionError::NotInFlight { status: StepStatus::Paused, .. }), "{early:?}");
    let wrong = answer(&mut h, "a", "maybe").unwrap_err();
    assert!(matches!(wrong, TransitionError::BadAnswer { .. }), "{wrong:?}");
    assert!(matches!(answer(&mut h, "b", "approve").unwrap_err(), TransitionError::NotPaused { .. }));

    answer(&mut h, "a", "deny").expect("deny reads as reject");
    let decided = h.events.iter().find(|e| e.event_type == EventType::ApprovalDecided).unwrap();
    assert_eq!(decided.data.as_ref().unwrap()["decision"], "deny");
    assert_eq!(decided.data.as_ref().unwrap()["decidedBy"], "alice");
    assert_eq!((h.status("a"), h.run.status()), (StepStatus::Running, RunStatus::Running));
    assert_eq!(h.run.pending_action(), None);
    h.succeed("a", json!({}));
    h.succeed("b", json!({}));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn a_heartbeat_over_max_cost_per_step_pauses_until_continue_waives_it() {
    let mut h = Harness::started(chain(json!({"maxCostPerStep": {"amount": 50, "currency": "usd"}})), json!({}));
    let report = |h: &mut Harness, cost| {
        h.apply(Command::CostReported { step: "a".into(), attempt: 1, cost_cents: cost, now_ms: 2_000 })
    };
    assert!(matches!(report(&mut h, 50).unwrap_err(), TransitionError::WithinCaps { .. }), "50 is not over 50");
    report(&mut h, 60).expect("over the ceiling");
    let exceeded = h.events.iter().find(|e| e.event_type == EventType::StepCostExceeded).unwrap();
    assert_eq!(exceeded.data.as_ref().unwrap()["cost"], 60);
    assert_eq!(exceeded.data.as_ref().unwrap()["limit"], 50);
    assert_eq!((h.status("a"), h.run.status()), (StepStatus::Paused, RunStatus::Paused));
    assert_eq!(h.run.pending_action().unwrap().kind, "cost_exceeded");

    answer(&mut h, "a", "continue").expect("accepted");
    assert_eq!((h.status("a"), h.run.status()), (StepStatus::Running, RunStatus::Running));
    assert!(matches!(report(&mut h, 90).unwrap_err(), TransitionError::WithinCaps { .. }), "waived");
    h.try_succeed("a", json!({}), 90).expect("a waived step completes over its ceiling");
    assert_eq!(h.status("a"), StepStatus::Completed);
}

#[test]
fn a_completion_over_max_cost_per_step_is_held_back_from_dependents() {
    let mut h = Harness::started(chain(json!({"maxCostPerStep": {"amount": 50}})), json!({}));
    h.try_succeed("a", json!({"x": 1}), 70).expect("accepted");
    assert_eq!(h.status("a"), StepStatus::Paused);
    assert_eq!(h.run.total_cost_cents(), 70, "the cost is recorded");
    assert!(h.tasks.is_empty(), "b does not start on a held output");

    answer(&mut h, "a", "continue").expect("accepted");
    assert_eq!(h.output("a"), Some(json!({"x": 1})));
    assert_eq!(h.task("b").step, "b");
    let completed = h.events.iter().find(|e| e.event_type == EventType::StepCompleted).unwrap();
    assert_eq!(completed.cost_cents, Some(70));
}

#[test]
fn cancel_answer_to_a_cost_ceiling_cancels_the_run() {
    let mut h = Harness::started(chain(json!({"maxCostPerStep": {"amount": 50}})), json!({}));
    h.try_succeed("a", json!({}), 70).unwrap();
    answer(&mut h, "a", "cancel").expect("accepted");
    assert_eq!(h.run.status(), RunStatus::Cancelled);
    assert!(h.run.cancel_reason().unwrap().contains("over maxCostPerStep 50; cancelled by alice"));
}

#[test]
fn passing_max_total_cost_cancels_the_run_with_the_figures() {
    let value = json!({"policy": {"maxTotalCost": {"amount": 1000, "currency": "usd"}}, "steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "t"},
        {"id": "b", "type": "agent", "agent": "w", "task": "t"},
        {"id": "c", "type": "agent", "agent": "w", "task": "t", "dependsOn": ["a"]},
    ]});
    let mut h = Harness::started(value, json!({}));
    h.try_succeed("a", json!({}), 600).unwrap();
    assert_eq!(h.run.status(), RunStatus::Running);
    h.apply(Command::CostReported { step: "b".into(), attempt: 1, cost_cents: 440, now_ms: 2_000 }).unwrap();
    assert_eq!(h.run.status(), RunStatus::Cancelled);
    assert_eq!(h.run.cancel_reason(), Some("cost cap: 1040 usd cents over maxTotalCost 1000"));
    assert_eq!(h.run.total_cost_cents(), 1040, "run.cost agrees with the reason");
    assert!(h.tasks.is_empty(), "every task in flight was withdrawn");
    let cancelled = h.events.last().unwrap();
    assert_eq!((cancelled.event_type, cancelled.total_cost_cents), (EventType::RunCancelled, Some(1040)));
}

#[test]
fn cancelling_a_run_closes_its_open_approval() {
    let mut h = Harness::started(chain(json!({"requireApprovalFor": ["update_crm"]})), json!({}));
    ask_tool(&mut h, "a");
    h.apply(Command::Cancel { reason: "stop".into(), now_ms: 2_500 }).unwrap();
    assert!(h.tasks.is_empty(), "the paused step's task was withdrawn");
    let decided = h.events.iter().find(|e| e.event_type == EventType::ApprovalDecided).unwrap();
    assert_eq!(decided.data.as_ref().unwrap()["decision"], "expired");
}

#[test]
fn a_lease_lost_while_paused_ends_the_pause_and_retries() {
    let mut value = chain(json!({"requireApprovalFor": ["update_crm"]}));
    value["steps"][0]["retries"] = json!(1);
    let mut h = Harness::started(value, json!({}));
    ask_tool(&mut h, "a");
    h.apply(Command::LeaseExpired { step: "a".into(), attempt: 1, now_ms: 2_500 }).expect("accepted");
    assert_eq!((h.status("a"), h.run.status()), (StepStatus::Running, RunStatus::Running));
    assert_eq!(h.task("a").attempt, 2);
}

#[test]
fn pauses_and_answers_replay_to_the_same_state() {
    let mut h = Harness::started(chain(json!({"requireApprovalFor": ["update_crm"]})), json!({}));
    ask_tool(&mut h, "a");
    answer(&mut h, "a", "approve").unwrap();
    let commands = [
        Command::ToolApprovalRequested {
            step: "a".into(),
            attempt: 1,
            approval_id: "appr_1".into(),
            tool: "update_crm".into(),
            arguments: json!({"id": 7}),
            now_ms: 2_000,
        },
        Command::CostReported { step: "a".into(), attempt: 1, cost_cents: 5, now_ms: 1 },
        Command::Answer {
            step: "a".into(),
            option: "approve".into(),
            decided_by: "alice".into(),
            comment: String::new(),
            approval_id: None,
            now_ms: 3_000,
        },
    ];
    for command in commands {
        let text = serde_json::to_string(&command).unwrap();
        assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
    }
}
