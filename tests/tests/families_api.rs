//! 003 and 004 (`/api/workflows`), golden: every request and answer shape
//! their documents show, with examples of our own in the same shapes, must
//! come back with the same keys, nesting, types and status codes (see
//! `weft_tests::shape`). Both documents share the prefix; 004 lists the
//! error body of each of its routes (`{error}` or `{error, error_code}`).

use std::net::SocketAddr;

use serde_json::{Value, json};
use weft_tests::http1::{self, request, sse_events};
use weft_tests::shape::assert_shape;
use weft_tests::{TestServer, eventually};

/// A 003 definition in the config form, every step finishing in-engine.
fn pipeline(name: &str) -> Value {
    json!({
        "name": name,
        "steps": [
            {"id": "gather", "type": "transform", "config": {"output": {"dataset": "$.input.dataset_id"}}},
            {"id": "shape", "type": "transform", "config": {"output": {"rows": "$.gather.output.dataset"}}, "depends_on": ["gather"]}
        ]
    })
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    http1::json(addr, method, path, body).await
}

#[tokio::test]
async fn the_003_workflow_routes_answer_in_their_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;

    let body = json!({"definition": pipeline("Nightly import"), "trigger_type": "manual", "tags": ["data", "etl"]});
    let (status, created) = call(addr, "POST", "/api/workflows", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    assert_shape(&created, &json!({"id": "wf", "workflow": {"id": "wf", "...": true}}), "create");
    let id = created["id"].as_str().unwrap().to_string();

    let (status, listed) =
        call(addr, "GET", "/api/workflows?status=active&trigger_type=manual&tag=etl&limit=10&offset=0", None).await;
    assert_eq!(status, 200, "{listed}");
    let item = json!({"id": "wf", "name": "n", "version": 1, "status": "active", "trigger_type": "manual",
        "tags": ["data"], "created_at": "t", "updated_at": "t", "...": true});
    assert_shape(&listed, &json!({"workflows": [item], "total": 1}), "list");

    let (status, fetched) = call(addr, "GET", &format!("/api/workflows/{id}"), None).await;
    assert_eq!(status, 200, "{fetched}");
    assert_shape(&fetched, &item, "get");

    let mut changed = pipeline("Nightly import");
    changed["steps"][0]["config"]["output"]["source"] = json!("$.input.source");
    let update = json!({"definition": changed, "change_summary": "Keep the source too"});
    let (status, updated) = call(addr, "PUT", &format!("/api/workflows/{id}"), Some(update)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);

    let (status, paused) =
        call(addr, "PATCH", &format!("/api/workflows/{id}/status"), Some(json!({"status": "paused"}))).await;
    assert_eq!((status, &paused["status"]), (200, &json!("paused")), "{paused}");
    call(addr, "PATCH", &format!("/api/workflows/{id}/status"), Some(json!({"status": "active"}))).await;

    let (status, valid) =
        call(addr, "POST", "/api/workflows/validate", Some(json!({"definition": pipeline("ok")}))).await;
    assert_eq!(status, 200);
    assert_eq!(valid, json!({"valid": true, "errors": []}));
    let broken = json!({"definition": {"name": "b", "steps": [
        {"id": "x", "type": "transform", "config": {"output": {}}, "depends_on": ["ghost"]}]}});
    let (_, invalid) = call(addr, "POST", "/api/workflows/validate", Some(broken)).await;
    assert_shape(&invalid, &json!({"valid": false, "errors": ["text"]}), "validate with errors");

    let (_, versions) = call(addr, "GET", &format!("/api/workflows/{id}/versions"), None).await;
    let version = json!({"version": 2, "change_summary": "s", "created_at": "t", "...": true});
    assert_shape(&versions, &json!({"versions": [version]}), "versions");
    let (status, first) = call(addr, "GET", &format!("/api/workflows/{id}/versions/1"), None).await;
    assert_eq!(status, 200);
    assert_shape(&first, &json!({"version": 1, "steps": [{"id": "s", "...": true}], "...": true}), "version");
    let (status, diff) = call(addr, "GET", &format!("/api/workflows/{id}/diff?v1=1&v2=2"), None).await;
    assert_eq!(status, 200, "{diff}");
    assert_shape(
        &diff,
        &json!({"diff": [{"op": "add", "path": "/p", "value": null}], "summary": "s", "v1": 1, "v2": 2}),
        "diff",
    );
    let (status, rolled) =
        call(addr, "POST", &format!("/api/workflows/{id}/rollback"), Some(json!({"version": 1}))).await;
    assert_eq!(status, 200, "{rolled}");
    assert_shape(&rolled, &json!({"id": "wf", "version": 3, "...": true}), "rollback");

    // Templates are listed in 003's shape (their own test covers the rest).
    let (status, templates) = call(addr, "GET", "/api/workflows/templates", None).await;
    assert_eq!(status, 200, "{templates}");
    assert!(templates["templates"][0]["is_builtin"].as_bool().unwrap_or_default(), "{templates}");

    let (status, deleted) = call(addr, "DELETE", &format!("/api/workflows/{id}"), None).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, gone) = call(addr, "GET", &format!("/api/workflows/{id}"), None).await;
    assert_eq!(status, 404);
    assert_shape(&gone, &json!({"error": "e", "error_code": "WORKFLOW_NOT_FOUND"}), "get of a deleted workflow");
}

