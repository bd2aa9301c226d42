//! Approval steps and the ApprovalService end to end: a step decided in
//! time, a denial routed by onStepFailure, a timeout that applies the
//! default action after a restart during the wait, and refused decisions
//! that change nothing.

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::pb;
use weft_tests::runs::{self, get_run, json_of, step, wait_for};
use weft_tests::scenario::Scenario;
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

async fn start(client: &weft_sdk::Weft, workflow_id: &str) -> pb::Run {
    runs::start(client, workflow_id, json!({"to": "a@example.com"})).await
}

/// An approval gate before a send, with a fallback for a denial.
fn gated(timeout: &str, default_action: &str) -> Value {
    json!({"name": "gated-send", "steps": [
        {"id": "gate", "type": "approval", "action": "send_email", "timeout": timeout,
         "defaultAction": default_action, "message": "Send the email?",
         "onStepFailure": {"action": "goto", "target": "rejected"}},
        {"id": "send", "type": "transform", "dependsOn": ["gate"], "output": {"by": "$.gate.output.decidedBy"}},
        {"id": "rejected", "type": "transform", "output": {"to": "$.input.to"}}
    ]})
}

async fn pending_approval(client: &weft_sdk::Weft, run_id: &str) -> pb::Approval {
    let list = pb::ListApprovalsRequest {
        run_id: run_id.into(),
        status: pb::ApprovalStatus::Pending as i32,
        ..Default::default()
    };
    let mut approvals = client.approvals().list_approvals(list).await.unwrap().into_inner().approvals;
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    approvals.remove(0)
}

#[tokio::test]
async fn an_approval_decided_in_time_completes_the_step_and_is_kept_for_audit() {
    let s = Scenario::with(gated("4h", "deny")).await;
    let (server, client, workflow_id) = (&s.server, &s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    let run = wait_for(client, &run.id, &[pb::RunStatus::Paused], 10).await;
    let (_, rest) = http1::json(server.addr, "GET", &format!("/v1/workflows/runs/{}", run.id), None).await;
    assert_eq!(rest["pendingAction"]["type"], "approval", "{rest}");
    assert_eq!(rest["pendingAction"]["step"], "gate");
    assert_eq!(rest["pendingAction"]["message"], "Send the email?");
    assert_eq!(rest["pendingAction"]["options"], json!(["approve", "reject"]));

    let approval = pending_approval(client, &run.id).await;
    assert_eq!(approval.kind, pb::ApprovalKind::Step as i32);
    assert_eq!((approval.action.as_str(), approval.step_id.as_str()), ("send_email", "gate"));
    assert_eq!(&approval.workflow_id, workflow_id);
    assert_eq!(approval.default_action, pb::ApprovalDecision::Deny as i32);
    assert!(approval.expire_time.is_some());
    // The run's pending action says the same deadline, in both forms.
    let pending = run.pending_action.as_ref().expect("a paused run says what it waits for");
    assert_eq!(pending.expire_time, approval.expire_time);
    let written = approval.expire_time.as_ref().unwrap();
    let rest_due = rest["pendingAction"]["expiresAt"].as_str().expect("expiresAt is written");
    let parsed: prost_types::Timestamp = rest_due.parse().unwrap();
    assert_eq!(&parsed, written, "{rest}");
    let by_workflow = pb::ListApprovalsRequest { workflow_id: workflow_id.clone(), ..Default::default() };
    assert_eq!(client.approvals().list_approvals(by_workflow).await.unwrap().into_inner().total, 1);
    let by_action = pb::ListApprovalsRequest { action: "other".into(), ..Default::default() };
    assert_eq!(client.approvals().list_approvals(by_action).await.unwrap().into_inner().total, 0);

    let decide = pb::DecideApprovalRequest {
        approval_id: approval.id.clone(),
        decision: pb::ApprovalDecision::Approve as i32,
        comment: "looks right".into(),
        decided_by: "alice".into(),
        ..Default::default()
    };
    let decided = client.approvals().decide_approval(decide).await.unwrap().into_inner().approval.unwrap();
    assert_eq!(decided.status, pb::ApprovalStatus::Approved as i32);
    assert_eq!((decided.comment.as_str(), decided.decided_by.as_str()), ("looks right", "alice"));
    assert!(decided.decide_time.is_some());

    let run = wait_for(client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(
        json_of(&step(&run, "gate").output),
        json!({"decision": "approve", "decidedBy": "alice", "comment": "looks right"})
    );
    assert_eq!(json_of(&step(&run, "send").output), json!({"by": "alice"}));
    let decided = pb::ListApprovalsRequest {
        run_id: run.id.clone(),
        status: pb::ApprovalStatus::Approved as i32,
        ..Default::default()
    };
    let listed = client.approvals().list_approvals(decided).await.unwrap().into_inner().approvals;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].comment.as_str(), listed[0].decided_by.as_str()), ("looks right", "alice"));
}

