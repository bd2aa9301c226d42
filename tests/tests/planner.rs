//! Planner steps end to end: a worker polls a task of kind "planner" and
//! answers with a plan; the plan's steps are spliced after the planner,
//! run, and show in GetRun (parent_id = the planner) and in the event log
//! (plan.spliced); an invalid plan or an output that is no plan fails the
//! planner with PLAN_INVALID listing every problem and tells the worker;
//! and a spliced run survives a restart and completes.

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::api::convert_runs::value_from_pb;
use weft_tests::runs::{events, get_run, step, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete_request, poll_one, register, usd};
use weft_tests::{TestServer, http1};

/// A planner, then a transform that reads what the plan produces.
fn planned_workflow() -> Value {
    json!({
        "name": "planned",
        "steps": [
            {"id": "plan", "type": "planner", "agent": "task-planner",
             "task": "Plan research tasks for {{ input.company }}"},
            {"id": "report", "type": "transform", "dependsOn": ["plan"],
             "output": {"summary": "$.summarize.output", "company": "$.input.company"}}
        ]
    })
}

/// Three steps: an agent, a transform over its output, and an agent that
/// waits for an existing step only (it still starts after the planner).
fn valid_plan() -> Value {
    json!({"steps": [
        {"id": "dig", "type": "agent", "agent": "researcher", "task": "Dig into {{ input.company }}",
         "inputMap": {"company": "$.input.company"}},
        {"id": "summarize", "type": "transform", "dependsOn": ["dig"], "output": {"facts": "$.dig.output.facts"}},
        {"id": "double-check", "type": "agent", "agent": "researcher", "task": "Check the plan",
         "dependsOn": ["plan"]}
    ]})
}

/// The agents worker "w1" serves.
const AGENTS: &[&str] = &["task-planner", "researcher"];

/// The planned workflow on a fresh server, worker "w1" registered, and a
/// run started for Stripe.
async fn planned_run() -> (Scenario, String) {
    Scenario::agent_run(Config::default(), planned_workflow(), "w1", AGENTS, json!({"company": "Stripe"})).await
}

/// Completes `task` with `output` at a cost of 4 cents.
fn complete(task: &pb::Task, output: Value) -> pb::CompleteTaskRequest {
    complete_request(task, &output, Some(usd(4)))
}

/// Serves the two researcher tasks the valid plan dispatches.
async fn serve_research(client: &Weft) {
    for _ in 0..2 {
        let task = poll_one(client, "w1").await;
        assert_eq!((task.kind.as_str(), task.agent.as_str()), ("agent", "researcher"));
        let output = if task.step_id == "dig" { json!({"facts": ["founded 2010"]}) } else { json!({"ok": true}) };
        client.workers().complete_task(complete(&task, output)).await.unwrap();
    }
}

