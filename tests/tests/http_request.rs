//! http_request steps end to end against a local receiver: the output is
//! `{statusCode, headers, body}` with a JSON body parsed and a text body
//! kept as text, the request body's `{{ }}` placeholders are rendered from
//! the run, the 003 `config` form works, and the response size cap and the
//! request timeout fail the step with a clear error.

use std::time::Duration;

use serde_json::{Value, json};
use weft_sdk::pb;
use weft_server::Config;
use weft_tests::receiver::{Answer, Receiver};
use weft_tests::runs::{json_of, start, step, wait_finished};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

fn config() -> Config {
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    config
}

async fn run_one(server: &TestServer, definition: Value, input: Value) -> pb::Run {
    let workflow_id = create_json(server, definition).await;
    let client = server.client().await;
    let run = start(&client, &workflow_id, input).await;
    wait_finished(&client, &run.id, 15).await
}

#[tokio::test]
async fn a_get_returns_status_headers_and_the_parsed_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let mut answer = Answer::json(200, json!({"items": [1, 2], "next": null}));
    answer.headers.push(("x-page".into(), "1".into()));
    let receiver = Receiver::start(vec![answer]).await;
    // The nested-config form of 003.
    let definition = json!({"name": "fetch", "steps": [
        {"id": "fetch", "type": "http_request",
         "config": {"method": "GET", "url": receiver.url("/data?x=1"), "headers": {"Accept": "application/json"}}}
    ]});
    let run = run_one(&server, definition, json!({})).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let output = json_of(&step(&run, "fetch").output);
    assert_eq!(output["statusCode"], 200);
    assert_eq!(output["body"], json!({"items": [1, 2], "next": null}));
    assert_eq!(output["headers"]["x-page"], "1");
    assert_eq!(output["headers"]["content-type"], "application/json");
    let received = receiver.received();
    assert_eq!((received[0].method.as_str(), received[0].path.as_str()), ("GET", "/data?x=1"));
    // 003 (`/api`) shows the result as `{status_code, body}`; `/v1` as stored.
    let (_, api) = http1::json(server.addr, "GET", &format!("/api/workflows/runs/{}", run.id), None).await;
    let shown = &api["run"]["step_runs"][0]["output"];
    assert_eq!((&shown["status_code"], shown.get("statusCode")), (&json!(200), None), "{api}");
    assert_eq!(shown["body"]["items"], json!([1, 2]));
    let (_, v1) = http1::json(server.addr, "GET", &format!("/v1/workflows/runs/{}", run.id), None).await;
    assert_eq!(v1["steps"][0]["output"]["statusCode"], 200, "{v1}");
    assert_eq!(received[0].header("accept"), Some("application/json"));
    assert!(received[0].body.is_empty());
}

#[tokio::test]
async fn a_post_renders_its_body_from_the_run_and_keeps_a_text_answer_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let receiver = Receiver::start(vec![Answer::text(201, "created lead 7")]).await;
    let definition = json!({"name": "post", "steps": [
        {"id": "create", "type": "http_request", "method": "post", "url": receiver.url("/leads"),
         "body": {"name": "{{ input.company }}", "tags": ["lead", "{{ input.tier }}"], "fixed": 3}}
    ]});
    let run = run_one(&server, definition, json!({"company": "Acme", "tier": "gold"})).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let output = json_of(&step(&run, "create").output);
    assert_eq!(output["statusCode"], 201);
    assert_eq!(output["body"], "created lead 7");
    let received = receiver.received();
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].json(), json!({"name": "Acme", "tags": ["lead", "gold"], "fixed": 3}));
    assert_eq!(received[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn an_error_status_fails_the_step_and_5xx_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let receiver = Receiver::start(vec![Answer::text(503, "busy"), Answer::text(404, "no such lead")]).await;
    let definition = json!({"name": "get", "steps": [
        {"id": "get", "type": "http_request", "url": receiver.url("/lead/9"), "retries": 3}
    ]});
    let run = run_one(&server, definition, json!({})).await;
    let get = step(&run, "get");
    assert_eq!(get.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(get.attempts, 2, "503 retried, 404 not");
    assert_eq!(get.error, "the server answered HTTP 404: no such lead");
}

#[tokio::test]
async fn a_response_over_the_size_cap_fails_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.outbound.max_response_bytes = 2048;
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let receiver = Receiver::start(vec![Answer::text(200, &"x".repeat(10_000))]).await;
    let definition =
        json!({"name": "big", "steps": [{"id": "big", "type": "http_request", "url": receiver.url("/big")}]});
    let run = run_one(&server, definition, json!({})).await;
    let big = step(&run, "big");
    assert_eq!(big.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(big.error, "the response body is over the 2048-byte limit");
}

#[tokio::test]
async fn a_slow_server_fails_the_step_at_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.outbound.request_timeout_ms = 300;
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let receiver = Receiver::start(vec![Answer::text(200, "late").after(Duration::from_secs(3))]).await;
    let url = receiver.url("/slow");
    let definition = json!({"name": "slow", "steps": [{"id": "slow", "type": "http_request", "url": url}]});
    let run = run_one(&server, definition, json!({})).await;
    let slow = step(&run, "slow");
    assert_eq!(slow.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(slow.error, format!("no answer from {url} within 300ms"));
}

#[tokio::test]
async fn the_steps_own_timeout_bounds_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let receiver = Receiver::start(vec![Answer::text(200, "late").after(Duration::from_secs(3))]).await;
    let url = receiver.url("/slow");
    let definition =
        json!({"name": "slow", "steps": [{"id": "slow", "type": "http_request", "url": url, "timeout": "1s"}]});
    let run = run_one(&server, definition, json!({})).await;
    let slow = step(&run, "slow");
    assert_eq!(slow.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(slow.error, format!("no answer from {url} within 1s"));
}

#[tokio::test]
async fn an_http_request_with_a_bad_method_is_refused_at_create_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let definition = json!({"name": "bad", "steps": [
        {"id": "get", "type": "http_request", "url": "https://api.example.com", "method": "FETCH"}
    ]});
    let (status, body) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("HTTP method 'FETCH'"), "{body}");
    let (_, listed) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(listed, json!([]));
}
