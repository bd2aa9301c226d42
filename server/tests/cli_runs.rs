//! `weft runs …` end to end, with an in-process worker (the Rust SDK)
//! serving the agents: `start --watch` follows a run to its end and exits
//! with its outcome (0 completed, 1 failed) after the result lines; `-o
//! json` of start, get and list is the REST JSON; `estimate` answers.

#![allow(clippy::unwrap_used, reason = "test code")]

mod cli_support;

use cli_support::{Server, file, start_server, weft_async};
use serde_json::json;
use weft_sdk::worker::{Outcome, TaskContext, TaskError, Worker};

const DEFINITION: &str = "\
name: cli-runs
inputSchema:
  type: object
  properties:
    name: {type: string}
steps:
  - id: greet
    type: agent
    agent: cli-greeter
    task: Say hello
    inputMap: {name: $.input.name}
  - id: shout
    type: agent
    agent: cli-shouter
    task: Shout it
    dependsOn: [greet]
    inputMap: {text: $.greet.output.text}
";

async fn greet(task: TaskContext) -> Result<Outcome, TaskError> {
    let name = task.input()["name"].as_str().unwrap_or_default().to_string();
    if name == "fail" {
        return Err(TaskError::permanent("no greeting for 'fail'"));
    }
    Ok(Outcome::new(json!({"text": format!("hello {name}")})).cost(7, "usd"))
}

async fn shout(task: TaskContext) -> Result<serde_json::Value, TaskError> {
    Ok(json!({"text": task.input()["text"].as_str().unwrap_or_default().to_uppercase()}))
}

