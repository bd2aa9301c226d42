//! The README's five-minute tour, run as written: the block marked `tour`
//! is extracted with `scripts/readme-code` and run by bash against a live
//! server (its address put in place of the README's 127.0.0.1:7070), with
//! the SDK's example worker serving the agents, as the tour tells the
//! reader to start it. Checks what each command answers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use weft_tests::TestServer;
use weft_tests::examples::example;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository").to_path_buf()
}

fn tour_block() -> String {
    let out = std::process::Command::new("python3")
        .arg(repo().join("scripts/readme-code"))
        .arg(repo().join("README.md"))
        .arg("tour")
        .output()
        .expect("python3 runs scripts/readme-code");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("the README is UTF-8")
}

#[tokio::test]
async fn the_readme_tour_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url();
    let _worker = Command::new(example("worker"))
        .env("WEFT_URL", &url)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the worker example starts");

    let script = tour_block().replace("http://127.0.0.1:7070", &url);
    assert!(!script.contains("127.0.0.1:7070"), "every command goes to the test server");
    let ran = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).output();
    let output = tokio::time::timeout(Duration::from_secs(90), ran).await.expect("the tour ends").expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let answers: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("JSON answers");
    assert_eq!(answers.len(), 5, "{stdout}");

    let applied = &answers[0];
    assert_eq!(applied["outcome"], "created", "{applied}");
    assert_eq!(applied["workflow"]["version"], 1, "{applied}");

    let run = |answer: &Value| answer.get("run").cloned().unwrap_or_else(|| answer.clone());
    let step = |run: &Value, id: &str| {
        run["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == id)).cloned().unwrap_or(Value::Null)
    };
    let big = run(&answers[1]);
    assert_eq!(big["status"], "completed", "{big}");
    assert_eq!(step(&big, "send-to-crm")["output"], serde_json::json!({"lead": "acme"}), "{big}");
    assert_eq!(step(&big, "archive")["status"], "skipped", "{big}");
    let small = run(&answers[2]);
    assert_eq!(small["status"], "completed", "{small}");
    assert_eq!(step(&small, "send-to-crm")["status"], "skipped", "{small}");
    assert_eq!(step(&small, "archive")["status"], "completed", "{small}");

    assert_eq!(
        answers[3].as_array().map(Vec::len).or_else(|| answers[3]["versions"].as_array().map(Vec::len)),
        Some(1)
    );
    let runs = answers[4].as_array().cloned().or_else(|| answers[4]["runs"].as_array().cloned()).unwrap_or_default();
    assert_eq!(runs.len(), 2, "{}", answers[4]);
}
