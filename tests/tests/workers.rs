//! WorkerService end to end over real sockets: an agent run completed by a
//! worker through poll and complete (gRPC and REST); a worker that stops
//! heartbeating loses its lease to a second worker, also across a restart;
//! stale tokens, unknown tasks and double completions refused with nothing
//! changed; outputs over the cap or not JSON fail the step; cancel reaches
//! the worker's heartbeat; a waiting poll wakes as soon as a run starts;
//! bad input to every RPC; and a step's `timeout` ends an attempt whose
//! worker keeps heartbeating (STEP_TIMEOUT, retried with a fresh deadline,
//! kept across a restart).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::api::convert_runs::{struct_from_pb, struct_to_pb, value_from_pb};
use weft_tests::runs::{get_run, start, step, trace, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete_request, heartbeat_request, poll, register_request, register_with, usd};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

/// Lease length the tests run with, so an expiry takes well under a second.
const LEASE_MS: u64 = 400;

fn lease_config() -> Config {
    Config { task_lease_ms: LEASE_MS, ..Config::default() }
}

/// One agent step `research` served by agent "researcher", with `retries`.
fn research_workflow(retries: u32) -> Value {
    json!({
        "name": "research",
        "timeout": 600,
        "policy": {"denyTools": ["shell_exec"], "maxTotalCost": {"amount": 500, "currency": "usd"}},
        "steps": [
            {"id": "research", "type": "agent", "agent": "researcher", "retries": retries,
             "task": "Research {{ input.company }}", "inputMap": {"company": "$.input.company"}},
            {"id": "shape", "type": "transform", "dependsOn": ["research"],
             "output": {"summary": "$.research.output.summary"}}
        ]
    })
}

fn stripe() -> Value {
    json!({"company": "Stripe"})
}

/// `definition` on a server with short leases, worker "w1" registered (see
/// [`register`]), and a run started for Stripe.
async fn agent_run(definition: Value) -> (Scenario, String) {
    let s = Scenario::new(lease_config(), definition).await;
    register(&s.client, "w1").await;
    let run_id = s.start(stripe()).await;
    (s, run_id)
}

/// Registers `worker_id` for "researcher" with cost hints, and checks the
/// answer.
async fn register(client: &Weft, worker_id: &str) {
    let hint = pb::AgentCostHint { agent: "researcher".into(), min_cost: Some(usd(5)), max_cost: Some(usd(20)) };
    let request = pb::RegisterWorkerRequest { cost_hints: vec![hint], ..register_request(worker_id, &["researcher"]) };
    let answer = register_with(client, request).await;
    assert_eq!(answer.worker_id, worker_id);
    assert_eq!(answer.lease_seconds, 1, "400 ms rounds up to one second");
}

/// Completes `task` with `output` and a cost of `cents`.
fn complete(task: &pb::Task, output: Value, cents: i64) -> pb::CompleteTaskRequest {
    complete_request(task, &output, Some(usd(cents)))
}

/// A heartbeat for `task` under lease `token`, reporting one cent.
fn heartbeat(task: &pb::Task, token: u64) -> pb::HeartbeatRequest {
    heartbeat_request(task, token, Some(usd(1)))
}

fn reason(status: &tonic::Status) -> String {
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}