#[tokio::test]
async fn a_denial_fails_the_step_and_routes_by_on_step_failure() {
    let s = Scenario::with(gated("", "")).await;
    let (server, client, workflow_id) = (&s.server, &s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    wait_for(client, &run.id, &[pb::RunStatus::Paused], 10).await;
    let approval = pending_approval(client, &run.id).await;
    assert!(approval.expire_time.is_none());
    let paused = get_run(client, &run.id).await;
    assert_eq!(paused.pending_action.expect("paused").expire_time, None, "no timeout, no deadline");
    // The REST form, with the documented "reject" option.
    let path = format!("/v1/approvals/{}:decide", approval.id);
    let body = json!({"option": "reject", "comment": "not now", "decidedBy": "bob"});
    let (status, decided) = http1::json(server.addr, "POST", &path, Some(body)).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "denied", "{decided}");

    let run = wait_for(client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    let gate = step(&run, "gate");
    assert_eq!(gate.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert!(gate.error.contains("denied"), "{gate:?}");
    assert_eq!(step(&run, "rejected").status, pb::StepStatus::Completed as i32, "{run:?}");
    // A routed failure counts as its recovery step: dependents go on after
    // it, finding no approval output.
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "send").output), json!({"by": null}));
    let events = pb::ListRunEventsRequest { run_id: run.id.clone(), ..Default::default() };
    let events = client.runs().list_run_events(events).await.unwrap().into_inner().events;
    let failed = events.iter().find(|e| e.r#type == "step.failed").expect("a step.failed event");
    let code = weft_server::api::convert_runs::struct_from_pb(failed.data.as_ref().unwrap())["code"].clone();
    assert_eq!(code, "APPROVAL_DENIED", "{failed:?}");
}

#[tokio::test]
async fn a_timeout_applies_the_default_action_after_a_restart_during_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), weft_server::Config::default()).await;
    let (run_id, approval_id) = {
        let client = server.client().await;
        let workflow_id = create_json(&server, gated("1s", "approve")).await;
        let run = start(&client, &workflow_id).await;
        wait_for(&client, &run.id, &[pb::RunStatus::Paused], 10).await;
        (run.id.clone(), pending_approval(&client, &run.id).await.id)
    };
    server.stop().await;
    // The timer falls due while no server runs.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let server = TestServer::start_on(database, weft_server::Config::default()).await;
    let client = server.client().await;
    let run = wait_for(&client, &run_id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "gate").output), json!({"decision": "approve", "decidedBy": "system:timeout"}));
    assert_eq!(json_of(&step(&run, "send").output), json!({"by": "system:timeout"}));
    let get = pb::GetApprovalRequest { approval_id };
    let approval = client.approvals().get_approval(get).await.unwrap().into_inner().approval.unwrap();
    assert_eq!(approval.status, pb::ApprovalStatus::Expired as i32, "{approval:?}");
    assert_eq!(approval.decision, pb::ApprovalDecision::Approve as i32);
    assert_eq!(approval.decided_by, "system:timeout");
}