/// A worker for the test's agents until the returned sender is dropped.
async fn serve_agents(server: &Server) -> tokio::sync::oneshot::Sender<()> {
    let weft = weft_sdk::Weft::connect(server.url.clone()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        Worker::new(&weft)
            .agent("cli-greeter", greet)
            .agent("cli-shouter", shout)
            .concurrency(4)
            .run(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_watch_follows_runs_to_their_outcome() {
    let server = start_server();
    let (_dir, path) = file("runs.yaml", DEFINITION);
    let applied = weft_async(&server, &["workflows", "apply", "-f", &path]).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let _worker = serve_agents(&server).await;

    // Completed: exit 0, the steps as plain lines, then the result.
    let ran = weft_async(&server, &["runs", "start", "cli-runs", "--input", r#"{"name":"ada"}"#, "--watch"]).await;
    assert_eq!(ran.code, 0, "stdout: {}\nstderr: {}", ran.stdout, ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("✓ greet") && l.contains("completed") && l.contains("$0.07")),
        "{}",
        ran.stdout
    );
    assert!(lines.iter().any(|l| l.starts_with("✓ shout") && l.contains("completed")), "{}", ran.stdout);
    let tail = &lines[lines.len() - 2..];
    assert!(
        tail[0].starts_with("run wfrun_") && tail[0].contains(" completed in ") && tail[0].contains("cost $0.07"),
        "{tail:?}"
    );
    assert_eq!(tail[1], r#"output: {"text":"HELLO ADA"}"#, "{tail:?}");

    // Failed: exit 1, the failed step marked, the error and where to retry.
    let ran = weft_async(&server, &["runs", "start", "cli-runs", "--input", r#"{"name":"fail"}"#, "--watch"]).await;
    assert_eq!(ran.code, 1, "stdout: {}\nstderr: {}", ran.stdout, ran.stderr);
    assert!(ran.stdout.lines().any(|l| l.starts_with("✗ greet") && l.contains("failed")), "{}", ran.stdout);
    assert!(ran.stdout.contains(" failed in "), "{}", ran.stdout);
    assert!(ran.stdout.contains("error: STEP_FAILED at step 'greet'"), "{}", ran.stdout);
    assert!(ran.stdout.contains("no greeting for 'fail'"), "{}", ran.stdout);

    // Watching a finished run again gives the same outcome at once.
    let run_id =
        ran.stdout.lines().find_map(|l| l.strip_prefix("run ")).unwrap().split(' ').next().unwrap().to_string();
    let again = weft_async(&server, &["runs", "watch", &run_id]).await;
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(again.stdout.contains("error: STEP_FAILED"), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_of_start_get_and_list_is_the_rest_json() {
    let server = start_server();
    let (_dir, path) = file("runs.yaml", DEFINITION);
    assert_eq!(weft_async(&server, &["workflows", "apply", "-f", &path]).await.code, 0);

    // No worker yet: the run waits at its first step.
    let started = weft_async(
        &server,
        &["runs", "start", "cli-runs", "--input", r#"{"name":"bo"}"#, "--idempotency-key", "k-1", "-o", "json"],
    )
    .await;
    assert_eq!(started.code, 0, "{}", started.stderr);
    let run = started.json();
    let id = run["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("wfrun_"), "{run}");
    assert_eq!(run["status"], "running");
    assert_eq!(run["input"], json!({"name": "bo"}));
    assert_eq!(run["idempotencyKey"], "k-1");

    // The same key returns the same run.
    let repeated =
        weft_async(&server, &["runs", "start", "cli-runs", "--input", r#"{"name":"bo"}"#, "--idempotency-key", "k-1"])
            .await;
    assert_eq!(repeated.json()["id"], id.as_str());

    let got = weft_async(&server, &["runs", "get", &id, "-o", "json"]).await;
    assert_eq!(got.code, 0, "{}", got.stderr);
    let got = got.json();
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["steps"][0]["id"], "greet");
    assert_eq!(got["steps"][1]["status"], "pending");

    let listed =
        weft_async(&server, &["runs", "list", "--workflow", "cli-runs", "--status", "running", "-o", "json"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let runs = listed.json();
    assert!(runs.as_array().unwrap().iter().any(|r| r["id"] == id.as_str()), "{runs}");
    let none = weft_async(&server, &["runs", "list", "--workflow", "cli-runs", "--status", "completed"]).await;
    assert_eq!(none.json(), json!([]));

    // Paused and resumed by hand while it waits for a worker.
    let paused = weft_async(&server, &["runs", "pause", &id, "--reason", "lunch"]).await;
    assert_eq!(paused.code, 0, "{}", paused.stderr);
    assert_eq!(paused.json()["status"], "paused");
    let resumed = weft_async(&server, &["runs", "resume", &id]).await;
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_ne!(resumed.json()["status"], "paused", "{}", resumed.stdout);

    // Now a worker finishes it, and `watch` sees the end.
    let _worker = serve_agents(&server).await;
    let watched = weft_async(&server, &["runs", "watch", &id]).await;
    assert_eq!(watched.code, 0, "{}\n{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("HELLO BO"), "{}", watched.stdout);

    // Cancel of a finished run is the server's refusal, exit 1.
    let cancelled = weft_async(&server, &["runs", "cancel", &id]).await;
    assert_eq!(cancelled.code, 1, "{}", cancelled.stdout);
    assert!(!cancelled.stderr.is_empty());

    let estimate = weft_async(&server, &["estimate", "cli-runs", "--input", r#"{"name":"x"}"#]).await;
    assert_eq!(estimate.code, 0, "{}", estimate.stderr);
    assert_eq!(estimate.json()["stepCount"], 2, "{}", estimate.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_exits_3() {
    let server = start_server();
    let (_dir, path) = file("runs.yaml", DEFINITION);
    assert_eq!(weft_async(&server, &["workflows", "apply", "-f", &path]).await.code, 0);
    let started = weft_async(&server, &["runs", "start", "cli-runs", "--input", r#"{"name":"cy"}"#]).await;
    let id = started.json()["id"].as_str().unwrap().to_string();
    let cancelled = weft_async(&server, &["runs", "cancel", &id, "--reason", "not today"]).await;
    assert_eq!(cancelled.code, 0, "{}", cancelled.stderr);
    assert_eq!(cancelled.json()["status"], "cancelled");
    let watched = weft_async(&server, &["runs", "watch", &id]).await;
    assert_eq!(watched.code, 3, "{}", watched.stdout);
    assert!(watched.stdout.contains("cancelled: not today"), "{}", watched.stdout);
}