#[tokio::test]
async fn agent_run_completes_through_poll_and_complete_with_output_and_cost() {
    let (s, run_id) = agent_run(research_workflow(0)).await;
    let client = &s.client;

    let task = poll(client, "w1", 5).await.expect("a task is waiting");
    assert!(task.task_id.starts_with("task_") && task.task_id.len() == 31, "{}", task.task_id);
    assert_eq!((task.run_id.as_str(), task.workflow_id.as_str()), (run_id.as_str(), s.workflow_id.as_str()));
    assert_eq!((task.step_id.as_str(), task.agent.as_str(), task.kind.as_str()), ("research", "researcher", "agent"));
    assert_eq!(task.task, "Research Stripe", "the template is rendered");
    let input = struct_from_pb(task.input.as_ref().unwrap());
    assert_eq!(input, json!({"company": "Stripe"}));
    assert_eq!(task.attempt, 1);
    assert!(task.state.is_none(), "a step that declares no shared-state keys gets none");
    assert!(task.lease_token >= 1);
    assert!(task.lease_expire_time.is_some() && task.deadline.is_some(), "lease end and run deadline are set");
    let policy = task.policy.clone().expect("the workflow's policy travels with the task");
    assert_eq!(policy.deny_tools, ["shell_exec"]);
    assert_eq!(policy.max_total_cost.unwrap().amount, 500);

    let beat = client.workers().heartbeat(heartbeat(&task, task.lease_token)).await.unwrap().into_inner();
    assert!(!beat.cancelled && beat.lease_expire_time.is_some());
    // state_writes naming a key the step does not declare: refused, and
    // the lease stays live (the completion below is accepted).
    let mut writes = complete(&task, json!({"summary": "ignored"}), 1);
    writes.state_writes = struct_to_pb(&json!({"k": 1}));
    let refused = client.workers().complete_task(writes).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("does not declare [\"k\"] in stateWrites"), "{}", refused.message());
    client.workers().complete_task(complete(&task, json!({"summary": "payments"}), 12)).await.unwrap();

    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let research = step(&run, "research");
    assert_eq!(value_from_pb(research.output.as_ref().unwrap()), json!({"summary": "payments"}));
    assert_eq!(research.cost.as_ref().unwrap().amount, 12);
    assert_eq!(run.cost.as_ref().unwrap().amount, 12, "the run's cost totals its steps");
    assert_eq!(value_from_pb(run.output.as_ref().unwrap()), json!({"summary": "payments"}));

    let listed = client.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.workers.len(), 1);
    let worker = &listed.workers[0];
    assert_eq!((worker.worker_id.as_str(), worker.agents.as_slice()), ("w1", &["researcher".to_string()][..]));
    assert_eq!((worker.concurrency, worker.in_flight), (4, 0));
    assert!(worker.last_poll_time.is_some() && worker.register_time.is_some());
    assert_eq!(worker.cost_hints[0].max_cost.as_ref().unwrap().amount, 20);
}

#[tokio::test]
async fn a_task_carries_the_shared_state_keys_its_step_declares() {
    let (s, run_id) = agent_run(json!({"name": "stateful-agent", "steps": [
        {"id": "note", "type": "transform", "output": {"company": "$.input.company"}, "stateWrites": ["company"]},
        {"id": "research", "type": "agent", "agent": "researcher", "task": "Research", "dependsOn": ["note"],
         "stateReads": ["company", "region"], "stateWrites": ["summary"]}
    ]}))
    .await;
    let client = &s.client;
    let task = poll(client, "w1", 5).await.expect("a task is waiting");
    let state = struct_from_pb(task.state.as_ref().expect("the task carries state"));
    assert_eq!(state, json!({"company": "Stripe", "region": null, "summary": null}), "declared keys, unset ones null");
    // Explicit writes win over the output's value for the same key.
    let mut done = complete(&task, json!({"summary": "from the output"}), 0);
    done.state_writes = struct_to_pb(&json!({"summary": "explicit"}));
    client.workers().complete_task(done).await.unwrap();
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let shared = struct_from_pb(run.shared_state.as_ref().expect("shared state"));
    assert_eq!(shared, json!({"company": "Stripe", "summary": "explicit"}));
}

#[tokio::test]
async fn rest_worker_polls_and_completes_a_task() {
    let s = Scenario::new(lease_config(), research_workflow(0)).await;
    let (server, client) = (&s.server, &s.client);
    let (status, registered) = http1::json(
        server.addr,
        "POST",
        "/v1/workers:register",
        Some(json!({"workerId": "rest-1", "agents": ["researcher"]})),
    )
    .await;
    assert_eq!(status, 200, "{registered}");
    let run_id = s.start(stripe()).await;

    let (status, polled) =
        http1::json(server.addr, "POST", "/v1/workers/rest-1/tasks:poll", Some(json!({"waitSeconds": 5}))).await;
    assert_eq!(status, 200, "{polled}");
    let task = &polled["task"];
    assert_eq!(task["task"], "Research Stripe");
    assert_eq!(task["input"], json!({"company": "Stripe"}));
    let path = format!("/v1/tasks/{}:complete", task["taskId"].as_str().unwrap());
    let body = json!({"leaseToken": task["leaseToken"], "output": {"summary": "rest"}, "cost": {"amount": 3}});
    let (status, answer) = http1::json(server.addr, "POST", &path, Some(body.clone())).await;
    assert_eq!(status, 200, "{answer}");
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32);
    assert_eq!(run.cost.unwrap().amount, 3);

    let (status, again) = http1::json(server.addr, "POST", &path, Some(body)).await;
    assert_eq!((status, again["error_code"].as_str()), (409, Some("TASK_ALREADY_FINISHED")), "{again}");
}

