//! Run events end to end: the gRPC stream replays stored events and then
//! tails live ones, closing after the terminal event; ListRunEvents pages;
//! REST SSE, including a client that drops halfway and resumes with
//! Last-Event-ID; ExecuteWorkflow, synchronous with a timeout; and
//! ExecuteWorkflowStream over gRPC and as SSE on both REST paths.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_tests::runs::{self, step};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

async fn create_workflow(server: &TestServer, delay_seconds: u32) -> String {
    // Names are unique per tenant, and some tests create two of these.
    static CREATED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let definition = json!({
        "name": format!("delayed-{n}"),
        "steps": [
            {"id": "first", "type": "transform", "output": {"n": "$.input.n"}},
            {"id": "pause", "type": "delay", "duration": delay_seconds, "dependsOn": ["first"]},
            {"id": "last", "type": "transform", "dependsOn": ["pause"], "output": {"n": "$.first.output.n"}}
        ]
    });
    create_json(server, definition).await
}

async fn start(client: &weft_sdk::Weft, workflow_id: &str) -> String {
    runs::start(client, workflow_id, json!({"n": 7})).await.id
}

async fn stream_all(client: &weft_sdk::Weft, run_id: &str, after: u64) -> Vec<pb::RunEvent> {
    let request = pb::StreamRunEventsRequest { run_id: run_id.into(), after_sequence: after };
    let mut stream = client.runs().stream_run_events(request).await.unwrap().into_inner();
    let mut events = Vec::new();
    let deadline = Duration::from_secs(15);
    while let Some(message) = tokio::time::timeout(deadline, stream.message()).await.expect("stream closes").unwrap() {
        events.push(message.event.unwrap());
    }
    events
}

