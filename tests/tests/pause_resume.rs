//! PauseRun and ResumeRun's run-control forms end to end: a paused run
//! starts nothing new while its in-flight worker is told through its
//! heartbeat and its completion is recorded; it stays paused across a
//! restart; a plain resume continues it; `from_step` reruns a step in a
//! paused run or resumes a finished run as a new run from a step or from
//! its last checkpoint; bad requests change nothing.

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_tests::runs::{self, events, get_run, json_of, pause, start, step, trace, wait_for};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete, heartbeat, poll_one, register};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

/// An agent step, then a transform that waits for it.
fn research() -> Value {
    json!({"name": "research", "steps": [
        {"id": "research", "type": "agent", "agent": "researcher", "task": "Research {{ input.company }}"},
        {"id": "shape", "type": "transform", "dependsOn": ["research"], "output": {"s": "$.research.output.summary"}}
    ]})
}

fn stripe() -> Value {
    json!({"company": "Stripe"})
}

/// `definition` on a fresh server, worker "w1" serving "researcher", and a
/// run started.
async fn agent_run(definition: Value) -> (Scenario, String) {
    Scenario::agent_run(Config::default(), definition, "w1", &["researcher"], stripe()).await
}

async fn resume(client: &Weft, run_id: &str, from_step: &str) -> Result<pb::Run, tonic::Status> {
    let request = pb::ResumeRunRequest { run_id: run_id.into(), from_step: from_step.into(), ..Default::default() };
    runs::resume(client, request).await
}

