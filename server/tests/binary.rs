//! The `weft` binary itself: it starts on the configured database (env
//! layer), migrates, serves, and stops cleanly on SIGTERM.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn weft_serve_migrates_serves_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("from-env.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WEFT_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("WEFT_LOG", "info")
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();

    let started = Instant::now();
    let serving = lines.by_ref().map_while(Result::ok).find(|line| line.contains("weft is serving"));
    assert!(serving.is_some(), "the server never reported serving");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(database.exists(), "the database named by WEFT_DATABASE_URL was created and migrated");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}; log: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("weft stopped")), "{rest:?}");
}

#[test]
fn weft_refuses_a_malformed_listen_address_with_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve"])
        .env("WEFT_LISTEN", "not-an-address")
        .output()
        .expect("run weft");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WEFT_LISTEN"), "{stderr}");
}

/// A child `weft serve` on a database file, with its address parsed from
/// the log. Dropping it kills the process, so a failing test never leaves
/// a server (and its log pipe) behind.
struct Weft {
    child: std::process::Child,
    addr: String,
}

impl Drop for Weft {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_weft(database: &std::path::Path) -> Weft {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WEFT_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("WEFT_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = lines.by_ref().map_while(Result::ok).find(|line| line.contains("weft is serving")).expect("serving");
    let addr = serving
        .split_whitespace()
        .find_map(|part| part.strip_prefix("address="))
        .expect("the serving line names its address")
        .to_string();
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Weft { child, addr }
}

/// One HTTP/1.1 JSON request (Connection: close); the status and body.
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let (head, mut rest) = raw.split_once("\r\n\r\n").expect("headers end");
    let mut text = String::new();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            text.push_str(&tail[..size]);
            rest = &tail[size + 2..];
        }
    } else {
        text.push_str(rest);
    }
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

#[test]
fn a_run_survives_sigkill_and_completes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("killed.db");
    let mut first = start_weft(&database);
    let definition = r#"{"name": "durable", "steps": [
        {"id": "wait", "type": "delay", "duration": 2},
        {"id": "after", "type": "transform", "dependsOn": ["wait"], "output": {"echo": "$.input.x"}}]}"#;
    let (status, workflow) = http(&first.addr, "POST", "/v1/workflows", Some(definition));
    assert_eq!(status, 201, "{workflow}");
    let workflow_id = workflow["id"].as_str().unwrap().to_string();
    let start_path = format!("/v1/workflows/{workflow_id}/runs");
    let (status, run) = http(&first.addr, "POST", &start_path, Some(r#"{"input": {"x": 7}}"#));
    assert_eq!(status, 202, "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();
    assert_eq!(run["status"], "running");

    // Mid-run: the delay is armed and nothing after it has happened.
    first.child.kill().expect("SIGKILL");
    first.child.wait().unwrap();

    let second = start_weft(&database);
    let deadline = Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let (_, run) = http(&second.addr, "GET", &format!("/v1/workflows/runs/{run_id}"), None);
        if run["status"] == "completed" || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(finished["status"], "completed", "{finished}");
    let after = finished["steps"].as_array().unwrap().iter().find(|s| s["id"] == "after").unwrap();
    assert_eq!(after["output"]["echo"].as_f64(), Some(7.0));
    assert_eq!(after["attempts"], 1);

    let events_path = format!("/v1/workflows/runs/{run_id}/events?pageSize=1000");
    let (_, events) = http(&second.addr, "GET", &events_path, None);
    let events = events["events"].as_array().expect("events").clone();
    let count = |kind: &str, step: &str| {
        events.iter().filter(|e| e["type"] == kind && e["stepId"].as_str().unwrap_or("") == step).count()
    };
    assert_eq!(count("step.completed", "wait"), 1, "the delay fired once: {events:?}");
    assert_eq!(count("step.completed", "after"), 1);
    assert_eq!(count("run.completed", ""), 1);
    let sequences: Vec<u64> = events.iter().map(|e| e["sequence"].as_u64().unwrap()).collect();
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>(), "no gap, no duplicate");
}
