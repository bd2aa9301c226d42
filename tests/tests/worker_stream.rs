//! WorkerService.ConnectWorker end to end over real sockets: tasks pushed up
//! to the credits granted and no more; reports answered on the stream with
//! the errors their unary RPCs answer; a bad report answered alone while
//! the stream goes on; protocol mistakes ending the stream with
//! INVALID_ARGUMENT naming the field and changing nothing; a dropped stream
//! losing no task; drain; the Rust SDK worker running a 10-step chain and a
//! fan-out over the stream; and tenants kept apart.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::worker::{Outcome, Worker};
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::model::KeyScope;
use weft_tests::auth::{make_key, start_requiring_keys};
use weft_tests::runs::{step, wait_finished};
use weft_tests::workers::{complete_request, poll, register_request, usd};
use weft_tests::workflows::{create_json, create_pb};
use weft_tests::{TestServer, chain_workflow, runs};

use pb::report_answer::Answer;
use pb::worker_report::Report;

/// How long a test waits to be sure nothing more comes.
const QUIET: Duration = Duration::from_millis(600);

/// One side of a worker stream, as a test drives it.
struct Stream {
    send: mpsc::Sender<pb::ConnectWorkerRequest>,
    receive: tonic::Streaming<pb::ConnectWorkerResponse>,
    welcome: pb::RegisterWorkerResponse,
    tasks: VecDeque<pb::Task>,
    answers: VecDeque<pb::ReportAnswer>,
    /// How many messages brought tasks, for batching checks.
    task_messages: usize,
}

/// The first message of a stream: `hello` for `worker_id` serving
/// "worker", concurrency 4, and `credits`.
fn hello(worker_id: &str, credits: u32) -> pb::ConnectWorkerRequest {
    pb::ConnectWorkerRequest { hello: Some(register_request(worker_id, &["worker"])), credits, ..Default::default() }
}

/// Opens a stream with `first`; the error when the call or its first
/// answer is refused.
async fn open(client: &Weft, first: pb::ConnectWorkerRequest) -> Result<Stream, tonic::Status> {
    let (send, outbound) = mpsc::channel(16);
    send.send(first).await.unwrap();
    let mut receive = client.workers().connect_worker(ReceiverStream::new(outbound)).await?.into_inner();
    let message = tokio::time::timeout(Duration::from_secs(15), receive.message())
        .await
        .expect("the welcome within 15 s")?
        .expect("a first message");
    let welcome = message.welcome.clone().expect("the first message carries the welcome");
    let mut stream =
        Stream { send, receive, welcome, tasks: VecDeque::new(), answers: VecDeque::new(), task_messages: 0 };
    stream.take(message);
    Ok(stream)
}

async fn connect(client: &Weft, worker_id: &str, credits: u32) -> Stream {
    open(client, hello(worker_id, credits)).await.expect("the stream opens")
}

impl Stream {
    fn take(&mut self, message: pb::ConnectWorkerResponse) {
        assert!(message.welcome.is_none() || self.tasks.is_empty(), "the welcome comes once, first");
        if !message.tasks.is_empty() {
            self.task_messages += 1;
        }
        self.tasks.extend(message.tasks);
        self.answers.extend(message.answers);
    }

    async fn send(&self, message: pb::ConnectWorkerRequest) {
        self.send.send(message).await.expect("the stream is open");
    }

    async fn grant(&self, credits: u32) {
        self.send(pb::ConnectWorkerRequest { credits, ..Default::default() }).await;
    }

    async fn report(&self, reports: Vec<pb::WorkerReport>) {
        self.send(pb::ConnectWorkerRequest { reports, ..Default::default() }).await;
    }

