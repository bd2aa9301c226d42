//! Zero values and whole numbers (issue 18): a cost `amount` of 0, a
//! block at `{x: 0, y: 0}` and a step that took 0 s come back as written,
//! whole numbers come back whole (300, not 300.0), and whole numbers in a
//! step's `config` (a protobuf Struct, so doubles on the wire) fill the
//! integer fields, while a fraction or an out-of-range value is a 400
//! naming the config key. Over REST and gRPC; runs on the suite's store.

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::api::convert_runs::struct_to_pb;
use weft_tests::runs::{self, step};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

fn zeros() -> Value {
    json!({
        "name": "zeros",
        "policy": {"maxCostPerStep": {"amount": 0, "currency": "usd"}},
        "blocks": [
            {"id": "start", "type": "starter", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "out", "type": "response", "config": {}, "position": {"x": 300, "y": 0.5}}
        ],
        "edges": [{"source": "start", "target": "out"}]
    })
}

/// `camel` on `/v1`, its snake_case spelling on `/api`.
fn either<'v>(body: &'v Value, camel: &str) -> &'v Value {
    let snake = weft_server::gateway::profile::snake_case(camel);
    body.get(camel).or_else(|| body.get(snake.as_ref())).unwrap_or(&Value::Null)
}

fn check_zeros(body: &Value) {
    assert_eq!(either(&body["policy"], "maxCostPerStep"), &json!({"amount": 0, "currency": "usd"}), "{body}");
    assert_eq!(body["blocks"][0]["position"], json!({"x": 0, "y": 0}), "{body}");
    // `json!(300)` is an integer: a written `300.0` would not compare equal.
    assert_eq!(body["blocks"][1]["position"], json!({"x": 300, "y": 0.5}), "{body}");
}

async fn get_pb(client: &Weft, id: &str) -> pb::Workflow {
    let request = pb::GetWorkflowRequest { id: id.into() };
    client.workflows().get_workflow(request).await.expect("GetWorkflow").into_inner().workflow.unwrap()
}

#[tokio::test]
async fn zero_costs_and_positions_come_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let (status, created) = http1::json(server.addr, "POST", "/v1/workflows", Some(zeros())).await;
    assert_eq!(status, 201, "{created}");
    check_zeros(&created);
    let id = created["id"].as_str().unwrap();
    for path in [format!("/v1/workflows/{id}"), format!("/api/workflows/{id}")] {
        let (status, got) = http1::json(server.addr, "GET", &path, None).await;
        assert_eq!(status, 200, "{got}");
        check_zeros(got.get("workflow").unwrap_or(&got));
    }

    let workflow = get_pb(&client, id).await;
    let cap = workflow.policy.clone().and_then(|p| p.max_cost_per_step).expect("a zero ceiling is still a ceiling");
    assert_eq!((cap.amount, cap.currency.as_str()), (0, "usd"));
    let origin = workflow.blocks[0].position.expect("the origin is a position");
    assert_eq!((origin.x, origin.y), (0.0, 0.0));
    assert_eq!(workflow.blocks[1].position.map(|p| (p.x, p.y)), Some((300.0, 0.5)));

    // Written over gRPC, read over REST.
    let mut written = workflow.clone();
    written.id.clear();
    written.name = "zeros-grpc".into();
    let request = pb::CreateWorkflowRequest { workflow: Some(written), request_id: String::new() };
    let created = client.workflows().create_workflow(request).await.unwrap().into_inner().workflow.unwrap();
    let (_, got) = http1::json(server.addr, "GET", &format!("/v1/workflows/{}", created.id), None).await;
    check_zeros(&got);
    server.stop().await;
}

#[tokio::test]
async fn a_free_quick_run_shows_zero_cost_and_zero_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = create_json(
        &server,
        json!({"name": "quick", "steps": [
            {"id": "t", "type": "transform", "output": {"n": "$.input.n"}}
        ]}),
    )
    .await;
    let run = runs::start(&client, &id, json!({"n": 2})).await;
    let run = runs::wait_finished(&client, &run.id, 10).await;
    assert_eq!(run.cost.as_ref().map(|c| c.amount), Some(0), "{run:?}");
    assert_eq!(step(&run, "t").duration, 0);

    let (status, got) = http1::json(server.addr, "GET", &format!("/v1/workflows/runs/{}", run.id), None).await;
    assert_eq!(status, 200, "{got}");
    let got = got.get("run").unwrap_or(&got);
    assert_eq!(got["cost"]["amount"], json!(0), "{got}");
    assert_eq!(got["steps"][0]["duration"], json!(0), "{got}");
    assert_eq!(got["steps"][0]["output"], json!({"n": 2}), "whole input numbers stay whole: {got}");
    let (status, listed) = http1::json(server.addr, "GET", &format!("/v1/workflows/{id}/runs"), None).await;
    assert_eq!(status, 200, "{listed}");
    let first = [listed.get("runs"), listed.get("data"), Some(&listed)]
        .into_iter()
        .flatten()
        .find_map(|v| v.as_array().and_then(|a| a.first().cloned()))
        .unwrap_or_else(|| panic!("no run listed: {listed}"));
    assert_eq!((&first["duration"], &first["cost"]["amount"]), (&json!(0), &json!(0)), "{first}");
    server.stop().await;
}

