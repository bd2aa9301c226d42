//! `WEFT_LOG_FORMAT=json`: the `weft` binary writes one JSON object per
//! stderr line, and every line about a run carries its id as a top-level
//! `run_id`; a value other than `text` or `json` stops the start with an
//! error naming the variable. And, on the same JSON-logging binary, the
//! one test of a server that exports no traces: a REST caller's
//! `traceparent` still reaches the run's task as it came (the in-process
//! half lives in `tests/tests/otlp.rs`, where export is on).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One HTTP/1.1 JSON request (Connection: close); the status and body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    http_with(addr, method, path, "", body)
}

/// [`http`] with `extra` header lines (each ending in CRLF).
fn http_with(addr: &str, method: &str, path: &str, extra: &str, body: &str) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    (status, serde_json::from_str(rest).unwrap_or(Value::Null))
}

#[test]
fn json_logs_are_one_object_per_line_and_lines_about_a_run_carry_its_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WEFT_DATABASE_URL", format!("sqlite://{}", dir.path().join("json.db").display()))
        .env("WEFT_LOG", "info,weft_server=debug")
        .env("WEFT_LOG_FORMAT", "json")
        .env("WEFT_TASK_UNCLAIMED_AFTER", "200ms")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (lines, stderr) = (lines.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let serving = lines.lock().unwrap().iter().find_map(|line| {
            let line: Value = serde_json::from_str(line).ok()?;
            (line["message"] == "weft is serving").then(|| line["address"].as_str().unwrap().to_owned())
        });
        if let Some(addr) = serving {
            break addr;
        }
        assert!(Instant::now() < deadline, "never serving: {:?}", lines.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    };

    // A step no worker serves: past `unclaimed_after` the server warns
    // about it, a line about the run.
    let definition = r#"{"name": "logged", "steps": [
        {"id": "research", "type": "agent", "agent": "nobody-serves-this", "task": "t"}]}"#;
    let (status, workflow) = http(&addr, "POST", "/v1/workflows", definition);
    assert_eq!(status, 201, "{workflow}");
    let path = format!("/v1/workflows/{}/runs", workflow["id"].as_str().unwrap());
    let (status, run) = http(&addr, "POST", &path, r#"{"input": {"x": 7}}"#);
    assert_eq!(status, 202, "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines.lock().unwrap().iter().any(|line| line.contains(&run_id)) {
        assert!(Instant::now() < deadline, "no line about the run: {:?}", lines.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }

    // No exporter: a REST caller's traceparent reaches the task as sent.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let definition =
        r#"{"name": "traced", "steps": [{"id": "work", "type": "agent", "agent": "tracer", "task": "t"}]}"#;
    let (_, workflow) = http(&addr, "POST", "/v1/workflows", definition);
    let path = format!("/v1/workflows/{}/runs", workflow["id"].as_str().unwrap());
    let header = format!("traceparent: {traceparent}\r\ntracestate: k=v\r\n");
    let (status, run) = http_with(&addr, "POST", &path, &header, r#"{"input": {}}"#);
    assert_eq!(status, 202, "{run}");
    let register = r#"{"workerId": "w1", "agents": ["tracer"], "concurrency": 1}"#;
    assert_eq!(http(&addr, "POST", "/v1/workers:register", register).0, 200);
    let (status, polled) = http(&addr, "POST", "/v1/workers/w1/tasks:poll", r#"{"waitSeconds": 5}"#);
    assert_eq!(status, 200, "{polled}");
    assert_eq!(polled["task"]["runId"], run["id"], "{polled}");
    assert_eq!(polled["task"]["traceContext"], serde_json::json!({"traceparent": traceparent, "tracestate": "k=v"}));

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    let lines = lines.lock().unwrap();
    let mut about_run = 0;
    for line in lines.iter() {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let object = parsed.as_object().unwrap_or_else(|| panic!("not an object: {line}"));
        for key in ["timestamp", "level", "target"] {
            assert!(object.contains_key(key), "no {key}: {line}");
        }
        if line.contains(&run_id) {
            about_run += 1;
            assert_eq!(parsed["run_id"], run_id.as_str(), "a line about the run without its run_id: {line}");
            if line.contains("no worker has polled") {
                assert_eq!(parsed["step_id"], "research", "{line}");
            }
        }
    }
    assert!(about_run >= 1, "no line was about the run: {lines:?}");
    assert!(lines.iter().any(|l| l.contains("\"message\":\"weft stopped\"")), "{lines:?}");
}

#[test]
fn a_bad_log_format_is_a_clear_startup_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WEFT_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WEFT_LOG_FORMAT") && stderr.contains("text or json"), "{stderr}");
}
