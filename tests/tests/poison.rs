//! Poison values (issue #15 item 2): JSON nested past the limit, from every
//! place a value comes in, over gRPC and REST. Depths 1..=40, then 48, 64,
//! 100, 150 and 200 are tried. Clients get INVALID_ARGUMENT (400) naming
//! the path and nothing is stored; workers and the network fail the step
//! with OUTPUT_TOO_DEEP (or OUTPUT_NUMBER_TOO_LARGE for an integer beyond
//! 2^53 in a body) and the value is not kept. Afterwards every Get and List
//! answers OK, and a row made unreadable by hand does not break them.

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::api::convert::value_to_pb;
use weft_server::model::json_limits::MAX_JSON_DEPTH;
use weft_tests::receiver::{Answer, Receiver, callback_token, now_secs, sign_callback};
use weft_tests::runs::{get_run, json_of, start_request, step, wait_finished, wait_for};
use weft_tests::store::TestStore;
use weft_tests::workers::{poll, register};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

const SECRET: &str = "poison-test-webhook-secret-0123";

fn config() -> Config {
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    config.webhook.secret = Some(SECRET.into());
    config
}

/// Depths tried: every one around the limit, then a few far past it.
fn depths() -> Vec<usize> {
    (1..=40).chain([48, 64, 100, 150, 200]).collect()
}

/// `{"a": {"a": … 1}}`, `levels` objects deep (the worst shape for protobuf).
fn objects(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// `[[… 1]]`, `levels` arrays deep (the shape of the issue's 113-byte body).
fn arrays(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!([inner]))
}

/// Checks a gRPC refusal of a value too deep, under `root`.
fn assert_refused(status: &tonic::Status, root: &str, what: &str) {
    match status.code() {
        Code::InvalidArgument => {
            if let Some(bad) = status.get_details_bad_request() {
                let field = &bad.field_violations[0].field;
                assert!(field.starts_with(root), "{what}: the violation names {field}, not a path under {root}");
                let limit = MAX_JSON_DEPTH.to_string();
                assert!(bad.field_violations[0].description.contains(&limit), "{what}: {:?}", bad.field_violations);
            }
        }
        other => panic!("{what}: {other:?} {}", status.message()),
    }
}

/// Checks a REST refusal of a value too deep: a 4xx.
fn assert_rest_refused(status: u16, body: &Value, what: &str) {
    assert!((400..500).contains(&status), "{what}: {status} {body}");
}

async fn run_total(client: &Weft) -> u32 {
    let request = pb::ListRunsRequest { page_size: 1, ..Default::default() };
    client.runs().list_runs(request).await.unwrap().into_inner().total
}

async fn workflow_total(client: &Weft) -> u32 {
    let request = pb::ListWorkflowsRequest { page_size: 1, ..Default::default() };
    client.workflows().list_workflows(request).await.unwrap().into_inner().total
}

async fn event_count(client: &Weft, run_id: &str) -> usize {
    let request = pb::ListRunEventsRequest { run_id: run_id.into(), page_size: 1000, ..Default::default() };
    client.runs().list_run_events(request).await.unwrap().into_inner().events.len()
}