#[tokio::test]
async fn a_killed_worker_loses_its_lease_and_a_second_worker_completes_the_task_once() {
    let s = Scenario::new(lease_config(), research_workflow(1)).await;
    let client = &s.client;
    register(client, "doomed").await;
    register(client, "rescuer").await;
    let run_id = s.start(stripe()).await;

    let first = poll(client, "doomed", 5).await.expect("first attempt");
    assert_eq!(first.attempt, 1);
    // "doomed" now stops heartbeating; "rescuer" waits for the task to
    // return. The 30 s wait only guards against a hang: the lease is 400 ms.
    let second = poll(client, "rescuer", 30).await.expect("the expired task is handed out again");
    assert_eq!((second.task_id.as_str(), second.attempt), (first.task_id.as_str(), 2));
    assert!(second.lease_token > first.lease_token, "tokens only grow");

    let late = client.workers().complete_task(complete(&first, json!({"summary": "late"}), 1)).await.unwrap_err();
    assert_eq!((late.code(), reason(&late).as_str()), (Code::Aborted, "LEASE_STALE"), "{late:?}");
    let late_beat = client.workers().heartbeat(heartbeat(&first, first.lease_token)).await.unwrap_err();
    assert_eq!(late_beat.code(), Code::Aborted);

    client.workers().complete_task(complete(&second, json!({"summary": "rescued"}), 9)).await.unwrap();
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let research = step(&run, "research");
    assert_eq!(value_from_pb(research.output.as_ref().unwrap()), json!({"summary": "rescued"}));
    assert_eq!(research.attempts, 2);
    let events = trace(client, &run_id).await;
    assert_eq!(events.iter().filter(|e| *e == "step.completed research").count(), 1, "{events:?}");
    assert!(events.contains(&"step.retrying research".to_string()), "{events:?}");
}

#[tokio::test]
async fn a_lease_that_runs_out_while_the_server_is_down_is_swept_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let config = Config { task_lease_ms: LEASE_MS, ..Config::default() };
    let server = TestServer::start_on(database.clone(), config.clone()).await;
    let client = server.client().await;
    let workflow_id = create_json(&server, research_workflow(0)).await;
    register(&client, "w1").await;
    let run_id = start(&client, &workflow_id, stripe()).await.id;
    let task = poll(&client, "w1", 5).await.expect("a task");
    server.stop().await;

    tokio::time::sleep(Duration::from_millis(LEASE_MS + 200)).await;
    let server = TestServer::start_on(database, config).await;
    let client = server.client().await;
    let run = wait_finished(&client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "no retries left: {run:?}");
    assert_eq!(run.error.as_ref().unwrap().code, "LEASE_EXPIRED", "{run:?}");
    assert!(step(&run, "research").error.contains("lease"), "{run:?}");
    let late = client.workers().complete_task(complete(&task, json!({}), 0)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition, "the step is over: {late:?}");
}