    /// The next message within `wait`: `Ok(None)` when none came or the
    /// stream ended with OK; the status when it ended with one.
    async fn next(&mut self, wait: Duration) -> Result<Option<()>, tonic::Status> {
        match tokio::time::timeout(wait, self.receive.message()).await {
            Err(_) => Ok(None),
            Ok(Ok(Some(message))) => {
                self.take(message);
                Ok(Some(()))
            }
            Ok(Ok(None)) => Ok(None),
            Ok(Err(status)) => Err(status),
        }
    }

    /// `n` pushed tasks, which must come within 10 s.
    async fn tasks(&mut self, n: usize) -> Vec<pb::Task> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.tasks.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "{n} tasks within 10 s; got {}", self.tasks.len());
            self.next(left).await.expect("the stream goes on");
        }
        self.tasks.drain(..n).collect()
    }

    /// Asserts no task is pushed for a while.
    async fn no_task(&mut self) {
        let until = tokio::time::Instant::now() + QUIET;
        while tokio::time::Instant::now() < until {
            self.next(until - tokio::time::Instant::now()).await.expect("the stream goes on");
        }
        assert!(self.tasks.is_empty(), "no task was to be pushed: {:?}", self.tasks);
    }

    /// The answer to report `id`, which must come within 10 s.
    async fn answer(&mut self, id: u64) -> pb::ReportAnswer {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.answers.iter().position(|a| a.report_id == id) {
                return self.answers.remove(i).unwrap();
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "the answer to report {id} within 10 s");
            self.next(left).await.expect("the stream goes on");
        }
    }

    /// How the stream ends (after what is still to come): the status it
    /// ends with, or `None` for OK.
    async fn end(&mut self) -> Option<tonic::Status> {
        loop {
            match tokio::time::timeout(Duration::from_secs(15), self.receive.message()).await.expect("the end") {
                Ok(Some(message)) => self.take(message),
                Ok(None) => return None,
                Err(status) => return Some(status),
            }
        }
    }
}

fn report(id: u64, report: Report) -> pb::WorkerReport {
    pb::WorkerReport { report_id: id, report: Some(report) }
}

fn complete(task: &pb::Task, output: serde_json::Value) -> Report {
    Report::Complete(complete_request(task, &output, Some(usd(2))))
}

fn heartbeat(task: &pb::Task, token: u64) -> Report {
    Report::Heartbeat(pb::HeartbeatRequest { task_id: task.task_id.clone(), lease_token: token, cost_so_far: None })
}

/// A refused report's error as a client reads it: a tonic status with the
/// details.
fn refusal(answer: &pb::ReportAnswer) -> tonic::Status {
    let error = answer.error.clone().unwrap_or_else(|| panic!("report {} was refused: {answer:?}", answer.report_id));
    assert!(answer.answer.is_none(), "a refused report has no answer");
    tonic::Status::with_details(Code::from(error.code), error.message.clone(), Bytes::from(error.encode_to_vec()))
}

fn reason(status: &tonic::Status) -> String {
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

fn field(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    details.bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone())).unwrap_or_default()
}

/// A server with a one-step workflow of agent "worker" and `runs` runs of
/// it started.
async fn one_step_runs(dir: &std::path::Path, runs: usize) -> (TestServer, Weft, String, Vec<String>) {
    let server = TestServer::start_on(dir.join("weft.db"), Config::default()).await;
    let client = server.client().await;
    let workflow = create_pb(&client, chain_workflow("one-step", 1)).await.id;
    let mut started = Vec::new();
    for i in 0..runs {
        started.push(runs::start(&client, &workflow, json!({"company": format!("c{i}")})).await.id);
    }
    (server, client, workflow, started)
}

async fn registered_workers(client: &Weft) -> Vec<String> {
    let listed = client.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
    listed.workers.into_iter().map(|w| w.worker_id).collect()
}

