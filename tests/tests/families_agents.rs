//! 001 (`/v1/agents/{name}/workflow`, `/v1/workflow-runs`), golden: a run
//! started by workflow name answers `{output: {status, steps, result,
//! pendingAction}, run_id}`, shown paused in the first answer when it
//! pauses at once; reads, resumes, lists and cancels answer in the same
//! shape, with examples of our own (see `weft_tests::shape`).

use serde_json::{Value, json};
use weft_tests::TestServer;
use weft_tests::http1;
use weft_tests::shape::assert_shape;
use weft_tests::workflows::create_json;

fn router() -> Value {
    json!({"name": "lead-router", "steps": [
        {"id": "classify", "type": "transform", "output": {"category": "$.input.task", "lead": "$.state.leadId"}},
        {"id": "approval", "type": "approval", "dependsOn": ["classify"], "action": "route_lead",
         "message": "Send this lead to the enterprise team?", "options": ["approve", "reject", "escalate"]},
        {"id": "route", "type": "transform", "dependsOn": ["approval"], "output": {"decision": "$.approval.output.decision"}}
    ]})
}

fn agent_run(status: &str, result: Value, pending: Value) -> Value {
    json!({
        "output": {
            "status": status,
            // Outputs are the steps' own data: any JSON.
            "steps": [{"name": "classify", "status": "completed", "output": null}],
            "result": result,
            "pendingAction": pending,
        },
        "run_id": "wfrun_x",
    })
}

#[tokio::test]
async fn a_run_started_by_name_answers_in_the_agents_shape_from_start_to_finish() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    create_json(&server, router()).await;

    let start = json!({"input": {"task": "Route this lead", "state": {"leadId": "lead-123"}}});
    let (status, started) = http1::json(addr, "POST", "/v1/agents/lead-router/workflow", Some(start.clone())).await;
    assert_eq!(status, 202, "{started}");
    let confirmation =
        json!({"step": "approval", "type": "confirmation", "message": "m", "options": ["approve"], "...": true});
    assert_shape(&started, &agent_run("paused", Value::Null, confirmation.clone()), "start");
    assert_eq!(started["output"]["status"], "paused", "the first answer shows the pause");
    assert_eq!(started["output"]["result"], Value::Null);
    assert_eq!(started["output"]["pendingAction"]["options"], json!(["approve", "reject", "escalate"]));
    assert_eq!(started["output"]["steps"][0]["output"]["lead"], "lead-123", "input.state seeds the shared state");
    let run_id = started["run_id"].as_str().unwrap().to_string();

    let (status, got) = http1::json(addr, "GET", &format!("/v1/workflow-runs/{run_id}"), None).await;
    assert_eq!(status, 200);
    assert_shape(&got, &agent_run("paused", Value::Null, confirmation), "get");

    let resume = json!({"input": {"resume": {"step": "approval", "input": "approve"}}});
    let (status, resumed) =
        http1::json(addr, "POST", &format!("/v1/workflow-runs/{run_id}/resume"), Some(resume)).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["run_id"], run_id.as_str());
    assert_eq!(resumed["output"]["status"], "completed", "the resume answer waits for the run to end: {resumed}");
    let (_, done) = http1::json(addr, "GET", &format!("/v1/workflow-runs/{run_id}"), None).await;
    assert_shape(&done, &agent_run("completed", Value::Null, Value::Null), "completed");
    assert_eq!(done["output"]["result"], json!({"decision": "approve"}), "the result is the run's output");

    let (status, listed) = http1::json(addr, "GET", "/v1/workflow-runs", None).await;
    assert_eq!(status, 200);
    assert_shape(&listed, &json!({"runs": [{"output": {"...": true}, "run_id": "r"}], "next_page_token": ""}), "list");

    // A paused run cancelled through DELETE.
    let (_, second) = http1::json(addr, "POST", "/v1/agents/lead-router/workflow", Some(start)).await;
    let second = second["run_id"].as_str().unwrap().to_string();
    // A resume that would wait past the bound is refused, and changes nothing.
    let too_long = json!({"input": {"resume": {"step": "approval", "input": "approve"}}, "settleWaitMs": 10_001});
    let path = format!("/v1/workflow-runs/{second}/resume");
    let (status, refused) = http1::json(addr, "POST", &path, Some(too_long)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["message"].as_str().unwrap().starts_with("settle_wait_ms:"), "{refused}");
    let (_, still) = http1::json(addr, "GET", &format!("/v1/workflow-runs/{second}"), None).await;
    assert_eq!(still["output"]["status"], "paused");
    let (status, cancelled) = http1::json(addr, "DELETE", &format!("/v1/workflow-runs/{second}"), None).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["output"]["status"], "cancelled");

    // By id works as well as by name; an unknown name is a 404.
    let (status, _) = http1::json(addr, "POST", "/v1/agents/no-such-agent/workflow", Some(json!({"input": {}}))).await;
    assert_eq!(status, 404);
}
