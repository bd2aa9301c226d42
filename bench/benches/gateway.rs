//! REST versus gRPC for the same read: `GetRun` over gRPC (tonic, one
//! HTTP/2 channel) and `GET /v1/workflows/runs/{runId}` over REST (HTTP/1.1
//! keep-alive pool), each driven by CONCURRENCY closed-loop clients for
//! DURATION against an in-process server on loopback. Reports throughput and
//! latency percentiles; the REST path should reach at least 70% of gRPC's
//! throughput with p50 under 1 ms.
//!
//! Run with `cargo bench -p weft-bench --bench gateway`. Client and server
//! share the machine's cores, so absolute figures are a floor.
//!
//! `-- memory` runs only the maximum-size body part ([`memory`]) in a fresh
//! process, so its RSS figures start from a quiet server. `-- auth` runs
//! only the cost of API keys ([`auth`]): the same call with auth off
//! (anonymous loopback) and on (a key checked per call).

#[path = "gateway/auth.rs"]
mod auth;
#[path = "gateway/memory.rs"]
mod memory;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use weft_sdk::pb;

/// Clients of the throughput runs; latency runs use one client.
const CONCURRENCY: usize = 16;

/// The allocator the `weft` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
const WARM_UP: Duration = Duration::from_secs(1);
const DURATION: Duration = Duration::from_secs(5);

pub(crate) struct Report {
    requests: usize,
    latencies_us: Vec<u64>,
}

impl Report {
    pub(crate) fn p50_us(&mut self) -> f64 {
        self.latencies_us.sort_unstable();
        self.latencies_us[(self.latencies_us.len() - 1) / 2] as f64
    }