#[tokio::test]
async fn tasks_are_pushed_up_to_the_credits_granted_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, workflow, _) = one_step_runs(dir.path(), 3).await;
    let mut stream = connect(&client, "w1", 2).await;
    assert_eq!(stream.welcome.worker_id, "w1");
    assert_eq!(stream.welcome.lease_seconds, 60);
    let first = stream.tasks(2).await;
    assert_ne!(first[0].task_id, first[1].task_id);
    assert!(first.iter().all(|t| t.lease_token >= 1 && t.agent == "worker" && t.task.starts_with("Step 0 for c")));
    stream.no_task().await;

    stream.grant(1).await;
    assert_eq!(stream.tasks(1).await.len(), 1, "one more credit, one more task");
    // A credit waiting when a run starts takes its task in the commit that
    // queues it.
    stream.grant(3).await;
    stream.no_task().await;
    for i in 0..3 {
        runs::start(&client, &workflow, json!({"company": format!("later{i}")})).await;
    }
    let later = stream.tasks(3).await;
    assert!(later.iter().all(|t| t.task.starts_with("Step 0 for later")), "{later:?}");
    runs::start(&client, &workflow, json!({"company": "beyond"})).await;
    stream.no_task().await;
    assert!(poll(&client, "w1", 0).await.is_some(), "the task beyond the credits stayed queued");
}

#[tokio::test]
async fn tasks_ready_together_come_in_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, _, _) = one_step_runs(dir.path(), 4).await;
    // Four claims made at once land in one commit and go out together.
    let mut stream = connect(&client, "w1", 4).await;
    stream.tasks(4).await;
    assert!(stream.task_messages <= 2, "4 tasks ready at once came in {} messages", stream.task_messages);
}

#[tokio::test]
async fn reports_are_answered_on_the_stream_with_the_errors_of_the_unary_rpcs() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let definition = json!({
        "name": "guarded",
        "policy": {"denyTools": ["shell_exec"]},
        "steps": [{"id": "s0", "type": "agent", "agent": "worker", "task": "go", "retries": 1}]
    });
    let workflow = create_json(&server, definition).await;
    let run_a = runs::start(&client, &workflow, json!({})).await.id;
    let run_b = runs::start(&client, &workflow, json!({})).await.id;
    let mut stream = connect(&client, "w1", 2).await;
    let tasks = stream.tasks(2).await;
    let (a, b) = if tasks[0].run_id == run_a { (&tasks[0], &tasks[1]) } else { (&tasks[1], &tasks[0]) };

    let deny = pb::CheckToolUseRequest {
        task_id: a.task_id.clone(),
        lease_token: a.lease_token,
        tool: "shell_exec".into(),
        ..Default::default()
    };
    let blank_tool = pb::CheckToolUseRequest { tool: " ".into(), ..deny.clone() };
    let no_error = pb::FailTaskRequest { task_id: b.task_id.clone(), lease_token: b.lease_token, ..Default::default() };
    stream
        .report(vec![
            report(1, heartbeat(a, a.lease_token)),
            report(2, heartbeat(a, a.lease_token + 7)),
            report(3, Report::CheckToolUse(deny)),
            report(4, Report::CheckToolUse(blank_tool.clone())),
            pb::WorkerReport { report_id: 5, report: None },
            report(6, Report::Fail(no_error.clone())),
        ])
        .await;

    let Some(Answer::Heartbeat(beat)) = stream.answer(1).await.answer else { panic!("a heartbeat answer") };
    assert!(!beat.cancelled && !beat.paused && beat.lease_expire_time.is_some());
    let stale = refusal(&stream.answer(2).await);
    let stale_beat =
        pb::HeartbeatRequest { task_id: a.task_id.clone(), lease_token: a.lease_token + 7, cost_so_far: None };
    let unary = client.workers().heartbeat(stale_beat).await.unwrap_err();
    assert_eq!((stale.code(), reason(&stale)), (Code::Aborted, "LEASE_STALE".to_owned()));
    assert_eq!((stale.code(), stale.message()), (unary.code(), unary.message()), "the unary RPC's refusal");
    let Some(Answer::CheckToolUse(denied)) = stream.answer(3).await.answer else { panic!("a tool answer") };
    assert_eq!(denied.decision, pb::ToolDecision::Deny as i32);
    assert!(denied.reason.contains("denyTools"), "{}", denied.reason);
    let blank = refusal(&stream.answer(4).await);
    assert_eq!((blank.code(), field(&blank)), (Code::InvalidArgument, "tool".to_owned()));
    let unary = client.workers().check_tool_use(blank_tool).await.unwrap_err();
    assert_eq!(blank.message(), unary.message());
    let empty = refusal(&stream.answer(5).await);
    assert_eq!((empty.code(), field(&empty)), (Code::InvalidArgument, "report".to_owned()));
    let missing = refusal(&stream.answer(6).await);
    assert_eq!((missing.code(), field(&missing)), (Code::InvalidArgument, "error".to_owned()));

    // The stream goes on after the refusals: a completion, its repeat, a
    // retryable failure.
    stream.report(vec![report(7, complete(a, json!({"ok": 1})))]).await;
    assert!(matches!(stream.answer(7).await.answer, Some(Answer::Complete(_))));
    stream.report(vec![report(8, complete(a, json!({"ok": 2})))]).await;
    let repeat = refusal(&stream.answer(8).await);
    assert_eq!((repeat.code(), reason(&repeat)), (Code::FailedPrecondition, "TASK_ALREADY_FINISHED".to_owned()));
    let fail = pb::FailTaskRequest { error: "flaky".into(), retryable: true, ..no_error };
    stream.report(vec![report(9, Report::Fail(fail))]).await;
    let Some(Answer::Fail(failed)) = stream.answer(9).await.answer else { panic!("a fail answer") };
    assert!(failed.will_retry, "retries: 1 queues a second attempt");

    let done = wait_finished(&client, &run_a, 5).await;
    assert_eq!(done.status, pb::RunStatus::Completed as i32);
    assert_eq!(step(&done, "s0").cost.as_ref().unwrap().amount, 2);
    // The retry of b goes to the stream's free credit... none left: grant one.
    stream.grant(1).await;
    let retry = stream.tasks(1).await.remove(0);
    assert_eq!((retry.run_id.as_str(), retry.attempt), (run_b.as_str(), 2));
}