#[tokio::test]
async fn stale_tokens_unknown_tasks_and_double_completions_are_refused_and_change_nothing() {
    let (s, run_id) = agent_run(research_workflow(0)).await;
    let client = &s.client;
    let task = poll(client, "w1", 5).await.unwrap();
    let before = trace(client, &run_id).await;
    let mut stale = complete(&task, json!({"summary": "x"}), 1);
    stale.lease_token += 1;
    let refused = client.workers().complete_task(stale).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::Aborted, "LEASE_STALE"));
    let refused = client.workers().heartbeat(heartbeat(&task, task.lease_token + 7)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Aborted);
    let mut unknown = complete(&task, json!({}), 1);
    unknown.task_id = "task_00000000000000000000000000".into();
    let missing = client.workers().complete_task(unknown).await.unwrap_err();
    assert_eq!((missing.code(), reason(&missing).as_str()), (Code::NotFound, "TASK_NOT_FOUND"));
    let fail = pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token + 1,
        error: "boom".into(),
        ..Default::default()
    };
    assert_eq!(client.workers().fail_task(fail).await.unwrap_err().code(), Code::Aborted);
    assert_eq!(trace(client, &run_id).await, before, "nothing was recorded");
    assert_eq!(step(&get_run(client, &run_id).await, "research").status, pb::StepStatus::Running as i32);

    client.workers().complete_task(complete(&task, json!({"summary": "once"}), 4)).await.unwrap();
    let finished = trace(client, &run_id).await;
    let twice = client.workers().complete_task(complete(&task, json!({"summary": "twice"}), 4)).await.unwrap_err();
    assert_eq!((twice.code(), reason(&twice).as_str()), (Code::FailedPrecondition, "TASK_ALREADY_FINISHED"));
    let fail_after = pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        error: "too late".into(),
        ..Default::default()
    };
    assert_eq!(client.workers().fail_task(fail_after).await.unwrap_err().code(), Code::FailedPrecondition);
    assert_eq!(trace(client, &run_id).await, finished, "the second completion changed nothing");
    let run = get_run(client, &run_id).await;
    assert_eq!(value_from_pb(step(&run, "research").output.as_ref().unwrap()), json!({"summary": "once"}));
    assert_eq!(run.cost.unwrap().amount, 4);
}

#[tokio::test]
async fn failures_retry_within_retries_then_fail_the_step() {
    let (s, run_id) = agent_run(research_workflow(1)).await;
    let client = &s.client;
    let fail = |task: &pb::Task| pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        error: "rate limited".into(),
        retryable: true,
        cost: Some(usd(2)),
        error_code: "RATE_LIMITED".into(),
    };
    let first = poll(client, "w1", 5).await.unwrap();
    assert!(client.workers().fail_task(fail(&first)).await.unwrap().into_inner().will_retry);
    let second = poll(client, "w1", 5).await.unwrap();
    assert_eq!(second.attempt, 2);
    assert!(!client.workers().fail_task(fail(&second)).await.unwrap().into_inner().will_retry);
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32);
    assert_eq!(step(&run, "research").error, "RATE_LIMITED: rate limited");
    assert_eq!(run.cost.unwrap().amount, 4, "failed attempts are paid for too");
}

#[tokio::test]
async fn outputs_over_the_cap_or_not_json_fail_the_step_and_end_the_run() {
    let s = Scenario::new(lease_config(), research_workflow(3)).await;
    let client = &s.client;
    register(client, "w1").await;

    let run_id = s.start(stripe()).await;
    let task = poll(client, "w1", 5).await.unwrap();
    let huge = json!({"summary": "x".repeat(weft_server::engine::tasks::MAX_OUTPUT_BYTES)});
    let refused = client.workers().complete_task(complete(&task, huge, 1)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("over the cap"), "{}", refused.message());
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "retries do not apply to a refused output");
    assert_eq!(run.error.as_ref().unwrap().code, "OUTPUT_TOO_LARGE");
    assert!(step(&run, "research").error.contains("over the cap"), "{run:?}");

    let run_id = s.start(stripe()).await;
    let task = poll(client, "w1", 5).await.unwrap();
    let mut nan = complete(&task, json!({}), 0);
    nan.output = Some(prost_types::Value { kind: Some(prost_types::value::Kind::NumberValue(f64::NAN)) });
    let refused = client.workers().complete_task(nan).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let run = wait_finished(client, &run_id, 5).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32);
    assert!(step(&run, "research").error.contains("not JSON"), "{run:?}");
}

#[tokio::test]
async fn cancel_reaches_the_worker_through_its_next_heartbeat() {
    let (s, run_id) = agent_run(research_workflow(0)).await;
    let client = &s.client;
    let task = poll(client, "w1", 5).await.unwrap();
    let request = pb::CancelRunRequest { run_id: run_id.clone(), reason: "not needed".into() };
    client.runs().cancel_run(request).await.unwrap();

    let beat = client.workers().heartbeat(heartbeat(&task, task.lease_token)).await.unwrap().into_inner();
    assert!(beat.cancelled, "{beat:?}");
    let events = trace(client, &run_id).await;
    let refused = client.workers().complete_task(complete(&task, json!({"summary": "x"}), 1)).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::FailedPrecondition, "TASK_CANCELLED"));
    let run = get_run(client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Cancelled as i32);
    assert_eq!(step(&run, "research").status, pb::StepStatus::Cancelled as i32);
    assert_eq!(trace(client, &run_id).await, events, "the refused completion changed nothing");
}

