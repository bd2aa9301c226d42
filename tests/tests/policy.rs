//! Workflow policy end to end over real sockets: CheckToolUse refuses
//! denied tools and tools outside allowTools, allows the rest, and pauses
//! the step for a tool in requireApprovalFor until ResumeRun decides it
//! (approve → allowed and the run completes, also across a restart;
//! reject → refused); maxCostPerStep pauses the step with
//! step.cost_exceeded; maxTotalCost cancels the run with the figures and
//! the next heartbeat says cancelled; bad input changes nothing.

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::api::convert::value_to_pb;
use weft_tests::TestServer;
use weft_tests::runs::{self, events, get_run, wait_for};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete_request, heartbeat, poll_one, register, usd};

/// The policy of the documented lead pipeline, plus a denied tool and
/// ceilings given per test.
fn workflow(caps: Value) -> Value {
    let mut policy = json!({
        "allowTools": ["web_search", "http_get"],
        "denyTools": ["shell_exec"],
        "requireApprovalFor": ["update_crm"],
    });
    policy.as_object_mut().unwrap().extend(caps.as_object().unwrap().clone());
    json!({
        "name": "policy",
        "policy": policy,
        "steps": [
            {"id": "enrich", "type": "agent", "agent": "enricher", "task": "Enrich {{ input.company }}"},
            {"id": "report", "type": "agent", "agent": "enricher", "task": "Report", "dependsOn": ["enrich"]}
        ]
    })
}

/// The policy workflow with `caps` on a fresh server, worker "w1" serving
/// "enricher", and a run started for Stripe.
async fn setup(caps: Value) -> (Scenario, String) {
    Scenario::agent_run(Config::default(), workflow(caps), "w1", &["enricher"], json!({"company": "Stripe"})).await
}

/// Registrations do not survive a restart; tasks and leases do.
async fn register_again(client: &Weft) {
    register(client, "w1", &["enricher"]).await;
}

fn cents(amount: i64) -> Option<pb::Money> {
    Some(usd(amount))
}

fn ask(task: &pb::Task, tool: &str, approval_id: &str, wait_seconds: u32) -> pb::CheckToolUseRequest {
    pb::CheckToolUseRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        tool: tool.into(),
        arguments: None,
        approval_id: approval_id.into(),
        wait_seconds,
    }
}

async fn check(client: &Weft, request: pb::CheckToolUseRequest) -> pb::CheckToolUseResponse {
    client.workers().check_tool_use(request).await.unwrap().into_inner()
}

async fn complete(client: &Weft, task: &pb::Task, cost: i64) -> Result<(), tonic::Status> {
    let request = complete_request(task, &json!({"ok": true}), cents(cost));
    client.workers().complete_task(request).await.map(|_| ())
}

async fn resume(client: &Weft, run_id: &str, step: &str, answer: Value) -> Result<pb::Run, tonic::Status> {
    let target = pb::ResumeTarget { step: step.into(), input: Some(value_to_pb(&answer)) };
    let request = pb::ResumeRunRequest {
        run_id: run_id.into(),
        input: Some(pb::ResumeInput { resume: Some(target) }),
        ..Default::default()
    };
    runs::resume(client, request).await
}

fn decision(answer: &pb::CheckToolUseResponse) -> pb::ToolDecision {
    pb::ToolDecision::try_from(answer.decision).unwrap()
}

#[tokio::test]
async fn denied_tools_and_tools_outside_allow_tools_are_refused_and_allowed_tools_allowed() {
    let (s, run_id) = setup(json!({})).await;
    let task = poll_one(&s.client, "w1").await;

    let denied = check(&s.client, ask(&task, "shell_exec", "", 0)).await;
    assert_eq!(decision(&denied), pb::ToolDecision::Deny);
    assert_eq!(denied.reason, "tool 'shell_exec' is in the policy's denyTools");
    let outside = check(&s.client, ask(&task, "write_file", "", 0)).await;
    assert_eq!(decision(&outside), pb::ToolDecision::Deny);
    assert_eq!(outside.reason, "tool 'write_file' is not in the policy's allowTools");
    let allowed = check(&s.client, ask(&task, "web_search", "", 0)).await;
    assert_eq!(decision(&allowed), pb::ToolDecision::Allow, "{allowed:?}");

    let run = get_run(&s.client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Running as i32, "no answer changed the run");
    assert!(!heartbeat(&s.client, &task, cents(0)).await.paused);
}