#[tokio::test]
async fn protocol_mistakes_end_the_stream_with_invalid_argument_naming_the_field_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, _, _) = one_step_runs(dir.path(), 1).await;

    // No hello: the call itself is refused, and no worker is registered.
    let refused = open(&client, pb::ConnectWorkerRequest { credits: 1, ..Default::default() }).await.err().unwrap();
    assert_eq!((refused.code(), field(&refused)), (Code::InvalidArgument, "hello".to_owned()), "{refused:?}");
    let report_first = pb::ConnectWorkerRequest {
        reports: vec![pb::WorkerReport { report_id: 1, report: None }],
        ..Default::default()
    };
    let refused = open(&client, report_first).await.err().unwrap();
    assert_eq!((refused.code(), field(&refused)), (Code::InvalidArgument, "hello".to_owned()));
    assert!(refused.message().contains("before any report"), "{}", refused.message());
    // More credits than the registered concurrency (4) on the hello.
    let refused = open(&client, hello("w1", 5)).await.err().unwrap();
    assert_eq!((refused.code(), field(&refused)), (Code::InvalidArgument, "credits".to_owned()), "{refused:?}");
    // A bad hello is RegisterWorker's refusal.
    let mut bad = hello("w1", 1);
    bad.hello.as_mut().unwrap().agents.clear();
    let refused = open(&client, bad).await.err().unwrap();
    assert_eq!((refused.code(), field(&refused)), (Code::InvalidArgument, "agents".to_owned()));
    assert!(registered_workers(&client).await.is_empty(), "no refused hello registered a worker");

    // After the hello: too many credits at once, a second hello, too many
    // reports. Each ends its stream, and the message changed nothing.
    let mut stream = connect(&client, "w1", 0).await;
    stream.grant(5).await;
    let ended = stream.end().await.expect("an error");
    assert_eq!((ended.code(), field(&ended)), (Code::InvalidArgument, "credits".to_owned()), "{ended:?}");
    assert!(ended.message().contains("limit of 4"), "{}", ended.message());
    assert!(stream.tasks.is_empty(), "nothing was pushed for refused credits");

    let mut stream = connect(&client, "w1", 0).await;
    stream.send(hello("w1", 1)).await;
    let ended = stream.end().await.expect("an error");
    assert_eq!((ended.code(), field(&ended)), (Code::InvalidArgument, "hello".to_owned()));
    assert!(stream.tasks.is_empty());

    let mut stream = connect(&client, "w2", 1).await;
    let task = stream.tasks(1).await.remove(0);
    let reports: Vec<_> = (0..257).map(|i| report(i, complete(&task, json!({"i": i})))).collect();
    stream.report(reports).await;
    let ended = stream.end().await.expect("an error");
    assert_eq!((ended.code(), field(&ended)), (Code::InvalidArgument, "reports".to_owned()));
    assert!(ended.message().contains("at most 256"), "{}", ended.message());
    assert!(stream.answers.is_empty(), "no report of the refused message was answered");
    // The task is still open under its lease: a completion over the unary
    // RPC is taken.
    client.workers().complete_task(complete_request(&task, &json!({}), None)).await.expect("still open");
}