#[tokio::test]
async fn the_003_run_routes_answer_in_their_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    // A one-second pause, so that the run's duration is a whole second.
    let mut definition = pipeline("runs");
    definition["steps"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "settle", "type": "delay", "config": {"duration": 1}, "depends_on": ["shape"]}));
    let (_, created) = call(addr, "POST", "/api/workflows", Some(json!({"definition": definition}))).await;
    let id = created["id"].as_str().unwrap().to_string();

    let start = json!({"input_data": {"dataset_id": "ds_7"}, "trigger": "manual"});
    let (status, started) = call(addr, "POST", &format!("/api/workflows/{id}/run"), Some(start)).await;
    assert_eq!(status, 202, "{started}");
    assert_shape(&started, &json!({"run_id": "r"}), "run start");
    let run_id = started["run_id"].as_str().unwrap().to_string();

    let run = eventually("the run finishes", 10, || async {
        let (_, got) = call(addr, "GET", &format!("/api/workflows/runs/{run_id}"), None).await;
        (got["run"]["status"] == "completed").then_some(got).ok_or("not yet")
    })
    .await;
    let step = json!({"step_id": "gather", "status": "completed", "output": null, "started_at": "t",
        "duration_seconds": 0, "...": true});
    let documented = json!({"run": {"id": "r", "workflow_id": "wf", "status": "completed", "trigger": "manual",
        "started_at": "t", "completed_at": "t", "duration_seconds": 0, "step_runs": [step], "...": true}});
    assert_shape(&run, &documented, "get run");
    assert_eq!(run["run"]["step_runs"][0]["output"], json!({"dataset": "ds_7"}));

    let (status, runs) = call(addr, "GET", &format!("/api/workflows/{id}/runs?status=completed&limit=5"), None).await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs["runs"][0]["id"], run_id.as_str());

    // The event stream of a finished run replays its events, named with
    // underscores, their data in snake_case, and ends.
    let stream =
        request(addr, "GET", &format!("/api/workflows/runs/{run_id}/stream"), &[("accept", "text/event-stream")], b"")
            .await
            .unwrap();
    assert_eq!(stream.status, 200);
    let text = String::from_utf8(stream.body).unwrap();
    let events = sse_events(&text);
    let (_, started) = events.iter().find(|(name, _)| name == "step_started").expect("a step_started event");
    assert_shape(started, &json!({"run_id": "r", "step_id": "s", "timestamp": "t", "...": true}), "step_started");
    let (_, done) = events.iter().find(|(name, _)| name == "run_completed").expect("a run_completed event");
    assert_shape(
        done,
        &json!({"run_id": "r", "status": "completed", "duration_seconds": 0, "...": true}),
        "run_completed",
    );

    let (status, refused) = call(addr, "POST", &format!("/api/workflows/runs/{run_id}/cancel"), None).await;
    assert_eq!(status, 409, "a finished run cannot be cancelled: {refused}");
    assert_shape(&refused, &json!({"error": "e", "error_code": "C"}), "cancel refused");
    let (status, _) = call(addr, "DELETE", &format!("/api/workflows/runs/{run_id}"), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(addr, "GET", &format!("/api/workflows/runs/{run_id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_004_graph_routes_answer_in_their_documented_shapes_and_error_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;

    let (status, created) = call(addr, "POST", "/api/workflows", Some(json!({"name": "Summarize text"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, renamed) =
        call(addr, "PATCH", &format!("/api/workflows/{id}"), Some(json!({"name": "Summaries"}))).await;
    assert_eq!((status, &renamed["name"]), (200, &json!("Summaries")), "{renamed}");

    let graph = json!({
        "blocks": [
            {"id": "begin", "type": "starter", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "reply", "type": "response", "config": {}, "position": {"x": 240, "y": 0}}
        ],
        "edges": [{"source": "begin", "target": "reply"}]
    });
    let (status, saved) = call(addr, "PUT", &format!("/api/workflows/{id}/graph"), Some(graph)).await;
    assert_eq!(status, 200, "{saved}");
    let (_, fetched) = call(addr, "GET", &format!("/api/workflows/{id}"), None).await;
    let block = json!({"id": "b", "type": "starter", "position": {"x": 0, "y": 0}, "...": true});
    assert_shape(
        &fetched,
        &json!({"blocks": [block], "edges": [{"source": "a", "target": "b"}], "...": true}),
        "graph",
    );

    // A starter → response graph answers the response block's input.
    let run = json!({"variables": {"text": "a long text"}});
    let (status, executed) = call(addr, "POST", &format!("/api/workflows/{id}/execute"), Some(run)).await;
    assert_eq!(status, 200, "{executed}");
    assert_eq!(executed["output"], json!({"text": "a long text"}), "{executed}");
    // `input` is the legacy spelling of `variables`.
    let (status, legacy) =
        call(addr, "POST", &format!("/api/workflows/{id}/execute"), Some(json!({"input": {"text": "t"}}))).await;
    assert_eq!((status, &legacy["output"]), (200, &json!({"text": "t"})), "{legacy}");

    let (status, executions) = call(addr, "GET", &format!("/api/workflows/{id}/executions"), None).await;
    assert_eq!(status, 200);
    let execution = executions["runs"][0]["id"].as_str().expect("an execution").to_string();
    let (status, logs) = call(addr, "GET", &format!("/api/workflows/{id}/executions/{execution}/logs"), None).await;
    assert_eq!(status, 200, "{logs}");
    assert_shape(&logs, &json!({"events": [{"run_id": "r", "type": "t", "...": true}], "...": true}), "logs");

    // A failed synchronous execution is a 500 naming the step.
    let failing = json!({"name": "doomed", "steps": [
        {"id": "call", "type": "http_request", "config": {"method": "GET", "url": "http://127.0.0.1:9/x"}}]});
    let (_, doomed) = call(addr, "POST", "/api/workflows", Some(json!({"definition": failing}))).await;
    let doomed = doomed["id"].as_str().unwrap().to_string();
    let (status, failed) = call(addr, "POST", &format!("/api/workflows/{doomed}/execute"), Some(json!({}))).await;
    assert_eq!(status, 500, "{failed}");
    assert_shape(&failed, &json!({"error": "e", "error_code": "EXECUTION_FAILED"}), "failed execute");
    assert_eq!(failed["error_code"], "EXECUTION_FAILED");
    assert!(failed["error"].as_str().unwrap().contains("'call'"), "{failed}");

    // The streaming execute answers 200 even for an unknown workflow, with
    // the error in-band.
    let headers = [("content-type", "application/json"), ("accept", "text/event-stream")];
    let unknown = request(addr, "POST", "/api/workflows/wf_missing/execute/stream", &headers, b"{}").await.unwrap();
    assert_eq!(unknown.status, 200);
    let events = sse_events(&String::from_utf8(unknown.body).unwrap());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_shape(&events[0].1, &json!({"type": "error", "error": "e"}), "in-band stream error");
    let streamed = request(
        addr,
        "POST",
        &format!("/api/workflows/{id}/execute/stream"),
        &headers,
        br#"{"variables": {"text": "x"}}"#,
    )
    .await
    .unwrap();
    assert_eq!(streamed.status, 200);
    let events = sse_events(&String::from_utf8(streamed.body).unwrap());
    assert!(events.iter().any(|(name, _)| name == "run_completed"), "{events:?}");

    // Error bodies as 004 lists them: plain on list/create/patch/delete and
    // the trigger routes, structured on get, graph and execute.
    let plain = json!({"error": "e"});
    let structured = json!({"error": "e", "error_code": "C"});
    let cases: Vec<(&str, String, Option<Value>, u16, &Value)> = vec![
        ("POST", "/api/workflows".into(), Some(json!({})), 400, &plain),
        ("GET", "/api/workflows?limit=x".into(), None, 400, &plain),
        ("PATCH", "/api/workflows/wf_missing".into(), Some(json!({"name": "n"})), 404, &plain),
        ("DELETE", "/api/workflows/wf_missing".into(), None, 404, &plain),
        ("POST", "/api/workflows/wf_missing/deploy".into(), None, 404, &plain),
        ("POST", format!("/api/workflows/{id}/arm"), None, 409, &plain),
        ("GET", "/api/workflows/wf_missing".into(), None, 404, &structured),
        (
            "PUT",
            format!("/api/workflows/{id}/graph"),
            Some(json!({"blocks": [{"id": "a"}], "edges": []})),
            400,
            &structured,
        ),
        ("POST", "/api/workflows/wf_missing/execute".into(), Some(json!({})), 404, &structured),
    ];
    for (method, path, body, code, shape) in cases {
        let (status, answer) = call(addr, method, &path, body).await;
        assert_eq!(status, code, "{method} {path}: {answer}");
        assert_shape(&answer, shape, &format!("{method} {path}"));
    }
    let (_, missing) = call(addr, "GET", "/api/workflows/wf_missing", None).await;
    assert_eq!(missing["error_code"], "WORKFLOW_NOT_FOUND");
    let (_, bad_graph) =
        call(addr, "PUT", &format!("/api/workflows/{id}/graph"), Some(json!({"blocks": [{"id": "a"}], "edges": []})))
            .await;
    assert_eq!(bad_graph["error_code"], "VALIDATION_ERROR");
}