#[tokio::test]
async fn a_deny_timeout_routes_like_a_denial() {
    let s = Scenario::with(gated("1s", "deny")).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    let run = wait_for(client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(step(&run, "gate").status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(step(&run, "rejected").status, pb::StepStatus::Completed as i32, "{run:?}");
}

#[tokio::test]
async fn bad_decisions_change_nothing() {
    let s = Scenario::with(gated("", "")).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    wait_for(client, &run.id, &[pb::RunStatus::Paused], 10).await;
    let approval = pending_approval(client, &run.id).await;

    let unknown = pb::GetApprovalRequest { approval_id: "appr_00000000000000000000000000".into() };
    assert_eq!(client.approvals().get_approval(unknown).await.unwrap_err().code(), Code::NotFound);
    let decide = |id: &str, option: &str| pb::DecideApprovalRequest {
        approval_id: id.into(),
        option: option.into(),
        ..Default::default()
    };
    let unknown = decide("appr_00000000000000000000000000", "approve");
    assert_eq!(client.approvals().decide_approval(unknown).await.unwrap_err().code(), Code::NotFound);
    let invalid = decide(&approval.id, "maybe");
    assert_eq!(client.approvals().decide_approval(invalid).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(pending_approval(client, &run.id).await, approval, "a refused decision changes nothing");
    assert_eq!(get_run(client, &run.id).await.status, pb::RunStatus::Paused as i32);

    client.approvals().decide_approval(decide(&approval.id, "approve")).await.unwrap();
    let first = client.approvals().get_approval(pb::GetApprovalRequest { approval_id: approval.id.clone() }).await;
    let first = first.unwrap().into_inner().approval.unwrap();
    let again = client.approvals().decide_approval(decide(&approval.id, "reject")).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    let after = client.approvals().get_approval(pb::GetApprovalRequest { approval_id: approval.id.clone() }).await;
    assert_eq!(after.unwrap().into_inner().approval.unwrap(), first, "the first decision stands");
    let run = wait_for(client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
}

#[tokio::test]
async fn resume_run_step_answer_decides_an_approval_step() {
    let s = Scenario::with(gated("", "")).await;
    let (server, client, workflow_id) = (&s.server, &s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    wait_for(client, &run.id, &[pb::RunStatus::Paused], 10).await;
    let body = json!({"input": {"resume": {"step": "gate", "input": {"option": "approve", "decidedBy": "carol"}}}});
    let (status, resumed) =
        http1::json(server.addr, "POST", &format!("/v1/workflows/runs/{}/resume", run.id), Some(body)).await;
    assert_eq!(status, 200, "{resumed}");
    let run = wait_for(client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(json_of(&step(&run, "send").output), json!({"by": "carol"}));
}

#[tokio::test]
async fn resume_run_step_answer_outside_the_options_or_a_plain_resume_changes_nothing() {
    let s = Scenario::with(json!({"name": "route", "steps": [
        {"id": "approval", "type": "approval", "action": "route_lead", "message": "Route to enterprise sales team?",
         "options": ["approve", "reject", "escalate"]},
        {"id": "after", "type": "transform", "dependsOn": ["approval"], "output": {"o": "$.approval.output.decision"}}
    ]}))
    .await;
    let (server, client, workflow_id) = (&s.server, &s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    wait_for(client, &run.id, &[pb::RunStatus::Paused], 10).await;
    let before = weft_tests::runs::events(client, &run.id).await;
    let path = format!("/v1/workflow-runs/{}/resume", run.id);

    let body = json!({"input": {"resume": {"step": "approval", "input": "maybe"}}});
    let (status, refused) = http1::json(server.addr, "POST", &path, Some(body)).await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("approve, reject, escalate"), "the error names the options: {message}");

    let plain = pb::ResumeRunRequest { run_id: run.id.clone(), ..Default::default() };
    let refused = client.runs().resume_run(plain).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "a plain resume does not answer a step: {refused:?}");
    assert!(refused.message().contains("approval"), "{refused:?}");
    let pause = pb::PauseRunRequest { run_id: run.id.clone(), reason: String::new() };
    let paused = client.runs().pause_run(pause).await.unwrap_err();
    assert_eq!(paused.code(), Code::FailedPrecondition, "a paused run cannot be paused again");

    assert_eq!(weft_tests::runs::events(client, &run.id).await, before, "nothing changed");
    assert_eq!(pending_approval(client, &run.id).await.status, pb::ApprovalStatus::Pending as i32);

    let body = json!({"input": {"resume": {"step": "approval", "input": "escalate"}}});
    let (status, resumed) = http1::json(server.addr, "POST", &path, Some(body)).await;
    assert_eq!(status, 200, "{resumed}");
    let run = wait_for(client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(json_of(&step(&run, "after").output), json!({"o": "escalate"}));
}
