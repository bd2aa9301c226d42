//! The Rust SDK's worker runtime against a live server: handlers complete
//! agent steps with output and cost, failures reach the step, a cancelled
//! run reaches its handler through the heartbeat, and shutdown lets the
//! task in flight finish (all over the ConnectWorker stream, the default);
//! and a server without the stream (UNIMPLEMENTED) is long-polled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::oneshot;
use weft_sdk::builder::{agent, workflow};
use weft_sdk::json::from_proto_value;
use weft_sdk::pb;
use weft_sdk::worker::{Outcome, TaskError, Worker};
use weft_tests::runs::{self, step, wait_finished};
use weft_tests::workflows::create_pb;
use weft_tests::{TestServer, eventually};

async fn create(weft: &weft_sdk::Weft, definition: pb::Workflow) -> String {
    create_pb(weft, definition).await.id
}

async fn start(weft: &weft_sdk::Weft, workflow_id: &str, input: serde_json::Value) -> String {
    runs::start(weft, workflow_id, input).await.id
}

#[tokio::test]
async fn handlers_complete_a_chain_with_outputs_and_costs() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let weft = server.client().await;
    let definition = workflow("sdk-chain")
        .step(agent("first", "adder", "add one to {{ input.n }}").input_map("n", "$.input.n").state_writes(["said"]))
        .step(
            agent("second", "adder", "add one again")
                .depends_on(["first"])
                .input_map("n", "$.first.output.n")
                .state_reads(["said"]),
        )
        .build();
    let workflow_id = create(&weft, definition).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(&weft)
        .agent("adder", |task| async move {
            let n = task.input()["n"].as_i64().ok_or_else(|| TaskError::permanent("n is not a number"))?;
            // `second` reads the shared key `first` wrote from its output.
            let before = task.state().get("said").cloned().unwrap_or(json!("none"));
            let outcome = Outcome::new(json!({"n": n + 1, "said": task.text(), "before": before})).cost(5, "usd");
            // Only `first` declares the key; `n: 0` writes it from `second`
            // too, which the server refuses and the worker turns into a
            // failure of that step.
            let writer = task.task().step_id == "first" || n == 1;
            Ok(if writer { outcome.state("said", json!(format!("{} (explicit)", task.text()))) } else { outcome })
        })
        .concurrency(4);
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));

    let run_id = start(&weft, &workflow_id, json!({"n": 40})).await;
    let run = wait_finished(&weft, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let second = step(&run, "second");
    assert_eq!(
        from_proto_value(second.output.as_ref().unwrap()),
        json!({"n": 42, "said": "add one again", "before": "add one to 40 (explicit)"}),
        "the handler sees the shared state its step declares"
    );
    assert_eq!(second.cost.as_ref().map(|c| c.amount), Some(5));
    let first = from_proto_value(step(&run, "first").output.as_ref().unwrap());
    assert_eq!((&first["said"], &first["before"]), (&json!("add one to 40"), &json!(null)), "unset keys are null");

    // A state write the step does not declare fails that step, saying why.
    let refused = start(&weft, &workflow_id, json!({"n": 0})).await;
    let run = wait_finished(&weft, &refused, 10).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    let error = &step(&run, "second").error;
    assert!(error.contains("COMPLETION_REFUSED") && error.contains("stateWrites"), "{error}");

    // A handler's error fails the step with its code and message.
    let bad = start(&weft, &workflow_id, json!({"n": "forty"})).await;
    let run = wait_finished(&weft, &bad, 10).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32);
    assert!(step(&run, "first").error.contains("n is not a number"), "{:?}", step(&run, "first"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the worker stops").unwrap().unwrap();
}

#[tokio::test]
async fn a_cancelled_run_reaches_its_handler_and_shutdown_waits_for_work_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let weft = server.client().await;
    let slow = create(&weft, workflow("sdk-slow").step(agent("wait", "waiter", "wait for cancel")).build()).await;
    let quick = create(&weft, workflow("sdk-quick").step(agent("nap", "napper", "nap")).build()).await;

    let saw_cancel = Arc::new(AtomicBool::new(false));
    let seen = saw_cancel.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let (claimed_tx, claimed) = tokio::sync::mpsc::unbounded_channel::<String>();
    let napping = claimed_tx.clone();
    let worker = Worker::new(&weft)
        .agent("waiter", move |task| {
            let seen = seen.clone();
            let claimed = claimed_tx.clone();
            async move {
                claimed.send(task.task().run_id.clone()).unwrap();
                tokio::select! {
                    _ = task.cancelled() => seen.store(true, Ordering::SeqCst),
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
                Ok(Outcome::new(json!("should not be reported")))
            }
        })
        .agent("napper", move |task| {
            let claimed = napping.clone();
            async move {
                claimed.send(task.task().run_id.clone()).unwrap();
                tokio::time::sleep(Duration::from_millis(700)).await;
                Ok(Outcome::new(json!({"rested": true})))
            }
        })
        .concurrency(2)
        .heartbeat_every(Duration::from_millis(100));
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let mut claimed = claimed;

    let run_id = start(&weft, &slow, json!({})).await;
    assert_eq!(claimed.recv().await.unwrap(), run_id);
    weft.runs().cancel_run(pb::CancelRunRequest { run_id: run_id.clone(), reason: "enough".into() }).await.unwrap();
    let saw = &saw_cancel;
    eventually("the handler learns of the cancel through a heartbeat", 30, || async move {
        if saw.load(Ordering::SeqCst) { Ok(()) } else { Err("no cancel seen yet") }
    })
    .await;
    let run = wait_finished(&weft, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Cancelled as i32);
    assert!(step(&run, "wait").output.is_none(), "nothing was reported after the cancel");

    // Shutdown while a task is in flight: run() returns only once it is done.
    let nap = start(&weft, &quick, json!({})).await;
    assert_eq!(claimed.recv().await.unwrap(), nap);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the worker stops").unwrap().unwrap();
    let run = wait_finished(&weft, &nap, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "the task in flight finished before shutdown");
    assert_eq!(from_proto_value(step(&run, "nap").output.as_ref().unwrap()), json!({"rested": true}));
}

/// A server from before WorkerService.ConnectWorker: the stream answers
/// UNIMPLEMENTED (the generated default), the unary protocol works.
#[derive(Clone, Default)]
struct PollingOnlyServer(Arc<Seen>);

/// What the polling-only server saw.
#[derive(Default)]
struct Seen {
    polls: std::sync::atomic::AtomicUsize,
    completed: tokio::sync::Mutex<Vec<pb::CompleteTaskRequest>>,
    done: tokio::sync::Notify,
}

#[tonic::async_trait]
impl weft_proto::v1::worker_service_server::WorkerService for PollingOnlyServer {
    async fn register_worker(
        &self,
        request: tonic::Request<pb::RegisterWorkerRequest>,
    ) -> Result<tonic::Response<pb::RegisterWorkerResponse>, tonic::Status> {
        let worker_id = request.into_inner().worker_id;
        Ok(tonic::Response::new(pb::RegisterWorkerResponse { worker_id, lease_seconds: 60 }))
    }

    async fn poll_task(
        &self,
        _request: tonic::Request<pb::PollTaskRequest>,
    ) -> Result<tonic::Response<pb::PollTaskResponse>, tonic::Status> {
        if self.0.polls.fetch_add(1, Ordering::SeqCst) == 0 {
            let task = pb::Task {
                task_id: "task_old".into(),
                agent: "echo".into(),
                kind: "agent".into(),
                task: "from an older server".into(),
                attempt: 1,
                lease_token: 1,
                ..Default::default()
            };
            return Ok(tonic::Response::new(pb::PollTaskResponse { task: Some(task) }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(tonic::Response::new(pb::PollTaskResponse { task: None }))
    }

    async fn complete_task(
        &self,
        request: tonic::Request<pb::CompleteTaskRequest>,
    ) -> Result<tonic::Response<pb::CompleteTaskResponse>, tonic::Status> {
        self.0.completed.lock().await.push(request.into_inner());
        self.0.done.notify_one();
        Ok(tonic::Response::new(pb::CompleteTaskResponse {}))
    }
}

#[tokio::test]
async fn a_worker_long_polls_a_server_that_answers_the_stream_unimplemented() {
    let old = PollingOnlyServer::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = weft_proto::v1::worker_service_server::WorkerServiceServer::new(old.clone());
    let serving = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let weft = weft_sdk::Weft::connect(format!("http://{addr}")).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(&weft)
        .id("old-server-worker")
        .agent("echo", |task| async move { Ok(Outcome::new(json!({"said": task.text()}))) });
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    tokio::time::timeout(Duration::from_secs(10), old.0.done.notified()).await.expect("the task was completed");
    let completed = old.0.completed.lock().await.clone();
    assert_eq!(completed.len(), 1);
    assert_eq!((completed[0].task_id.as_str(), completed[0].lease_token), ("task_old", 1));
    assert_eq!(from_proto_value(completed[0].output.as_ref().unwrap()), json!({"said": "from an older server"}));
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the worker stops").unwrap().unwrap();
    serving.abort();
}
