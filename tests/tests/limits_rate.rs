//! Per-tenant limits on starting runs (issue #17, Limits): a token bucket on
//! run starts and a cap on open runs. Over REST a refusal is 429 with
//! `Retry-After` and the documented error body; over gRPC it is
//! RESOURCE_EXHAUSTED with `ErrorInfo` and `RetryInfo`. A refused start
//! stores nothing, and an idempotent replay of an existing run is neither
//! refused nor counted. (Per-tenant isolation of the limiter is a unit
//! test in `server/src/engine/admission.rs`: tenants are not selectable
//! over the API yet.)

use std::net::SocketAddr;

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_server::Config;
use weft_server::config::LimitSettings;
use weft_tests::http1::{self, request};
use weft_tests::runs::start_request;
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, eventually};

fn limited(rate: u32, burst: u32, open: u64) -> Config {
    let limits = LimitSettings { run_starts_per_second: rate, run_start_burst: burst, max_open_runs: open };
    Config { limits, ..Config::default() }
}

/// A workflow whose runs stay open: one agent step no worker serves.
fn open_ended() -> Value {
    json!({"name": "waits", "steps": [{"id": "a", "type": "agent", "agent": "nobody", "task": "wait"}]})
}

async fn post_start(addr: SocketAddr, workflow: &str, body: Value) -> (u16, Option<String>, Value) {
    let path = format!("/v1/workflows/{workflow}/runs");
    let bytes = body.to_string().into_bytes();
    let response =
        request(addr, "POST", &path, &[("content-type", "application/json")], &bytes).await.expect("POST start");
    let retry_after = response.header("retry-after").map(str::to_owned);
    let value = serde_json::from_slice(&response.body).expect("a JSON body");
    (response.status, retry_after, value)
}

async fn run_count(addr: SocketAddr, workflow: &str) -> usize {
    let (status, runs) = http1::json(addr, "GET", &format!("/v1/workflows/{workflow}/runs"), None).await;
    assert_eq!(status, 200, "{runs}");
    runs.as_array().expect("a list of runs").len()
}

fn detail<'a>(body: &'a Value, kind: &str) -> &'a Value {
    body["details"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["@type"].as_str().is_some_and(|t| t.ends_with(kind))))
        .unwrap_or_else(|| panic!("no {kind} detail in {body}"))
}

#[tokio::test]
async fn run_starts_over_the_rate_are_429_with_retry_after_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A burst of 2, then one start every 10 s: the test cannot refill it.
    let server = TestServer::start_on(dir.path().join("weft.db"), limited(1, 2, 0)).await;
    let addr = server.addr;
    let wf = create_json(&server, open_ended()).await;

    let (status, _, first) = post_start(addr, &wf, json!({"input": {}, "idempotencyKey": "k-1"})).await;
    assert_eq!(status, 202, "{first}");
    let (status, _, second) = post_start(addr, &wf, json!({"input": {}})).await;
    assert_eq!(status, 202, "{second}");

    let (status, retry_after, refused) = post_start(addr, &wf, json!({"input": {}})).await;
    assert_eq!(status, 429, "{refused}");
    let seconds: u64 = retry_after.expect("a Retry-After header").parse().expect("whole seconds");
    assert!(seconds >= 1, "Retry-After is at least 1 s: {seconds}");
    assert_eq!(refused["error_code"], "RUN_START_RATE_LIMITED", "{refused}");
    assert_eq!(refused["code"], Code::ResourceExhausted as i32, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("run_starts_per_second") && message.contains("limit of 1 per second"), "{message}");
    let info = detail(&refused, "google.rpc.ErrorInfo");
    assert_eq!(
        (&info["reason"], &info["metadata"]["limit"]),
        (&json!("RUN_START_RATE_LIMITED"), &json!("run_starts_per_second"))
    );
    assert!(detail(&refused, "google.rpc.RetryInfo")["retryDelay"].is_string(), "{refused}");
    assert_eq!(run_count(addr, &wf).await, 2, "a refused start stores nothing");

    // Replaying the first start's idempotency key is not a new start: it
    // answers with the same run even with no tokens left, and costs none.
    let (status, _, replay) = post_start(addr, &wf, json!({"input": {}, "idempotencyKey": "k-1"})).await;
    assert!(status == 202 || status == 200, "{status}: {replay}");
    assert_eq!(replay["id"], first["id"], "{replay}");
    assert_eq!(run_count(addr, &wf).await, 2);

    // The other start paths take from the same bucket.
    let (status, retry_after, executed) =
        http1_post(addr, &format!("/v1/workflows/{wf}:execute"), json!({"input": {}, "timeoutSeconds": 1})).await;
    assert_eq!(status, 429, "{executed}");
    assert!(retry_after.is_some());
    assert_eq!(executed["error_code"], "RUN_START_RATE_LIMITED");
    assert_eq!(run_count(addr, &wf).await, 2);
}

async fn http1_post(addr: SocketAddr, path: &str, body: Value) -> (u16, Option<String>, Value) {
    let bytes = body.to_string().into_bytes();
    let response = request(addr, "POST", path, &[("content-type", "application/json")], &bytes).await.expect("POST");
    let retry_after = response.header("retry-after").map(str::to_owned);
    (response.status, retry_after, serde_json::from_slice(&response.body).expect("a JSON body"))
}