#[tokio::test]
async fn a_stream_sending_no_hello_within_ten_seconds_ends_naming_hello() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let (_send, outbound) = mpsc::channel::<pb::ConnectWorkerRequest>(1);
    let started = std::time::Instant::now();
    let mut workers = client.workers();
    let call = workers.connect_worker(ReceiverStream::new(outbound));
    let refused = match tokio::time::timeout(Duration::from_secs(20), call).await.expect("an answer within 20 s") {
        Err(status) => status,
        Ok(response) => response.into_inner().message().await.expect_err("the stream ends with an error"),
    };
    assert_eq!((refused.code(), field(&refused)), (Code::InvalidArgument, "hello".to_owned()), "{refused:?}");
    assert!(started.elapsed() >= Duration::from_secs(9), "after the 10 s bound: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_dropped_stream_loses_no_task_and_its_worker_completes_a_pushed_one_after_reconnecting() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, workflow, first_run) = one_step_runs(dir.path(), 1).await;
    // Four claims outstanding, one task there: three claims still wait in
    // the writer when the stream goes.
    let mut a = connect(&client, "wa", 4).await;
    let pushed = a.tasks(1).await.remove(0);
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut later = Vec::new();
    for i in 0..3 {
        later.push(runs::start(&client, &workflow, json!({"company": format!("after{i}")})).await.id);
    }
    // None of them went to the dropped stream's claims: another worker gets
    // all three at once, long before a lease could have expired.
    let mut b = connect(&client, "wb", 4).await;
    let taken = b.tasks(3).await;
    let mut runs_taken: Vec<_> = taken.iter().map(|t| t.run_id.clone()).collect();
    runs_taken.sort();
    later.sort();
    assert_eq!(runs_taken, later);
    b.no_task().await;

    // The pushed task's lease stayed with worker wa: reconnected with the
    // same id, it heartbeats and completes it with its token.
    let mut a = connect(&client, "wa", 0).await;
    a.report(vec![report(1, heartbeat(&pushed, pushed.lease_token))]).await;
    assert!(matches!(a.answer(1).await.answer, Some(Answer::Heartbeat(ref h)) if !h.cancelled));
    a.report(vec![report(2, complete(&pushed, json!({"by": "wa"})))]).await;
    assert!(a.answer(2).await.error.is_none());
    let run = wait_finished(&client, &first_run[0], 5).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32);
    let reports = taken.iter().enumerate().map(|(i, t)| report(10 + i as u64, complete(t, json!({})))).collect();
    b.report(reports).await;
    for id in 10..13 {
        assert!(b.answer(id).await.error.is_none());
    }
    for run_id in &later {
        assert_eq!(wait_finished(&client, run_id, 5).await.status, pb::RunStatus::Completed as i32);
    }
}