    pub(crate) fn print(&mut self, name: &str) -> f64 {
        self.latencies_us.sort_unstable();
        let at = |q: f64| self.latencies_us[((self.latencies_us.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
        let rate = self.requests as f64 / DURATION.as_secs_f64();
        println!(
            "{name:<28} {rate:>9.0} req/s   p50 {:>6.3} ms   p90 {:>6.3} ms   p99 {:>6.3} ms",
            at(0.5),
            at(0.9),
            at(0.99)
        );
        rate
    }
}

/// Runs `call` in `clients` loops: a warm-up, then DURATION measured.
pub(crate) async fn drive<F, Fut>(clients: usize, call: F) -> Report
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..clients {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let began = Instant::now();
                call().await;
                let now = Instant::now();
                if now - start > WARM_UP + DURATION {
                    break latencies;
                }
                if began - start >= WARM_UP {
                    latencies.push((now - began).as_micros() as u64);
                }
            }
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await.expect("load task"));
    }
    Report { requests: latencies_us.len(), latencies_us }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().skip(1).any(|a| a == "auth") {
        auth::run().await;
        return;
    }
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
    if std::env::args().skip(1).any(|a| a == "memory") {
        let transform = pb::Step {
            id: "t".into(),
            r#type: "transform".into(),
            output: [("n".to_string(), "$.input.ids[0]".to_string())].into(),
            ..Default::default()
        };
        let workflow = pb::Workflow { name: "memory".into(), steps: vec![transform], ..Default::default() };
        let created = weft
            .workflows()
            .create_workflow(pb::CreateWorkflowRequest { workflow: Some(workflow), request_id: String::new() })
            .await
            .expect("create");
        memory::run(addr, &created.into_inner().id).await;
        return;
    }
    // A finished run of a 10-step transform chain: GetRun answers with its
    // ten step results, input and output.
    let steps = (0..10)
        .map(|i| pb::Step {
            id: format!("s{i}"),
            r#type: "transform".into(),
            output: [("company".to_string(), "$.input.company".to_string())].into(),
            depends_on: if i == 0 { vec![] } else { vec![format!("s{}", i - 1)] },
            ..Default::default()
        })
        .collect();
    let created = weft
        .workflows()
        .create_workflow(pb::CreateWorkflowRequest {
            workflow: Some(pb::Workflow { name: "bench".into(), steps, ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .expect("create");
    let workflow_id = created.into_inner().id;
    let company = prost_types::Value { kind: Some(prost_types::value::Kind::StringValue("acme".into())) };
    let input = prost_types::Value {
        kind: Some(prost_types::value::Kind::StructValue(prost_types::Struct {
            fields: [("company".to_string(), company)].into(),
        })),
    };
    let started = weft
        .runs()
        .start_run(pb::StartRunRequest { workflow_id, input: Some(input), ..Default::default() })
        .await
        .expect("start run")
        .into_inner();
    let id = started.run_id;

    println!(
        "weft gateway bench: GetRun (gRPC) vs GET /v1/workflows/runs/{{runId}} (REST) of a finished 10-step run, {}s after {}s warm-up, {} cores",
        DURATION.as_secs(),
        WARM_UP.as_secs(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    let weft_for_sse = weft.clone();
    let grpc_id = id.clone();
    let grpc_call = move || {
        let mut client = weft.runs();
        let run_id = grpc_id.clone();
        async move {
            client.get_run(pb::GetRunRequest { run_id }).await.expect("gRPC GetRun");
        }
    };
    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: http::Uri = format!("http://{addr}/v1/workflows/runs/{id}").parse().expect("uri");
    let rest_call = move || {
        let http = http.clone();
        let uri = uri.clone();
        async move {
            let response = http.get(uri).await.expect("REST GET");
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.expect("REST body");
        }
    };

    // `-- rest`, `-- grpc` or `-- sse` runs one part alone (for profiling).
    let only: Option<String> = std::env::args().skip(1).find(|a| a == "rest" || a == "grpc" || a == "sse");
    if only.as_deref() == Some("sse") {
        sse_delivery(addr, &weft_for_sse).await;
        return;
    }
    if let Some(side) = only {
        let mut report =
            if side == "rest" { drive(CONCURRENCY, rest_call).await } else { drive(CONCURRENCY, grpc_call).await };
        report.print(&format!("{side}, {CONCURRENCY} clients"));
        return;
    }
    drive(1, grpc_call.clone()).await.print("gRPC, 1 client");
    drive(1, rest_call.clone()).await.print("REST, 1 client");
    let grpc_rate = drive(CONCURRENCY, grpc_call).await.print(&format!("gRPC, {CONCURRENCY} clients"));
    let rest_rate = drive(CONCURRENCY, rest_call).await.print(&format!("REST, {CONCURRENCY} clients"));
    println!("REST/gRPC throughput at {CONCURRENCY} clients: {:.0}%", 100.0 * rest_rate / grpc_rate);

    sse_delivery(addr, &weft_for_sse).await;
    auth::run().await;
}

/// How long after a committing call returns its event reaches an SSE
/// client: an agent run waits on its task, a client follows its stream over
/// REST, and CancelRun (answered only after the cancel is committed) ends
/// it. Measured from just before CancelRun is sent, so the figure is an
/// upper bound on commit-to-delivery.
async fn sse_delivery(addr: std::net::SocketAddr, weft: &weft_sdk::Weft) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ROUNDS: usize = 200;
    let agent = pb::Step {
        id: "wait".into(),
        r#type: "agent".into(),
        agent: "nobody".into(),
        task: "never answered".into(),
        ..Default::default()
    };
    let workflow_id = weft
        .workflows()
        .create_workflow(pb::CreateWorkflowRequest {
            workflow: Some(pb::Workflow { name: "sse".into(), steps: vec![agent], ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .expect("create")
        .into_inner()
        .id;
    let mut latencies_us = Vec::with_capacity(ROUNDS);
    let mut after_answer_us = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let run_id = weft
            .runs()
            .start_run(pb::StartRunRequest { workflow_id: workflow_id.clone(), ..Default::default() })
            .await
            .expect("start")
            .into_inner()
            .run_id;
        let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        let head = format!(
            "GET /v1/workflows/runs/{run_id}/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        socket.write_all(head.as_bytes()).await.expect("write");
        let mut seen = String::new();
        let mut buffer = [0u8; 8192];
        // The replay of what happened so far arrives first.
        while !seen.contains("event: step.started") {
            let n = socket.read(&mut buffer).await.expect("read");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        let began = Instant::now();
        weft.runs()
            .cancel_run(pb::CancelRunRequest { run_id: run_id.clone(), ..Default::default() })
            .await
            .expect("cancel");
        // CancelRun is answered once its commit is done, and the writer
        // publishes the events at that same moment: from here on, the time
        // to read the event is the commit-to-delivery time (a lower bound,
        // as the answer also takes time to arrive).
        let answered = Instant::now();
        while !seen.contains("event: run.cancelled") {
            let n = socket.read(&mut buffer).await.expect("read");
            assert!(n > 0, "stream ended before run.cancelled");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        latencies_us.push(began.elapsed().as_micros() as u64);
        after_answer_us.push(answered.elapsed().as_micros() as u64);
    }
    for (name, mut sample) in [
        ("CancelRun sent -> run.cancelled read", latencies_us),
        ("CancelRun answered -> run.cancelled read", after_answer_us),
    ] {
        sample.sort_unstable();
        let at = |q: f64| sample[((sample.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        println!(
            "SSE delivery, {name} ({ROUNDS} runs): p50 {:.3} ms   p90 {:.3} ms   p99 {:.3} ms",
            at(0.5),
            at(0.9),
            at(0.99)
        );
    }
}