/// Every Get and List answers OK over gRPC and 200 over REST, and each run
/// listed can be read with its events.
async fn every_read_answers(server: &TestServer, client: &Weft) {
    let mut runs = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListRunsRequest { page_size: 200, page_token, ..Default::default() };
        let page = client.runs().list_runs(request).await.expect("ListRuns").into_inner();
        runs.extend(page.runs);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let workflows = client
        .workflows()
        .list_workflows(pb::ListWorkflowsRequest { page_size: 200, ..Default::default() })
        .await
        .expect("ListWorkflows")
        .into_inner()
        .workflows;
    for path in ["/v1/workflow-runs?pageSize=200", "/v1/workflows?pageSize=200", "/v1/approvals"] {
        let (status, body) = http1::json(server.addr, "GET", path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    client.approvals().list_approvals(pb::ListApprovalsRequest::default()).await.expect("ListApprovals");
    for workflow in &workflows {
        client.workflows().get_workflow(pb::GetWorkflowRequest { id: workflow.id.clone() }).await.expect("GetWorkflow");
        let path = format!("/v1/workflows/{}/runs?pageSize=200", workflow.id);
        let (status, body) = http1::json(server.addr, "GET", &path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        let (status, body) = http1::json(server.addr, "GET", &format!("/v1/workflows/{}", workflow.id), None).await;
        assert_eq!(status, 200, "GET workflow: {body}");
    }
    for run in &runs {
        get_run(client, &run.id).await;
        event_count(client, &run.id).await;
        let (status, body) = http1::json(server.addr, "GET", &format!("/v1/workflow-runs/{}", run.id), None).await;
        assert_eq!(status, 200, "GET run {}: {body}", run.id);
        let path = format!("/v1/workflows/runs/{}/events", run.id);
        let (status, body) = http1::json(server.addr, "GET", &path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
    }
}

#[tokio::test]
async fn client_values_past_the_limit_are_refused_naming_the_path_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let client = server.client().await;
    // Many of its runs wait at once, more than the default concurrent-run
    // limit of one workflow: no limit, so none of them queues.
    let hold = create_json(
        &server,
        json!({"name": "hold", "maxConcurrentRuns": 0, "steps": [{"id": "hold", "type": "wait", "event": "go"}]}),
    )
    .await;
    let fast = create_json(
        &server,
        json!({"name": "fast", "steps": [{"id": "noop", "type": "transform", "output": {"n": "$.input.n"}}]}),
    )
    .await;
    // One paused run that every refused ResumeRun must leave as it is.
    let paused = client.runs().start_run(start_request(&hold, &json!({}))).await.unwrap().into_inner().run_id;
    wait_for(&client, &paused, &[pb::RunStatus::Paused], 10).await;

    for depth in depths() {
        let accepted = depth <= MAX_JSON_DEPTH;
        for (shape, value) in [("objects", objects(depth)), ("arrays", arrays(depth))] {
            let what = |rpc: &str| format!("{rpc} with {shape} nested {depth} deep");
            let runs_before = run_total(&client).await;

            // StartRun over gRPC and REST, and input's aliases.
            let grpc = client.runs().start_run(start_request(&hold, &value)).await;
            let rest_path = format!("/v1/workflows/{hold}/runs");
            let (rest, rest_body) =
                http1::json(server.addr, "POST", &rest_path, Some(json!({"inputData": value}))).await;
            // ExecuteWorkflow and ExecuteWorkflowStream start runs too.
            let execute = pb::ExecuteWorkflowRequest {
                workflow_id: fast.clone(),
                variables: Some(value_to_pb(&value)),
                timeout_seconds: 10,
                ..Default::default()
            };
            let executed = client.runs().execute_workflow(execute).await;
            let stream = pb::ExecuteWorkflowStreamRequest {
                workflow_id: fast.clone(),
                input: Some(value_to_pb(&value)),
                timeout_seconds: 10,
                ..Default::default()
            };
            let streamed = match client.runs().execute_workflow_stream(stream).await {
                Ok(events) => {
                    let mut events = events.into_inner();
                    while events.message().await.expect("stream events").is_some() {}
                    Ok(())
                }
                Err(status) => Err(status),
            };
            let estimate = pb::EstimateRunRequest {
                workflow_id: fast.clone(),
                input: Some(value_to_pb(&value)),
                ..Default::default()
            };
            let estimated = client.runs().estimate_run(estimate).await;
            if accepted {
                grpc.unwrap_or_else(|e| panic!("{}: {e:?}", what("StartRun")));
                assert!((200..300).contains(&rest), "{}: {rest} {rest_body}", what("REST StartRun"));
                executed.unwrap_or_else(|e| panic!("{}: {e:?}", what("ExecuteWorkflow")));
                streamed.unwrap_or_else(|e| panic!("{}: {e:?}", what("ExecuteWorkflowStream")));
                estimated.unwrap_or_else(|e| panic!("{}: {e:?}", what("EstimateRun")));
                assert_eq!(run_total(&client).await, runs_before + 4, "{}", what("the starts"));
            } else {
                assert_refused(&grpc.unwrap_err(), "input", &what("StartRun"));
                assert_rest_refused(rest, &rest_body, &what("REST StartRun"));
                // Within what protobuf decodes, our check answers, naming the path.
                if rest_body["error_code"] == "INVALID_ARGUMENT" && !rest_body.to_string().contains("decod") {
                    assert!(rest_body.to_string().contains("\"input_data"), "{}: {rest_body}", what("REST StartRun"));
                }
                assert_refused(&executed.unwrap_err(), "variables", &what("ExecuteWorkflow"));
                assert_refused(&streamed.unwrap_err(), "input", &what("ExecuteWorkflowStream"));
                assert_refused(&estimated.unwrap_err(), "input", &what("EstimateRun"));
                assert_eq!(run_total(&client).await, runs_before, "{}: no run is created", what("the starts"));
            }

            // Shared state at start (an object, so only that shape).
            if shape == "objects" {
                let Value::Object(_) = &value else { unreachable!() };
                let request = pb::StartRunRequest {
                    workflow_id: hold.clone(),
                    shared_state: match value_to_pb(&value).kind {
                        Some(prost_types::value::Kind::StructValue(s)) => Some(s),
                        _ => unreachable!(),
                    },
                    ..Default::default()
                };
                let before = run_total(&client).await;
                match client.runs().start_run(request).await {
                    Ok(_) => assert!(accepted, "{}", what("shared_state")),
                    Err(status) => {
                        assert!(!accepted, "{}: {status:?}", what("shared_state"));
                        assert_refused(&status, "shared_state", &what("shared_state"));
                        assert_eq!(run_total(&client).await, before, "{}", what("shared_state"));
                    }
                }
            }

            // ResumeRun's event payload, over gRPC and REST.
            let events_before = event_count(&client, &paused).await;
            let target = if accepted {
                let run = client.runs().start_run(start_request(&hold, &json!({}))).await.unwrap().into_inner();
                wait_for(&client, &run.run_id, &[pb::RunStatus::Paused], 10).await;
                run.run_id
            } else {
                paused.clone()
            };
            let resume = pb::ResumeRunRequest {
                run_id: target.clone(),
                event: "go".into(),
                payload: Some(value_to_pb(&value)),
                ..Default::default()
            };
            match client.runs().resume_run(resume).await {
                Ok(_) => {
                    assert!(accepted, "{}", what("ResumeRun"));
                    let run = wait_finished(&client, &target, 10).await;
                    assert_eq!(json_of(&step(&run, "hold").output), value, "{}", what("ResumeRun"));
                }
                Err(status) => {
                    assert!(!accepted, "{}: {status:?}", what("ResumeRun"));
                    assert_refused(&status, "payload", &what("ResumeRun"));
                }
            }
            if !accepted {
                let path = format!("/v1/workflows/runs/{paused}/resume");
                let (status, body) =
                    http1::json(server.addr, "POST", &path, Some(json!({"event": "go", "payload": value}))).await;
                assert_rest_refused(status, &body, &what("REST ResumeRun"));
                assert_eq!(event_count(&client, &paused).await, events_before, "{}", what("ResumeRun"));
                assert_eq!(get_run(&client, &paused).await.status, pb::RunStatus::Paused as i32);
            }
        }

        // A definition is stored too: a literal body nested `depth` deep
        // sits three levels down in the definition (object, steps, step).
        let workflows_before = workflow_total(&client).await;
        let step = json!({"id": "send", "type": "http_request", "method": "POST",
                          "url": "http://127.0.0.1:9/x", "body": objects(depth)});
        let definition = json!({"name": format!("deep-{depth}"), "steps": [step]});
        let fits = depth + 3 <= MAX_JSON_DEPTH;
        let (rest, rest_body) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
        let grpc_workflow = pb::Workflow {
            name: format!("deep-grpc-{depth}"),
            steps: vec![pb::Step {
                id: "send".into(),
                r#type: "http_request".into(),
                method: "POST".into(),
                url: "http://127.0.0.1:9/x".into(),
                body: Some(value_to_pb(&objects(depth))),
                ..Default::default()
            }],
            ..Default::default()
        };
        let request = pb::CreateWorkflowRequest { workflow: Some(grpc_workflow.clone()), request_id: String::new() };
        let grpc = client.workflows().create_workflow(request).await;
        let update = pb::UpdateWorkflowRequest {
            // A name of its own: the created one has the workflow's name.
            workflow: Some(pb::Workflow { id: fast.clone(), name: format!("deep-update-{depth}"), ..grpc_workflow }),
            ..Default::default()
        };
        let updated = client.workflows().update_workflow(update).await;
        if fits {
            assert_eq!(rest, 201, "CreateWorkflow {depth}: {rest_body}");
            grpc.unwrap_or_else(|e| panic!("CreateWorkflow {depth}: {e:?}"));
            updated.unwrap_or_else(|e| panic!("UpdateWorkflow {depth}: {e:?}"));
            assert_eq!(workflow_total(&client).await, workflows_before + 2);
        } else {
            assert_rest_refused(rest, &rest_body, &format!("REST CreateWorkflow {depth}"));
            assert_refused(&grpc.unwrap_err(), "workflow", &format!("CreateWorkflow {depth}"));
            assert_refused(&updated.unwrap_err(), "workflow", &format!("UpdateWorkflow {depth}"));
            assert_eq!(workflow_total(&client).await, workflows_before, "no workflow is stored at {depth}");
        }
    }
    every_read_answers(&server, &client).await;
}

/// The code a finished run's failed step recorded, from its step.failed event.
async fn failure_code(client: &Weft, run_id: &str) -> String {
    let request = pb::ListRunEventsRequest { run_id: run_id.into(), page_size: 1000, ..Default::default() };
    let events = client.runs().list_run_events(request).await.unwrap().into_inner().events;
    let failed = events.iter().find(|e| e.r#type == "step.failed").expect("a step.failed event");
    let data = failed.data.clone().map(|d| json_of(&Some(value_to_pb_struct(d)))).unwrap_or_default();
    data["code"].as_str().unwrap_or_default().to_owned()
}

fn value_to_pb_struct(s: prost_types::Struct) -> prost_types::Value {
    prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(s)) }
}

#[tokio::test]
async fn worker_outputs_and_state_writes_past_the_limit_fail_the_step_as_too_deep() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let client = server.client().await;
    register(&client, "deep-worker", &["deep"]).await;
    let workflow = create_json(
        &server,
        json!({"name": "agent", "steps": [
            {"id": "think", "type": "agent", "agent": "deep", "task": "t", "stateWrites": ["k"]}
        ], "policy": {"requireApprovalFor": ["dangerous"]}}),
    )
    .await;

    for depth in depths() {
        let accepted = depth <= MAX_JSON_DEPTH;
        let value = objects(depth);
        // CompleteTask's output over gRPC.
        let run_id = client.runs().start_run(start_request(&workflow, &json!({}))).await.unwrap().into_inner().run_id;
        let task = poll(&client, "deep-worker", 10).await.expect("a task");
        // CheckToolUse's arguments are kept on the approval: refused first.
        if !accepted {
            let ask = pb::CheckToolUseRequest {
                task_id: task.task_id.clone(),
                lease_token: task.lease_token,
                tool: "dangerous".into(),
                arguments: match value_to_pb(&value).kind {
                    Some(prost_types::value::Kind::StructValue(s)) => Some(s),
                    _ => unreachable!(),
                },
                ..Default::default()
            };
            let refused = client.workers().check_tool_use(ask).await.unwrap_err();
            assert_refused(&refused, "arguments", &format!("CheckToolUse {depth}"));
            let run = get_run(&client, &run_id).await;
            assert_eq!(run.status, pb::RunStatus::Running as i32, "CheckToolUse {depth} paused nothing");
        }
        let complete = pb::CompleteTaskRequest {
            task_id: task.task_id.clone(),
            lease_token: task.lease_token,
            output: Some(value_to_pb(&value)),
            ..Default::default()
        };
        let answer = client.workers().complete_task(complete).await;
        if accepted {
            answer.unwrap_or_else(|e| panic!("CompleteTask {depth}: {e:?}"));
            let run = wait_finished(&client, &run_id, 10).await;
            assert_eq!(json_of(&step(&run, "think").output), value);
            continue;
        }
        let status = answer.unwrap_err();
        assert_refused(&status, "output", &format!("CompleteTask {depth}"));
        assert_eq!(status.code(), Code::InvalidArgument, "{depth}: {}", status.message());
        if status.message().contains("OUTPUT_TOO_DEEP") {
            let run = wait_finished(&client, &run_id, 10).await;
            assert_eq!(run.status, pb::RunStatus::Failed as i32);
            assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some("OUTPUT_TOO_DEEP"));
            assert_eq!(step(&run, "think").output, None, "the output is not kept at {depth}");
            assert_eq!(failure_code(&client, &run_id).await, "OUTPUT_TOO_DEEP");
        } else {
            // Too deep to decode: nothing reached the run, which is cancelled here.
            let reason = status.get_details_error_info().map(|info| info.reason);
            assert_eq!(reason.as_deref(), Some("MALFORMED_MESSAGE"), "{depth}: {}", status.message());
            let run = get_run(&client, &run_id).await;
            assert_eq!(step(&run, "think").status, pb::StepStatus::Running as i32, "{depth}");
            let cancel = pb::CancelRunRequest { run_id: run_id.clone(), reason: "done".into() };
            client.runs().cancel_run(cancel).await.unwrap();
        }
    }

    // State writes, and CompleteTask over REST, around the limit and far past it.
    for depth in [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 48, 200] {
        let accepted = depth <= MAX_JSON_DEPTH;
        let run_id = client.runs().start_run(start_request(&workflow, &json!({}))).await.unwrap().into_inner().run_id;
        let task = poll(&client, "deep-worker", 10).await.expect("a task");
        let writes = match value_to_pb(&json!({"k": objects(depth)})).kind {
            Some(prost_types::value::Kind::StructValue(s)) => s,
            _ => unreachable!(),
        };
        let complete = pb::CompleteTaskRequest {
            task_id: task.task_id.clone(),
            lease_token: task.lease_token,
            output: Some(value_to_pb(&json!({"ok": true}))),
            state_writes: Some(writes),
            ..Default::default()
        };
        match client.workers().complete_task(complete).await {
            Ok(_) => assert!(accepted, "state_writes {depth} accepted"),
            Err(status) => {
                assert!(!accepted, "state_writes {depth}: {status:?}");
                assert_refused(&status, "output", &format!("state_writes {depth}"));
            }
        }
        let run = if accepted { wait_finished(&client, &run_id, 10).await } else { get_run(&client, &run_id).await };
        let kept = run.shared_state.as_ref().and_then(|s| s.fields.get("k").cloned());
        if accepted {
            // Kept, and sent back whole: the state object is one level deeper than its values.
            assert_eq!(json_of(&kept), objects(depth), "state_writes {depth}");
        } else {
            assert!(kept.is_none(), "state_writes {depth} are not kept");
            if run.status == pb::RunStatus::Running as i32 {
                let cancel = pb::CancelRunRequest { run_id: run_id.clone(), reason: "done".into() };
                client.runs().cancel_run(cancel).await.unwrap();
            }
        }

        let run_id = client.runs().start_run(start_request(&workflow, &json!({}))).await.unwrap().into_inner().run_id;
        let task = poll(&client, "deep-worker", 10).await.expect("a task");
        let path = format!("/v1/tasks/{}:complete", task.task_id);
        let body = json!({"leaseToken": task.lease_token, "output": arrays(depth)});
        let (status, answer) = http1::json(server.addr, "POST", &path, Some(body)).await;
        if accepted {
            assert_eq!(status, 200, "REST CompleteTask {depth}: {answer}");
        } else {
            assert_rest_refused(status, &answer, &format!("REST CompleteTask {depth}"));
            let run = get_run(&client, &run_id).await;
            assert_eq!(step(&run, "think").output, None, "REST CompleteTask {depth} kept nothing");
            if run.status == pb::RunStatus::Running as i32 {
                let cancel = pb::CancelRunRequest { run_id: run_id.clone(), reason: "done".into() };
                client.runs().cancel_run(cancel).await.unwrap();
            }
        }
    }
    every_read_answers(&server, &client).await;
}