#[tokio::test]
async fn drain_stops_the_pushing_answers_the_reports_and_the_stream_ends_ok_after_the_half_close() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, workflow, _) = one_step_runs(dir.path(), 1).await;
    let mut stream = connect(&client, "w1", 2).await;
    let task = stream.tasks(1).await.remove(0);
    // Credits sent with the drain are forgotten.
    stream.send(pb::ConnectWorkerRequest { drain: true, credits: 3, ..Default::default() }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = runs::start(&client, &workflow, json!({"company": "after-drain"})).await.id;
    stream.no_task().await;
    stream.report(vec![report(1, complete(&task, json!({})))]).await;
    assert!(stream.answer(1).await.error.is_none(), "a draining stream still answers reports");
    let Stream { send, mut receive, .. } = stream;
    drop(send);
    let end = tokio::time::timeout(Duration::from_secs(10), receive.message()).await.expect("the end");
    assert!(matches!(end, Ok(None)), "the stream ends with OK: {end:?}");
    let next = poll(&client, "w1", 2).await.expect("the run started after the drain waits for a worker");
    assert_eq!(next.run_id, waiting);
}

#[tokio::test]
async fn a_stream_never_receives_another_tenants_task() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let key = |tenant: &'static str, scope| {
        let server = &server;
        async move { server.client().await.with_api_key(&make_key(server, tenant, scope).await).unwrap() }
    };
    let (admin_a, worker_a) = (key("tenant-a", KeyScope::Admin).await, key("tenant-a", KeyScope::Worker).await);
    let (admin_b, worker_b) = (key("tenant-b", KeyScope::Admin).await, key("tenant-b", KeyScope::Worker).await);
    let workflow_b = create_pb(&admin_b, chain_workflow("same-name", 1)).await.id;
    create_pb(&admin_a, chain_workflow("same-name", 1)).await;
    // The same worker id and agent in both tenants.
    let mut a = connect(&worker_a, "same-worker", 4).await;
    for i in 0..2 {
        runs::start(&admin_b, &workflow_b, json!({"company": format!("b{i}")})).await;
    }
    let mut b = connect(&worker_b, "same-worker", 4).await;
    let tasks_b = b.tasks(2).await;
    a.no_task().await;
    // Tenant A's stream cannot report on tenant B's task either.
    a.report(vec![report(1, complete(&tasks_b[0], json!({"stolen": true})))]).await;
    let refused = refusal(&a.answer(1).await);
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    b.report(vec![report(1, complete(&tasks_b[0], json!({})))]).await;
    assert!(b.answer(1).await.error.is_none(), "B's completion is taken: A's changed nothing");
}

/// Runs an SDK worker serving "worker" (adding one to `n`) over the stream
/// until the returned sender is used.
fn sdk_worker(client: &Weft, concurrency: usize) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(client)
        .id("sdk-stream")
        .agent("worker", |task| async move {
            let n = task.input().get("n").and_then(|n| n.as_i64()).unwrap_or(0);
            Ok(Outcome::new(json!({"n": n + 1, "step": task.task().step_id})))
        })
        .concurrency(concurrency);
    let running = tokio::spawn(async move {
        worker.run(async move { drop(stopped.await) }).await.expect("the worker runs");
    });
    (stop, running)
}

