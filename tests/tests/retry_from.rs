//! RetryRunFrom end to end: a partial run retried from its canRetryFrom and
//! a cancelled run retried from the step it stopped at. The new run takes
//! over the upstream outputs without running those steps (no step.started
//! in its log, zero attempts) and runs the chosen step again; bad requests
//! are refused with the right codes and change nothing.

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_tests::runs::{get_run, json_of, start, step, trace, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

async fn retry(client: &weft_sdk::Weft, run_id: &str, step_id: &str) -> Result<pb::Run, tonic::Status> {
    let request = pb::RetryRunFromRequest { run_id: run_id.into(), step_id: step_id.into() };
    Ok(client.runs().retry_run_from(request).await?.into_inner().run.unwrap())
}

/// A → B → C, plus an independent `side` step; C's inputMap reads
/// `$.input.flag`, which the input lacks, so C fails and, under
/// onFailure "continue", the run ends partial with canRetryFrom C.
fn partial_chain() -> Value {
    json!({
        "name": "partial-chain",
        "onFailure": "continue",
        "steps": [
            {"id": "a", "type": "transform", "output": {"n": "$.input.n"}},
            {"id": "b", "type": "transform", "dependsOn": ["a"], "output": {"twice": "$.a.output.n", "from": "$.a.output"}},
            {"id": "c", "type": "transform", "dependsOn": ["b"], "inputMap": {"flag": "$.input.flag"},
             "output": {"b": "$.b.output.twice"}},
            {"id": "side", "type": "transform", "output": {"n": "$.input.n"}}
        ]
    })
}

#[tokio::test]
async fn retry_from_a_partial_run_reuses_a_and_b_and_runs_c_again() {
    let s = Scenario::with(partial_chain()).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);

    let source = start(client, workflow_id, json!({"n": 7})).await;
    assert_eq!(source.status, pb::RunStatus::Partial as i32, "{source:?}");
    assert_eq!(source.can_retry_from, "c");
    let c = step(&source, "c");
    assert!(c.error.contains("'flag'") && c.error.contains("$.input.flag"), "a clear inputMap error: {}", c.error);

    // No step id: the run's canRetryFrom.
    let retried = retry(client, &source.id, "").await.unwrap();
    assert_ne!(retried.id, source.id);
    assert_eq!(retried.retry_of_run_id, source.id);
    assert_eq!(retried.trigger, "retry");
    assert_eq!(retried.workflow_version, source.workflow_version);
    assert_eq!(retried.input, source.input);
    for id in ["a", "b", "side"] {
        let (old, new) = (step(&source, id), step(&retried, id));
        assert_eq!(new.status, pb::StepStatus::Completed as i32, "{id} reused");
        assert_eq!(new.output, old.output, "{id} keeps its original output");
        assert_eq!(new.attempts, 0, "{id} did not run in the new run");
        assert!(new.start_time.is_none(), "{id} never started in the new run");
    }
    let events = trace(client, &retried.id).await;
    for id in ["a", "b", "side"] {
        assert!(!events.contains(&format!("step.started {id}")), "{id} did not run again: {events:?}");
        assert!(events.contains(&format!("step.completed {id}")), "{events:?}");
    }
    assert!(events.contains(&"step.started c".to_string()), "c ran again: {events:?}");
    assert!(events.contains(&"step.failed c".to_string()), "with the same input it fails the same way");
    assert_eq!(step(&retried, "c").attempts, 1);
    assert_eq!(retried.status, pb::RunStatus::Partial as i32);
    assert_eq!(retried.can_retry_from, "c");

    // The source run is untouched.
    assert_eq!(get_run(client, &source.id).await, source);
}