#[tokio::test]
async fn a_waiting_poll_wakes_as_soon_as_a_run_starts() {
    let s = Scenario::new(lease_config(), research_workflow(0)).await;
    let client = &s.client;
    register(client, "w1").await;
    assert!(poll(client, "w1", 1).await.is_none(), "nothing queued: the poll times out empty");

    // Each poll may wait a long time; it must be woken by the run's commit
    // long before that. Waiting half of it only guards against a hang on a
    // loaded machine, it is no bound on how fast the wake-up is.
    const POLL_WAIT_SECONDS: u32 = 60;
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let waiting = tokio::spawn({
            let client = client.clone();
            async move {
                let task = poll(&client, "w1", POLL_WAIT_SECONDS).await;
                (task, Instant::now())
            }
        });
        // Let the poll park first, so that the start has to wake it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let run_id = s.start(stripe()).await;
        let woken = tokio::time::timeout(Duration::from_secs(u64::from(POLL_WAIT_SECONDS / 2)), waiting).await;
        let (task, received) = woken.expect("the poll must wake on the commit, not at the end of its wait").unwrap();
        assert_eq!(task.expect("woken with the task").run_id, run_id);
        latencies.push(received.duration_since(started));
    }
    latencies.sort();
    eprintln!("start-to-received latencies: {latencies:?}");
}

#[tokio::test]
async fn bad_worker_requests_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), lease_config()).await;
    let client = server.client().await;
    let mut workers = client.workers();
    let invalid = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let violations = status.get_details_bad_request().map(|b| b.field_violations).unwrap_or_default();
        assert!(violations.iter().any(|v| v.field.starts_with(field)), "{field}: {status:?}");
    };

    let register = |worker_id: &str, agents: &[&str]| pb::RegisterWorkerRequest {
        worker_id: worker_id.into(),
        agents: agents.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    invalid(workers.register_worker(register("w1", &[])).await.unwrap_err(), "agents");
    invalid(workers.register_worker(register("w1", &[" "])).await.unwrap_err(), "agents[0]");
    invalid(workers.register_worker(register("bad id!", &["a"])).await.unwrap_err(), "worker_id");
    let mut hinted = register("w1", &["a"]);
    hinted.cost_hints = vec![pb::AgentCostHint { agent: "a".into(), min_cost: Some(usd(5)), max_cost: Some(usd(1)) }];
    invalid(workers.register_worker(hinted.clone()).await.unwrap_err(), "cost_hints[0].max_cost");
    hinted.cost_hints = vec![pb::AgentCostHint { agent: "other".into(), min_cost: None, max_cost: None }];
    invalid(workers.register_worker(hinted.clone()).await.unwrap_err(), "cost_hints[0].agent");
    hinted.cost_hints = vec![pb::AgentCostHint { agent: "a".into(), min_cost: Some(usd(-1)), max_cost: None }];
    invalid(workers.register_worker(hinted).await.unwrap_err(), "cost_hints[0].min_cost");
    let assigned = workers.register_worker(register("", &["a"])).await.unwrap().into_inner().worker_id;
    assert!(assigned.starts_with("wkr_"), "{assigned}");

    let poll = |worker_id: &str, agents: &[&str]| pb::PollTaskRequest {
        worker_id: worker_id.into(),
        agents: agents.iter().map(|a| a.to_string()).collect(),
        wait_seconds: 1,
    };
    invalid(workers.poll_task(poll("", &[])).await.unwrap_err(), "worker_id");
    let unknown = workers.poll_task(poll("nobody", &[])).await.unwrap_err();
    assert_eq!((unknown.code(), reason(&unknown).as_str()), (Code::NotFound, "WORKER_NOT_FOUND"));
    invalid(workers.poll_task(poll(&assigned, &["b"])).await.unwrap_err(), "agents");

    let beat = |task_id: &str, token: u64, cost: i64| pb::HeartbeatRequest {
        task_id: task_id.into(),
        lease_token: token,
        cost_so_far: Some(usd(cost)),
    };
    invalid(workers.heartbeat(beat("", 1, 0)).await.unwrap_err(), "task_id");
    invalid(workers.heartbeat(beat("task_x", 0, 0)).await.unwrap_err(), "lease_token");
    invalid(workers.heartbeat(beat("task_x", 1, -5)).await.unwrap_err(), "cost_so_far");
    assert_eq!(workers.heartbeat(beat("task_x", 1, 0)).await.unwrap_err().code(), Code::NotFound);

    let done = |task_id: &str, token: u64| pb::CompleteTaskRequest {
        task_id: task_id.into(),
        lease_token: token,
        ..Default::default()
    };
    invalid(workers.complete_task(done("", 1)).await.unwrap_err(), "task_id");
    invalid(workers.complete_task(done("task_x", 0)).await.unwrap_err(), "lease_token");
    let mut euros = done("task_x", 1);
    euros.cost = Some(pb::Money { amount: 1, currency: "eur".into() });
    invalid(workers.complete_task(euros).await.unwrap_err(), "cost");
    let mut writes = done("task_x", 1);
    writes.state_writes = struct_to_pb(&json!({"k": 1}));
    let refused = workers.complete_task(writes).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "an unknown task is told so, whatever it would write");
    let mut not_json = done("task_x", 1);
    not_json.state_writes = Some(prost_types::Struct {
        fields: [("k".to_string(), prost_types::Value { kind: Some(prost_types::value::Kind::NumberValue(f64::NAN)) })]
            .into_iter()
            .collect(),
    });
    invalid(workers.complete_task(not_json).await.unwrap_err(), "state_writes");

    let fail = |error: &str, code: &str| pb::FailTaskRequest {
        task_id: "task_x".into(),
        lease_token: 1,
        error: error.into(),
        error_code: code.into(),
        ..Default::default()
    };
    invalid(workers.fail_task(fail("", "")).await.unwrap_err(), "error");
    invalid(workers.fail_task(fail("boom", "not snake")).await.unwrap_err(), "error_code");
    assert_eq!(workers.fail_task(fail("boom", "")).await.unwrap_err().code(), Code::NotFound);

    let list = pb::ListWorkersRequest { page_token: "garbage".into(), ..Default::default() };
    invalid(workers.list_workers(list).await.unwrap_err(), "page_token");
    let page = workers.list_workers(pb::ListWorkersRequest { page_size: 1, ..Default::default() }).await.unwrap();
    let page = page.into_inner();
    assert_eq!(page.workers.len(), 1);
    assert!(page.next_page_token.is_empty(), "one worker registered, one page");
}

