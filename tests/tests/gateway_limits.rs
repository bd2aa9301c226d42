//! The REST gateway's bounds on request bodies (issue #15, items 1 and 7):
//! large bodies cost memory in proportion to their size and leave the
//! server responsive, a body that encodes past the message limit is a 413
//! about the body, deep nesting is a 400, and integers a double would round
//! are refused by path instead of changed. Nothing is stored on a refusal.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_tests::TestServer;
use weft_tests::http1::{self, request};

/// This process's resident set in bytes: the test server runs in-process.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// A workflow of one transform step, its id.
async fn workflow(addr: SocketAddr) -> String {
    let definition = json!({"name": "limits", "steps": [
        {"id": "t", "type": "transform", "output": {"first": "$.input.ids[0]"}}
    ]});
    let (status, created) = http1::json(addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("workflow id").to_string()
}

async fn run_count(addr: SocketAddr, workflow: &str) -> usize {
    let (status, runs) = http1::json(addr, "GET", &format!("/v1/workflows/{workflow}/runs"), None).await;
    assert_eq!(status, 200, "{runs}");
    runs.as_array().expect("a list of runs").len()
}

async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Value) {
    let response = request(addr, "POST", path, &[("content-type", "application/json")], body).await.expect("POST");
    let value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&response.body)));
    (response.status, value)
}

/// `{"input": {"ids": [1,2,…]}}` of about `bytes` bytes: one-digit ints,
/// eleven bytes each once encoded.
fn int_array_body(bytes: usize) -> Vec<u8> {
    let elements = (bytes - 24) / 2;
    let mut body = b"{\"input\": {\"ids\": [".to_vec();
    for i in 0..elements {
        if i > 0 {
            body.push(b',');
        }
        body.push(b'0' + (i % 10) as u8);
    }
    body.extend_from_slice(b"]}}");
    body
}

fn assert_documented_error(body: &Value, code: i64, error_code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["error_code"], error_code, "{body}");
    assert_eq!(body["error"], body["message"], "{body}");
    assert_eq!(body["details"][0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo", "{body}");
    assert_eq!(body["details"][0]["reason"], error_code, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_limit_bodies_cost_bounded_memory_and_leave_health_responsive() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let wf = workflow(addr).await;
    let path = format!("/v1/workflows/{wf}/runs");

    // One alone first: a 3.9 MB flat int array, under the 4 MiB body limit,
    // encodes to about 21 MB of protobuf, over the 4 MiB message limit.
    let body = int_array_body(3_900_000);
    let (status, answer) = post(addr, &path, &body).await;
    assert_eq!(status, 413, "{answer}");
    assert_documented_error(&answer, 8, "BODY_TOO_LARGE");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("request body") && message.contains("4194304-byte"), "{message}");
    assert!(message.contains("WEFT_MAX_MESSAGE_BYTES"), "{message}");

    let channel = tonic::transport::Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let before = rss();
    let body = std::sync::Arc::new(body);
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (body, path) = (body.clone(), path.clone());
            tokio::spawn(async move { post(addr, &path, &body).await })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut peak = before;
    let mut checks = 0;
    while !senders.iter().all(|s| s.is_finished()) {
        let began = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }),
        )
        .await;
        assert!(matches!(answer, Ok(Ok(_))), "health check failed under load: {answer:?}");
        slowest = slowest.max(began.elapsed());
        peak = peak.max(rss());
        checks += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for sender in senders {
        let (status, answer) = sender.await.unwrap();
        assert_eq!(status, 413, "{answer}");
        assert_documented_error(&answer, 8, "BODY_TOO_LARGE");
    }
    assert!(checks > 0);
    assert!(slowest < Duration::from_secs(1), "a health check took {slowest:?} during the burst");
    // The server and the 8 clients share this process: 8 bodies of 3.9 MB
    // on each side, plus each encoding (capped at 4 MiB). The two trees this
    // used to build took about 800 MB per body.
    let grown = peak.saturating_sub(before);
    eprintln!("8 near-limit bodies: RSS +{} MB at peak, slowest health check {slowest:?}", grown / 1_000_000);
    assert!(grown < 400_000_000, "RSS grew by {} MB during 8 near-limit bodies", grown / 1_000_000);
    assert_eq!(run_count(addr, &wf).await, 0, "nothing was stored");
}

#[tokio::test]
async fn bodies_over_the_body_limit_are_413_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let wf = workflow(addr).await;
    let (status, answer) = post(addr, &format!("/v1/workflows/{wf}/runs"), &int_array_body(5_000_000)).await;
    assert_eq!(status, 413, "{answer}");
    assert_documented_error(&answer, 8, "BODY_TOO_LARGE");
    assert!(answer["message"].as_str().unwrap().contains("request body is over the 4194304-byte limit"), "{answer}");
    assert_eq!(run_count(addr, &wf).await, 0);
}

