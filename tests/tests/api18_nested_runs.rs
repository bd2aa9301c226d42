//! Runs nested under their workflow (issue 18, the 004 document's
//! `/api/workflows/{id}/executions` routes): listing the runs of a
//! workflow the tenant does not have is NOT_FOUND, not an empty list, and
//! the logs of a run asked for under another workflow are NOT_FOUND. Over
//! gRPC and REST; runs on the suite's store.

use serde_json::json;
use tonic::Code;
use weft_sdk::pb;
use weft_tests::runs;
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

fn one_step(name: &str) -> serde_json::Value {
    json!({"name": name, "steps": [{"id": "t", "type": "transform", "output": {"x": "$.input.x"}}]})
}

#[tokio::test]
async fn runs_of_an_unknown_workflow_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = create_json(&server, one_step("known")).await;
    let list = |workflow_id: &str| {
        let request = pb::ListRunsRequest { workflow_id: workflow_id.into(), ..Default::default() };
        let client = client.clone();
        async move { client.runs().list_runs(request).await.map(|r| r.into_inner()) }
    };
    assert!(list(&id).await.unwrap().runs.is_empty(), "a known workflow with no runs lists empty");
    let unknown = list("wf_doesnotexist").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    runs::start(&client, &id, json!({"x": 1})).await;
    assert_eq!(list(&id).await.unwrap().runs.len(), 1);
    assert!(list("").await.is_ok(), "no workflow: every run of the tenant");

    let (status, body) = http1::json(server.addr, "GET", "/api/workflows/wf_doesnotexist/executions", None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = http1::json(server.addr, "GET", "/v1/workflows/wf_doesnotexist/runs", None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = http1::json(server.addr, "GET", &format!("/api/workflows/{id}/executions"), None).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn logs_asked_for_under_another_workflow_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let mine = create_json(&server, one_step("mine")).await;
    let other = create_json(&server, one_step("other")).await;
    let run = runs::start(&client, &mine, json!({"x": 1})).await;
    runs::wait_finished(&client, &run.id, 10).await;
    let events = |workflow_id: &str| {
        let request =
            pb::ListRunEventsRequest { run_id: run.id.clone(), workflow_id: workflow_id.into(), ..Default::default() };
        let client = client.clone();
        async move { client.runs().list_run_events(request).await.map(|r| r.into_inner()) }
    };
    assert!(!events(&mine).await.unwrap().events.is_empty());
    assert!(!events("").await.unwrap().events.is_empty(), "no workflow given: not checked");
    let foreign = events(&other).await.unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound, "{foreign:?}");
    assert!(foreign.message().contains(&other), "{foreign:?}");

    let path = |wf: &str| format!("/api/workflows/{wf}/executions/{}/logs", run.id);
    let (status, body) = http1::json(server.addr, "GET", &path(&mine), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http1::json(server.addr, "GET", &path(&other), None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = http1::json(server.addr, "GET", &path("wf_nope"), None).await;
    assert_eq!(status, 404, "{body}");
    server.stop().await;
}
