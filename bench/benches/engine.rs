//! Benchmark of the run engine: the pure `transition` in process (a chain
//! of transforms computed inside one Start; a 100-agent fan-out completed
//! one step at a time), then the one writer against SQLite (WAL,
//! synchronous=FULL): closed-loop clients each starting a run with one
//! agent step and completing it, reporting transitions/s, commits/s and
//! transitions per commit (group commit at work).
//!
//! Run with `cargo bench -p weft-bench --bench engine`. Plain `main`
//! (`harness = false`) so it needs no benchmarking crate.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_server::engine::compile::{CompiledWorkflow, compile};
use weft_server::engine::run::{Command, RunState, transition};
use weft_server::engine::scheduler::{NewRun, RunScheduler};
use weft_server::model::definition::Definition;
use weft_server::model::ids;
use weft_server::store::Store;
use weft_server::store::sqlite::SqliteStore;

const MEASURE: Duration = Duration::from_secs(3);

fn workflow(value: Value) -> Arc<CompiledWorkflow> {
    let definition: Definition = serde_json::from_value(value).expect("definition");
    Arc::new(compile(&definition).expect("valid definition"))
}

fn chain(n: usize) -> Arc<CompiledWorkflow> {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            let deps: Vec<String> = if i == 0 { vec![] } else { vec![format!("t{}", i - 1)] };
            let from = if i == 0 { "$.input.n".to_string() } else { format!("$.t{}.output.n", i - 1) };
            json!({"id": format!("t{i}"), "type": "transform", "dependsOn": deps, "output": {"n": from}})
        })
        .collect();
    workflow(json!({"name": "chain", "steps": steps}))
}

fn fan_out(n: usize) -> Arc<CompiledWorkflow> {
    let mut steps: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("a{i}"), "type": "agent", "agent": "w", "task": "Item {{ input.n }}"}))
        .collect();
    let deps: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
    steps.push(json!({"id": "join", "type": "transform", "dependsOn": deps, "output": {"first": "$.a0.output"}}));
    workflow(json!({"name": "fan-out", "steps": steps}))
}

/// Runs `body` repeatedly for MEASURE; returns (iterations, elapsed).
fn repeat(mut body: impl FnMut()) -> (u64, Duration) {
    let started = Instant::now();
    let mut iterations = 0;
    while started.elapsed() < MEASURE {
        body();
        iterations += 1;
    }
    (iterations, started.elapsed())
}

fn pure_transitions() {
    let chain10 = chain(10);
    let (runs, elapsed) = repeat(|| {
        let mut run = RunState::new("wfrun_bench", "wf_bench", 1, chain10.clone());
        let start = Command::Start { input: json!({"n": 1}), shared_state: Value::Null, now_ms: 1 };
        black_box(transition(&mut run, start).expect("start"));
    });
    let per_s = runs as f64 / elapsed.as_secs_f64();
    println!("pure, chain of 10 transforms: {per_s:>10.0} transitions/s ({:.0} steps/s)", per_s * 10.0);

    let fan = fan_out(100);
    let (runs, elapsed) = repeat(|| {
        let mut run = RunState::new("wfrun_bench", "wf_bench", 1, fan.clone());
        let start = Command::Start { input: json!({"n": 1}), shared_state: Value::Null, now_ms: 1 };
        transition(&mut run, start).expect("start");
        for i in 0..100 {
            let done = Command::StepSucceeded {
                step: format!("a{i}"),
                attempt: 1,
                output: json!({"i": i}),
                cost_cents: 1,
                now_ms: 2,
            };
            black_box(transition(&mut run, done).expect("complete"));
        }
    });
    let per_s = runs as f64 * 101.0 / elapsed.as_secs_f64();
    println!("pure, fan-out of 100 agents:  {per_s:>10.0} transitions/s");
}

async fn writer(clients: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("bench.db").display())).await.expect("store");
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let scheduler = RunScheduler::spawn(shared, Vec::new(), Vec::new());
    let flow = workflow(json!({"name": "one-agent", "steps": [
        {"id": "work", "type": "agent", "agent": "w", "task": "Work on {{ input.n }}"},
        {"id": "after", "type": "transform", "dependsOn": ["work"], "output": {"r": "$.work.output"}}
    ]}));
    let deadline = Instant::now() + MEASURE;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let scheduler = scheduler.clone();
            let flow = flow.clone();
            tokio::spawn(async move {
                let mut transitions = 0u64;
                while Instant::now() < deadline {
                    let new = NewRun {
                        id: ids::new_run_id(),
                        tenant: "default".into(),
                        workflow_id: "wf_bench".into(),
                        workflow_version: 1,
                        workflow: flow.clone(),
                        user_id: String::new(),
                        trigger: "bench".into(),
                        idempotency_key: String::new(),
                        input: json!({"n": 1}),
                        shared_state: Value::Null,
                        now_ms: weft_server::engine::scheduler::now_ms(),
                    };
                    let run_id = scheduler.start(new).await.expect("start").run_id;
                    let done = Command::StepSucceeded {
                        step: "work".into(),
                        attempt: 1,
                        output: json!({"ok": true}),
                        cost_cents: 1,
                        now_ms: weft_server::engine::scheduler::now_ms(),
                    };
                    scheduler.command("default", &run_id, done).await.expect("complete");
                    transitions += 2;
                }
                transitions
            })
        })
        .collect();
    let mut transitions = 0;
    for task in tasks {
        transitions += task.await.expect("client");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let commits = scheduler.stats().commits.load(Ordering::Relaxed);
    let committed = scheduler.stats().commands.load(Ordering::Relaxed);
    let in_commit = scheduler.stats().commit_micros.load(Ordering::Relaxed) as f64 / 1e6;
    println!(
        "writer, {clients:>3} clients: {:>8.0} transitions/s, {:>6.0} commits/s, {:>6.1} transitions/commit, \
         {:>5.2} ms/commit, {:>3.0}% of the time in commit",
        transitions as f64 / elapsed,
        commits as f64 / elapsed,
        committed as f64 / commits.max(1) as f64,
        in_commit * 1e3 / commits.max(1) as f64,
        in_commit / elapsed * 100.0
    );
    scheduler.shutdown().await;
    store.close().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    pure_transitions();
    for clients in [1, 16, 128, 512] {
        writer(clients).await;
    }
}