#[tokio::test]
async fn integers_beyond_2_pow_53_are_refused_by_path_and_2_pow_53_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let wf = workflow(addr).await;
    let path = format!("/v1/workflows/{wf}/runs");

    let (status, answer) = post(addr, &path, br#"{"input": {"ids": [1, 2, 3, 9007199254740993]}}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert_documented_error(&answer, 3, "INTEGER_TOO_LARGE");
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("input.ids[3]: "), "{message}");
    assert!(message.contains("9007199254740993") && message.contains("send it as a string"), "{message}");

    let (status, answer) = post(addr, &path, br#"{"input": {"n": -9007199254740993}}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("input.n: "), "{answer}");

    // 1e400 is past the range of a double: refused, not stored as infinity.
    let (status, answer) = post(addr, &path, br#"{"input": {"x": 1e400}}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert_documented_error(&answer, 3, "NUMBER_OUT_OF_RANGE");
    assert!(answer["message"].as_str().unwrap().starts_with("input.x: "), "{answer}");
    assert_eq!(run_count(addr, &wf).await, 0, "nothing was stored");

    // 2^53 itself is exact: accepted, and read back as the same integer.
    let (status, started) = post(addr, &path, br#"{"input": {"ids": [9007199254740992, -9007199254740992]}}"#).await;
    assert_eq!(status, 202, "{started}");
    let run_id = started["runId"].as_str().or(started["id"].as_str()).expect("run id").to_string();
    let response = request(addr, "GET", &format!("/v1/workflows/runs/{run_id}"), &[], b"").await.unwrap();
    let text = String::from_utf8_lossy(&response.body);
    assert!(text.contains("[9007199254740992,-9007199254740992]"), "{text}");
    assert_eq!(run_count(addr, &wf).await, 1);
}

#[tokio::test]
async fn deep_bodies_are_400_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let wf = workflow(addr).await;
    let path = format!("/v1/workflows/{wf}/runs");
    for open in ["[", "{\"a\":"] {
        let body = format!(r#"{{"input": {}}}"#, open.repeat(100_000));
        let (status, answer) = post(addr, &path, body.as_bytes()).await;
        assert_eq!(status, 400, "{answer}");
        assert_documented_error(&answer, 3, "BODY_TOO_DEEP");
    }
    // Deeper than prost decodes (34 objects in a value: 101 messages).
    let body = format!(r#"{{"input": {}1{}}}"#, "{\"a\":".repeat(34), "}".repeat(34));
    let (status, answer) = post(addr, &path, body.as_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert_documented_error(&answer, 3, "BODY_TOO_DEEP");
    assert!(answer["message"].as_str().unwrap().starts_with("input.a.a.a"), "{answer}");
    assert_eq!(run_count(addr, &wf).await, 0, "nothing was stored");
    // The server still answers.
    let (status, _) = post(addr, &path, br#"{"input": {"ids": [1]}}"#).await;
    assert_eq!(status, 202);
}

/// Accepted bodies of a few MiB of protobuf are decoded and converted on
/// the blocking pool, a few at a time (`api/request_frames.rs`), so a burst
/// of them leaves the workers free for health checks. Served on the async
/// workers, twelve of these held both for about a second at a time in a
/// debug build; off them, the slowest check took under 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_large_bodies_leave_health_responsive() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let wf = workflow(addr).await;
    let path = format!("/v1/workflows/{wf}/runs");
    // 300,000 one-digit ints: 0.6 MB of JSON, about 3.3 MB of protobuf.
    let body = std::sync::Arc::new(int_array_body(600_000));

    let channel = tonic::transport::Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let senders: Vec<_> = (0..12)
        .map(|_| {
            let (body, path) = (body.clone(), path.clone());
            tokio::spawn(async move { post(addr, &path, &body).await })
        })
        .collect();
    let mut checks = Vec::new();
    while !senders.iter().all(|s| s.is_finished()) {
        let began = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }),
        )
        .await;
        assert!(matches!(answer, Ok(Ok(_))), "health check failed under load: {answer:?}");
        checks.push(began.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for sender in senders {
        let (status, answer) = sender.await.unwrap();
        assert_eq!(status, 202, "{answer}");
    }
    assert_eq!(run_count(addr, &wf).await, 12);
    checks.sort();
    let slowest = *checks.last().expect("at least one health check");
    let p99 = checks[(checks.len() - 1) * 99 / 100];
    println!("{} health checks during the burst, p99 {p99:?}, slowest {slowest:?}", checks.len());
    // One slow check on a loaded machine is noise; served on the workers,
    // the burst held most checks for seconds.
    assert!(p99 < Duration::from_millis(500), "health checks took {p99:?} at p99 during the burst");
}
