//! The Rust SDK's worker across server restarts, with no help from the
//! test: a restart on the same store and port keeps the worker known (its
//! registration is stored), a server on a fresh store makes it register
//! again by itself, and an answer the handler gives while the server is
//! down lands once the server is back, within the lease, without running
//! the task again. Runs on the suite's store (`WEFT_TEST_STORE`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use weft_sdk::builder::{agent, workflow};
use weft_sdk::json::{from_proto_value, to_proto_value};
use weft_sdk::worker::{Outcome, Worker};
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_tests::runs::{step, trace, wait_finished};
use weft_tests::store::TestStore;

/// Lease of the tests' servers: longer than a restart takes, so an answer
/// held back by the restart still counts.
const LEASE_MS: u64 = 10_000;

/// A `weft` server on a chosen address, stopped and started again there.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), weft_server::ServeError>>,
}

impl Server {
    /// Serves `database` on `addr` (port 0 picks one). The port of a
    /// server just stopped may take a moment to be free again.
    async fn start(addr: SocketAddr, database: &Path) -> Self {
        let config = Config {
            database_url: TestStore::from_env().url_for(database).await,
            task_lease_ms: LEASE_MS,
            ..Config::default()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(err) if Instant::now() < deadline => {
                    eprintln!("rebinding {addr}: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("cannot bind {addr} again: {err}"),
            }
        };
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(weft_server::run(listener, Config { listen: addr, ..config }, async {
            let _ = stopped.await;
        }));
        Self { addr, stop: Some(stop), task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn client(&self) -> Weft {
        Weft::connect(self.url()).await.expect("connect")
    }

    /// Stops gracefully and waits until the store is closed.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap().expect("the server stopped cleanly");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn create_workflow(weft: &Weft) -> String {
    let definition = workflow("restartable").step(agent("work", "restart-agent", "work on {{ input.n }}")).build();
    let request = pb::CreateWorkflowRequest { workflow: Some(definition), request_id: String::new() };
    weft.workflows().create_workflow(request).await.unwrap().into_inner().id
}

async fn start_run(weft: &Weft, workflow_id: &str, n: i64) -> String {
    let request = pb::StartRunRequest {
        workflow_id: workflow_id.into(),
        input: Some(to_proto_value(&json!({"n": n}))),
        ..Default::default()
    };
    weft.runs().start_run(request).await.unwrap().into_inner().run_id
}

/// Starts `count` runs and checks each completes with the handler's output.
async fn runs_complete(weft: &Weft, workflow_id: &str, count: i64, within_secs: u64) {
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push((n, start_run(weft, workflow_id, n).await));
    }
    for (n, run_id) in ids {
        let run = wait_finished(weft, &run_id, within_secs).await;
        assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
        let output = from_proto_value(step(&run, "work").output.as_ref().unwrap());
        assert_eq!(output, json!({"done": format!("work on {n}")}));
    }
}

/// A worker of agent `restart-agent` echoing its task text, on `weft`
/// (over the ConnectWorker stream, or by long polls when `polling`);
/// answers the handle and a way to stop it.
fn spawn_worker(
    weft: &Weft,
    worker_id: &str,
    polling: bool,
) -> (JoinHandle<Result<(), weft_sdk::Error>>, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(weft)
        .id(worker_id)
        .polling(polling)
        .agent("restart-agent", |task| async move { Ok(Outcome::new(json!({"done": task.text()}))) })
        .concurrency(4);
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    (running, stop)
}

async fn stop_worker(running: JoinHandle<Result<(), weft_sdk::Error>>, stop: oneshot::Sender<()>) {
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the worker stops").unwrap().unwrap();
}

/// Long polls: the stored registration serves the restarted server, which
/// the worker never has to register with again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_keeps_serving_across_a_restart_on_the_same_store_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = Server::start("127.0.0.1:0".parse().unwrap(), &database).await;
    let addr = server.addr;
    let weft = server.client().await;
    let workflow_id = create_workflow(&weft).await;
    let (running, stop) = spawn_worker(&weft, "restart-w1", true);
    runs_complete(&weft, &workflow_id, 2, 10).await;
    let before = weft.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner().workers;

    server.stop().await;
    let server = Server::start(addr, &database).await;
    let after = server.client().await;
    // The worker's own connection finds the new server by itself.
    runs_complete(&after, &workflow_id, 5, 20).await;
    let listed = after.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.workers.iter().map(|w| w.worker_id.as_str()).collect::<Vec<_>>(), ["restart-w1"]);
    assert_eq!(
        listed.workers[0].register_time, before[0].register_time,
        "the stored registration served the new server: the worker did not have to register again"
    );

