//! A step's output size (issue #17, Limits): over the cap of 1 MiB of JSON
//! the step fails with OUTPUT_TOO_LARGE, naming the size and the cap, the
//! output is not kept, and the run goes on as its failure mode says. The
//! same holds for a worker's CompleteTask, an http_request response and a
//! response over the outbound cap. Outputs here are between the 1 MiB cap
//! and the 4 MiB request limit, so the request itself is accepted.

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::pb;
use weft_server::Config;
use weft_server::engine::tasks::MAX_OUTPUT_BYTES;
use weft_tests::TestServer;
use weft_tests::receiver::{Answer, Receiver};
use weft_tests::runs::{events, json_of, start, step, wait_finished};
use weft_tests::workers::{complete_request, poll_one, register};
use weft_tests::workflows::create_json;

/// The `data.code` of the run's step.failed event for `step_id`.
async fn failure_code(client: &weft_sdk::Weft, run_id: &str, step_id: &str) -> Value {
    let events = events(client, run_id).await;
    let failed = events
        .iter()
        .find(|e| e.r#type == "step.failed" && e.step_id == step_id)
        .unwrap_or_else(|| panic!("no step.failed for {step_id}: {events:?}"));
    let data = failed.data.clone().map(|s| prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(s)) });
    json_of(&data)["code"].clone()
}

#[tokio::test]
async fn a_worker_output_over_the_cap_fails_the_step_with_output_too_large_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    // `continue`: the other branch still runs, and the run ends partial.
    let definition = json!({"name": "big", "onFailure": "continue", "steps": [
        {"id": "big", "type": "agent", "agent": "writer", "task": "write", "retries": 3},
        {"id": "after", "type": "transform", "dependsOn": ["big"], "output": {"x": "$.big.output"}},
        {"id": "other", "type": "transform", "output": {"y": "$.input.y"}}
    ]});
    let workflow_id = create_json(&server, definition).await;
    register(&client, "w1", &["writer"]).await;
    let run = start(&client, &workflow_id, json!({"y": 1})).await;
    let task = poll_one(&client, "w1").await;

    // 2 MiB of JSON: over the 1 MiB cap, under the 4 MiB request limit.
    let size_of_text = 2 * MAX_OUTPUT_BYTES;
    let huge = json!({"text": "x".repeat(size_of_text)});
    let json_size = serde_json::to_vec(&huge).unwrap().len();
    let refused = client.workers().complete_task(complete_request(&task, &huge, None)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    let words = format!("is {json_size} bytes of JSON, over the cap of {MAX_OUTPUT_BYTES} bytes");
    assert!(refused.message().contains(&words), "{}", refused.message());
    assert!(refused.message().contains("OUTPUT_TOO_LARGE"), "{}", refused.message());

    let run = wait_finished(&client, &run.id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Partial as i32, "{run:?}");
    let big = step(&run, "big");
    assert_eq!(big.status, pb::StepStatus::Failed as i32, "retries do not apply to an output over the cap");
    assert_eq!(big.attempts, 1);
    assert!(big.output.is_none() || json_of(&big.output).is_null(), "the output is not kept: {:?}", big.output);
    assert!(big.error.contains(&words), "{}", big.error);
    assert_eq!(step(&run, "after").status, pb::StepStatus::Skipped as i32);
    assert_eq!(step(&run, "other").status, pb::StepStatus::Completed as i32);
    assert_eq!(failure_code(&client, &run.id, "big").await, "OUTPUT_TOO_LARGE");
    assert!(poll_one_or_none(&client).await.is_none(), "no retry was queued");
}

async fn poll_one_or_none(client: &weft_sdk::Weft) -> Option<pb::Task> {
    weft_tests::workers::poll(client, "w1", 0).await
}

#[tokio::test]
async fn a_response_body_over_the_output_cap_fails_the_step_with_output_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    // The response may be read (4 MiB), but is too big to keep as output.
    config.outbound.max_response_bytes = 4 * 1024 * 1024;
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let client = server.client().await;
    let body = json!({"items": vec!["0123456789"; 150_000]});
    let receiver = Receiver::start(vec![Answer::json(200, body)]).await;
    let definition = json!({"name": "get", "steps": [
        {"id": "get", "type": "http_request", "url": receiver.url("/big")}
    ]});
    let workflow_id = create_json(&server, definition).await;
    let run = start(&client, &workflow_id, json!({})).await;
    let run = wait_finished(&client, &run.id, 15).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    assert_eq!(run.error.as_ref().unwrap().code, "OUTPUT_TOO_LARGE");
    let get = step(&run, "get");
    assert!(get.error.contains(&format!("over the cap of {MAX_OUTPUT_BYTES} bytes")), "{}", get.error);
    assert_eq!(failure_code(&client, &run.id, "get").await, "OUTPUT_TOO_LARGE");
}

#[tokio::test]
async fn a_response_over_the_outbound_cap_fails_the_step_with_output_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    config.outbound.max_response_bytes = 2048;
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![Answer::text(200, &"x".repeat(10_000))]).await;
    let definition = json!({"name": "get", "steps": [
        {"id": "get", "type": "http_request", "url": receiver.url("/big"), "retries": 2}
    ]});
    let workflow_id = create_json(&server, definition).await;
    let run = start(&client, &workflow_id, json!({})).await;
    let run = wait_finished(&client, &run.id, 15).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    assert_eq!(run.error.as_ref().unwrap().code, "OUTPUT_TOO_LARGE");
    let get = step(&run, "get");
    assert_eq!(get.error, "the response body is over the 2048-byte limit", "names the cap");
    assert_eq!(get.attempts, 1, "the same answer would come again: no retry");
    assert_eq!(receiver.received().len(), 1);
}