/// A lease far longer than the step timeouts below, so only the step's
/// `timeout` can end an attempt that keeps heartbeating.
const LONG_LEASE_MS: u64 = 10_000;

/// One agent step `research` with `timeout: "1s"` and `retries`.
fn timed_workflow(retries: u32) -> Value {
    json!({
        "name": "timed-research",
        "steps": [{"id": "research", "type": "agent", "agent": "researcher", "timeout": "1s", "retries": retries,
                   "task": "Research {{ input.company }}"}]
    })
}

async fn register_researcher(client: &Weft, worker_id: &str) {
    register_with(client, pb::RegisterWorkerRequest { concurrency: 1, ..register_request(worker_id, &["researcher"]) })
        .await;
}

/// `timed_workflow(retries)` on a server with long leases, worker "w1"
/// registered, and a run started for Stripe.
async fn timed_run(retries: u32) -> (Scenario, String) {
    let config = Config { task_lease_ms: LONG_LEASE_MS, ..Config::default() };
    let s = Scenario::new(config, timed_workflow(retries)).await;
    register_researcher(&s.client, "w1").await;
    let run_id = s.start(stripe()).await;
    (s, run_id)
}

fn ms(time: &Option<prost_types::Timestamp>) -> i64 {
    let time = time.as_ref().expect("a timestamp");
    time.seconds * 1000 + i64::from(time.nanos) / 1_000_000
}

