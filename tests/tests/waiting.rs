//! What a run says it is waiting for: an agent step whose task nobody
//! holds is READY (not running); once no worker has polled for its agent
//! within `[tasks] unclaimed_after` it says `waitingFor` (gRPC and REST)
//! and the run records task.unclaimed exactly once (event list, gRPC
//! stream, SSE on `/v1` and `/api`); a worker arriving later completes the
//! run and the word goes. A served agent whose task waits briefly is
//! never noted; ListWorkers shows each agent's queue and whether it is
//! served; ExecuteWorkflow's timeout names the waiting steps; bad values
//! of the setting are refused. Runs on the suite's store (SQLite, or
//! Postgres with `WEFT_TEST_STORE=postgres`).

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::api::convert::value_to_pb;
use weft_server::config::{Overrides, TaskSettings};
use weft_tests::runs::{get_run, step, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete, poll, register};
use weft_tests::{eventually, http1};

/// Short enough for a test, long enough that an ordinary claim is never late.
const UNCLAIMED_AFTER: Duration = Duration::from_millis(300);
const WAITING_FOR: &str = "a worker for agent 'web-researcher'";

fn config(unclaimed_after: Duration) -> Config {
    Config { tasks: TaskSettings { unclaimed_after }, ..Config::default() }
}

/// One agent step `scrape` for agent "web-researcher".
fn scrape() -> Value {
    json!({"name": "scrape", "steps": [
        {"id": "scrape", "type": "agent", "agent": "web-researcher", "task": "Scrape {{ input.site }}"}
    ]})
}

