//! A worker behind a TCP proxy survives the death of its replica: three
//! `weft` processes on one Postgres schema, a proxy that sends each new
//! connection to the first replica that accepts it, and a Rust SDK worker
//! connected only through the proxy, registered through the replica that
//! is then SIGKILLed mid-work. Every run, started before and after the
//! kill, completes with no help. Over long polls the worker never had to
//! register again: the replica its polls fail over to knows it from the
//! store. Over the ConnectWorker stream it opens a new stream through the
//! proxy with the same id (its hello registers it again).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

mod cluster_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster_support::{Schema, Weft, postgres_or_skip, report, time_until};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weft_sdk::builder::{agent, workflow};
use weft_sdk::json::{from_proto_value, to_proto_value};
use weft_sdk::pb;
use weft_sdk::worker::{Outcome, Worker};

const RUNS_BEFORE: usize = 10;
const RUNS_AFTER: usize = 10;
const PARTITION_LEASE_MS: u64 = 2_000;
const TASK_LEASE_MS: u64 = 4_000;
/// How long a handler works on a task: long enough that work is in flight
/// when the replica dies.
const WORK: Duration = Duration::from_millis(150);
/// Replica indices: the proxy prefers B, which is killed.
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

/// A TCP proxy: each connection goes to the first backend that accepts
/// it, in order, and ends when either side does, so a client whose
/// backend died reconnects and lands on the next live one.
struct Proxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let backends = Arc::new(backends);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    for backend in backends.iter() {
                        if let Ok(mut upstream) = TcpStream::connect(backend).await {
                            let _ = upstream.set_nodelay(true);
                            let _ = client.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn socket_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().expect("a replica URL is http://host:port")
}

async fn start_run(weft: &weft_sdk::Weft, workflow_id: &str, n: usize) -> String {
    let request = pb::StartRunRequest {
        workflow_id: workflow_id.into(),
        input: Some(to_proto_value(&json!({"n": n}))),
        ..Default::default()
    };
    weft.runs().start_run(request).await.expect("start a run").into_inner().run_id
}

async fn get_run(weft: &weft_sdk::Weft, run_id: &str) -> pb::Run {
    let request = pb::GetRunRequest { run_id: run_id.into() };
    weft.runs().get_run(request).await.expect("get a run").into_inner().run.unwrap()
}

async fn the_worker(weft: &weft_sdk::Weft) -> pb::WorkerInfo {
    let listed = weft.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner().workers;
    assert_eq!(listed.len(), 1, "one worker, listed by every replica: {listed:?}");
    listed.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_behind_a_proxy_keeps_serving_when_its_replica_is_killed() {
    keeps_serving_when_its_replica_is_killed(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_worker_behind_a_proxy_keeps_serving_when_its_replica_is_killed() {
    keeps_serving_when_its_replica_is_killed(false).await;
}

async fn keeps_serving_when_its_replica_is_killed(polling: bool) {
    let name = if polling { "a_worker_behind_a_proxy_keeps_serving" } else { "a_stream_worker_behind_a_proxy" };
    let Some(base) = postgres_or_skip(name).await else { return };
    let schema = Schema::create(&base, "worker_failover").await;
    let env = [
        ("WEFT_PARTITION_LEASE_MS", PARTITION_LEASE_MS.to_string()),
        ("WEFT_TASK_LEASE_MS", TASK_LEASE_MS.to_string()),
        // 20 overlapping runs of one workflow: no concurrent-run limit.
        ("WORKFLOW_MAX_CONCURRENT_RUNS", "0".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut replicas: Vec<Weft> = (0..3).map(|_| Weft::start(&schema.url, &env)).collect();
    let proxy = Proxy::start([B, A, C].iter().map(|&i| socket_of(&replicas[i].url)).collect()).await;
    let through_proxy = weft_sdk::Weft::connect(format!("http://{}", proxy.addr)).await.unwrap();
    let at = |i: usize| weft_sdk::Weft::connect(replicas[i].url.clone());
    let (a, c) = (at(A).await.unwrap(), at(C).await.unwrap());

    // A claim B committed but never delivered comes back when its lease
    // runs out, as a second attempt: the steps allow one.
    let definition = workflow("failover-chain")
        .step(agent("first", "failover-agent", "first of {{ input.n }}").retries(2))
        .step(agent("second", "failover-agent", "second of {{ input.n }}").depends_on(["first"]).retries(2))
        .build();
    let request = pb::CreateWorkflowRequest { workflow: Some(definition), request_id: String::new() };
    let workflow_id = a.workflows().create_workflow(request).await.unwrap().into_inner().id;

    let calls = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = oneshot::channel::<()>();
    let counted = calls.clone();
    let worker = Worker::new(&through_proxy)
        .id("failover-worker")
        .polling(polling)
        .agent("failover-agent", move |task| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(WORK).await;
                Ok(Outcome::new(json!({"did": task.text()})))
            }
        })
        .concurrency(4);
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    // Registered through the proxy, so through B.
    let registered = time_until(Duration::from_secs(10), || async {
        c.workers().list_workers(pb::ListWorkersRequest::default()).await.is_ok_and(|l| !l.get_ref().workers.is_empty())
    })
    .await;
    assert!(registered.is_some(), "the worker registered");
    let before = the_worker(&c).await;

    let mut run_ids = Vec::new();
    for n in 0..RUNS_BEFORE {
        run_ids.push(start_run(&a, &workflow_id, n).await);
    }
    // Kill B while the worker is busy with tasks it claimed through B.
    let busy = time_until(Duration::from_secs(20), || async { calls.load(Ordering::SeqCst) >= 4 }).await;
    assert!(busy.is_some(), "the worker took tasks before the kill");
    replicas[B].kill();
    let killed = Instant::now();
    for n in RUNS_BEFORE..RUNS_BEFORE + RUNS_AFTER {
        run_ids.push(start_run(&a, &workflow_id, n).await);
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut unfinished = run_ids.clone();
    while !unfinished.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for run_id in unfinished {
            let run = get_run(&a, &run_id).await;
            if [pb::RunStatus::Pending as i32, pb::RunStatus::Running as i32].contains(&run.status) {
                still.push(run_id);
            }
        }
        unfinished = still;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_done = killed.elapsed();
    assert!(
        unfinished.is_empty(),
        "{} of {} runs did not finish within 60 s of the kill; A's log:\n{}",
        unfinished.len(),
        run_ids.len(),
        replicas[A].log_tail(30)
    );
    let mut retried = 0;
    for (n, run_id) in run_ids.iter().enumerate() {
        let run = get_run(&a, run_id).await;
        assert_eq!(run.status, pb::RunStatus::Completed as i32, "run {n}: {run:?}");
        for (id, text) in [("first", "first of"), ("second", "second of")] {
            let step = run.steps.iter().find(|s| s.id == id).expect("the step is there");
            assert_eq!(from_proto_value(step.output.as_ref().unwrap()), json!({"did": format!("{text} {n}")}));
            retried += usize::from(step.attempts > 1);
        }
    }
    let after = the_worker(&c).await;
    assert_eq!(after.worker_id, before.worker_id, "one worker, the same id after the failover");
    if polling {
        assert_eq!(
            after.register_time, before.register_time,
            "the replicas the worker failed over to knew it from the store: it never registered again"
        );
    }
    let ms =
        |w: &pb::WorkerInfo| w.last_poll_time.as_ref().map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
    assert!(ms(&after) > ms(&before), "its polls after the kill were seen: {before:?} {after:?}");
    report(
        if polling { "worker_failover" } else { "worker_failover_stream" },
        &format!(
            "{} runs (2 agent steps each) completed; all done {:.2} s after SIGKILL of the proxied replica; \
             {} steps needed a second attempt (a claim or answer lost with the replica)",
            run_ids.len(),
            all_done.as_secs_f64(),
            retried
        ),
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), running).await.expect("the worker stops").unwrap().unwrap();
    drop(replicas);
    schema.drop().await;
}
