//! Wait steps end to end: an event delivered by ResumeRun (after a restart
//! during the wait) completes the step with its payload, wrong events and
//! runs that are not waiting are refused without changing anything, and a
//! timeout takes the onTimeout branch.

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::pb;
use weft_server::api::convert::value_to_pb;
use weft_tests::TestServer;
use weft_tests::runs::{self, events, get_run, json_of, step, wait_for};
use weft_tests::scenario::Scenario;
use weft_tests::workflows::create_json;

async fn start(client: &weft_sdk::Weft, workflow_id: &str) -> pb::Run {
    runs::start(client, workflow_id, json!({"order": "o-1"})).await
}

async fn resume(client: &weft_sdk::Weft, run_id: &str, event: &str, payload: Value) -> Result<pb::Run, tonic::Status> {
    let request = pb::ResumeRunRequest {
        run_id: run_id.into(),
        event: event.into(),
        payload: Some(value_to_pb(&payload)),
        ..Default::default()
    };
    runs::resume(client, request).await
}

/// A wait for a payment, a shipment that reads its payload, and a
/// fallback for a payment that never comes.
fn payment(timeout: &str) -> Value {
    json!({"name": "await-payment", "steps": [
        {"id": "pay", "type": "wait", "event": "payment.confirmed", "timeout": timeout,
         "onTimeout": {"next": "remind"}},
        {"id": "ship", "type": "transform", "dependsOn": ["pay"],
         "output": {"amount": "$.pay.output.amount", "order": "$.input.order"}},
        {"id": "remind", "type": "transform", "output": {"order": "$.input.order"}}
    ]})
}

#[tokio::test]
async fn an_event_resumes_the_wait_with_its_payload_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), weft_server::Config::default()).await;
    let (run_id, due) = {
        let client = server.client().await;
        let workflow_id = create_json(&server, payment("1h")).await;
        let run = start(&client, &workflow_id).await;
        let run = wait_for(&client, &run.id, &[pb::RunStatus::Paused], 10).await;
        let pending = run.pending_action.clone().expect("a pending action");
        assert_eq!((pending.r#type.as_str(), pending.event.as_str()), ("event", "payment.confirmed"));
        assert_eq!(pending.step, "pay");
        // The timeout's deadline: an hour after the step started.
        let due = pending.expire_time.expect("a timed wait says when it times out");
        let started = step(&run, "pay").start_time.expect("the wait started");
        assert!((due.seconds - started.seconds - 3600).abs() <= 1, "{due:?} against {started:?}");
        (run.id, due)
    };
    server.stop().await;

    let server = TestServer::start_on(database, weft_server::Config::default()).await;
    let client = server.client().await;
    let replayed = wait_for(&client, &run_id, &[pb::RunStatus::Paused], 10).await;
    assert_eq!(replayed.pending_action.unwrap().expire_time, Some(due), "a restart keeps the deadline");
    resume(&client, &run_id, "payment.confirmed", json!({"amount": 42})).await.expect("the event is taken");
    let run = wait_for(&client, &run_id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "pay").output), json!({"amount": 42}));
    assert_eq!(json_of(&step(&run, "ship").output), json!({"amount": 42, "order": "o-1"}));
    assert_eq!(step(&run, "remind").status, pb::StepStatus::Skipped as i32, "{run:?}");
}

#[tokio::test]
async fn a_wrong_event_or_a_run_not_waiting_is_refused_and_changes_nothing() {
    let s = Scenario::with(payment("1h")).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    wait_for(client, &run.id, &[pb::RunStatus::Paused], 10).await;

    let before = events(client, &run.id).await;
    let wrong = resume(client, &run.id, "payment.failed", json!({})).await.unwrap_err();
    assert_eq!(wrong.code(), Code::FailedPrecondition, "{wrong:?}");
    assert_eq!(events(client, &run.id).await, before, "a wrong event changes nothing");
    assert_eq!(get_run(client, &run.id).await.status, pb::RunStatus::Paused as i32);

    resume(client, &run.id, "payment.confirmed", json!({"amount": 1})).await.expect("the event is taken");
    wait_for(client, &run.id, &[pb::RunStatus::Completed], 10).await;
    let before = events(client, &run.id).await;
    let again = resume(client, &run.id, "payment.confirmed", json!({"amount": 2})).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    assert_eq!(events(client, &run.id).await, before, "a run not waiting changes nothing");
    assert_eq!(json_of(&step(&get_run(client, &run.id).await, "pay").output), json!({"amount": 1}));
}

#[tokio::test]
async fn a_wait_that_times_out_takes_its_on_timeout_branch() {
    let s = Scenario::with(payment("1s")).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    let run = start(client, workflow_id).await;
    let run = wait_for(client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(step(&run, "pay").status, pb::StepStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "pay").output), Value::Null);
    assert_eq!(step(&run, "ship").status, pb::StepStatus::Skipped as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "remind").output), json!({"order": "o-1"}));
}

#[tokio::test]
async fn the_event_form_and_a_plain_resume_refuse_a_run_paused_by_pause_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let definition = json!({"name": "slow", "steps": [
        {"id": "work", "type": "agent", "agent": "nobody", "task": "t"},
        {"id": "pay", "type": "wait", "event": "payment.confirmed", "dependsOn": ["work"]}
    ]});
    let workflow_id = create_json(&server, definition).await;
    let run = start(&client, &workflow_id).await;
    let pause = pb::PauseRunRequest { run_id: run.id.clone(), reason: "hold".into() };
    client.runs().pause_run(pause).await.expect("a running run pauses");
    let before = events(&client, &run.id).await;
    let refused = resume(&client, &run.id, "payment.confirmed", json!({})).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "no step waits for the event yet: {refused:?}");
    let both = pb::ResumeRunRequest {
        run_id: run.id.clone(),
        event: "x".into(),
        from_step: "work".into(),
        ..Default::default()
    };
    assert_eq!(client.runs().resume_run(both).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(events(&client, &run.id).await, before, "refused resumes change nothing");
    let plain = pb::ResumeRunRequest { run_id: run.id.clone(), ..Default::default() };
    let run = client.runs().resume_run(plain).await.expect("a plain resume continues it").into_inner().run.unwrap();
    assert_eq!(run.status, pb::RunStatus::Running as i32);
}