fn config_form() -> Value {
    json!({"name": "config-form", "steps": [
        {"id": "nap", "type": "delay", "config": {"duration": 1}},
        {"id": "ask", "type": "agent", "dependsOn": ["nap"], "config": {"agent": "a", "task": "t", "retries": 2}},
        {"id": "again", "type": "loop", "dependsOn": ["ask"], "until": "$.body.output.done == true",
         "config": {"max_iterations": 5}, "step": {"id": "body", "agent": "a", "task": "t"}}
    ]})
}

fn check_config_integers(steps: &Value) {
    assert_eq!(steps[0]["duration"], json!(1), "{steps}");
    assert_eq!(steps[1]["retries"], json!(2), "{steps}");
    assert_eq!(either(&steps[2], "maxIterations"), &json!(5), "{steps}");
}

#[tokio::test]
async fn whole_numbers_in_config_fill_integer_fields_over_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, created) = http1::json(server.addr, "POST", "/api/workflows", Some(config_form())).await;
    assert_eq!(status, 201, "{created}");
    let created = created.get("workflow").unwrap_or(&created).clone();
    check_config_integers(&created["steps"]);

    for (key, bad, field) in [
        ("retries", json!(2.5), "steps[1].config.retries"),
        ("retries", json!(-1), "steps[1].config.retries"),
        ("retries", json!(5_000_000_000u64), "steps[1].config.retries"),
    ] {
        let mut body = config_form();
        body["steps"][1]["config"][key] = bad.clone();
        // `/v1`'s error carries the field path in its details; 004's plain
        // `{error}` on `/api` names the step and the key in its message.
        let (status, refused) = http1::json(server.addr, "POST", "/v1/workflows", Some(body.clone())).await;
        assert_eq!(status, 400, "{bad}: {refused}");
        assert!(refused.to_string().contains(field), "{bad} names {field}: {refused}");
        let (status, refused) = http1::json(server.addr, "POST", "/api/workflows", Some(body)).await;
        assert_eq!(status, 400, "{bad}: {refused}");
        let message = refused["error"].as_str().unwrap();
        assert!(message.contains("'ask'") && message.contains("'retries'"), "{bad}: {refused}");
    }
    let mut body = config_form();
    body["steps"][2]["config"]["max_iterations"] = json!(5.5);
    let (status, refused) = http1::json(server.addr, "POST", "/v1/workflows", Some(body)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("steps[2].config.max_iterations"), "{refused}");
    let (_, listed) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(listed.to_string().matches("config-form").count(), 1, "nothing refused was stored: {listed}");
    server.stop().await;
}

fn pb_step(id: &str, kind: &str, config: Value) -> pb::Step {
    pb::Step { id: id.into(), r#type: kind.into(), config: struct_to_pb(&config), ..Default::default() }
}

#[tokio::test]
async fn whole_numbers_in_config_fill_integer_fields_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow = |retries: Value| pb::Workflow {
        name: "config-grpc".into(),
        steps: vec![
            pb_step("nap", "delay", json!({"duration": 1})),
            pb::Step {
                depends_on: vec!["nap".into()],
                ..pb_step("ask", "agent", json!({"agent": "a", "task": "t", "retries": retries}))
            },
        ],
        ..Default::default()
    };
    let create = |w: pb::Workflow| {
        let client = client.clone();
        async move {
            let request = pb::CreateWorkflowRequest { workflow: Some(w), request_id: String::new() };
            client.workflows().create_workflow(request).await.map(|r| r.into_inner().workflow.unwrap())
        }
    };
    let created = create(workflow(json!(2))).await.expect("whole doubles are integers");
    assert_eq!((created.steps[0].duration, created.steps[1].retries), (1, 2));
    let refused = create(workflow(json!(2.5))).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("'retries'"), "{refused:?}");
    let details = tonic_types::StatusExt::get_details_bad_request(&refused).expect("field violations");
    assert_eq!(details.field_violations[0].field, "steps[1].config.retries");
    server.stop().await;
}
