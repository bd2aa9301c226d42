//! `weft runs watch` under a pseudo-terminal: the live view draws a
//! `done/total` bar for a 20-item map step. Five items finish at once and
//! the other fifteen wait on a gate the test opens, so the partial count
//! `5/20` is on screen deterministically before `20/20`.

#![allow(clippy::unwrap_used, reason = "test code")]

mod cli_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cli_support::{file, start_server, weft_async};
use expectrl::process::unix::WaitStatus;
use expectrl::{Expect, Session};
use serde_json::json;
use weft_sdk::worker::{TaskContext, TaskError, Worker};

const DEFINITION: &str = "\
name: cli-map
steps:
  - id: each
    type: map
    over: $.input.items
    as: item
    concurrency: 20
    step:
      id: one
      type: agent
      agent: cli-item
      task: Handle one item
      inputMap: {n: $.item}
  - id: total
    type: agent
    agent: cli-total
    task: Count
    dependsOn: [each]
    inputMap: {items: $.each.output}
";

/// Opened by the test once the partial count has been seen.
static GATE: AtomicBool = AtomicBool::new(false);

async fn item(task: TaskContext) -> Result<serde_json::Value, TaskError> {
    let n = task.input()["n"].as_u64().unwrap_or_default();
    while n >= 5 && !GATE.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(json!({"n": n}))
}

async fn total(task: TaskContext) -> Result<serde_json::Value, TaskError> {
    Ok(json!({"count": task.input()["items"].as_array().map(Vec::len).unwrap_or_default()}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_shows_a_map_steps_progress_and_ends_with_the_result() {
    let server = start_server();
    let (_dir, path) = file("map.yaml", DEFINITION);
    assert_eq!(weft_async(&server, &["workflows", "apply", "-f", &path]).await.code, 0);

    let weft = weft_sdk::Weft::connect(server.url.clone()).await.unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        Worker::new(&weft)
            .agent("cli-item", item)
            .agent("cli-total", total)
            .concurrency(32)
            .run(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });

    let input = json!({"items": (0..20).collect::<Vec<_>>()}).to_string();
    let started = weft_async(&server, &["runs", "start", "cli-map", "--input", &input]).await;
    assert_eq!(started.code, 0, "{}", started.stderr);
    let run_id = started.json()["id"].as_str().unwrap().to_string();

    let url = server.url.clone();
    let screen = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_weft"));
        command.args(["runs", "watch", &run_id]).env("WEFT_URL", url).env_remove("WEFT_API_KEY");
        let mut session = Session::spawn(command).unwrap();
        session.get_process_mut().set_window_size(120, 40).unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(30)));
        // The map's bar with five of twenty items done, the rest held.
        session.expect("5/20").unwrap();
        GATE.store(true, Ordering::SeqCst);
        session.expect("20/20").unwrap();
        let end = session.expect(expectrl::Regex("run wfrun_[0-9a-z]+ completed in [^\r\n]*")).unwrap();
        let last = String::from_utf8_lossy(end.get(0).unwrap()).into_owned();
        session.expect("output:").unwrap();
        let status = session.get_process().wait().unwrap();
        (last, status)
    })
    .await
    .unwrap();
    let (last, status) = screen;
    assert!(last.contains("cost $0.00"), "{last}");
    assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
}