#[tokio::test]
async fn retry_from_a_cancelled_run_runs_the_step_to_completion_over_rest() {
    let s = Scenario::with(json!({
        "name": "cancel-then-retry",
        "steps": [
            {"id": "a", "type": "transform", "output": {"n": "$.input.n"}},
            {"id": "b", "type": "transform", "dependsOn": ["a"], "output": {"m": "$.a.output.n"},
             "stateWrites": ["m"]},
            {"id": "c", "type": "delay", "duration": 1, "dependsOn": ["b"]},
            {"id": "d", "type": "transform", "dependsOn": ["c"],
             "output": {"a": "$.a.output.n", "m": "$.state.m", "campaign": "$.state.campaign"}}
        ]
    }))
    .await;
    let (server, client, workflow_id) = (&s.server, &s.client, &s.workflow_id);
    let request = pb::StartRunRequest {
        workflow_id: workflow_id.clone(),
        input: Some(weft_server::api::convert::value_to_pb(&json!({"n": 3}))),
        shared_state: match weft_server::api::convert::value_to_pb(&json!({"campaign": "q2"})).kind {
            Some(prost_types::value::Kind::StructValue(s)) => Some(s),
            _ => None,
        },
        ..Default::default()
    };
    let source = client.runs().start_run(request).await.unwrap().into_inner().run.unwrap();
    assert_eq!(step(&source, "c").status, pb::StepStatus::Waiting as i32);
    let cancel = pb::CancelRunRequest { run_id: source.id.clone(), reason: "not now".into() };
    let source = client.runs().cancel_run(cancel).await.unwrap().into_inner().run.unwrap();
    assert_eq!(source.status, pb::RunStatus::Cancelled as i32);

    let (status, body) = http1::json(
        server.addr,
        "POST",
        &format!("/v1/workflows/runs/{}/retry", source.id),
        Some(json!({"stepId": "c"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["retryOfRunId"], source.id.as_str(), "the bare run: {body}");
    let retried = wait_finished(client, body["id"].as_str().unwrap(), 10).await;
    assert_eq!(retried.status, pb::RunStatus::Completed as i32, "{retried:?}");
    assert_eq!(json_of(&step(&retried, "d").output), json!({"a": 3, "m": 3, "campaign": "q2"}));
    assert_eq!(step(&retried, "a").attempts, 0);
    assert_eq!(step(&retried, "c").attempts, 1, "the delay ran again");
    let events = trace(client, &retried.id).await;
    assert_eq!(
        events,
        [
            "run.started",
            "step.completed a",
            "step.completed b",
            "step.started c",
            "step.completed c",
            "step.started d",
            "step.completed d",
            "run.completed"
        ]
    );
}

#[tokio::test]
async fn retry_refuses_unknown_runs_unknown_steps_and_live_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;

    let unknown = retry(&client, "wfrun_nope", "c").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(unknown.get_error_details().error_info().unwrap().reason, "RUN_NOT_FOUND");
    assert_eq!(retry(&client, "", "c").await.unwrap_err().code(), Code::InvalidArgument);

    let partial = create_json(&server, partial_chain()).await;
    let source = start(&client, &partial, json!({"n": 1})).await;
    let bad_step = retry(&client, &source.id, "nope").await.unwrap_err();
    assert_eq!(bad_step.code(), Code::InvalidArgument);
    assert!(bad_step.message().contains("'nope'"), "{}", bad_step.message());
    let violations = bad_step.get_error_details().bad_request().unwrap().field_violations.clone();
    assert_eq!(violations[0].field, "step_id");

    let live =
        create_json(&server, json!({"name": "slow", "steps": [{"id": "wait", "type": "delay", "duration": 60}]})).await;
    let running = start(&client, &live, json!({})).await;
    let refused = retry(&client, &running.id, "wait").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(refused.get_error_details().error_info().unwrap().reason, "RUN_NOT_RETRYABLE");

    let done = create_json(
        &server,
        json!({"name": "done", "steps": [
            {"id": "each", "type": "map", "over": "$.input.xs", "as": "x",
             "step": {"id": "double", "type": "transform", "output": {"x": "$.x"}}}
        ]}),
    )
    .await;
    let completed = start(&client, &done, json!({"xs": [1, 2]})).await;
    assert_eq!(completed.status, pb::RunStatus::Completed as i32);
    let refused = retry(&client, &completed.id, "each").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "a completed run has nothing to retry");

    let listed = client.runs().list_runs(pb::ListRunsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.total, 3, "refused retries started nothing");
}

#[tokio::test]
async fn a_retry_reusing_a_timed_out_wait_takes_its_timeout_branch_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    // The wait times out; its onTimeout step reads an input the run lacks,
    // so it fails and the run ends partial with canRetryFrom "remind".
    let definition = json!({"name": "late-payment", "onFailure": "continue", "steps": [
        {"id": "pay", "type": "wait", "event": "paid", "timeout": "1s", "onTimeout": {"next": "remind"}},
        {"id": "ship", "type": "transform", "dependsOn": ["pay"], "output": {"p": "$.pay.output"}},
        {"id": "remind", "type": "transform", "inputMap": {"to": "$.input.email"}, "output": {"to": "$.input.email"}}
    ]});
    let workflow_id = create_json(&server, definition).await;
    let source = start(&client, &workflow_id, json!({})).await;
    let ended = [pb::RunStatus::Partial, pb::RunStatus::Failed, pb::RunStatus::Completed];
    let source = weft_tests::runs::wait_for(&client, &source.id, &ended, 10).await;
    assert_eq!(source.status, pb::RunStatus::Partial as i32, "{source:?}");
    assert_eq!(step(&source, "ship").status, pb::StepStatus::Skipped as i32);

    let retried = retry(&client, &source.id, "remind").await.expect("retry accepted");
    let retried = weft_tests::runs::wait_for(&client, &retried.id, &ended, 10).await;
    assert_eq!(step(&retried, "pay").attempts, 0, "the wait is reused, not waited again");
    assert_eq!(step(&retried, "remind").status, pb::StepStatus::Failed as i32, "the timeout branch runs again");
    assert_eq!(step(&retried, "ship").status, pb::StepStatus::Skipped as i32, "the event branch stays untaken");
}