fn sequences(events: &[pb::RunEvent]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

#[tokio::test]
async fn grpc_stream_replays_then_tails_and_closes_after_completion() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow_id = create_workflow(&server, 1).await;
    let run_id = start(&client, &workflow_id).await;

    let events = stream_all(&client, &run_id, 0).await;
    let n = events.len() as u64;
    assert_eq!(sequences(&events), (1..=n).collect::<Vec<_>>(), "no gap, no duplicate");
    assert_eq!(events[0].r#type, "run.started");
    assert_eq!(events.last().unwrap().r#type, "run.completed", "the stream closes after the terminal event");
    assert_eq!(events.last().unwrap().status, "completed");
    assert!(events.iter().any(|e| e.r#type == "step.completed" && e.step_id == "pause"), "tailed live");
    assert!(events.iter().all(|e| e.run_id == run_id && e.create_time.is_some()));

    // A finished run replays from the cursor and closes at once.
    let tail = stream_all(&client, &run_id, 2).await;
    assert_eq!(sequences(&tail), (3..=n).collect::<Vec<_>>());

    // The same events, paged.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .runs()
            .list_run_events(pb::ListRunEventsRequest {
                run_id: run_id.clone(),
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, events);

    let missing = client
        .runs()
        .stream_run_events(pb::StreamRunEventsRequest { run_id: "wfrun_nope".into(), after_sequence: 0 })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let empty = client.runs().list_run_events(pb::ListRunEventsRequest::default()).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
}

/// `id:` values of an SSE body, in order.
fn sse_ids(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.trim_end_matches('\r').strip_prefix("id:"))
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn sse_delivers_every_event_and_resumes_after_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow_id = create_workflow(&server, 2).await;
    let run_id = start(&client, &workflow_id).await;
    let path = format!("/v1/workflows/runs/{run_id}/stream");

    // Read the first events of the live run, then drop the connection.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n", server.addr);
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    while sse_ids(&String::from_utf8_lossy(&raw)).len() < 2 {
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer)).await.unwrap().unwrap();
        assert!(read > 0, "stream ended early: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let first = sse_ids(&text);
    drop(socket);

    // Resume where we stopped; this stream runs to the end of the run.
    let last = first.last().unwrap().to_string();
    let response = http1::request(
        server.addr,
        "GET",
        &path,
        &[("accept", "text/event-stream"), ("last-event-id", last.as_str())],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.contains("event: run.completed"), "{body}");
    let mut all = first.clone();
    all.extend(sse_ids(&body));
    let n = all.len() as u64;
    assert_eq!(all, (1..=n).collect::<Vec<_>>(), "the union has no gap and no duplicate: {first:?} then {body}");
    let stored = client
        .runs()
        .list_run_events(pb::ListRunEventsRequest { run_id, page_size: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.events.len() as u64, n);
}

#[tokio::test]
async fn execute_waits_for_the_run_and_times_out_with_execution_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let quick = create_workflow(&server, 1).await;
    let slow = create_workflow(&server, 5).await;
    let input = Some(weft_server::api::convert::value_to_pb(&json!({"n": 3})));

    let done = client
        .runs()
        .execute_workflow(pb::ExecuteWorkflowRequest {
            workflow_id: quick.clone(),
            input: input.clone(),
            timeout_seconds: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let run = done.run.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32);
    assert_eq!(done.output, run.output);
    assert!(run.output.is_some());

    let timed_out = client
        .runs()
        .execute_workflow(pb::ExecuteWorkflowRequest {
            workflow_id: slow.clone(),
            input: input.clone(),
            timeout_seconds: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(timed_out.code(), Code::DeadlineExceeded);
    let info = timed_out.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "EXECUTION_TIMEOUT");
    let run_id = info.metadata.get("runId").cloned().unwrap();
    let run = client.runs().get_run(pb::GetRunRequest { run_id }).await.unwrap().into_inner().run.unwrap();
    // Still running: the call ended at its own 1 s timeout, not with the
    // run (whose delay takes 5 s).
    assert_eq!(run.status, pb::RunStatus::Running as i32, "the run goes on");
    assert_eq!(step(&run, "pause").status, pb::StepStatus::Waiting as i32, "{run:?}");

    let (status, body) = http1::json(
        server.addr,
        "POST",
        &format!("/v1/workflows/{slow}:execute"),
        Some(json!({"input": {"n": 1}, "timeoutSeconds": 1, "cancelOnTimeout": true})),
    )
    .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error_code"], "EXECUTION_TIMEOUT");
    let (status, body) =
        http1::json(server.addr, "POST", &format!("/v1/workflows/{quick}:execute"), Some(json!({"input": {"n": 2}})))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["status"], "completed", "{body}");
    let _: &Value = &body;
}

#[tokio::test]
async fn stopping_the_server_ends_open_streams() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow_id = create_workflow(&server, 60).await;
    let run_id = start(&client, &workflow_id).await;
    let request = pb::StreamRunEventsRequest { run_id, after_sequence: 0 };
    let mut stream = client.runs().stream_run_events(request).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some(), "the replay arrives");
    // A live stream must not hold the graceful drain open.
    tokio::time::timeout(Duration::from_secs(10), server.stop()).await.expect("the server stops with a stream open");
}

async fn execute_stream(
    client: &weft_sdk::Weft,
    request: pb::ExecuteWorkflowStreamRequest,
) -> (Vec<pb::RunEvent>, Option<tonic::Status>) {
    let mut stream = client.runs().execute_workflow_stream(request).await.unwrap().into_inner();
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(15), stream.message()).await.expect("stream ends") {
            Ok(Some(message)) => events.push(message.event.unwrap()),
            Ok(None) => return (events, None),
            Err(status) => return (events, Some(status)),
        }
    }
}

#[tokio::test]
async fn execute_stream_starts_a_run_and_streams_it_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow_id = create_workflow(&server, 1).await;
    let request = pb::ExecuteWorkflowStreamRequest {
        workflow_id: workflow_id.clone(),
        variables: Some(weft_server::api::convert::value_to_pb(&json!({"n": 4}))),
        ..Default::default()
    };
    let (events, error) = execute_stream(&client, request).await;
    assert!(error.is_none(), "{error:?}");
    let n = events.len() as u64;
    assert_eq!(sequences(&events), (1..=n).collect::<Vec<_>>(), "every event once, in order");
    assert_eq!(events[0].r#type, "run.started");
    let last = events.last().unwrap();
    assert_eq!((last.r#type.as_str(), last.status.as_str()), ("run.completed", "completed"));
    let output = weft_server::api::convert_runs::value_from_pb(last.output.as_ref().unwrap());
    assert_eq!(output, json!({"n": 4}));
    assert!(last.duration_seconds >= 1, "the run took the 1 s delay: {last:?}");
    let pause = events.iter().find(|e| e.r#type == "step.completed" && e.step_id == "pause").unwrap();
    assert!(pause.duration_seconds >= 1, "{pause:?}");
    let run_id = &events[0].run_id;
    assert!(events.iter().all(|e| &e.run_id == run_id));
    let stored = client
        .runs()
        .list_run_events(pb::ListRunEventsRequest { run_id: run_id.clone(), page_size: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.events, events, "the stream is the run's log");
}

#[tokio::test]
async fn execute_stream_ends_with_execution_timeout_and_refuses_bad_starts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let slow = create_workflow(&server, 5).await;
    let request = pb::ExecuteWorkflowStreamRequest {
        workflow_id: slow.clone(),
        input: Some(weft_server::api::convert::value_to_pb(&json!({"n": 1}))),
        timeout_seconds: 1,
        cancel_on_timeout: true,
        ..Default::default()
    };
    let (events, error) = execute_stream(&client, request).await;
    let error = error.expect("the stream ends with the timeout");
    assert_eq!(error.code(), Code::DeadlineExceeded);
    let info = error.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "EXECUTION_TIMEOUT");
    assert_eq!(info.metadata.get("runId"), Some(&events[0].run_id));
    assert!(events.iter().any(|e| e.r#type == "step.started" && e.step_id == "pause"), "{events:?}");
    // The stream ended at its 1 s timeout, before the 5 s delay was over.
    assert!(!events.iter().any(|e| e.r#type == "step.completed" && e.step_id == "pause"), "{events:?}");
    let run_id = events[0].run_id.clone();
    let run = client.runs().get_run(pb::GetRunRequest { run_id }).await.unwrap().into_inner().run.unwrap();
    assert_eq!(run.status, pb::RunStatus::Cancelled as i32, "cancel_on_timeout");

    let unknown = client
        .runs()
        .execute_workflow_stream(pb::ExecuteWorkflowStreamRequest {
            workflow_id: "wf_nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let (status, created) = http1::json(
        server.addr,
        "POST",
        "/v1/workflows",
        Some(json!({"name": "typed", "inputSchema": {"type": "object", "required": ["n"],
                    "properties": {"n": {"type": "integer"}}},
                    "steps": [{"id": "echo", "type": "transform", "output": {"n": "$.input.n"}}]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let typed = created["id"].as_str().unwrap().to_string();
    let bad = client
        .runs()
        .execute_workflow_stream(pb::ExecuteWorkflowStreamRequest {
            workflow_id: typed.clone(),
            input: Some(weft_server::api::convert::value_to_pb(&json!({"n": "seven"}))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(bad.get_error_details().error_info().unwrap().reason, "INPUT_SCHEMA_VIOLATION");

    // `/v1` refuses a bad start with its status; 004's `/api` stream
    // answers 200 and reports it as its one `error` event.
    let (status, body) = http1::json(
        server.addr,
        "POST",
        &format!("/v1/workflows/{typed}:executeStream"),
        Some(json!({"input": {"n": "seven"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) =
        http1::json(server.addr, "POST", "/v1/workflows/wf_nope:executeStream", Some(json!({"input": {}}))).await;
    assert_eq!(status, 404);
    let headers = [("accept", "text/event-stream"), ("content-type", "application/json")];
    for (path, body, words) in [
        (format!("/api/workflows/{typed}/execute/stream"), r#"{"variables": {"n": "seven"}}"#, "inputSchema"),
        ("/api/workflows/wf_nope/execute/stream".to_string(), r#"{"variables": {}}"#, "not found"),
    ] {
        let response = http1::request(server.addr, "POST", &path, &headers, body.as_bytes()).await.unwrap();
        let text = String::from_utf8(response.body).unwrap();
        assert_eq!(response.status, 200, "{path}: {text}");
        assert!(text.starts_with("event: error\n") && text.contains(words), "{path}: {text}");
        assert_eq!(text.matches("event:").count(), 1, "one event: {text}");
    }

    let listed = client.runs().list_runs(pb::ListRunsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.total, 1, "only the timed-out run was started");
}

#[tokio::test]
async fn execute_stream_over_rest_is_sse_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let workflow_id = create_workflow(&server, 1).await;

    let body = br#"{"variables": {"n": 9}}"#;
    let headers = [("accept", "text/event-stream"), ("content-type", "application/json")];
    let path = format!("/api/workflows/{workflow_id}/execute/stream");
    let response = http1::request(server.addr, "POST", &path, &headers, body).await.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")));
    let text = String::from_utf8(response.body).unwrap();
    let ids = sse_ids(&text);
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>(), "{text}");
    assert!(text.contains("event: run_started") && text.contains("event: run_completed"), "/api names: {text}");

    let path = format!("/v1/workflows/{workflow_id}:executeStream");
    let response = http1::request(server.addr, "POST", &path, &headers, br#"{"input": {"n": 9}}"#).await.unwrap();
    assert_eq!(response.status, 200);
    let text = String::from_utf8(response.body).unwrap();
    assert!(text.contains("event: run.completed"), "{text}");
    let last = text.lines().filter_map(|l| l.strip_prefix("data:")).next_back().unwrap();
    let last: Value = serde_json::from_str(last.trim()).unwrap();
    assert_eq!(last["type"], "run.completed");
    assert_eq!(last["output"]["n"], 9, "whole numbers are written as integers: {last}");
}

#[tokio::test]
async fn an_sse_stream_ending_in_a_timeout_sends_the_documented_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let slow = create_workflow(&server, 5).await;
    let headers = [("accept", "text/event-stream"), ("content-type", "application/json")];
    let path = format!("/api/workflows/{slow}/execute/stream");
    let body = br#"{"variables": {"n": 1}, "timeoutSeconds": 1}"#;
    let response = http1::request(server.addr, "POST", &path, &headers, body).await.unwrap();
    assert_eq!(response.status, 200, "the stream had started before the timeout");
    let text = String::from_utf8(response.body).unwrap();
    assert!(text.contains("event: step_started"), "{text}");
    let (event, error) = http1::sse_events(&text).pop().expect("events");
    assert_eq!(event, "error", "{text}");
    // 004's error event: the plain body, `type`, and the timeout's code.
    assert_eq!(error["type"], "error");
    assert_eq!(error["error_code"], "EXECUTION_TIMEOUT", "{error}");
    assert!(error["error"].as_str().is_some_and(|m| !m.is_empty()), "{error}");
    assert_eq!(error.as_object().unwrap().len(), 3, "type, error and error_code only: {error}");
}