#[tokio::test]
async fn a_plan_is_spliced_after_the_planner_and_runs_to_completion() {
    let (s, run_id) = planned_run().await;
    let client = &s.client;

    let task = poll_one(client, "w1").await;
    assert_eq!((task.kind.as_str(), task.agent.as_str(), task.step_id.as_str()), ("planner", "task-planner", "plan"));
    assert_eq!(task.task, "Plan research tasks for Stripe");
    client.workers().complete_task(complete(&task, valid_plan())).await.expect("the plan is accepted");

    let during = get_run(client, &run_id).await;
    let added: Vec<(&str, &str)> =
        during.steps.iter().filter(|s| s.parent_id == "plan").map(|s| (s.id.as_str(), s.r#type.as_str())).collect();
    assert_eq!(added, [("dig", "agent"), ("summarize", "transform"), ("double-check", "agent")], "{during:?}");
    assert_eq!(step(&during, "report").status, pb::StepStatus::Pending as i32, "waits for the plan");

    serve_research(client).await;
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let report = value_from_pb(step(&run, "report").output.as_ref().unwrap());
    assert_eq!(report, json!({"summary": {"facts": ["founded 2010"]}, "company": "Stripe"}));
    assert_eq!(run.cost.as_ref().map(|c| c.amount), Some(12), "planner and both researchers cost 4 each");

    let log = events(client, &run_id).await;
    let spliced = log.iter().find(|e| e.r#type == "plan.spliced").expect("plan.spliced in the log");
    assert_eq!(spliced.step_id, "plan");
    let data = json!(spliced.data.as_ref().map(weft_server::api::convert_runs::struct_from_pb));
    assert_eq!(data, json!({"steps": ["dig", "summarize", "double-check"]}));
    let started: Vec<&str> = log.iter().filter(|e| e.r#type == "step.started").map(|e| e.step_id.as_str()).collect();
    assert_eq!(started, ["plan", "dig", "double-check", "summarize", "report"]);

    let (status, rest) = http1::json(s.server.addr, "GET", &format!("/v1/workflows/runs/{run_id}"), None).await;
    assert_eq!(status, 200, "{rest}");
    let dig = rest["steps"].as_array().unwrap().iter().find(|s| s["id"] == "dig").cloned();
    assert_eq!(dig.map(|s| s["parentId"].clone()), Some(json!("plan")), "{rest}");
}

#[tokio::test]
async fn an_invalid_plan_fails_the_planner_with_plan_invalid_listing_every_problem() {
    let (s, run_id) = planned_run().await;
    let client = &s.client;
    let task = poll_one(client, "w1").await;
    let plan = json!({"steps": [
        {"id": "report", "type": "transform", "output": {"x": "$.input"}},
        {"id": "lost", "type": "agent", "agent": "researcher", "task": "t", "dependsOn": ["nowhere"]},
        {"id": "c1", "type": "transform", "dependsOn": ["c2"], "output": {"x": "$.input"}},
        {"id": "c2", "type": "transform", "dependsOn": ["c1"], "output": {"x": "$.input"}}
    ]});

    let refused = client.workers().complete_task(complete(&task, plan)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("PLAN_INVALID"), "{}", refused.message());

    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32);
    let error = run.error.as_ref().expect("run error");
    assert_eq!((error.code.as_str(), error.step_id.as_str()), ("PLAN_INVALID", "plan"));
    for needle in ["3 problems", "'report' is used twice", "'nowhere' which doesn't exist", "Cycle detected: c1 → c2"]
    {
        assert!(error.message.contains(needle), "{needle} missing from {}", error.message);
    }
    assert!(run.steps.iter().all(|s| s.id != "lost"), "nothing was spliced");
    let log = events(client, &run_id).await;
    let failed = log.iter().find(|e| e.r#type == "step.failed").expect("step.failed");
    let data = json!(failed.data.as_ref().map(weft_server::api::convert_runs::struct_from_pb));
    let codes: Vec<&str> = data["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["DUPLICATE_STEP_ID", "MISSING_DEPENDENCY", "CYCLE"]);
    assert_eq!(data["problems"][1]["field"], "output.steps[1].dependsOn[0]");
    assert!(log.iter().all(|e| e.r#type != "plan.spliced"));
}

#[tokio::test]
async fn an_output_that_is_no_plan_fails_the_planner_clearly() {
    let (s, run_id) = planned_run().await;
    let client = &s.client;
    let task = poll_one(client, "w1").await;

    let refused = client.workers().complete_task(complete(&task, json!({"plan": "research them"}))).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("{\"steps\": [step definitions]}"), "{}", refused.message());
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some("PLAN_INVALID"), "{run:?}");
    assert_eq!(step(&run, "plan").status, pb::StepStatus::Failed as i32);
    let again = client.workers().complete_task(complete(&task, valid_plan())).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "the attempt is over: {again:?}");
}

#[tokio::test]
async fn a_spliced_run_survives_a_restart_and_completes() {
    let (s, run_id) = planned_run().await;
    let task = poll_one(&s.client, "w1").await;
    s.client.workers().complete_task(complete(&task, valid_plan())).await.unwrap();
    let database = s.database();
    s.server.stop().await;

    let server = TestServer::start_on(database, Config::default()).await;
    let client = server.client().await;
    register(&client, "w1", AGENTS).await;
    let recovered = get_run(&client, &run_id).await;
    assert_eq!(step(&recovered, "dig").parent_id, "plan");
    serve_research(&client).await;
    let run = wait_finished(&client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(step(&run, "summarize").status, pb::StepStatus::Completed as i32);
    let spliced = events(&client, &run_id).await.iter().filter(|e| e.r#type == "plan.spliced").count();
    assert_eq!(spliced, 1, "the replay splices again in memory, not in the log");
}