#[tokio::test]
async fn a_paused_run_records_in_flight_work_starts_nothing_and_resumes() {
    let (s, run_id) = agent_run(research()).await;
    let (server, client) = (&s.server, &s.client);
    let task = poll_one(client, "w1").await;
    assert!(!heartbeat(client, &task, None).await.paused);

    let run = pause(client, &run_id, "quota review").await.expect("a running run pauses");
    assert_eq!(run.status, pb::RunStatus::Paused as i32);
    let pending = run.pending_action.expect("a pending action");
    assert_eq!(pending.r#type, "manual");
    assert!(pending.message.contains("quota review"), "{pending:?}");
    assert!(heartbeat(client, &task, None).await.paused, "the worker hears of the pause through its heartbeat");

    complete(client, &task, &json!({"summary": "payments"})).await;
    let run = get_run(client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Paused as i32, "{run:?}");
    assert_eq!(step(&run, "research").status, pb::StepStatus::Completed as i32, "the completion is recorded");
    assert_eq!(step(&run, "shape").status, pb::StepStatus::Pending as i32, "no new step starts while paused");

    let before = events(client, &run_id).await;
    let again = pause(client, &run_id, "").await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    assert_eq!(events(client, &run_id).await, before, "pausing a paused run changes nothing");

    let (status, resumed) =
        http1::json(server.addr, "POST", &format!("/v1/workflows/runs/{run_id}/resume"), Some(json!({}))).await;
    assert_eq!(status, 200, "{resumed}");
    let run = wait_for(client, &run_id, &[pb::RunStatus::Completed], 10).await;
    assert_eq!(json_of(&step(&run, "shape").output), json!({"s": "payments"}));
    let trace = trace(client, &run_id).await;
    let paused = trace.iter().position(|t| t == "run.paused").expect("run.paused");
    let resumed = trace.iter().position(|t| t == "run.resumed").expect("run.resumed");
    let completed = trace.iter().position(|t| t == "step.completed research").unwrap();
    let shaped = trace.iter().position(|t| t == "step.started shape").unwrap();
    assert!(paused < completed && completed < resumed && resumed < shaped, "{trace:?}");

    let before = events(client, &run_id).await;
    let finished = pause(client, &run_id, "").await.unwrap_err();
    assert_eq!(finished.code(), Code::FailedPrecondition, "{finished:?}");
    let finished = resume(client, &run_id, "").await.unwrap_err();
    assert_eq!(finished.code(), Code::FailedPrecondition, "a completed run has nothing to resume: {finished:?}");
    assert_eq!(events(client, &run_id).await, before);
    assert_eq!(get_run(client, &run_id).await.status, pb::RunStatus::Completed as i32);
}

#[tokio::test]
async fn a_pause_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), Config::default()).await;
    let run_id = {
        let client = server.client().await;
        let workflow_id = create_json(&server, research()).await;
        let run_id = start(&client, &workflow_id, stripe()).await.id;
        // REST, /api family.
        let path = format!("/api/workflows/runs/{run_id}/pause");
        let (status, body) = http1::json(server.addr, "POST", &path, Some(json!({"reason": "night"}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["run"]["status"], "paused", "{body}");
        run_id
    };
    server.stop().await;

    let server = TestServer::start_on(database, Config::default()).await;
    let client = server.client().await;
    let run = get_run(&client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Paused as i32, "{run:?}");
    assert_eq!(run.pending_action.as_ref().map(|p| p.r#type.as_str()), Some("manual"));
    register(&client, "w1", &["researcher"]).await;
    resume(&client, &run_id, "").await.expect("the paused run resumes after the restart");
    let task = poll_one(&client, "w1").await;
    complete(&client, &task, &json!({"summary": "after"})).await;
    let run = wait_for(&client, &run_id, &[pb::RunStatus::Completed], 10).await;
    assert_eq!(json_of(&step(&run, "shape").output), json!({"s": "after"}));
}

#[tokio::test]
async fn from_step_reruns_a_step_of_a_paused_run_in_the_same_run() {
    let (s, run_id) = agent_run(research()).await;
    let (server, client) = (&s.server, &s.client);
    let first = poll_one(client, "w1").await;
    pause(client, &run_id, "").await.unwrap();

    let before = events(client, &run_id).await;
    let unknown = resume(client, &run_id, "ghost").await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument, "{unknown:?}");
    assert!(unknown.message().contains("ghost"), "{unknown:?}");
    assert_eq!(events(client, &run_id).await, before, "an unknown step changes nothing");

    let path = format!("/api/workflows/runs/{run_id}/resume");
    let (status, body) = http1::json(server.addr, "POST", &path, Some(json!({"from_step": "research"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["id"], run_id.as_str(), "the same run continues");
    let beat =
        pb::HeartbeatRequest { task_id: first.task_id.clone(), lease_token: first.lease_token, cost_so_far: None };
    let stale = client.workers().heartbeat(beat).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "the old attempt is given up: {stale:?}");
    let second = poll_one(client, "w1").await;
    assert_eq!(second.attempt, first.attempt + 1);
    complete(client, &second, &json!({"summary": "again"})).await;
    let run = wait_for(client, &run_id, &[pb::RunStatus::Completed], 10).await;
    assert_eq!(json_of(&step(&run, "shape").output), json!({"s": "again"}));
    assert!(trace(client, &run_id).await.contains(&"step.reset research".to_owned()));
}

#[tokio::test]
async fn resuming_a_failed_run_starts_a_new_run_from_its_checkpoint_or_the_named_step() {
    let definition = json!({"name": "fragile", "steps": [
        {"id": "prep", "type": "transform", "output": {"c": "$.input.company"}},
        {"id": "research", "type": "agent", "agent": "researcher", "task": "t", "dependsOn": ["prep"]},
        {"id": "shape", "type": "transform", "dependsOn": ["research"], "output": {"s": "$.research.output.summary"}}
    ]});
    let (s, run_id) = agent_run(definition).await;
    let client = &s.client;
    let task = poll_one(client, "w1").await;
    let fail = pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        error: "down".into(),
        retryable: false,
        ..Default::default()
    };
    client.workers().fail_task(fail).await.unwrap();
    let failed = wait_for(client, &run_id, &[pb::RunStatus::Failed], 10).await;
    assert_eq!(failed.can_retry_from, "research");

    let before = events(client, &run_id).await;
    let unknown = resume(client, &run_id, "ghost").await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument, "{unknown:?}");
    assert_eq!(events(client, &run_id).await, before);

    // Nothing named: the last checkpoint, canRetryFrom.
    let resumed = resume(client, &run_id, "").await.expect("a failed run resumes");
    assert_ne!(resumed.id, run_id, "a finished run resumes as a new run");
    assert_eq!(resumed.retry_of_run_id, run_id);
    assert_eq!(step(&resumed, "prep").attempts, 0, "upstream outputs are reused, not rerun");
    let task = poll_one(client, "w1").await;
    complete(client, &task, &json!({"summary": "ok"})).await;
    let done = wait_for(client, &resumed.id, &[pb::RunStatus::Completed], 10).await;
    assert_eq!(json_of(&step(&done, "shape").output), json!({"s": "ok"}));
    assert_eq!(get_run(client, &run_id).await, failed, "the failed run itself is untouched");

    // A named step: everything from it runs again.
    let named = resume(client, &run_id, "prep").await.expect("from a named step");
    assert_eq!(step(&named, "prep").status, pb::StepStatus::Completed as i32);
    assert!(step(&named, "prep").attempts >= 1, "prep ran again");
}

#[tokio::test]
async fn bad_pause_requests_get_clear_errors_and_change_nothing() {
    let s = Scenario::with(research()).await;
    let (server, client, workflow_id) = (&s.server, &s.client, &s.workflow_id);
    let run_id = start(client, workflow_id, stripe()).await.id;
    let before = events(client, &run_id).await;

    let empty = pause(client, "", "").await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument, "{empty:?}");
    assert!(empty.message().contains("run_id"), "{empty:?}");
    let unknown = pause(client, "wfrun_nope", "").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let long = pause(client, &run_id, &"x".repeat(300)).await.unwrap_err();
    assert_eq!(long.code(), Code::InvalidArgument, "{long:?}");
    assert!(long.message().contains("reason"), "{long:?}");
    let (status, body) = http1::json(server.addr, "POST", "/v1/workflows/runs/wfrun_nope/pause", Some(json!({}))).await;
    assert_eq!(status, 404, "{body}");
    let running = resume(client, &run_id, "").await.unwrap_err();
    assert_eq!(running.code(), Code::FailedPrecondition, "a running run is not paused: {running:?}");

    assert_eq!(events(client, &run_id).await, before, "refused calls change nothing");
    assert_eq!(get_run(client, &run_id).await.status, pb::RunStatus::Running as i32);
}