#[tokio::test]
async fn the_sdk_worker_runs_a_10_step_chain_and_a_fan_out_over_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let steps: Vec<_> = (0..10)
        .map(|i| {
            let mut step =
                json!({"id": format!("s{i}"), "type": "agent", "agent": "worker", "task": format!("step {i}")});
            if i > 0 {
                step["dependsOn"] = json!([format!("s{}", i - 1)]);
                step["inputMap"] = json!({"n": format!("$.s{}.output.n", i - 1)});
            }
            step
        })
        .collect();
    let chain = create_json(&server, json!({"name": "chain", "steps": steps})).await;
    let fan_out = create_json(
        &server,
        json!({"name": "fan-out", "steps": [
            {"id": "each", "type": "map", "over": "$.input.xs", "as": "x", "concurrency": 100,
             "step": {"id": "one", "type": "agent", "agent": "worker", "task": "one", "inputMap": {"n": "$.x"}}},
            {"id": "join", "type": "transform", "dependsOn": ["each"], "output": {"all": "$.each.output"}}
        ]}),
    )
    .await;
    let (stop, running) = sdk_worker(&client, 16);

    let run = runs::start(&client, &chain, json!({})).await.id;
    let done = wait_finished(&client, &run, 20).await;
    assert_eq!(done.status, pb::RunStatus::Completed as i32, "{done:?}");
    assert_eq!(weft_tests::runs::json_of(&step(&done, "s9").output)["n"], json!(10), "ten steps, each adding one");

    let xs: Vec<i64> = (0..100).collect();
    let run = runs::start(&client, &fan_out, json!({"xs": xs})).await.id;
    let done = wait_finished(&client, &run, 30).await;
    assert_eq!(done.status, pb::RunStatus::Completed as i32, "{done:?}");
    let all = weft_tests::runs::json_of(&step(&done, "join").output)["all"].clone();
    let ns: Vec<i64> = all.as_array().expect("the map's outputs").iter().map(|o| o["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, (1..=100).collect::<Vec<_>>(), "in input order, each item done once");

    let workers = client.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
    assert_eq!(workers.workers.len(), 1, "one registration: the stream's hello");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the worker stops").unwrap();
}

/// gRPC-web has no client streaming: its one request message is the whole
/// stream (a hello, then the half-close that drains), answered with the
/// welcome and OK.
#[tokio::test]
async fn over_grpc_web_the_stream_is_one_message_each_way() {
    use weft_tests::http1::{grpc_frame, grpc_web_frames, request};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let body = grpc_frame(&hello("web-worker", 1).encode_to_vec());
    let headers = [("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")];
    let response = request(server.addr, "POST", "/weft.v1.WorkerService/ConnectWorker", &headers, &body).await.unwrap();
    assert_eq!(response.status, 200);
    let frames = grpc_web_frames(&response.body);
    let welcome = pb::ConnectWorkerResponse::decode(frames[0].1.as_slice()).unwrap().welcome.expect("the welcome");
    assert_eq!(welcome.worker_id, "web-worker");
    let trailers = frames.last().unwrap();
    assert_eq!(trailers.0, 0x80);
    assert!(
        String::from_utf8_lossy(&trailers.1).contains("grpc-status:0"),
        "{:?}",
        String::from_utf8_lossy(&trailers.1)
    );
}

/// A message over the server's size limit ends the stream with
/// RESOURCE_EXHAUSTED, as a unary request over it is refused; the report
/// it carried changed nothing.
#[tokio::test]
async fn a_message_over_the_size_limit_ends_the_stream_with_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, _, _) = one_step_runs(dir.path(), 1).await;
    let mut stream = connect(&client, "w1", 1).await;
    let task = stream.tasks(1).await.remove(0);
    let huge = json!({"text": "x".repeat(5 * 1024 * 1024)});
    stream.report(vec![report(1, complete(&task, huge))]).await;
    let ended = stream.end().await.expect("an error");
    assert_eq!((ended.code(), reason(&ended)), (Code::ResourceExhausted, "MESSAGE_TOO_LARGE".to_owned()), "{ended:?}");
    client.workers().complete_task(complete_request(&task, &json!({}), None)).await.expect("the task is still open");
}