    stop_worker(running, stop).await;
    server.stop().await;
}

/// The stream: it breaks with the restart, and the worker opens another
/// on the new server with the same id (its hello registers it again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_worker_reconnects_across_a_restart_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = Server::start("127.0.0.1:0".parse().unwrap(), &database).await;
    let addr = server.addr;
    let weft = server.client().await;
    let workflow_id = create_workflow(&weft).await;
    let (running, stop) = spawn_worker(&weft, "restart-stream", false);
    runs_complete(&weft, &workflow_id, 2, 10).await;

    server.stop().await;
    let server = Server::start(addr, &database).await;
    let after = server.client().await;
    runs_complete(&after, &workflow_id, 5, 20).await;
    let listed = after.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.workers.iter().map(|w| w.worker_id.as_str()).collect::<Vec<_>>(), ["restart-stream"]);

    stop_worker(running, stop).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_registers_again_by_itself_when_a_server_does_not_know_it() {
    registers_again_with_a_server_that_does_not_know_it(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_worker_registers_again_by_itself_when_a_server_does_not_know_it() {
    registers_again_with_a_server_that_does_not_know_it(true).await;
}

async fn registers_again_with_a_server_that_does_not_know_it(polling: bool) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start("127.0.0.1:0".parse().unwrap(), &dir.path().join("first.db")).await;
    let addr = server.addr;
    let weft = server.client().await;
    let workflow_id = create_workflow(&weft).await;
    let (running, stop) = spawn_worker(&weft, "", polling);
    runs_complete(&weft, &workflow_id, 1, 10).await;
    let before = weft.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner().workers;
    assert_eq!(before.len(), 1, "{before:?}");

    // Same port, another database: this server never heard of the worker
    // and answers its polls NOT_FOUND until it registers again (a stream's
    // next hello registers it).
    server.stop().await;
    let server = Server::start(addr, &dir.path().join("second.db")).await;
    let after = server.client().await;
    let workflow_id = create_workflow(&after).await;
    runs_complete(&after, &workflow_id, 3, 20).await;
    let listed = after.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner().workers;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].worker_id, before[0].worker_id, "a server-assigned id is kept when registering again");

    stop_worker(running, stop).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_given_while_the_server_is_down_lands_after_the_restart_without_a_second_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = Server::start("127.0.0.1:0".parse().unwrap(), &database).await;
    let addr = server.addr;
    let weft = server.client().await;
    let workflow_id = create_workflow(&weft).await;

    let calls = Arc::new(AtomicUsize::new(0));
    let (claimed, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = {
        let (calls, claimed, release) = (calls.clone(), claimed.clone(), release.clone());
        Worker::new(&weft).id("restart-w3").agent("restart-agent", move |task| {
            let (calls, claimed, release) = (calls.clone(), claimed.clone(), release.clone());
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                claimed.notify_one();
                release.notified().await;
                Ok(Outcome::new(json!({"done": task.text()})))
            }
        })
    };
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let run_id = start_run(&weft, &workflow_id, 7).await;
    tokio::time::timeout(Duration::from_secs(10), claimed.notified()).await.expect("the task was claimed");

    server.stop().await;
    // The handler answers while nothing listens: CompleteTask is refused
    // by the network, and the worker tries again.
    release.notify_one();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let server = Server::start(addr, &database).await;
    let after = server.client().await;
    let run = wait_finished(&after, &run_id, 30).await;
    // It landed on the lease it was claimed under: had the lease run out
    // first, the step would have been retried.
    let trace = trace(&after, &run_id).await;
    assert!(!trace.iter().any(|e| e.starts_with("step.retrying")), "{trace:?}");
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let work = step(&run, "work");
    assert_eq!(from_proto_value(work.output.as_ref().unwrap()), json!({"done": "work on 7"}));
    assert_eq!(work.attempts, 1, "the answer was not lost, so the task did not run again");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the worker stops").unwrap().unwrap();
    server.stop().await;
}