#[tokio::test]
async fn grpc_refusals_are_resource_exhausted_with_retry_info() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), limited(1, 1, 0)).await;
    let client = server.client().await;
    let wf = create_json(&server, open_ended()).await;
    client.runs().start_run(start_request(&wf, &json!({}))).await.expect("the burst admits one");

    let refused = client.runs().start_run(start_request(&wf, &json!({}))).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let details = refused.get_error_details();
    assert_eq!(details.error_info().expect("ErrorInfo").reason, "RUN_START_RATE_LIMITED");
    let delay = details.retry_info().expect("RetryInfo").retry_delay.expect("a delay");
    assert!(delay > std::time::Duration::ZERO && delay <= std::time::Duration::from_secs(1), "{delay:?}");

    let execute = pb::ExecuteWorkflowRequest { workflow_id: wf.clone(), timeout_seconds: 1, ..Default::default() };
    let refused = client.runs().execute_workflow(execute).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.get_details_retry_info().is_some());
    let listed = client.runs().list_runs(pb::ListRunsRequest { workflow_id: wf, ..Default::default() }).await;
    assert_eq!(listed.unwrap().into_inner().runs.len(), 1, "refused starts store nothing");
}

#[tokio::test]
async fn open_runs_over_the_cap_are_refused_until_one_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), limited(0, 0, 2)).await;
    let addr = server.addr;
    let client = server.client().await;
    let wf = create_json(&server, open_ended()).await;

    let (status, _, first) = post_start(addr, &wf, json!({"input": {}})).await;
    assert_eq!(status, 202, "{first}");
    let (status, _, second) = post_start(addr, &wf, json!({"input": {}, "idempotencyKey": "k-2"})).await;
    assert_eq!(status, 202, "{second}");

    let (status, retry_after, refused) = post_start(addr, &wf, json!({"input": {}})).await;
    assert_eq!(status, 429, "{refused}");
    assert!(retry_after.expect("Retry-After").parse::<u64>().unwrap() >= 1);
    assert_eq!(refused["error_code"], "OPEN_RUNS_LIMIT", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("max_open_runs = 2") && message.contains("2 open runs"), "{message}");
    let grpc = client.runs().start_run(start_request(&wf, &json!({}))).await.unwrap_err();
    assert_eq!(grpc.code(), Code::ResourceExhausted);
    assert_eq!(grpc.get_details_error_info().unwrap().reason, "OPEN_RUNS_LIMIT");
    assert!(grpc.get_details_retry_info().is_some());
    assert_eq!(run_count(addr, &wf).await, 2, "a refused start stores nothing");

    // A replay of an open run is answered, not refused.
    let (status, _, replay) = post_start(addr, &wf, json!({"input": {}, "idempotencyKey": "k-2"})).await;
    assert!(status == 202 || status == 200, "{status}: {replay}");
    assert_eq!(replay["id"], second["id"]);

    // Once a run ends, a place is free again.
    let id = first["id"].as_str().unwrap();
    let (status, cancelled) =
        http1::json(addr, "POST", &format!("/v1/workflows/runs/{id}/cancel"), Some(json!({}))).await;
    assert_eq!(status, 200, "{cancelled}");
    let third = eventually("a start admitted after a run ended", 10, || async {
        let (status, _, body) = post_start(addr, &wf, json!({"input": {}})).await;
        if status == 202 { Ok(body) } else { Err((status, body)) }
    })
    .await;
    assert!(third["id"].is_string());
    assert_eq!(run_count(addr, &wf).await, 3);
    let (status, _, refused) = post_start(addr, &wf, json!({"input": {}})).await;
    assert_eq!((status, &refused["error_code"]), (429, &json!("OPEN_RUNS_LIMIT")), "full again");
}

#[tokio::test]
async fn retry_run_from_makes_a_run_and_takes_from_the_same_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), limited(1, 2, 0)).await;
    let client = server.client().await;
    // `over` that is not an array: the run fails at once.
    let wf = create_json(
        &server,
        json!({"name": "fails", "steps": [
            {"id": "each", "type": "map", "over": "$.input.x", "step": {"id": "one", "type": "transform", "output": {"v": "$.item"}}}
        ]}),
    )
    .await;
    let failed = client.runs().start_run(start_request(&wf, &json!({"x": 1}))).await.unwrap().into_inner().run.unwrap();
    assert_eq!(failed.status, pb::RunStatus::Failed as i32, "{failed:?}");
    let retry = || pb::RetryRunFromRequest { run_id: failed.id.clone(), step_id: "each".into() };
    client.runs().retry_run_from(retry()).await.expect("the second token");
    let refused = client.runs().retry_run_from(retry()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(refused.get_details_error_info().unwrap().reason, "RUN_START_RATE_LIMITED");
    assert!(refused.get_details_retry_info().is_some());
    let listed = client.runs().list_runs(pb::ListRunsRequest { workflow_id: wf, ..Default::default() }).await;
    assert_eq!(listed.unwrap().into_inner().runs.len(), 2, "the refused retry stored nothing");
}