#[tokio::test]
async fn an_approval_required_tool_pauses_the_step_until_approved_and_the_run_completes_across_a_restart() {
    let (s, run_id) = setup(json!({})).await;
    let task = poll_one(&s.client, "w1").await;

    let asked = check(&s.client, ask(&task, "update_crm", "", 0)).await;
    assert_eq!(decision(&asked), pb::ToolDecision::RequireApproval, "{asked:?}");
    assert!(asked.approval_id.starts_with("appr_"), "{asked:?}");
    let run = get_run(&s.client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Paused as i32);
    let pending = run.pending_action.as_ref().expect("a pending action");
    assert_eq!((pending.step.as_str(), pending.r#type.as_str()), ("enrich", "tool_approval"));
    assert_eq!((pending.tool.as_str(), pending.approval_id.as_str()), ("update_crm", asked.approval_id.as_str()));
    assert_eq!(pending.options, ["approve", "reject"]);
    assert!(pending.message.contains("update_crm"), "{pending:?}");
    let opened = events(&s.client, &run_id).await.into_iter().find(|e| e.r#type == "approval.pending").unwrap();
    assert_eq!((opened.step_id.as_str(), opened.action.as_str()), ("enrich", "update_crm"));
    assert!(heartbeat(&s.client, &task, cents(0)).await.paused, "the worker is told to hold");
    let still = check(&s.client, ask(&task, "update_crm", &asked.approval_id, 0)).await;
    assert_eq!(decision(&still), pb::ToolDecision::RequireApproval);

    // Durable: the pause and the approval survive a restart.
    s.server.stop().await;
    let server = TestServer::start_on(s.dir.path().join("weft.db"), Config::default()).await;
    let client = server.client().await;
    register_again(&client).await;
    assert_eq!(get_run(&client, &run_id).await.status, pb::RunStatus::Paused as i32);

    // A waiting check wakes when the decision is committed.
    let waiting = tokio::spawn({
        let client = client.clone();
        let request = ask(&task, "update_crm", &asked.approval_id, 10);
        async move { check(&client, request).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resumed = resume(&client, &run_id, "enrich", json!({"option": "approve", "decidedBy": "alice"})).await.unwrap();
    assert_eq!(resumed.status, pb::RunStatus::Running as i32);
    assert!(resumed.pending_action.is_none());
    let approved = waiting.await.unwrap();
    assert_eq!(decision(&approved), pb::ToolDecision::Allow);
    assert_eq!(approved.reason, "approved by alice");
    assert!(!heartbeat(&client, &task, cents(0)).await.paused);

    complete(&client, &task, 10).await.unwrap();
    let report = poll_one(&client, "w1").await;
    complete(&client, &report, 5).await.unwrap();
    let run = wait_for(&client, &run_id, &[pb::RunStatus::Completed], 5).await;
    assert_eq!(run.cost.unwrap().amount, 15);
    let types: Vec<String> = events(&client, &run_id).await.into_iter().map(|e| e.r#type).collect();
    for expected in ["approval.pending", "run.paused", "approval.decided", "run.resumed", "run.completed"] {
        assert!(types.contains(&expected.to_string()), "{expected} missing from {types:?}");
    }
    let all = events(&client, &run_id).await;
    let done = all.iter().find(|e| e.r#type == "step.completed" && e.step_id == "enrich").unwrap();
    assert_eq!(done.cost.as_ref().unwrap().amount, 10, "step.completed carries the cost");
    let finished = all.iter().find(|e| e.r#type == "run.completed").unwrap();
    assert_eq!(finished.total_cost.as_ref().unwrap().amount, 15, "run.completed carries totalCost");
}

#[tokio::test]
async fn a_rejected_tool_use_is_refused_and_the_step_goes_on() {
    let (s, run_id) = setup(json!({})).await;
    let task = poll_one(&s.client, "w1").await;
    let asked = check(&s.client, ask(&task, "update_crm", "", 0)).await;

    let wrong = resume(&s.client, &run_id, "enrich", json!("maybe")).await.unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument, "{wrong:?}");
    let other = resume(&s.client, &run_id, "report", json!("approve")).await.unwrap_err();
    assert_eq!(other.code(), Code::FailedPrecondition, "{other:?}");
    let early = complete(&s.client, &task, 1).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "a paused step takes no completion: {early:?}");
    assert_eq!(get_run(&s.client, &run_id).await.status, pb::RunStatus::Paused as i32, "nothing changed");

    let run = resume(&s.client, &run_id, "enrich", json!("reject")).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Running as i32, "the step resumes either way");
    let refused = check(&s.client, ask(&task, "update_crm", &asked.approval_id, 0)).await;
    assert_eq!(decision(&refused), pb::ToolDecision::Deny);
    assert_eq!(refused.reason, "rejected by anonymous");
    let again = resume(&s.client, &run_id, "enrich", json!("approve")).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "decided once: {again:?}");
}

#[tokio::test]
async fn a_heartbeat_over_max_cost_per_step_pauses_the_step_until_continue() {
    let (s, run_id) = setup(json!({"maxCostPerStep": {"amount": 50, "currency": "usd"}})).await;
    let task = poll_one(&s.client, "w1").await;

    assert!(!heartbeat(&s.client, &task, cents(50)).await.paused, "at the ceiling is not over it");
    assert!(heartbeat(&s.client, &task, cents(60)).await.paused);
    let run = get_run(&s.client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Paused as i32);
    assert_eq!(run.pending_action.as_ref().unwrap().r#type, "cost_exceeded");
    let exceeded = events(&s.client, &run_id).await.into_iter().find(|e| e.r#type == "step.cost_exceeded").unwrap();
    let data = weft_server::api::convert_runs::struct_from_pb(exceeded.data.as_ref().unwrap());
    assert_eq!(
        (data["step"].clone(), data["cost"].clone(), data["limit"].clone()),
        (json!("enrich"), json!(60), json!(50))
    );
    assert!(heartbeat(&s.client, &task, cents(70)).await.paused, "stays paused");

    resume(&s.client, &run_id, "enrich", json!("continue")).await.unwrap();
    assert!(!heartbeat(&s.client, &task, cents(80)).await.paused, "continue lifts the ceiling for this step");
    complete(&s.client, &task, 80).await.unwrap();
    assert_eq!(get_run(&s.client, &run_id).await.cost.unwrap().amount, 80);
}

#[tokio::test]
async fn passing_max_total_cost_cancels_the_run_and_the_next_heartbeat_says_cancelled() {
    let (s, run_id) = setup(json!({"maxTotalCost": {"amount": 1000, "currency": "usd"}})).await;
    let task = poll_one(&s.client, "w1").await;
    complete(&s.client, &task, 600).await.unwrap();
    let report = poll_one(&s.client, "w1").await;

    let answer = heartbeat(&s.client, &report, cents(440)).await;
    assert!(answer.cancelled, "{answer:?}");
    let run = get_run(&s.client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Cancelled as i32);
    assert_eq!(run.cancel_reason, "cost cap: 1040 usd cents over maxTotalCost 1000");
    assert_eq!(run.cost.unwrap().amount, 1040);
    assert!(heartbeat(&s.client, &report, cents(450)).await.cancelled, "later heartbeats keep saying so");
}

#[tokio::test]
async fn a_completion_passing_max_total_cost_cancels_the_run_and_another_worker_learns_it() {
    let value = json!({"name": "pair", "policy": {"maxTotalCost": {"amount": 100, "currency": "usd"}}, "steps": [
        {"id": "a", "type": "agent", "agent": "enricher", "task": "a"},
        {"id": "b", "type": "agent", "agent": "enricher", "task": "b"}
    ]});
    let s = Scenario::new(Config::default(), value).await;
    let client = &s.client;
    register_again(client).await;
    let request = pb::StartRunRequest { workflow_id: s.workflow_id.clone(), ..Default::default() };
    let run_id = client.runs().start_run(request).await.unwrap().into_inner().run.unwrap().id;
    let (first, second) = (poll_one(client, "w1").await, poll_one(client, "w1").await);

    complete(client, &first, 150).await.unwrap();
    let run = get_run(client, &run_id).await;
    assert_eq!(run.cancel_reason, "cost cap: 150 usd cents over maxTotalCost 100");
    assert!(heartbeat(client, &second, cents(0)).await.cancelled, "the step in flight is told to stop");
}

#[tokio::test]
async fn a_cost_in_another_currency_than_the_ceiling_is_refused_and_changes_nothing() {
    let (s, run_id) = setup(json!({"maxCostPerStep": {"amount": 50, "currency": "eur"}})).await;
    let task = poll_one(&s.client, "w1").await;
    let request =
        pb::HeartbeatRequest { task_id: task.task_id.clone(), lease_token: task.lease_token, cost_so_far: cents(60) };
    let refused = s.client.workers().heartbeat(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("eur"), "{refused:?}");
    let refused = complete(&s.client, &task, 60).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    let run = get_run(&s.client, &run_id).await;
    assert_eq!((run.status, run.cost.unwrap().amount), (pb::RunStatus::Running as i32, 0));
}

#[tokio::test]
async fn bad_check_tool_use_requests_are_refused_and_change_nothing() {
    let (s, run_id) = setup(json!({})).await;
    let task = poll_one(&s.client, "w1").await;
    let before = events(&s.client, &run_id).await.len();

    let mut unknown = ask(&task, "update_crm", "", 0);
    unknown.task_id = "task_nope".into();
    let err = s.client.workers().check_tool_use(unknown).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let stale = ask(&task, "update_crm", "", 0);
    let stale = pb::CheckToolUseRequest { lease_token: task.lease_token + 1, ..stale };
    let err = s.client.workers().check_tool_use(stale).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    let err = s.client.workers().check_tool_use(ask(&task, " ", "", 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(err.get_details_bad_request().unwrap().field_violations[0].field, "tool");
    let err = s.client.workers().check_tool_use(ask(&task, "update_crm", "appr_nope", 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    assert_eq!(events(&s.client, &run_id).await.len(), before, "no event was recorded");
    let run = get_run(&s.client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Running as i32);
    assert!(run.pending_action.is_none());
    let not_paused = resume(&s.client, &run_id, "enrich", json!("approve")).await.unwrap_err();
    assert_eq!(not_paused.code(), Code::FailedPrecondition);
}
