//! Agent steps served by the Rust SDK's worker runtime, end to end over
//! gRPC against an in-process server on loopback (SQLite, WAL,
//! synchronous=FULL):
//!
//! - `chain`: a run of 10 agent steps in a row, one worker; the time from
//!   sending ExecuteWorkflow to its answer (target ≤ 15 ms);
//! - `throughput`: agent steps completed per second through one worker
//!   with concurrency 64, kept busy by 128 concurrent 10-step runs
//!   (target ≥ 3,000/s);
//! - `pickup`: from a step becoming ready (StartRun of a one-agent run) to
//!   a waiting worker's handler receiving it (target p50 ≤ 2 ms).
//!
//! Run with `cargo bench -p weft-bench --bench workers [-- chain|throughput|pickup]`.
//! Client, worker and server share the machine's 2 cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use weft_sdk::builder::{agent, workflow};
use weft_sdk::json::to_proto_value;
use weft_sdk::pb;
use weft_sdk::worker::{Outcome, Worker};

/// The allocator the `weft` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHAIN_RUNS: usize = 100;
const THROUGHPUT_RUNS_IN_FLIGHT: usize = 128;
const THROUGHPUT_DURATION: Duration = Duration::from_secs(5);
const PICKUPS: usize = 200;

fn percentiles(mut sample: Vec<Duration>) -> String {
    sample.sort_unstable();
    let at = |q: f64| sample[((sample.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    format!("p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms", at(0.5), at(0.9), at(0.99))
}

async fn create(weft: &weft_sdk::Weft, definition: pb::Workflow) -> String {
    let request = pb::CreateWorkflowRequest { workflow: Some(definition), request_id: String::new() };
    weft.workflows().create_workflow(request).await.expect("create").into_inner().id
}

/// A chain of `n` agent steps of agent `echo`, each passing `n` on.
fn chain(name: &str, n: usize) -> pb::Workflow {
    let mut builder = workflow(name);
    for i in 0..n {
        let mut step = agent(format!("a{i}"), "echo", "echo");
        if i > 0 {
            step = step.depends_on([format!("a{}", i - 1)]).input_map("n", format!("$.a{}.output.n", i - 1));
        } else {
            step = step.input_map("n", "$.input.n");
        }
        builder = builder.step(step);
    }
    builder.build()
}

async fn execute(weft: &weft_sdk::Weft, workflow_id: &str) {
    let request = pb::ExecuteWorkflowRequest {
        workflow_id: workflow_id.into(),
        input: Some(to_proto_value(&json!({"n": 1}))),
        timeout_seconds: 60,
        ..Default::default()
    };
    let run = weft.runs().execute_workflow(request).await.expect("execute").into_inner().run.expect("run");
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
}

/// Starts a worker serving `echo` (counting completions) and, for pickup,
/// `stamp` (sending the receive time); stops when `stop` turns true.
fn start_worker(
    weft: &weft_sdk::Weft,
    concurrency: usize,
    done: Arc<AtomicU64>,
    stamps: mpsc::UnboundedSender<Instant>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let worker = Worker::new(weft)
        .agent("echo", move |task| {
            let done = done.clone();
            async move {
                done.fetch_add(1, Ordering::Relaxed);
                Ok(Outcome::new(json!({"n": task.input()["n"].clone()})))
            }
        })
        .agent("stamp", move |_task| {
            let stamps = stamps.clone();
            async move {
                let _ = stamps.send(Instant::now());
                Ok(Outcome::new(json!(null)))
            }
        })
        .concurrency(concurrency);
    tokio::spawn(async move {
        worker
            .run(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .expect("worker");
    })
}

async fn chain_latency(weft: &weft_sdk::Weft) {
    let workflow_id = create(weft, chain("chain-10", 10)).await;
    for _ in 0..5 {
        execute(weft, &workflow_id).await;
    }
    let mut sample = Vec::with_capacity(CHAIN_RUNS);
    for _ in 0..CHAIN_RUNS {
        let began = Instant::now();
        execute(weft, &workflow_id).await;
        sample.push(began.elapsed());
    }
    println!("chain of 10 agent steps, ExecuteWorkflow ({CHAIN_RUNS} runs): {}", percentiles(sample));
}

async fn throughput(weft: &weft_sdk::Weft, done: &AtomicU64) {
    let workflow_id = create(weft, chain("chain-throughput", 10)).await;
    let deadline = Instant::now() + THROUGHPUT_DURATION;
    let start_count = done.load(Ordering::Relaxed);
    let began = Instant::now();
    let loops: Vec<_> = (0..THROUGHPUT_RUNS_IN_FLIGHT)
        .map(|_| {
            let weft = weft.clone();
            let workflow_id = workflow_id.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    execute(&weft, &workflow_id).await;
                }
            })
        })
        .collect();
    for handle in loops {
        handle.await.expect("load loop");
    }
    let elapsed = began.elapsed().as_secs_f64();
    let steps = done.load(Ordering::Relaxed) - start_count;
    println!(
        "throughput, worker concurrency 64, {THROUGHPUT_RUNS_IN_FLIGHT} runs of 10 agent steps in flight: {:.0} agent steps/s ({steps} in {elapsed:.1} s)",
        steps as f64 / elapsed
    );
}

async fn pickup(weft: &weft_sdk::Weft, stamps: &mut mpsc::UnboundedReceiver<Instant>) {
    let workflow_id = create(weft, workflow("pickup").step(agent("s", "stamp", "stamp")).build()).await;
    let mut from_send = Vec::with_capacity(PICKUPS);
    let mut from_answer = Vec::with_capacity(PICKUPS);
    for _ in 0..PICKUPS {
        // Let the worker's pollers settle back into their long polls.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let request = pb::StartRunRequest { workflow_id: workflow_id.clone(), ..Default::default() };
        let sent = Instant::now();
        weft.runs().start_run(request).await.expect("start");
        let answered = Instant::now();
        let received = stamps.recv().await.expect("stamp");
        from_send.push(received - sent);
        from_answer.push(received.saturating_duration_since(answered));
    }
    println!("pickup, StartRun sent -> handler called ({PICKUPS}): {}", percentiles(from_send));
    println!("pickup, StartRun answered -> handler called ({PICKUPS}): {}", percentiles(from_answer));
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let only: Option<String> =
        std::env::args().skip(1).find(|a| ["chain", "throughput", "pickup"].contains(&a.as_str()));
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut config = weft_server::Config {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        log: "warn".into(),
        ..weft_server::Config::default()
    };
    // Many concurrent runs of one workflow: no concurrent-run limit, so
    // the figures stay comparable with those before it existed.
    config.runs.max_concurrent_per_workflow = 0;
    tokio::spawn(weft_server::run(listener, config, std::future::pending()));
    let weft = weft_sdk::Weft::connect(format!("http://{addr}")).await.expect("connect");
    println!(
        "weft workers bench: SDK worker over gRPC, in-process server, SQLite synchronous=FULL, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    let done = Arc::new(AtomicU64::new(0));
    let (stamp_tx, mut stamps) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = start_worker(&weft, 64, done.clone(), stamp_tx, stop_rx);
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if wants("chain") {
        chain_latency(&weft).await;
    }
    if wants("pickup") {
        pickup(&weft, &mut stamps).await;
    }
    if wants("throughput") {
        throughput(&weft, &done).await;
    }
    let _ = stop_tx.send(true);
    let _ = worker.await;
}
