//! Loop steps end to end: a loop over a list whose body is an agent served
//! by a worker, one iteration at a time with every output kept and an
//! event per iteration; a while loop ending on its condition; the
//! maxIterations bound failing the step with LOOP_LIMIT; and a loop
//! definition that gives several drivers refused on save.

use serde_json::json;
use weft_sdk::pb;
use weft_server::Config;
use weft_tests::runs::{events, json_of, start, step, wait_for};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete, poll};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

#[tokio::test]
async fn a_loop_over_a_list_runs_its_agent_once_per_item_in_order() {
    let definition = json!({"name": "enrich-each", "steps": [
        {"id": "each", "type": "loop", "over": "$.input.leads", "as": "lead", "maxIterations": 5,
         "step": {"id": "enrich", "type": "agent", "agent": "enricher", "task": "Enrich {{ lead }}",
                  "inputMap": {"lead": "$.lead"}}},
        {"id": "report", "type": "transform", "dependsOn": ["each"], "output": {"all": "$.each.output"}}
    ]});
    let input = json!({"leads": ["acme", "globex", "initech"]});
    let (s, run_id) = Scenario::agent_run(Config::default(), definition, "w1", &["enricher"], input).await;
    let client = &s.client;

    for (i, lead) in ["acme", "globex", "initech"].iter().enumerate() {
        let task = poll(client, "w1", 5).await.expect("an iteration");
        assert_eq!(task.step_id, format!("enrich[{i}]"));
        assert_eq!(task.task, format!("Enrich {lead}"));
        // One iteration at a time: the next one waits, queued.
        if i < 2 {
            let run = weft_tests::runs::get_run(client, &run_id).await;
            assert_eq!(step(&run, &format!("enrich[{}]", i + 1)).status, pb::StepStatus::Ready as i32, "{run:?}");
        }
        complete(client, &task, &json!({"lead": lead, "n": i})).await;
    }
    let run = wait_for(client, &run_id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let all = json!([{"lead": "acme", "n": 0}, {"lead": "globex", "n": 1}, {"lead": "initech", "n": 2}]);
    assert_eq!(json_of(&step(&run, "each").output), all);
    assert_eq!(json_of(&step(&run, "report").output), json!({"all": all}));
    let iterations: Vec<String> = events(client, &run_id)
        .await
        .into_iter()
        .filter(|e| e.step_id.starts_with("enrich["))
        .map(|e| format!("{} {}", e.r#type, e.step_id))
        .collect();
    assert_eq!(
        iterations,
        [
            "step.started enrich[0]",
            "step.completed enrich[0]",
            "step.started enrich[1]",
            "step.completed enrich[1]",
            "step.started enrich[2]",
            "step.completed enrich[2]"
        ]
    );
}

#[tokio::test]
async fn a_while_loop_ends_on_its_condition_and_a_runaway_one_hits_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    // Names are unique per tenant: each counter is named by its condition.
    let counter = |condition: &str| {
        json!({"name": format!("count while {condition}"), "steps": [
            {"id": "count", "type": "loop", "while": condition, "as": "i", "maxIterations": 4,
             "step": {"id": "tick", "type": "transform", "output": {"i": "$.i"}}}
        ]})
    };
    let bounded = create_json(&server, counter("length($.count.output) < 3")).await;
    let run_id = start(&client, &bounded, json!({})).await.id;
    let run = wait_for(&client, &run_id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "count").output), json!([{"i": 0}, {"i": 1}, {"i": 2}]));

    let runaway = create_json(&server, counter("$.input.forever == true")).await;
    let run_id = start(&client, &runaway, json!({"forever": true})).await.id;
    let run = wait_for(&client, &run_id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    let error = run.error.clone().expect("an error");
    assert_eq!(error.code, "LOOP_LIMIT", "{error:?}");
    assert!(error.message.contains("maxIterations 4"), "{error:?}");
    let ticks = run.steps.iter().filter(|s| s.id.starts_with("tick[") && s.output.is_some()).count();
    assert_eq!(ticks, 4, "every iteration it ran is kept: {run:?}");
}

#[tokio::test]
async fn a_loop_with_several_drivers_or_no_body_is_refused_on_save() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let definition = json!({"name": "bad", "steps": [
        {"id": "both", "type": "loop", "over": "$.input.xs", "while": "$.input.go == true",
         "step": {"id": "b", "type": "transform", "output": {}}},
        {"id": "none", "type": "loop", "over": "$.input.xs"}
    ]});
    let (status, body) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition.clone())).await;
    assert_eq!(status, 400, "{body}");
    let text = body.to_string();
    assert!(text.contains("give exactly one"), "{text}");
    assert!(text.contains("needs 'step'"), "{text}");
    let list = client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap().into_inner();
    assert!(list.workflows.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn an_until_loop_built_with_the_sdk_stops_when_its_body_says_done() {
    use weft_sdk::builder::{loop_until, transform, workflow};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    // No `as`: the iteration index is bound as `item`.
    let body = transform("check").output("i", "$.item").output("target", "$.input.target");
    let definition = workflow("poll")
        .step(loop_until("poll", "$.check.output.i == $.input.target", body).max_iterations(10))
        .build();
    let request = pb::CreateWorkflowRequest { workflow: Some(definition), ..Default::default() };
    let created = client.workflows().create_workflow(request).await.expect("a valid loop").into_inner();
    let workflow_id = created.workflow.expect("the workflow").id;
    let run_id = start(&client, &workflow_id, json!({"target": 2})).await.id;
    let run = wait_for(&client, &run_id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let outputs = json_of(&step(&run, "poll").output);
    assert_eq!(outputs, json!([{"i": 0, "target": 2}, {"i": 1, "target": 2}, {"i": 2, "target": 2}]));
    let (_, rest) = http1::json(server.addr, "GET", &format!("/v1/workflows/{workflow_id}"), None).await;
    assert_eq!(rest["steps"][0]["until"], "$.check.output.i == $.input.target", "written `until` in JSON: {rest}");
}
