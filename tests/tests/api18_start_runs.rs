//! StartRun as the 001 document's `/v1/agents/{name}/workflow` route uses
//! it (issue 18): a workflow found by name (names are unique per tenant
//! since issue 21; the workflow must be active), the
//! run's shared state seeded from `input.state`, and `settle_wait_ms`,
//! which answers a run that pauses or ends within the wait as it then is.
//! Over gRPC and REST, bad input included; runs on the suite's store.

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::api::convert::value_to_pb;
use weft_tests::runs::{self, json_of, step};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

/// A one-step workflow whose output shows the shared state it started with.
fn echo_state(name: &str) -> Value {
    json!({"name": name, "steps": [
        {"id": "echo", "type": "transform", "output": {"seen": "$.state.k", "task": "$.input.task"}}
    ]})
}

/// A delay of one second, then an approval: the run pauses about a
/// second after it starts.
fn delayed_gate(name: &str) -> Value {
    json!({"name": name, "steps": [
        {"id": "nap", "type": "delay", "duration": 1},
        {"id": "gate", "type": "approval", "action": "go", "dependsOn": ["nap"]}
    ]})
}

async fn set_status(client: &Weft, id: &str, status: pb::WorkflowStatus) {
    let request = pb::SetWorkflowStatusRequest { id: id.into(), status: status as i32 };
    client.workflows().set_workflow_status(request).await.expect("SetWorkflowStatus");
}

async fn start(client: &Weft, request: pb::StartRunRequest) -> Result<pb::Run, tonic::Status> {
    Ok(client.runs().start_run(request).await?.into_inner().run.expect("the started run"))
}

#[tokio::test]
async fn a_name_starts_the_active_workflow_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = create_json(&server, echo_state("support agent")).await;
    let by_name = |name: &str| runs::start_request(name, &json!({"task": "t"}));

    let run = start(&client, by_name("support agent")).await.unwrap();
    assert_eq!(run.workflow_id, id, "the workflow of the name");
    for status in [pb::WorkflowStatus::Paused, pb::WorkflowStatus::Draft] {
        set_status(&client, &id, status).await;
        let none_active = start(&client, by_name("support agent")).await.unwrap_err();
        assert_eq!(none_active.code(), Code::FailedPrecondition, "{none_active:?}");
        assert!(none_active.message().contains("no active workflow is named 'support agent'"), "{none_active:?}");
    }
    // An id still starts a draft, as before.
    assert_eq!(start(&client, by_name(&id)).await.unwrap().workflow_id, id);
    // An archived workflow is not a start's target by name.
    set_status(&client, &id, pb::WorkflowStatus::Archived).await;
    assert_eq!(start(&client, by_name("support agent")).await.unwrap_err().code(), Code::NotFound);

    let unknown = start(&client, by_name("nobody")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let long = start(&client, by_name(&"n".repeat(201))).await.unwrap_err();
    assert_eq!(long.code(), Code::InvalidArgument);
    assert!(long.message().starts_with("workflow_id:"), "{long:?}");
    let long_id = start(&client, by_name(&format!("wf_{}", "x".repeat(130)))).await.unwrap_err();
    assert_eq!(long_id.code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn the_agents_route_finds_by_name_and_seeds_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = create_json(&server, echo_state("greeter")).await;

    let body = json!({"input": {"task": "hello", "state": {"k": 41}}});
    let (status, answer) = http1::json(server.addr, "POST", "/v1/agents/greeter/workflow", Some(body)).await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    let run_id = answer["runId"].as_str().or(answer["run_id"].as_str()).expect("a run id").to_owned();
    let run = runs::wait_finished(&client, &run_id, 10).await;
    assert_eq!(run.workflow_id, id);
    assert_eq!(json_of(&step(&run, "echo").output), json!({"seen": 41, "task": "hello"}));
    let (status, missing) =
        http1::json(server.addr, "POST", "/v1/agents/nobody/workflow", Some(json!({"input": {}}))).await;
    assert_eq!(status, 404, "{missing}");

    // gRPC: input.state seeds the state; an explicit shared_state wins;
    // a state that is not an object is only input.
    let seeded = start(&client, runs::start_request(&id, &json!({"task": "a", "state": {"k": "s"}}))).await.unwrap();
    let seeded = runs::wait_finished(&client, &seeded.id, 10).await;
    assert_eq!(json_of(&step(&seeded, "echo").output)["seen"], "s");
    let explicit = pb::StartRunRequest {
        shared_state: match value_to_pb(&json!({"k": "explicit"})).kind {
            Some(prost_types::value::Kind::StructValue(s)) => Some(s),
            _ => unreachable!(),
        },
        ..runs::start_request(&id, &json!({"task": "a", "state": {"k": "input"}}))
    };
    let explicit = runs::wait_finished(&client, &start(&client, explicit).await.unwrap().id, 10).await;
    assert_eq!(json_of(&step(&explicit, "echo").output)["seen"], "explicit");
    let plain = start(&client, runs::start_request(&id, &json!({"task": "a", "state": "CA"}))).await.unwrap();
    let plain = runs::wait_finished(&client, &plain.id, 10).await;
    assert_eq!(json_of(&step(&plain, "echo").output)["seen"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn settle_wait_answers_the_run_once_it_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = create_json(&server, delayed_gate("gated")).await;

    let at_once = start(&client, runs::start_request(&id, &json!({}))).await.unwrap();
    assert_ne!(at_once.status, pb::RunStatus::Paused as i32, "without a wait the delay is still running");
    let waited = pb::StartRunRequest { settle_wait_ms: 8000, ..runs::start_request(&id, &json!({})) };
    let begun = std::time::Instant::now();
    let waited = start(&client, waited).await.unwrap();
    assert_eq!(waited.status, pb::RunStatus::Paused as i32, "{waited:?}");
    assert!(begun.elapsed() < std::time::Duration::from_secs(6), "answered when it paused, not at the bound");

    // A run that ends within the wait is answered ended.
    let quick = create_json(&server, echo_state("quick")).await;
    let done = pb::StartRunRequest { settle_wait_ms: 2000, ..runs::start_request(&quick, &json!({"task": "x"})) };
    assert_eq!(start(&client, done).await.unwrap().status, pb::RunStatus::Completed as i32);

    // Over the bound: refused, and nothing started.
    let before = list_runs(&client, &id).await;
    let too_long = pb::StartRunRequest { settle_wait_ms: 10_001, ..runs::start_request(&id, &json!({})) };
    let refused = start(&client, too_long).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().starts_with("settle_wait_ms:"), "{refused:?}");
    assert_eq!(list_runs(&client, &id).await, before);

    // REST: the field in the body, on the agents route.
    let body = json!({"input": {"task": "t"}, "settleWaitMs": 8000});
    let (status, answer) = http1::json(server.addr, "POST", "/v1/agents/gated/workflow", Some(body)).await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    // `/v1` answers the run; the 001 profile nests it as `output`.
    let status = answer["run"]["status"].as_str().or(answer["output"]["status"].as_str());
    assert_eq!(status, Some("paused"), "{answer}");
    let body = json!({"input": {}, "settleWaitMs": 20000});
    let (status, answer) = http1::json(server.addr, "POST", &format!("/v1/workflows/{id}/runs"), Some(body)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("settle_wait_ms"), "{answer}");
    server.stop().await;
}

async fn list_runs(client: &Weft, workflow_id: &str) -> usize {
    let request = pb::ListRunsRequest { workflow_id: workflow_id.into(), ..Default::default() };
    client.runs().list_runs(request).await.unwrap().into_inner().runs.len()
}