#[tokio::test]
async fn network_bodies_past_the_limit_or_with_inexact_integers_fail_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let client = server.client().await;
    // One answer per run, in order: each depth, then two numbers.
    let mut answers: Vec<Answer> = depths().into_iter().map(|d| Answer::json(200, arrays(d))).collect();
    answers.push(Answer::text(200, r#"{"id": 9007199254740993, "f": 6.02e23}"#));
    answers.push(Answer::text(200, r#"{"id": 9007199254740992, "f": 6.02e23}"#));
    let receiver = Receiver::start(answers).await;
    let fetch = create_json(
        &server,
        json!({"name": "fetch", "steps": [{"id": "fetch", "type": "http_request", "method": "GET",
                                            "url": receiver.url("/deep")}]}),
    )
    .await;
    let start = |client: Weft| {
        let fetch = fetch.clone();
        async move {
            let run_id = client.runs().start_run(start_request(&fetch, &json!({}))).await.unwrap().into_inner().run_id;
            wait_finished(&client, &run_id, 15).await
        }
    };
    for depth in depths() {
        // The output is {statusCode, headers, body}: the body sits one level down.
        let run = start(client.clone()).await;
        let fetched = step(&run, "fetch");
        if depth < MAX_JSON_DEPTH {
            assert_eq!(run.status, pb::RunStatus::Completed as i32, "body {depth}: {run:?}");
            assert_eq!(json_of(&fetched.output)["body"], arrays(depth));
        } else {
            assert_eq!(run.status, pb::RunStatus::Failed as i32, "body {depth}: {run:?}");
            assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some("OUTPUT_TOO_DEEP"), "body {depth}");
            assert!(fetched.error.contains("output.body"), "body {depth}: {}", fetched.error);
            assert_eq!(fetched.output, None, "body {depth} is not kept");
        }
    }
    let run = start(client.clone()).await;
    assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some("OUTPUT_NUMBER_TOO_LARGE"), "{run:?}");
    assert!(step(&run, "fetch").error.contains("output.body.id"), "{}", step(&run, "fetch").error);
    let run = start(client.clone()).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "2^53 itself is exact: {run:?}");
    let id = json_of(&step(&run, "fetch").output)["body"]["id"].as_f64();
    assert_eq!(id, Some(9_007_199_254_740_992.0), "kept exactly");

    // A webhook's callback body: within the limit it is the output; past
    // it, or with an integer beyond 2^53, the step fails and the sender is told.
    let hooks = Receiver::start(vec![]).await;
    let wait = create_json(
        &server,
        json!({"name": "wait", "steps": [{"id": "notify", "type": "webhook", "url": hooks.url("/hook"),
                                           "waitForCallback": true, "timeout": "60s"}]}),
    )
    .await;
    let deep_body = |d: usize| arrays(d).to_string();
    let cases = [
        (deep_body(MAX_JSON_DEPTH), None),
        (deep_body(MAX_JSON_DEPTH + 1), Some("OUTPUT_TOO_DEEP")),
        (deep_body(200), Some("OUTPUT_TOO_DEEP")),
        (r#"{"id": 12345678901234567890}"#.to_owned(), Some("OUTPUT_NUMBER_TOO_LARGE")),
    ];
    for (at, (body, code)) in cases.iter().enumerate() {
        let run_id = client.runs().start_run(start_request(&wait, &json!({}))).await.unwrap().into_inner().run_id;
        let delivery = hooks.wait_for(at + 1, 10).await.remove(at);
        let callback = delivery.header("weft-callback-url").expect("a callback URL").to_owned();
        let path = &callback[callback.find("/v1/callbacks/").unwrap()..];
        let signature = sign_callback(SECRET, callback_token(&callback), now_secs(), body.as_bytes());
        let headers = [("content-type", "application/json"), ("weft-signature", signature.as_str())];
        let mut answer = http1::request(server.addr, "POST", path, &headers, body.as_bytes()).await.unwrap();
        for _ in 0..50 {
            // The webhook may still be sending when its receiver has the request.
            if answer.status != 409 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = http1::request(server.addr, "POST", path, &headers, body.as_bytes()).await.unwrap();
        }
        let run = wait_finished(&client, &run_id, 10).await;
        match code {
            None => {
                assert!((200..300).contains(&answer.status), "callback {at}: {}", answer.status);
                assert_eq!(run.status, pb::RunStatus::Completed as i32);
            }
            Some(code) => {
                assert_eq!(answer.status, 400, "callback {at}: {}", String::from_utf8_lossy(&answer.body));
                assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some(*code), "callback {at}");
                assert_eq!(step(&run, "notify").output, None, "callback {at} is not kept");
            }
        }
    }
    every_read_answers(&server, &client).await;
}