/// Heartbeats `task` every 300 ms until a heartbeat answers `cancelled`
/// (giving up after 30 s, a guard against a hang): no heartbeat extends the
/// lease past the task's deadline. Returns how long after the poll answered
/// that took.
async fn heartbeat_until_cancelled(client: &Weft, task: &pb::Task, polled: Instant) -> Duration {
    let deadline = ms(&task.deadline);
    assert!(ms(&task.lease_expire_time) <= deadline, "the first lease already ends by the deadline: {task:?}");
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let beat = client.workers().heartbeat(heartbeat(task, task.lease_token)).await.unwrap().into_inner();
        if beat.cancelled {
            return polled.elapsed();
        }
        assert!(ms(&beat.lease_expire_time) <= deadline, "a heartbeat extended the lease past the deadline: {beat:?}");
        assert!(polled.elapsed() < Duration::from_secs(30), "the 1 s step timeout never cancelled the attempt");
    }
}

#[tokio::test]
async fn a_step_timeout_ends_a_heartbeating_attempt_and_the_retry_gets_a_fresh_deadline() {
    let (s, run_id) = timed_run(1).await;
    let client = &s.client;

    let first = poll(client, "w1", 5).await.expect("attempt 1");
    let polled = Instant::now();
    assert_eq!(first.attempt, 1);
    let deadline = ms(&first.deadline);
    assert_eq!(deadline, ms(&first.lease_expire_time), "the lease ends at the step timeout's deadline: {first:?}");
    let took = heartbeat_until_cancelled(client, &first, polled).await;
    assert!(took >= Duration::from_millis(600), "cancelled before its 1 s were up: {took:?}");

    // The timed-out lease stays refused, saying why.
    let beat = client.workers().heartbeat(heartbeat(&first, first.lease_token)).await.unwrap().into_inner();
    assert!(beat.cancelled, "later heartbeats keep answering cancelled: {beat:?}");
    let late = client.workers().complete_task(complete(&first, json!({"summary": "late"}), 1)).await.unwrap_err();
    assert_eq!((late.code(), reason(&late).as_str()), (Code::FailedPrecondition, "STEP_TIMEOUT"), "{late:?}");
    assert!(late.message().contains("timeout of 1s"), "{late:?}");

    let second = poll(client, "w1", 10).await.expect("attempt 2 is offered");
    assert_eq!((second.task_id.as_str(), second.attempt), (first.task_id.as_str(), 2));
    assert!(ms(&second.deadline) >= deadline + 500, "a fresh deadline: {second:?} after {first:?}");
    client.workers().complete_task(complete(&second, json!({"summary": "in time"}), 2)).await.unwrap();
    let run = wait_finished(client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let research = step(&run, "research");
    assert_eq!(
        (research.attempts, value_from_pb(research.output.as_ref().unwrap())),
        (2, json!({"summary": "in time"}))
    );
    let events = trace(client, &run_id).await;
    assert!(events.contains(&"step.retrying research".to_string()), "{events:?}");
}

#[tokio::test]
async fn a_step_timeout_with_no_retries_fails_the_run_with_step_timeout() {
    let (s, run_id) = timed_run(0).await;
    let client = &s.client;

    let task = poll(client, "w1", 5).await.expect("a task");
    heartbeat_until_cancelled(client, &task, Instant::now()).await;
    let run = wait_finished(client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    assert_eq!(run.error.as_ref().unwrap().code, "STEP_TIMEOUT", "{run:?}");
    assert_eq!(step(&run, "research").error, "attempt 1 passed the step's timeout of 1s");
    let beat = client.workers().heartbeat(heartbeat(&task, task.lease_token)).await.unwrap().into_inner();
    assert!(beat.cancelled, "{beat:?}");
}

#[tokio::test]
async fn a_step_deadline_that_passes_while_the_server_is_down_fails_the_attempt_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    // A lease of a minute: only the stored step deadline can end it soon.
    let config = Config { task_lease_ms: 60_000, ..Config::default() };
    let server = TestServer::start_on(database.clone(), config.clone()).await;
    let client = server.client().await;
    let workflow_id = create_json(&server, timed_workflow(0)).await;
    register_researcher(&client, "w1").await;
    let run_id = start(&client, &workflow_id, stripe()).await.id;
    poll(&client, "w1", 5).await.expect("a task");
    server.stop().await;

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let server = TestServer::start_on(database, config).await;
    let client = server.client().await;
    let run = wait_finished(&client, &run_id, 15).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    assert_eq!(run.error.as_ref().unwrap().code, "STEP_TIMEOUT", "{run:?}");
}