/// How many task.unclaimed events the run has recorded.
async fn unclaimed_events(client: &Weft, run_id: &str) -> Vec<pb::RunEvent> {
    let request = pb::ListRunEventsRequest { run_id: run_id.into(), page_size: 1000, ..Default::default() };
    let events = client.runs().list_run_events(request).await.unwrap().into_inner().events;
    events.into_iter().filter(|e| e.r#type == "task.unclaimed").collect()
}

/// Every event of a finished run through StreamRunEvents.
async fn streamed(client: &Weft, run_id: &str) -> Vec<pb::RunEvent> {
    let request = pb::StreamRunEventsRequest { run_id: run_id.into(), after_sequence: 0 };
    let mut stream = client.runs().stream_run_events(request).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(message) = tokio::time::timeout(Duration::from_secs(15), stream.message()).await.unwrap().unwrap() {
        events.push(message.event.unwrap());
    }
    events
}

#[tokio::test]
async fn an_unserved_agent_step_is_ready_says_what_it_waits_for_and_is_noted_once_until_a_worker_comes() {
    let s = Scenario::new(config(UNCLAIMED_AFTER), scrape()).await;
    let client = &s.client;
    let run_id = s.start(json!({"site": "example.com"})).await;

    let run = get_run(client, &run_id).await;
    assert_eq!(run.status(), pb::RunStatus::Running);
    let scrape = step(&run, "scrape");
    assert_eq!(scrape.status(), pb::StepStatus::Ready, "queued, nobody holds it: {scrape:?}");
    assert_eq!(scrape.attempts, 0, "the queued attempt has not started: {scrape:?}");
    assert!(scrape.start_time.is_none(), "nor has the step: {scrape:?}");

    // Within the configured time (plus the watcher's quarter tick).
    let started = std::time::Instant::now();
    let ids = (client, run_id.as_str());
    let noted = eventually("the step says what it waits for and the run notes it", 10, || async move {
        let (client, run_id) = ids;
        let run = get_run(client, run_id).await;
        let events = unclaimed_events(client, run_id).await;
        if step(&run, "scrape").waiting_for == WAITING_FOR && !events.is_empty() {
            Ok(events)
        } else {
            Err((run, events))
        }
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(5), "noted after {:?}", started.elapsed());
    let [event] = noted.as_slice() else { panic!("exactly one task.unclaimed: {noted:?}") };
    assert_eq!((event.step_id.as_str(), event.status.as_str()), ("scrape", "ready"));
    let data = weft_server::api::convert_runs::struct_from_pb(event.data.as_ref().expect("data"));
    assert_eq!(data["agent"], "web-researcher");

    // REST writes it `waitingFor`, the status "ready".
    let (status, body) = http1::json(s.server.addr, "GET", &format!("/v1/workflows/runs/{run_id}"), None).await;
    assert_eq!(status, 200, "{body}");
    let rest_step = body["steps"].as_array().unwrap().iter().find(|st| st["id"] == "scrape").unwrap().clone();
    assert_eq!((rest_step["status"].as_str(), rest_step["waitingFor"].as_str()), (Some("ready"), Some(WAITING_FOR)));

    // Once: several more looks of the watcher add nothing.
    tokio::time::sleep(UNCLAIMED_AFTER * 4).await;
    assert_eq!(unclaimed_events(client, &run_id).await.len(), 1, "noted once");

    // A worker arrives, claims, and the word goes.
    register(client, "late", &["web-researcher"]).await;
    let task = poll(client, "late", 5).await.expect("the waiting task is claimed");
    assert_eq!((task.run_id.as_str(), task.attempt), (run_id.as_str(), 1));
    let held = get_run(client, &run_id).await;
    let scrape = step(&held, "scrape");
    assert_eq!(scrape.status(), pb::StepStatus::Running, "a worker holds it now");
    assert_eq!(scrape.waiting_for, "");
    complete(client, &task, &json!({"pages": 3})).await;
    let done = wait_finished(client, &run_id, 10).await;
    assert_eq!(done.status(), pb::RunStatus::Completed, "{done:?}");
    assert_eq!(step(&done, "scrape").waiting_for, "");

    // The event is in the log every stream replays, named as each dialect
    // names events.
    let all = streamed(client, &run_id).await;
    assert_eq!(all.iter().filter(|e| e.r#type == "task.unclaimed").count(), 1, "{all:?}");
    let sse = [("accept", "text/event-stream")];
    for (path, name) in [
        (format!("/v1/workflows/runs/{run_id}/stream"), "event: task.unclaimed"),
        (format!("/api/workflows/runs/{run_id}/stream"), "event: task_unclaimed"),
    ] {
        let response = http1::request(s.server.addr, "GET", &path, &sse, b"").await.unwrap();
        let text = String::from_utf8(response.body).unwrap();
        assert_eq!(text.matches(name).count(), 1, "{path}: {text}");
    }
}

#[tokio::test]
async fn a_served_agent_whose_task_waits_briefly_is_never_noted() {
    let definition = json!({"name": "two", "steps": [
        {"id": "first", "type": "agent", "agent": "web-researcher", "task": "one"},
        {"id": "second", "type": "agent", "agent": "web-researcher", "task": "two", "dependsOn": ["first"]}
    ]});
    // A longer wait, so a slow machine's pauses stay well inside it.
    let after = Duration::from_millis(1_500);
    let (s, run_id) = Scenario::agent_run(config(after), definition, "w1", &["web-researcher"], json!({})).await;
    let client = &s.client;
    let first = poll(client, "w1", 5).await.expect("first");
    complete(client, &first, &json!({})).await;
    // The second task waits a little, as between a worker's polls.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let run = get_run(client, &run_id).await;
    assert_eq!(step(&run, "second").status(), pb::StepStatus::Ready);
    assert_eq!(step(&run, "second").waiting_for, "", "a worker polled moments ago");
    let second = poll(client, "w1", 5).await.expect("second");
    complete(client, &second, &json!({})).await;
    assert_eq!(wait_finished(client, &run_id, 10).await.status(), pb::RunStatus::Completed);
    tokio::time::sleep(after * 2).await;
    assert!(unclaimed_events(client, &run_id).await.is_empty(), "nothing waited unserved");
}

#[tokio::test]
async fn list_workers_shows_each_agents_queue_and_whether_it_is_served() {
    let definition = |agent: &str| json!({"name": format!("for-{agent}"), "steps": [{"id": "a", "type": "agent", "agent": agent, "task": "t"}]});
    // The default wait: a worker registered moments ago serves its agent.
    let s = Scenario::new(Config::default(), definition("lonely")).await;
    let client = &s.client;
    s.start(json!({})).await;
    s.start(json!({})).await;
    let busy = weft_tests::workflows::create_json(&s.server, definition("busy")).await;
    weft_tests::runs::start(client, &busy, json!({})).await;
    register(client, "w1", &["busy", "spare"]).await;

    let list = |agent: &str| pb::ListWorkersRequest { agent: agent.into(), ..Default::default() };
    let answer = client.workers().list_workers(list("")).await.unwrap().into_inner();
    let queues: Vec<(&str, u32, u32, bool)> =
        answer.agent_queues.iter().map(|q| (q.agent.as_str(), q.queued, q.live_workers, q.served)).collect();
    assert_eq!(queues, [("lonely", 2, 0, false), ("busy", 1, 1, true)], "most queued first; no queue for 'spare'");
    assert!(answer.agent_queues.iter().all(|q| q.oldest_queued_time.is_some()));

    let only = client.workers().list_workers(list("busy")).await.unwrap().into_inner();
    assert_eq!(only.agent_queues.iter().map(|q| q.agent.as_str()).collect::<Vec<_>>(), ["busy"]);
    let none = client.workers().list_workers(list("nobody")).await.unwrap().into_inner();
    assert!(none.agent_queues.is_empty());

    let (status, body) = http1::json(s.server.addr, "GET", "/v1/workers", None).await;
    assert_eq!(status, 200, "{body}");
    let lonely = &body["agentQueues"][0];
    assert_eq!((lonely["agent"].as_str(), lonely["queued"].as_u64()), (Some("lonely"), Some(2)), "{body}");
    // Canonical protobuf JSON leaves false and 0 out.
    assert!(!lonely["served"].as_bool().unwrap_or(false), "{body}");
    assert_eq!(body["agentQueues"][1]["served"], json!(true), "{body}");
    assert!(lonely["oldestQueuedAt"].is_string(), "{body}");

    let long = client.workers().list_workers(list(&"x".repeat(200))).await.unwrap_err();
    assert_eq!(long.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn execute_workflows_timeout_names_the_steps_still_waiting_and_why() {
    let definition = json!({"name": "blocked", "steps": [
        {"id": "scrape", "type": "agent", "agent": "web-researcher", "task": "t"},
        {"id": "approve", "type": "approval", "action": "publish"}
    ]});
    let s = Scenario::new(config(UNCLAIMED_AFTER), definition).await;
    let request = pb::ExecuteWorkflowRequest {
        workflow_id: s.workflow_id.clone(),
        input: Some(value_to_pb(&json!({}))),
        timeout_seconds: 1,
        ..Default::default()
    };
    let refused = s.client.runs().execute_workflow(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::DeadlineExceeded, "{refused:?}");
    let message = refused.message();
    assert!(message.contains("did not finish within 1 s; waiting: "), "{message}");
    assert!(message.contains(&format!("step 'scrape' (ready: {WAITING_FOR})")), "{message}");
    assert!(message.contains("step 'approve' (paused: approval)"), "{message}");

    // The stream's timeout says the same, after the events it sent.
    let request = pb::ExecuteWorkflowStreamRequest {
        workflow_id: s.workflow_id.clone(),
        input: Some(value_to_pb(&json!({}))),
        timeout_seconds: 1,
        ..Default::default()
    };
    let mut stream = s.client.runs().execute_workflow_stream(request).await.unwrap().into_inner();
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message()).await.expect("the stream ends") {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without its timeout"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::DeadlineExceeded, "{ended:?}");
    assert!(ended.message().contains(&format!("step 'scrape' (ready: {WAITING_FOR})")), "{}", ended.message());
}

#[test]
fn unclaimed_after_out_of_range_or_malformed_is_refused() {
    let load = |value: &'static str| {
        Config::load(
            None,
            move |name: &str| (name == "WEFT_TASK_UNCLAIMED_AFTER").then(|| value.to_owned()),
            Overrides::default(),
        )
    };
    assert_eq!(load("500ms").unwrap().tasks.unclaimed_after, Duration::from_millis(500));
    assert_eq!(Config::default().tasks.unclaimed_after, Duration::from_secs(10));
    for bad in ["50ms", "2days", "0s"] {
        let err = load(bad).unwrap_err().to_string();
        assert!(err.contains("tasks.unclaimed_after") && err.contains("100ms and 1 day"), "{bad}: {err}");
    }
    let err = load("soon").unwrap_err().to_string();
    assert!(err.contains("WEFT_TASK_UNCLAIMED_AFTER=soon"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weft.toml");
    std::fs::write(&file, "[tasks]\nunclaimed_after = \"25h\"\n").unwrap();
    let err = Config::load(Some(&file), |_: &str| None, Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("tasks.unclaimed_after"), "{err}");
    std::fs::write(&file, "[tasks]\nunclaimed_after = \"2m\"\n").unwrap();
    let config = Config::load(Some(&file), |_: &str| None, Overrides::default()).unwrap();
    assert_eq!(config.tasks.unclaimed_after, Duration::from_secs(120));
}