/// Overwrites a stored JSON column by hand, as a database from before the
/// limit (or a careless operator) could hold it.
async fn poison(server: &TestServer, sql_sqlite: &str, sql_postgres: &str, value: &str, id: &str) {
    use sqlx::Connection;
    let store = TestStore::from_env();
    let url = store.url_for(&server.database).await;
    if store.is_postgres() {
        let mut conn = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql_postgres)).bind(value).bind(id).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql_sqlite)).bind(value).bind(id).execute(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn a_poisoned_row_does_not_break_any_get_or_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config()).await;
    let client = server.client().await;
    let workflow = create_json(
        &server,
        json!({"name": "echo", "steps": [{"id": "echo", "type": "transform", "output": {"v": "$.input.v"}}]}),
    )
    .await;
    let mut ids = Vec::new();
    for v in 0..4 {
        let run_id =
            client.runs().start_run(start_request(&workflow, &json!({"v": v}))).await.unwrap().into_inner().run_id;
        wait_finished(&client, &run_id, 10).await;
        ids.push(run_id);
    }
    // 48 nested arrays: readable here, but no client could decode it (the
    // issue's poison); 200: past what the server's JSON parser reads.
    let decodable_nowhere = arrays(48).to_string();
    let unparseable = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let set_run = |column: &str| {
        (format!("UPDATE runs SET {column} = ?1 WHERE id = ?2"), format!("UPDATE runs SET {column} = $1 WHERE id = $2"))
    };
    let (s, p) = set_run("input");
    poison(&server, &s, &p, &decodable_nowhere, &ids[0]).await;
    let (s, p) = set_run("output");
    poison(&server, &s, &p, &unparseable, &ids[1]).await;
    let (s, p) = set_run("shared_state");
    poison(&server, &s, &p, &objects(40).to_string(), &ids[2]).await;
    poison(
        &server,
        "UPDATE run_steps SET output = ?1 WHERE run_id = ?2",
        "UPDATE run_steps SET output = $1 WHERE run_id = $2",
        &decodable_nowhere,
        &ids[3],
    )
    .await;
    poison(
        &server,
        "UPDATE run_events SET payload = ?1 WHERE run_id = ?2 AND sequence = 1",
        "UPDATE run_events SET payload = $1 WHERE run_id = $2 AND sequence = 1",
        "not json",
        &ids[3],
    )
    .await;

    // A definition stored deeper than the limit is sent without its steps.
    let deep_definition = json!({"name": "deep-def", "steps": [{"id": "send", "type": "http_request",
        "method": "POST", "url": "http://127.0.0.1:9/x", "body": objects(40)}]});
    poison(
        &server,
        "UPDATE workflow_versions SET definition = ?1 WHERE workflow_id = ?2",
        "UPDATE workflow_versions SET definition = $1 WHERE workflow_id = $2",
        &deep_definition.to_string(),
        &workflow,
    )
    .await;
    let read = client.workflows().get_workflow(pb::GetWorkflowRequest { id: workflow.clone() }).await;
    let read = read.expect("GetWorkflow").into_inner().workflow.unwrap();
    assert!(read.description.starts_with("[definition omitted"), "{read:?}");
    assert_eq!((read.name.as_str(), read.steps.len()), ("deep-def", 0));

    let listed = client.runs().list_runs(pb::ListRunsRequest::default()).await.expect("ListRuns").into_inner();
    assert_eq!(listed.runs.len(), 4, "every run is listed");
    let (status, body) = http1::json(server.addr, "GET", "/v1/workflow-runs", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(4), "{body}");
    let marker = |run: &pb::Run, field: &str| {
        let text = match field {
            "input" => json_of(&run.input),
            "output" => json_of(&run.output),
            _ => json_of(&step(run, "echo").output),
        };
        assert!(text.as_str().is_some_and(|t| t.starts_with("[value omitted")), "{field}: {text}");
    };
    marker(&get_run(&client, &ids[0]).await, "input");
    marker(&get_run(&client, &ids[1]).await, "output");
    marker(&get_run(&client, &ids[3]).await, "step");
    let state = get_run(&client, &ids[2]).await.shared_state.expect("a shared state");
    assert!(state.fields.contains_key("omitted"), "{state:?}");
    // The unreadable event is left out; the others are listed.
    let events = pb::ListRunEventsRequest { run_id: ids[3].clone(), ..Default::default() };
    let events = client.runs().list_run_events(events).await.expect("ListRunEvents").into_inner().events;
    assert!(!events.is_empty() && events.iter().all(|e| e.sequence != 1), "{events:?}");
    every_read_answers(&server, &client).await;
}
