//! The gateway under maximum-size REST bodies (`-- memory`): sixteen
//! concurrent StartRun bodies at the limit, while a prober calls the gRPC
//! health check every 10 ms on its own HTTP/2 channel. Reports the health
//! check's latency during the burst, the process's peak RSS, and the RSS a
//! few seconds after the burst against the RSS before it.
//!
//! Two bodies, each sent sixteen at once, twice:
//! - **flat**: a 3.9 MB flat array of one-digit ints (`[1,2,…]`, about two
//!   million elements), the case of issue #15. Each element costs 11 bytes
//!   of protobuf, so the body encodes far over the 4 MiB message limit and
//!   is refused (413).
//! - **largest**: the longest such array whose encoding still fits under
//!   the limit (370,000 elements, 0.74 MB of JSON, 4.07 MB of protobuf), so
//!   every request is accepted and a run is stored.
//!
//! Then sixteen concurrent `GET /v1/workflows/runs/{id}` of one such run
//! (its input and the transform's output: 0.74 MB of JSON), the answer
//! path.
//!
//! Server and clients share the process: its RSS includes the client's
//! copies of the bodies (freed once sent).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const CONCURRENT: usize = 16;
const ROUNDS: usize = 2;
const FLAT_BYTES: usize = 3_900_000;
const LARGEST_ELEMENTS: usize = 370_000;
/// How long after the warm-up, and after the last burst, RSS is read.
const SETTLE: Duration = Duration::from_secs(5);

/// This process's resident set, bytes (`VmRSS` of /proc/self/status).
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// `{"input": {"ids": [1,2,…]}}` of `elements` one-digit ints.
fn int_array_body(elements: usize) -> Bytes {
    let mut body = String::with_capacity(elements * 2 + 32);
    body.push_str("{\"input\": {\"ids\": [");
    for i in 0..elements {
        if i > 0 {
            body.push(',');
        }
        body.push(char::from(b'0' + (i % 10) as u8));
    }
    body.push_str("]}}");
    Bytes::from(body)
}

/// One burst of CONCURRENT requests at once (POST with `body`, or GET
/// without); returns (statuses, seconds).
async fn burst(addr: std::net::SocketAddr, path: &str, body: Option<&Bytes>) -> (Vec<u16>, f64) {
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENT {
        // A client each: one connection per request, like separate callers.
        let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let request = match body {
            Some(body) => http::Request::post(format!("http://{addr}{path}"))
                .header("content-type", "application/json")
                .body(Full::new(body.clone())),
            None => http::Request::get(format!("http://{addr}{path}")).body(Full::new(Bytes::new())),
        }
        .expect("request");
        tasks.push(tokio::spawn(async move {
            let response = http.request(request).await.expect("REST StartRun");
            let status = response.status().as_u16();
            let answer = response.into_body().collect().await.expect("answer").to_bytes();
            (status, answer)
        }));
    }
    let mut statuses = Vec::new();
    let mut example = None;
    for task in tasks {
        let (status, answer) = task.await.expect("request task");
        statuses.push(status);
        example.get_or_insert(answer);
    }
    if let Some(answer) = example {
        let text = String::from_utf8_lossy(&answer);
        println!("    answer: {}", text.chars().take(220).collect::<String>());
    }
    (statuses, began.elapsed().as_secs_f64())
}

/// Runs the memory part against the server at `addr`, where `workflow_id`
/// is a one-transform workflow (its runs finish inside StartRun).
pub async fn run(addr: std::net::SocketAddr, workflow_id: &str) {
    let path = format!("/v1/workflows/{workflow_id}/runs");
    let flat = {
        let elements = (FLAT_BYTES - 24) / 2;
        int_array_body(elements)
    };
    let largest = int_array_body(LARGEST_ELEMENTS);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("health channel");
    let mut health = HealthClient::new(channel);
    health.check(HealthCheckRequest { service: String::new() }).await.expect("health");

    // Warm-up: one small start and one of each body alone.
    let small = Bytes::from_static(b"{\"input\": {\"ids\": [1, 2, 3]}}");
    let _ = burst_one(addr, &path, &small).await;
    let _ = burst_one(addr, &path, &flat).await;
    let (status, started) = burst_one(addr, &path, &largest).await;
    let run_id = String::from_utf8_lossy(&started)
        .split('"')
        .find(|part| part.starts_with("wfrun_"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no run id in the {status} answer to the largest body"));
    let run_path = format!("/v1/workflows/runs/{run_id}");
    let _ = burst(addr, &run_path, None).await;
    tokio::time::sleep(SETTLE).await;

    let before = rss();
    println!(
        "gateway memory: {CONCURRENT} concurrent requests x {ROUNDS} rounds each; bodies: flat {:.2} MB, largest {:.2} MB; RSS before {:.1} MB",
        mb(flat.len() as u64),
        mb(largest.len() as u64),
        mb(before)
    );

    // The prober and the RSS sampler run through every burst; the sampler
    // is a plain thread, so a stalled runtime cannot stall it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let probing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut calls: Vec<(Instant, Duration, bool)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let began = Instant::now();
                let answer = tokio::time::timeout(
                    Duration::from_secs(5),
                    health.check(HealthCheckRequest { service: String::new() }),
                )
                .await;
                calls.push((began, began.elapsed(), matches!(answer, Ok(Ok(_)))));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            calls
        })
    };
    let mut phases: Vec<(String, Instant, Instant)> = Vec::new();
    for (name, path, body) in
        [("flat", &path, Some(&flat)), ("largest", &path, Some(&largest)), ("GET largest run", &run_path, None)]
    {
        let began = Instant::now();
        for round in 0..ROUNDS {
            let (statuses, seconds) = burst(addr, path, body).await;
            let mut counts = std::collections::BTreeMap::new();
            statuses.iter().for_each(|s| *counts.entry(*s).or_insert(0) += 1);
            println!("  {name} round {round}: statuses {counts:?} in {seconds:.2} s, RSS now {:.1} MB", mb(rss()));
        }
        phases.push((name.to_string(), began, Instant::now()));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let calls = probing.await.expect("prober");
    let peak = sampler.join().expect("sampler");
    for (name, from, to) in phases {
        let mut latencies: Vec<Duration> =
            calls.iter().filter(|(at, _, _)| *at >= from && *at < to).map(|(_, took, _)| *took).collect();
        let failed = calls.iter().filter(|(at, _, ok)| *at >= from && *at < to && !ok).count();
        if latencies.is_empty() {
            continue;
        }
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
        println!(
            "  health check during {name} ({} calls, {failed} failed or over 5 s): p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            latencies.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    tokio::time::sleep(SETTLE).await;
    let after = rss();
    println!(
        "  RSS: before {:.1} MB, peak {:.1} MB (+{:.1}), {} s after {:.1} MB ({:+.1} MB)",
        mb(before),
        mb(peak),
        mb(peak.saturating_sub(before)),
        SETTLE.as_secs(),
        mb(after),
        (after as f64 - before as f64) / 1e6
    );
}

async fn burst_one(addr: std::net::SocketAddr, path: &str, body: &Bytes) -> (u16, Bytes) {
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .expect("request");
    let response = http.request(request).await.expect("REST StartRun");
    let status = response.status().as_u16();
    (status, response.into_body().collect().await.expect("answer").to_bytes())
}
