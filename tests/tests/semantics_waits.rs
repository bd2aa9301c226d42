//! Wait steps in the 003 config form, end to end on the suite's store: a
//! `duration` pauses like a delay (a durable timer), a `condition` over the
//! run's data completes the step once a step's output or shared state
//! makes it hold, and a timeout applies as for event waits. Bad forms are
//! refused with INVALID_ARGUMENT naming the field, and nothing is stored.

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::pb;
use weft_server::Config;
use weft_tests::TestServer;
use weft_tests::http1;
use weft_tests::runs::{get_run, json_of, step, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete, poll_one, register};
use weft_tests::workflows::{create_json, create_pb};

#[tokio::test]
async fn a_duration_wait_pauses_like_a_delay() {
    let definition = json!({"name": "nap", "steps": [
        {"id": "nap", "type": "wait", "config": {"duration": "1s"}},
        {"id": "after", "type": "transform", "dependsOn": ["nap"], "output": {"n": "$.input.n"}},
    ]});
    let s = Scenario::with(definition).await;
    let started = std::time::Instant::now();
    let run_id = s.start(json!({"n": 7})).await;
    let early = get_run(&s.client, &run_id).await;
    assert_eq!(early.status, pb::RunStatus::Running as i32, "a timed wait keeps the run running: {early:?}");
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "the wait lasted its duration");
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "nap").output), json!({}));
    assert_eq!(json_of(&run.output), json!({"n": 7}));
}

fn stock_watch(timeout: Option<&str>) -> Value {
    let mut wait = json!({"id": "in-stock", "type": "wait", "config": {"condition": "$.state.stock >= 3"},
                          "onTimeout": {"next": "give-up"}});
    match timeout {
        Some(t) => wait["timeout"] = json!(t),
        None => {
            wait.as_object_mut().unwrap().remove("onTimeout");
        }
    }
    let mut steps = vec![
        json!({"id": "restock", "agent": "store", "task": "restock", "stateWrites": ["stock"]}),
        json!({"id": "again", "agent": "store", "task": "restock", "dependsOn": ["restock"],
               "stateWrites": ["stock"]}),
        wait,
        json!({"id": "ship", "type": "transform", "dependsOn": ["in-stock"], "output": {"stock": "$.state.stock"}}),
    ];
    if timeout.is_some() {
        steps.push(json!({"id": "give-up", "type": "transform", "output": {"why": "$.input.why"}}));
    }
    json!({"name": "stock-watch", "steps": steps})
}

#[tokio::test]
async fn a_condition_wait_completes_when_shared_state_makes_it_hold() {
    let (s, run_id) = Scenario::agent_run(Default::default(), stock_watch(None), "w1", &["store"], json!({})).await;
    let task = poll_one(&s.client, "w1").await;
    assert_eq!(task.step_id, "restock");
    complete(&s.client, &task, &json!({"stock": 1})).await;
    let task = poll_one(&s.client, "w1").await;
    assert_eq!(task.step_id, "again");
    let run = get_run(&s.client, &run_id).await;
    assert_eq!(step(&run, "in-stock").status, pb::StepStatus::Waiting as i32, "1 < 3: still waiting: {run:?}");
    complete(&s.client, &task, &json!({"stock": 4})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(step(&run, "in-stock").status, pb::StepStatus::Completed as i32);
    assert_eq!(json_of(&step(&run, "ship").output), json!({"stock": 4}));
}

#[tokio::test]
async fn a_condition_wait_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), Config::default()).await;
    let run_id = {
        let client = server.client().await;
        let workflow_id = create_json(&server, stock_watch(None)).await;
        register(&client, "w1", &["store"]).await;
        let run_id = weft_tests::runs::start(&client, &workflow_id, json!({})).await.id;
        let task = poll_one(&client, "w1").await;
        complete(&client, &task, &json!({"stock": 2})).await;
        let run = get_run(&client, &run_id).await;
        assert_eq!(step(&run, "in-stock").status, pb::StepStatus::Waiting as i32, "{run:?}");
        run_id
    };
    server.stop().await;

    let server = TestServer::start_on(database, Config::default()).await;
    let client = server.client().await;
    register(&client, "w1", &["store"]).await;
    let task = poll_one(&client, "w1").await;
    assert_eq!(task.step_id, "again");
    complete(&client, &task, &json!({"stock": 3})).await;
    let run = wait_finished(&client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "ship").output), json!({"stock": 3}));
}

#[tokio::test]
async fn a_condition_wait_times_out_down_its_on_timeout_branch() {
    let s = Scenario::with(stock_watch(Some("1s"))).await;
    register(&s.client, "w1", &["store"]).await;
    let run_id = s.start(json!({"why": "late"})).await;
    // Nobody restocks: the timer fires first.
    let run = weft_tests::eventually("the wait times out", 10, || {
        let (client, run_id) = (&s.client, &run_id);
        async move {
            let run = get_run(client, run_id).await;
            let done = step(&run, "give-up").status == pb::StepStatus::Completed as i32;
            if done { Ok(run) } else { Err(run) }
        }
    })
    .await;
    assert_eq!(step(&run, "in-stock").status, pb::StepStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "give-up").output), json!({"why": "late"}));
    let task = poll_one(&s.client, "w1").await;
    complete(&s.client, &task, &json!({"stock": 9})).await;
    let task = poll_one(&s.client, "w1").await;
    complete(&s.client, &task, &json!({"stock": 9})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(step(&run, "ship").status, pb::StepStatus::Skipped as i32, "the branch after the wait is not taken");
}

#[tokio::test]
async fn bad_wait_forms_are_refused_naming_the_field_and_nothing_is_stored() {
    let s = Scenario::with(json!({"name": "seed", "steps": [{"id": "t", "type": "transform"}]})).await;
    let cases = [
        (json!({"id": "w", "type": "wait", "config": {"duration": "soon"}}), "steps[0].config.duration"),
        (json!({"id": "w", "type": "wait", "config": {"duration": 2.5}}), "steps[0].config.duration"),
        (json!({"id": "w", "type": "wait", "event": "e", "config": {"duration": 5}}), "steps[0].duration"),
        (json!({"id": "w", "type": "wait", "config": {"condition": "$.state.x >>> 1"}}), "steps[0].expression"),
        (json!({"id": "w", "type": "wait"}), "steps[0].event"),
    ];
    for (wait, field) in cases {
        let body = json!({"name": "bad-wait", "steps": [wait]});
        let (status, answer) = http1::json(s.server.addr, "POST", "/v1/workflows", Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.to_string().contains(field), "names {field}: {answer}");
    }
    let listed = s.client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap();
    let names: Vec<String> = listed.into_inner().workflows.into_iter().map(|w| w.name).collect();
    assert_eq!(names, ["seed"], "nothing refused was stored");

    // The same refusal over gRPC.
    let workflow = pb::Workflow {
        name: "bad-wait".into(),
        steps: vec![pb::Step {
            id: "w".into(),
            r#type: "wait".into(),
            duration: 5,
            event: "e".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let request = pb::CreateWorkflowRequest { workflow: Some(workflow), request_id: String::new() };
    let refused = s.client.workflows().create_workflow(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("several of event, duration and condition"), "{refused:?}");
    let ok = pb::Workflow {
        name: "good-wait".into(),
        steps: vec![pb::Step { id: "w".into(), r#type: "wait".into(), duration: 5, ..Default::default() }],
        ..Default::default()
    };
    create_pb(&s.client, ok).await;
}
