//! The REST/JSON gateway against a live server: the documented curl
//! examples of each path family, parity with gRPC, and every annotated
//! route answering rather than 404.

use http::Method;
use prost::Message;
use serde_json::{Value, json};
use weft_sdk::pb;
use weft_server::api::descriptors::pool;
use weft_server::gateway::json::{to_json, to_json_with_top_level_defaults};
use weft_server::gateway::routes::{RouteTable, Segment};
use weft_tests::http1::{self, request};
use weft_tests::workflows::create_pb;
use weft_tests::{TestServer, chain_workflow, with_origins};

/// A gRPC answer in the gateway's JSON form, for comparing with REST: a
/// whole response shows its own default fields, a selected resource does not.
fn as_rest_json<M: Message>(full_name: &str, message: &M) -> Value {
    let descriptor = pool().get_message_by_name(full_name).unwrap();
    let dynamic = prost_reflect::DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).unwrap();
    if full_name.ends_with("Response") { to_json_with_top_level_defaults(&dynamic) } else { to_json(&dynamic) }
}

#[tokio::test]
async fn v1_examples_answer_with_documented_codes_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;

    let (status, created) = http1::json(
        addr,
        "POST",
        "/v1/workflows",
        Some(json!({
            "name": "lead-enrichment",
            "steps": [{ "id": "scrape", "type": "agent", "agent": "web-researcher", "task": "Scrape {{ input.website }}" }]
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("wf_"));
    assert_eq!(created["version"], 1);
    assert_eq!(created["status"], "active");
    assert_eq!(created["steps"][0]["type"], "agent");
    assert!(created.get("createdAt").is_some());

    let (status, list) = http1::json(addr, "GET", "/v1/workflows", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().expect("/v1 lists are bare arrays").len(), 1);

    let (status, renamed) =
        http1::json(addr, "PATCH", &format!("/v1/workflows/{id}"), Some(json!({"name": "lead-enrichment-v2"}))).await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["version"], 2);
    assert_eq!(renamed["steps"], created["steps"]);

    let (status, missing) = http1::json(addr, "GET", "/v1/workflows/wf_nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error_code"], "WORKFLOW_NOT_FOUND");
    assert_eq!(missing["code"], 5);
    assert!(missing["error"].as_str().unwrap().contains("wf_nope"));
    assert_eq!(missing["details"][0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo");

    let (status, deleted) = http1::json(addr, "DELETE", &format!("/v1/workflows/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["success"], true);
}

#[tokio::test]
async fn api_examples_answer_with_documented_codes_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let definition = json!({
        "name": "Fetch and notify",
        "steps": [
            { "id": "fetch", "type": "http_request", "config": { "method": "GET", "url": "https://api.example.com/data" } },
            { "id": "notify", "type": "agent_task", "config": { "agent_id": "agent_123", "goal": "Summarize" }, "depends_on": ["fetch"] }
        ]
    });
    let (status, created) = http1::json(
        addr,
        "POST",
        "/api/workflows",
        Some(json!({ "definition": definition, "trigger_type": "manual", "tags": ["notifications"] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["workflow"]["id"], id.as_str());
    assert_eq!(created["workflow"]["steps"][1]["depends_on"], json!(["fetch"]), "003 writes snake_case keys");

    let (status, listed) =
        http1::json(addr, "GET", "/api/workflows?status=active&tag=notifications&limit=10", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["workflows"][0]["id"], id.as_str());

    let mut changed = definition.clone();
    changed["steps"][0]["config"]["url"] = json!("https://new-url.com");
    let (status, updated) = http1::json(
        addr,
        "PUT",
        &format!("/api/workflows/{id}"),
        Some(json!({ "definition": changed, "change_summary": "Fixed URL" })),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);

    let (_, versions) = http1::json(addr, "GET", &format!("/api/workflows/{id}/versions"), None).await;
    assert_eq!(versions["versions"][0]["version"], 2);
    assert_eq!(versions["versions"][0]["change_summary"], "Fixed URL");
    let (status, v1) = http1::json(addr, "GET", &format!("/api/workflows/{id}/versions/1"), None).await;
    assert_eq!(status, 200);
    assert_eq!(v1["version"], 1);
    let (status, diff) = http1::json(addr, "GET", &format!("/api/workflows/{id}/diff?v1=1&v2=2"), None).await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["v1"], 1);
    assert_eq!(diff["v2"], 2);
    assert_eq!(diff["diff"][0]["op"], "replace");
    // The path names the field as the document wrote it (issue 18).
    assert_eq!(diff["diff"][0]["path"], "/steps/0/config/url");
    assert_eq!(diff["summary"], "Modified 1 step");

    let (status, paused) =
        http1::json(addr, "PATCH", &format!("/api/workflows/{id}/status"), Some(json!({"status": "paused"}))).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "paused");

    let (status, rolled) =
        http1::json(addr, "POST", &format!("/api/workflows/{id}/rollback"), Some(json!({"version": 1}))).await;
    assert_eq!(status, 200);
    assert_eq!(rolled["version"], 3);

    let (status, valid) = http1::json(
        addr,
        "POST",
        "/api/workflows/validate",
        Some(json!({ "definition": { "name": "x", "steps": [
            { "id": "step_a", "type": "agent", "agent": "w", "task": "t", "dependsOn": ["step_b"] },
            { "id": "step_b", "type": "agent", "agent": "w", "task": "t", "dependsOn": ["step_a"] },
            { "id": "notify", "type": "agent", "agent": "w", "task": "t", "dependsOn": ["fetch"] }
        ]}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(valid["valid"], false);
    let errors: Vec<&str> = valid["errors"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(errors.contains(&"Step 'notify' depends on 'fetch' which doesn't exist"), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("Cycle detected: step_a → step_b → step_a")), "{errors:?}");

    // The graph dialect: create with a name only, then save blocks and edges.
    let (status, bare) = http1::json(addr, "POST", "/api/workflows", Some(json!({"name": "My Workflow"}))).await;
    assert_eq!(status, 201, "{bare}");
    assert_eq!(bare["workflow"]["status"], "draft");
    let graph_id = bare["id"].as_str().unwrap();
    let (status, graph) = http1::json(
        addr,
        "PUT",
        &format!("/api/workflows/{graph_id}/graph"),
        Some(json!({
            "blocks": [
                { "id": "start", "type": "starter", "config": {}, "position": {"x": 0, "y": 0} },
                { "id": "out", "type": "response", "config": {}, "position": {"x": 300, "y": 0} }
            ],
            "edges": [{ "source": "start", "target": "out" }]
        })),
    )
    .await;
    assert_eq!(status, 200, "{graph}");
    assert_eq!(graph["blocks"][1]["position"]["x"], 300.0);
    assert_eq!(graph["steps"][1]["depends_on"], json!(["start"]));

    let (status, refused) = http1::json(
        addr,
        "PUT",
        &format!("/api/workflows/{graph_id}/graph"),
        Some(json!({ "blocks": [{ "id": "start", "type": "starter" }], "edges": [{ "source": "start", "target": "ghost" }] })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error_code"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn state_machine_examples_answer_with_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let states = json!({
        "initial": { "type": "task", "task": "validateCustomerData", "next": "createAccount" },
        "createAccount": { "type": "task", "task": "createCustomerAccount", "next": "complete" },
        "complete": { "type": "succeed" }
    });
    let (status, created) = http1::json(
        addr,
        "POST",
        "/workflows",
        Some(json!({
            "name": "Customer Onboarding",
            "description": "Workflow for onboarding new customers",
            "states": states,
            "functions": ["validateCustomerData", "createCustomerAccount"]
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, fetched) = http1::json(addr, "GET", &format!("/workflows/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["states"], states);
    assert_eq!(fetched["description"], "Workflow for onboarding new customers");
    let (status, deleted) = http1::json(addr, "DELETE", &format!("/workflows/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted, json!({"success": true, "message": "Workflow deleted successfully"}));
}

#[tokio::test]
async fn rest_and_grpc_return_the_same_result_for_the_same_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let mut workflows = client.workflows();
    let wf = create_pb(&client, chain_workflow("parity", 2)).await;
    let id = wf.id.clone();
    workflows
        .update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: id.clone(), description: "v2".into(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap();

    let get = workflows.get_workflow(pb::GetWorkflowRequest { id: id.clone() }).await.unwrap().into_inner();
    let list = workflows.list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap().into_inner();
    let versions = workflows
        .list_workflow_versions(pb::ListWorkflowVersionsRequest { id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    let version = workflows
        .get_workflow_version(pb::GetWorkflowVersionRequest { id: id.clone(), version: 1 })
        .await
        .unwrap()
        .into_inner();
    let diff = workflows
        .diff_workflow_versions(pb::DiffWorkflowVersionsRequest { id: id.clone(), v1: 1, v2: 2 })
        .await
        .unwrap()
        .into_inner();

    // `/api` writes the same fields with snake_case keys (this workflow's
    // data has no upper-case keys, so every key can be converted) and
    // lists as `{workflows, total}`.
    let mut api_list = snake_keys(as_rest_json("weft.v1.ListWorkflowsResponse", &list));
    api_list.as_object_mut().unwrap().remove("next_page_token");
    let cases: Vec<(String, Value)> = vec![
        (format!("/v1/workflows/{id}"), as_rest_json("weft.v1.Workflow", get.workflow.as_ref().unwrap())),
        (format!("/api/workflows/{id}"), snake_keys(as_rest_json("weft.v1.Workflow", get.workflow.as_ref().unwrap()))),
        (format!("/workflows/{id}"), as_rest_json("weft.v1.Workflow", get.workflow.as_ref().unwrap())),
        ("/api/workflows".into(), api_list),
        ("/v1/workflows".into(), as_rest_json("weft.v1.ListWorkflowsResponse", &list)["workflows"].clone()),
        (format!("/v1/workflows/{id}/versions"), as_rest_json("weft.v1.ListWorkflowVersionsResponse", &versions)),
        (
            format!("/api/workflows/{id}/versions/1"),
            snake_keys(as_rest_json("weft.v1.Workflow", version.workflow.as_ref().unwrap())),
        ),
        (format!("/v1/workflows/{id}/diff?v1=1&v2=2"), as_rest_json("weft.v1.DiffWorkflowVersionsResponse", &diff)),
    ];
    for (path, expected) in cases {
        let (status, got) = http1::json(server.addr, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {got}");
        assert_eq!(got, expected, "{path}");
    }
}

/// `value` with every object key in snake_case, for comparing `/api`
/// answers with protobuf JSON whose data keys are all lower-case.
fn snake_keys(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| (weft_server::gateway::profile::snake_case(&key).into_owned(), snake_keys(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(snake_keys).collect()),
        other => other,
    }
}

/// The families whose answers are protobuf JSON agree with gRPC; the
/// others' shapes are checked by `families_*.rs`.
#[tokio::test]
async fn rest_and_grpc_return_the_same_runs_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let (status, created) = http1::json(
        server.addr,
        "POST",
        "/v1/workflows",
        Some(json!({"name": "parity-runs", "steps": [
            {"id": "pick", "type": "transform", "output": {"company": "$.input.company", "n": "$.input.n"}},
            {"id": "gate", "type": "condition", "dependsOn": ["pick"], "expression": "$.pick.output.n > 2",
             "onTrue": {"next": "big"}, "onFalse": {"next": "small"}},
            {"id": "big", "type": "transform", "dependsOn": ["gate"], "output": {"size": "$.pick.output.n"}},
            {"id": "small", "type": "transform", "dependsOn": ["gate"], "output": {"size": "$.pick.output.n"}}
        ]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let wf = created["id"].as_str().unwrap().to_string();
    let (status, executed) = http1::json(
        server.addr,
        "POST",
        &format!("/v1/workflows/{wf}:execute"),
        Some(json!({"input": {"company": "acme", "n": 3}})),
    )
    .await;
    assert_eq!(status, 200, "{executed}");
    let run_id = executed["run"]["id"].as_str().unwrap().to_string();
    assert_eq!(executed["run"]["status"], "completed");
    assert_eq!(executed["output"], json!({"big": {"size": 3}}), "whole numbers stay whole: {executed}");

    let mut runs = client.runs();
    let get = runs.get_run(pb::GetRunRequest { run_id: run_id.clone() }).await.unwrap().into_inner();
    let list = runs
        .list_runs(pb::ListRunsRequest { workflow_id: wf.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let events = runs
        .list_run_events(pb::ListRunEventsRequest { run_id: run_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(events.events.iter().any(|e| e.r#type == "step.skipped"), "the branch not taken is in the log");
    let run = as_rest_json("weft.v1.Run", get.run.as_ref().unwrap());
    assert_eq!(run["steps"].as_array().map(Vec::len), Some(4), "{run}");
    let listed = as_rest_json("weft.v1.ListRunsResponse", &list);
    let cases: Vec<(String, Value)> = vec![
        (format!("/v1/workflows/runs/{run_id}"), run.clone()),
        (format!("/v1/workflows/{wf}/runs"), listed["runs"].clone()),
        (format!("/v1/workflows/runs/{run_id}/events"), as_rest_json("weft.v1.ListRunEventsResponse", &events)),
        (
            format!("/api/workflows/{wf}/executions/{run_id}/logs"),
            snake_keys(as_rest_json("weft.v1.ListRunEventsResponse", &events)),
        ),
    ];
    for (path, expected) in cases {
        let (status, got) = http1::json(server.addr, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {got}");
        assert_eq!(got, expected, "{path}");
    }
}

fn sample_path(route: &weft_server::gateway::routes::Route) -> String {
    let mut path = String::new();
    for segment in &route.segments {
        path.push('/');
        match segment {
            Segment::Literal(text) => path.push_str(text),
            Segment::Variable(field) if field.ends_with("version") => path.push('1'),
            Segment::Variable(_) => path.push_str("sample_1"),
        }
    }
    if let Some(verb) = &route.verb {
        path.push(':');
        path.push_str(verb);
    }
    path
}

#[tokio::test]
async fn every_annotated_route_reaches_its_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let table = RouteTable::from_pool(pool()).unwrap();
    assert!(table.routes().len() > 60, "only {} routes", table.routes().len());
    for route in table.routes() {
        let path = sample_path(route);
        let body = if route.http_method == Method::GET || route.http_method == Method::DELETE {
            None
        } else {
            Some(json!({}))
        };
        let service = route.method.parent_service().name();
        if route.family.profile().in_band_stream_errors(route.method.name()) {
            // 004's stream answers 200 and reports the unknown workflow in-band.
            let headers = [("content-type", "application/json"), ("accept", "text/event-stream")];
            let response = request(server.addr, "POST", &path, &headers, b"{}").await.unwrap();
            let text = String::from_utf8_lossy(&response.body);
            assert_eq!(response.status, 200, "{path}: {text}");
            assert!(text.starts_with("event: error\n") && text.contains("not found"), "{path}: {text}");
            continue;
        }
        let (status, answer) = http1::json(server.addr, route.http_method.as_str(), &path, body).await;
        assert_ne!(answer["error_code"], "ROUTE_NOT_FOUND", "{} {path}", route.http_method);
        assert_ne!(status, 405, "{} {path}", route.http_method);
        let implemented = service == "WorkflowService"
            || (service == "RunService"
                && [
                    "StartRun",
                    "GetRun",
                    "ListRuns",
                    "CancelRun",
                    "DeleteRun",
                    "StreamRunEvents",
                    "ListRunEvents",
                    "ExecuteWorkflow",
                    "ExecuteWorkflowStream",
                    "RetryRunFrom",
                    "ResumeRun",
                    "PauseRun",
                    "EstimateRun",
                ]
                .contains(&route.method.name()))
            || service == "WorkerService"
            || service == "ApprovalService"
            || service == "SecretService"
            || service == "KeyService"
            || service == "NotificationService"
            || service == "TriggerService"
            || service == "TemplateService"
            || service == "ScheduleService"
            // Served by hand at its REST binding (the signature covers the raw body).
            || route.method.name() == "DeliverCallback";
        if !implemented {
            assert_eq!(
                status,
                501,
                "{} {path} ({}) should be UNIMPLEMENTED: {answer}",
                route.http_method,
                route.method.name()
            );
            // `/api`'s plain error body (004) has only the message.
            let unimplemented = answer["code"] == 12
                || answer["error_code"] == "UNIMPLEMENTED"
                || answer.as_object().is_some_and(|body| body.len() == 1 && body.contains_key("error"));
            assert!(unimplemented, "{path}: {answer}");
        } else {
            assert!([200, 201, 400, 404].contains(&status), "{} {path}: {status} {answer}", route.http_method);
        }
    }
}

/// Every RPC has a REST route but the ones named here: ConnectWorker is a
/// bidirectional stream, served over HTTP/2 gRPC only (REST and gRPC-web
/// clients use the unary worker RPCs), and the two signed calls are served
/// by hand at their paths.
#[test]
fn every_rpc_but_the_worker_stream_and_the_signed_calls_has_a_rest_route() {
    let table = RouteTable::from_pool(pool()).unwrap();
    let routed: std::collections::BTreeSet<&str> = table.routes().iter().map(|r| r.grpc_path.as_str()).collect();
    let mut unrouted = Vec::new();
    for service in pool().services().filter(|s| s.package_name() == "weft.v1") {
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            if !routed.contains(path.as_str()) {
                unrouted.push(path);
            }
        }
    }
    let connect =
        pool().get_service_by_name("weft.v1.WorkerService").unwrap().methods().find(|m| m.name() == "ConnectWorker");
    let connect = connect.expect("ConnectWorker is in the API");
    assert!(connect.is_client_streaming() && connect.is_server_streaming(), "a bidirectional stream");
    assert!(unrouted.contains(&"/weft.v1.WorkerService/ConnectWorker".to_owned()), "{unrouted:?}");
    assert!(
        unrouted
            .iter()
            .all(|path| path == "/weft.v1.WorkerService/ConnectWorker" || path.starts_with("/weft.v1.TriggerService/")),
        "only the worker stream and the signed calls lack a REST route: {unrouted:?}"
    );
}

#[tokio::test]
async fn malformed_requests_get_clear_400s_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;

    let response =
        request(addr, "POST", "/v1/workflows", &[("content-type", "application/json")], b"{\"name\": ").await.unwrap();
    assert_eq!(response.status, 400);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["error_code"], "MALFORMED_JSON");
    assert!(body["message"].as_str().unwrap().contains("line 1 column"), "{body}");

    // Only a body of no bytes is "no body": whitespace alone (schemathesis
    // sent a lone form feed to a run start and a lone \r to an execute, and
    // got 202) is not a JSON document.
    for body in [&b"\x0c"[..], b" \x0b ", b"\r", b" \r\n"] {
        let response =
            request(addr, "POST", "/v1/workflows", &[("content-type", "application/json")], body).await.unwrap();
        assert_eq!(response.status, 400, "{body:?}");
        let answer: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(answer["error_code"], "MALFORMED_JSON", "{answer}");
    }

    let (status, unknown) = http1::json(addr, "POST", "/v1/workflows", Some(json!({"name": "x", "stepz": []}))).await;
    assert_eq!(status, 400);
    assert!(unknown["message"].as_str().unwrap().contains("stepz"), "{unknown}");

    let (status, query) = http1::json(addr, "GET", "/v1/workflows?colour=blue", None).await;
    assert_eq!(status, 400);
    assert!(query["message"].as_str().unwrap().contains("colour"), "{query}");
    // A singular parameter takes one value (schemathesis sent an array).
    let (status, twice) = http1::json(addr, "GET", "/v1/workflows?pageSize=1&pageSize=2", None).await;
    assert_eq!(status, 400, "{twice}");
    assert!(twice["message"].as_str().unwrap().contains("pageSize"), "{twice}");
    let (status, twice) =
        http1::json(addr, "GET", "/v1/workflows/runs/wfrun_x/stream?afterSequence=1&afterSequence=2", None).await;
    assert_eq!(status, 400, "{twice}");

    let (status, bad_enum) = http1::json(addr, "GET", "/api/workflows?status=sleeping", None).await;
    assert_eq!(status, 400, "{bad_enum}");
    for query in ["/api/workflows?status=1", "/api/workflows?status=-297"] {
        let (status, number) = http1::json(addr, "GET", query, None).await;
        assert_eq!(status, 400, "{query}: {number}");
    }
    // Enum numbers are read only when the OpenAPI document lists them: a
    // declared value, not zero (unspecified) and not an undeclared one.
    for (body, expected) in [(json!({"status": -297}), 400), (json!({"status": 0}), 400), (json!({"status": 2}), 200)] {
        let (status, answer) =
            http1::json(addr, "POST", "/api/workflows/validate", Some(json!({"workflow": body.clone()}))).await;
        assert_eq!(status, expected, "{body}: {answer}");
        if expected == 400 {
            assert!(answer["error"].as_str().unwrap().contains("workflow.status"), "{answer}");
        }
    }
    let (status, numeric) = http1::json(addr, "POST", "/v1/workflows", Some(json!({"name": "x", "status": 42}))).await;
    assert_eq!(status, 400, "{numeric}");

    let (status, no_route) = http1::json(addr, "GET", "/v1/nothing/here", None).await;
    assert_eq!(status, 404);
    assert_eq!(no_route["error_code"], "ROUTE_NOT_FOUND");

    let (status, _) = http1::json(addr, "PUT", "/v1/workflows", Some(json!({}))).await;
    assert_eq!(status, 405);

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(5 * 1024 * 1024));
    let response =
        request(addr, "POST", "/v1/workflows", &[("content-type", "application/json")], big.as_bytes()).await.unwrap();
    assert_eq!(response.status, 413);

    let (_, list) = http1::json(addr, "GET", "/api/workflows", None).await;
    assert_eq!(list["total"], 0, "nothing was stored: {list}");
}

#[tokio::test]
async fn streams_answer_errors_as_json_before_the_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let response = request(
        server.addr,
        "GET",
        "/v1/workflows/runs/wfrun_1/stream",
        &[("accept", "text/event-stream"), ("last-event-id", "3")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 404, "an unknown run is refused before the stream starts");
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["error_code"], "RUN_NOT_FOUND");

    let bad_cursor = request(
        server.addr,
        "GET",
        "/v1/workflows/runs/wfrun_1/stream",
        &[("accept", "text/event-stream"), ("last-event-id", "three")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(bad_cursor.status, 400);
}

#[tokio::test]
async fn rest_preflight_from_a_configured_origin_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), with_origins(&["http://localhost:3000"])).await;
    let response = request(
        server.addr,
        "OPTIONS",
        "/v1/workflows",
        &[("origin", "http://localhost:3000"), ("access-control-request-method", "POST")],
        b"",
    )
    .await
    .unwrap();
    assert!(response.status == 200 || response.status == 204);
    assert_eq!(response.header("access-control-allow-origin"), Some("http://localhost:3000"));
}
