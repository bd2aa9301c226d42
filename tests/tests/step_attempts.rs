//! A step's latest attempt in GetRun (issue 23: the console's step
//! panel): `StepRun.input` is the input its task was handed, exactly as
//! the worker received it, and `StepRun.workerId` the worker that claimed
//! it; the latest attempt's after a retry by another worker, each map
//! item's own, the same after a restart, and unset for steps the engine
//! runs itself. REST writes them `input` and `workerId`. Runs on the
//! suite's store (SQLite, or Postgres with `WEFT_TEST_STORE=postgres`).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::api::convert_runs::struct_from_pb;
use weft_tests::runs::{get_run, json_of, step, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete, poll_one, register};
use weft_tests::{TestServer, http1};

/// Fails `task` under its lease, as a retryable error.
async fn fail_retryable(client: &Weft, task: &pb::Task, error: &str) {
    let request = pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        error: error.into(),
        retryable: true,
        ..Default::default()
    };
    client.workers().fail_task(request).await.expect("the failure is recorded");
}

/// The input `task` handed its worker, as JSON.
fn handed(task: &pb::Task) -> Value {
    struct_from_pb(task.input.as_ref().expect("a task carries its input"))
}

/// Checks what a finished run of the retry scenario says about its steps:
/// `call`'s latest attempt is `second`'s, claimed by w2; `shape`, a
/// transform, has no input and no worker.
fn assert_latest_attempt(run: &pb::Run, second: &pb::Task, when: &str) {
    let call = step(run, "call");
    assert_eq!(call.attempts, 2, "{when}: {call:?}");
    assert_eq!(call.worker_id, "w2", "{when}: the retry's worker, not the first one's: {call:?}");
    assert_eq!(json_of(&call.input), handed(second), "{when}: the retry's input as its worker got it");
    let shape = step(run, "shape");
    assert_eq!(shape.status, pb::StepStatus::Completed as i32, "{when}: {shape:?}");
    assert_eq!(shape.worker_id, "", "{when}: the engine ran the transform: {shape:?}");
    assert_eq!(shape.input, None, "{when}: a transform keeps no input: {shape:?}");
}

#[tokio::test]
async fn an_agent_steps_input_and_worker_are_its_latest_attempts_after_a_retry_and_a_restart() {
    let definition = json!({"name": "attempts", "retries": 1, "steps": [
        {"id": "call", "type": "agent", "agent": "flaky", "task": "call {{ input.n }}", "inputMap": {"n": "$.input.n"}},
        {"id": "shape", "type": "transform", "dependsOn": ["call"], "output": {"got": "$.call.output"}}
    ]});
    let (s, run_id) = Scenario::agent_run(Config::default(), definition, "w1", &["flaky"], json!({"n": 7})).await;
    register(&s.client, "w2", &["flaky"]).await;

    let queued = get_run(&s.client, &run_id).await;
    assert_eq!(step(&queued, "call").worker_id, "", "nobody claimed it yet: {queued:?}");
    assert_eq!(step(&queued, "shape").input, None, "a pending step has no input yet: {queued:?}");

    let first = poll_one(&s.client, "w1").await;
    assert_eq!(handed(&first)["n"], json!(7), "the inputMap resolved: {first:?}");
    let claimed = get_run(&s.client, &run_id).await;
    let call = step(&claimed, "call");
    assert_eq!(call.worker_id, "w1", "{call:?}");
    assert_eq!(json_of(&call.input), handed(&first), "{call:?}");

    fail_retryable(&s.client, &first, "boom").await;
    let second = poll_one(&s.client, "w2").await;
    assert_eq!(second.attempt, 2, "the retry is offered: {second:?}");
    complete(&s.client, &second, &json!({"ok": true})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_latest_attempt(&run, &second, "before the restart");

    let Scenario { client, server, dir, .. } = s;
    drop(client);
    server.stop().await;
    let server = TestServer::start_on(dir.path().join("weft.db"), Config::default()).await;
    let client = server.client().await;
    assert_latest_attempt(&get_run(&client, &run_id).await, &second, "after the restart");
}

#[tokio::test]
async fn each_map_item_shows_its_own_input_and_worker_and_rest_writes_them_camel_cased() {
    let definition = json!({"name": "scored", "steps": [
        {"id": "each", "type": "map", "over": "$.input.leads", "as": "lead", "concurrency": 2,
         "step": {"id": "score", "type": "agent", "agent": "scorer", "task": "Score {{ lead }}",
                  "inputMap": {"lead": "$.lead"}}}
    ]});
    let input = json!({"leads": ["acme", "globex"]});
    let (s, run_id) = Scenario::agent_run(Config::default(), definition, "wa", &["scorer"], input).await;
    register(&s.client, "wb", &["scorer"]).await;

    // Each worker claims one item; which item each gets is the queue's
    // business, so the test remembers what each was handed.
    let mut handed_out = BTreeMap::new();
    let mut tasks = Vec::new();
    for worker in ["wa", "wb"] {
        let task = poll_one(&s.client, worker).await;
        handed_out.insert(task.step_id.clone(), (worker, handed(&task)));
        tasks.push(task);
    }
    assert_eq!(handed_out.keys().collect::<Vec<_>>(), ["score[0]", "score[1]"], "one task per item");
    for task in &tasks {
        complete(&s.client, task, &json!({"score": 1})).await;
    }
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    for (key, (worker, input)) in &handed_out {
        let item = step(&run, key);
        assert_eq!(item.worker_id, *worker, "{item:?}");
        assert_eq!(&json_of(&item.input), input, "{item:?}");
    }
    let leads: Vec<Value> = handed_out.values().map(|(_, input)| input["lead"].clone()).collect();
    assert_eq!(leads, [json!("acme"), json!("globex")], "each item was handed its own lead");
    let map = step(&run, "each");
    assert_eq!((map.worker_id.as_str(), &map.input), ("", &None), "the engine runs the map itself: {map:?}");

    let (status, body) = http1::json(s.server.addr, "GET", &format!("/v1/workflows/runs/{run_id}"), None).await;
    assert_eq!(status, 200, "{body}");
    let steps = body["steps"].as_array().expect("the run's steps");
    let by_id = |id: &str| steps.iter().find(|st| st["id"] == id).unwrap_or_else(|| panic!("step {id} in {body}"));
    for (key, (worker, input)) in &handed_out {
        assert_eq!(by_id(key)["workerId"], json!(worker), "{body}");
        assert_eq!(&by_id(key)["input"], input, "{body}");
    }
    assert!(by_id("each").get("input").is_none(), "an unset input is left out: {body}");
}
