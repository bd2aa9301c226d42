//! REST versus gRPC for the same read: `GetWorkflow` over gRPC (tonic, one
//! HTTP/2 channel) and `GET /v1/workflows/{id}` over REST (HTTP/1.1
//! keep-alive pool), each driven by CONCURRENCY closed-loop clients for
//! DURATION against an in-process server on loopback. Reports throughput and
//! latency percentiles; the REST path should reach at least 70% of gRPC's
//! throughput with p50 under 1 ms.
//!
//! Run with `cargo bench -p weft-bench --bench gateway`. Client and server
//! share the machine's cores, so absolute figures are a floor.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use weft_sdk::pb;

/// Clients of the throughput runs; latency runs use one client.
const CONCURRENCY: usize = 16;
const WARM_UP: Duration = Duration::from_secs(1);
const DURATION: Duration = Duration::from_secs(5);

struct Report {
    requests: usize,
    latencies_us: Vec<u64>,
}

impl Report {
    fn print(&mut self, name: &str) -> f64 {
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
async fn drive<F, Fut>(clients: usize, call: F) -> Report
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
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = weft_server::Config {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        log: "warn".into(),
        ..weft_server::Config::default()
    };
    tokio::spawn(weft_server::run(listener, config, std::future::pending()));

    let weft = weft_sdk::Weft::connect(format!("http://{addr}")).await.expect("connect");
    let steps = (0..10)
        .map(|i| pb::Step {
            id: format!("s{i}"),
            r#type: "agent".into(),
            agent: "worker".into(),
            task: format!("step {i} of {{{{ input.company }}}}"),
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
    let id = created.into_inner().id;

    println!(
        "weft gateway bench: GetWorkflow (gRPC) vs GET /v1/workflows/{{id}} (REST) of a 10-step workflow, {}s after {}s warm-up, {} cores",
        DURATION.as_secs(),
        WARM_UP.as_secs(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    let grpc_id = id.clone();
    let grpc_call = move || {
        let mut client = weft.workflows();
        let id = grpc_id.clone();
        async move {
            client.get_workflow(pb::GetWorkflowRequest { id }).await.expect("gRPC GetWorkflow");
        }
    };
    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: http::Uri = format!("http://{addr}/v1/workflows/{id}").parse().expect("uri");
    let rest_call = move || {
        let http = http.clone();
        let uri = uri.clone();
        async move {
            let response = http.get(uri).await.expect("REST GET");
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.expect("REST body");
        }
    };

    drive(1, grpc_call.clone()).await.print("gRPC, 1 client");
    drive(1, rest_call.clone()).await.print("REST, 1 client");
    let grpc_rate = drive(CONCURRENCY, grpc_call).await.print(&format!("gRPC, {CONCURRENCY} clients"));
    let rest_rate = drive(CONCURRENCY, rest_call).await.print(&format!("REST, {CONCURRENCY} clients"));
    println!("REST/gRPC throughput at {CONCURRENCY} clients: {:.0}%", 100.0 * rest_rate / grpc_rate);
}
