//! Benchmark of the run engine against issue #4's speed targets, through
//! the real scheduler and a SQLite file (WAL, synchronous=FULL), plus the
//! disk's own commit rate so the gap to the limit is visible.
//!
//! Cases (each can be run alone by naming it, or part of its name, after
//! `--`; a full run does them all in this order):
//!
//! - `parked`: 10,000 runs started through `RunEngine::start` and parked on a
//!   one-hour delay; VmRSS before and after. Then a fresh process (this
//!   binary again) recovers them from the same file with `RunEngine::open`:
//!   time and RSS. Runs first so the RSS is not inflated by earlier cases.
//! - `disk`: raw sqlx on a SQLite file, same options as the store: single-row
//!   commits/s and rows/s at 100 rows per commit.
//! - `pure`: `transition` alone (a chain of 10 transforms computed inside one
//!   Start; a 100-agent fan-out completed one step at a time).
//! - `chain-latency` / `fanout-latency`: sequential runs of a 10-transform
//!   chain and of a 100-wide transform fan-out/fan-in, timed from
//!   `RunScheduler::start` to the run's committed `run.completed` event
//!   arriving on a subscription; p50/p90/p99.
//! - `chain-throughput`: 1,000 concurrent closed-loop clients, each starting
//!   10-transform chains back to back; runs/s, step transitions/s (counted
//!   from the committed events), commits/s, transitions per commit.
//! - `writer`: closed-loop clients starting a run of one agent step plus a
//!   transform and completing the agent step (two commands per run).
//! - `checkpoint`: the fan-out latency case twice on SQLite, with SQLite's
//!   own WAL checkpoints inside commits (as before issue #15) and with the
//!   store's background checkpoints.
//! - `metrics`: what the writer's metric recording costs per commit, alone
//!   (the other cases record for real too: the writer installs the
//!   recorder).
//! - `retention`: 5,000 finished 10-transform chains deleted by retention
//!   batches as the server runs them; how long each batch holds the writer
//!   (SQLite: on its commit thread), runs per batch, runs deleted per
//!   second of holding.
//!
//! Run with `cargo bench -p weft-bench --bench engine [-- CASE]`. Plain
//! `main` (`harness = false`) so it needs no benchmarking crate.
//!
//! `-- --database-url postgres://…` (or `WEFT_BENCH_DATABASE_URL`) runs the
//! engine cases on Postgres instead, each in a fresh schema `weft_bench_…`
//! of that database (dropped by the next Postgres run); `disk` measures
//! SQLite only and is skipped there.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use weft_server::engine::cluster::open_engine;
use weft_server::engine::compile::{CompiledWorkflow, compile};
use weft_server::engine::run::{Command, RunState, transition};
use weft_server::engine::runs::StartRun;
use weft_server::engine::scheduler::{NewRun, RunScheduler, SchedulerStats, now_ms};
use weft_server::engine::workflows::WorkflowDraft;
use weft_server::engine::{RunEngine, WorkflowCatalog};
use weft_server::model::RunStatus;
use weft_server::model::definition::Definition;
use weft_server::store::{OpenStore, RunQuery, Store};

// The `weft` binary's allocator, so RSS and allocation costs match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Length of each throughput case.
const MEASURE: Duration = Duration::from_secs(3);
/// Sequential runs timed per latency case, after `WARM_UP` untimed ones.
const LATENCY_RUNS: usize = 500;
const WARM_UP: usize = 50;
/// Runs parked on a delay for the memory and recovery case.
const PARKED: usize = 10_000;
/// Concurrent starters while parking runs (the API's callers, in effect).
const PARKING_CLIENTS: usize = 64;
/// Set in the child process that recovers the parked runs: the database path.
const RECOVER_ENV: &str = "WEFT_BENCH_RECOVER";
/// A Postgres URL to run on instead of SQLite files (also `--database-url`).
const DATABASE_ENV: &str = "WEFT_BENCH_DATABASE_URL";
const TENANT: &str = "default";
/// `weft serve`'s default partition lease, for the Postgres cases.
const PARTITION_LEASE_MS: u64 = 10_000;

fn workflow(value: Value) -> Arc<CompiledWorkflow> {
    let definition: Definition = serde_json::from_value(value).expect("definition");
    Arc::new(compile(&definition).expect("valid definition"))
}

fn chain_definition(n: usize) -> Value {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            let deps: Vec<String> = if i == 0 { vec![] } else { vec![format!("t{}", i - 1)] };
            let from = if i == 0 { "$.input.n".to_string() } else { format!("$.t{}.output.n", i - 1) };
            json!({"id": format!("t{i}"), "type": "transform", "dependsOn": deps, "output": {"n": from}})
        })
        .collect();
    json!({"name": "chain", "steps": steps})
}

/// One source transform, `n` transforms that each depend on it, one join
/// that depends on all of them: every step pure.
fn fan_out_transforms(n: usize) -> Arc<CompiledWorkflow> {
    let mut steps = vec![json!({"id": "source", "type": "transform", "output": {"n": "$.input.n"}})];
    steps.extend((0..n).map(|i| {
        json!({"id": format!("b{i}"), "type": "transform", "dependsOn": ["source"], "output": {"n": "$.source.output.n"}})
    }));
    let deps: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
    steps.push(json!({"id": "join", "type": "transform", "dependsOn": deps,
                      "output": {"first": "$.b0.output.n", "last": format!("$.b{}.output.n", n - 1)}}));
    workflow(json!({"name": "fan-out-transforms", "steps": steps}))
}

fn fan_out_agents(n: usize) -> Arc<CompiledWorkflow> {
    let mut steps: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("a{i}"), "type": "agent", "agent": "w", "task": "Item {{ input.n }}"}))
        .collect();
    let deps: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
    steps.push(json!({"id": "join", "type": "transform", "dependsOn": deps, "output": {"first": "$.a0.output"}}));
    workflow(json!({"name": "fan-out", "steps": steps}))
}

fn new_run(flow: &Arc<CompiledWorkflow>) -> NewRun {
    NewRun {
        id: weft_server::ids::new_run_id(),
        tenant: TENANT.into(),
        workflow_id: "wf_bench".into(),
        workflow_version: 1,
        workflow: flow.clone(),
        user_id: String::new(),
        trigger: "bench".into(),
        idempotency_key: String::new(),
        input: json!({"n": 1}),
        shared_state: Value::Null,
        now_ms: now_ms(),
        schedule_id: String::new(),
        scheduled_ms: None,
        trace: None,
    }
}

/// The Postgres database of this run, if any: `--database-url URL` or
/// `WEFT_BENCH_DATABASE_URL`.
fn postgres_base() -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != "--database-url");
    args.nth(1).or_else(|| std::env::var(DATABASE_ENV).ok()).filter(|url| !url.trim().is_empty())
}

/// The database URL of a case whose SQLite file would be `path`: that file,
/// or on Postgres a schema named after it (so the recovery child process,
/// given the same path, opens the same schema).
async fn database_url(path: &std::path::Path) -> String {
    let Some(base) = postgres_base() else { return format!("sqlite://{}", path.display()) };
    let mut hash = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(path, &mut hash);
    let schema = format!("weft_bench_{:016x}", std::hash::Hasher::finish(&hash));
    let pool = sqlx::PgPool::connect(&base).await.expect("connect to the bench database");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}")))
        .execute(&pool)
        .await
        .expect("create the bench schema");
    pool.close().await;
    let mut created = CREATED_SCHEMAS.lock().expect("schema list");
    if !created.contains(&schema) {
        created.push(schema.clone());
    }
    drop(created);
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

/// The schemas this process created, dropped when it ends. Only its own:
/// the Postgres server may hold other people's benches and tests.
static CREATED_SCHEMAS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Drops the schemas this run created.
async fn drop_own_schemas(base: &str) {
    let names = std::mem::take(&mut *CREATED_SCHEMAS.lock().expect("schema list"));
    if names.is_empty() {
        return;
    }
    let pool = sqlx::PgPool::connect(base).await.expect("connect to the bench database");
    for name in names {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE"))).execute(&pool).await.expect("drop");
    }
    pool.close().await;
}

/// The engine as `weft serve` opens it on the case's store (on Postgres, a
/// replica holding every partition: fenced commits, NOTIFY), and its writer.
///
/// Its concurrent-run limit is set to 0 (none) explicitly: the cases that
/// start many concurrent runs of one workflow would otherwise measure
/// queueing. The latency cases set `WEFT_BENCH_RUN_LIMIT` instead.
async fn open_scheduler(store: &OpenStore) -> (RunEngine, RunScheduler) {
    let catalog = WorkflowCatalog::new(store.shared());
    let (engine, _) = open_engine(store, catalog, true, PARTITION_LEASE_MS).await.expect("engine");
    let scheduler = engine.scheduler().clone();
    scheduler.concurrency().set(0, true);
    (engine, scheduler)
}

/// The concurrent-run limit the latency cases run under:
/// `WEFT_BENCH_RUN_LIMIT` (the server's default is 10), else 0 (none).
fn run_limit() -> u32 {
    std::env::var("WEFT_BENCH_RUN_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn open_store(path: &std::path::Path) -> OpenStore {
    OpenStore::open(&database_url(path).await).await.expect("a store URL").expect("store")
}

/// `SELECT COUNT(*) …` on the case's database, whichever store it is.
async fn count(path: &std::path::Path, sql: &'static str) -> i64 {
    if postgres_base().is_none() {
        let pool = raw_pool(path).await;
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.expect("count");
        pool.close().await;
        return n;
    }
    let pool = sqlx::PgPool::connect(&database_url(path).await).await.expect("connect");
    let n = sqlx::query_scalar(sql).fetch_one(&pool).await.expect("count");
    pool.close().await;
    n
}

/// A second pool on the store's file, for counting what was committed.
async fn raw_pool(path: &std::path::Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("raw pool")
}

/// Resident set size of this process, bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("VmRSS in kB") * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The value at quantile `q` of sorted samples.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Writer counters at one instant, to take differences over a window.
#[derive(Clone, Copy)]
struct Counters {
    commits: u64,
    commands: u64,
    commit_micros: u64,
}

impl Counters {
    fn read(stats: &SchedulerStats) -> Self {
        Self {
            commits: stats.commits.load(Ordering::Relaxed),
            commands: stats.commands.load(Ordering::Relaxed),
            commit_micros: stats.commit_micros.load(Ordering::Relaxed),
        }
    }
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
    let chain10 = workflow(chain_definition(10));
    let (runs, elapsed) = repeat(|| {
        let mut run = RunState::new("wfrun_bench", "wf_bench", 1, chain10.clone());
        let start = Command::Start { input: json!({"n": 1}), shared_state: Value::Null, now_ms: 1 };
        black_box(transition(&mut run, start).expect("start"));
    });
    let per_s = runs as f64 / elapsed.as_secs_f64();
    println!("pure, chain of 10 transforms: {per_s:>10.0} transitions/s ({:.0} steps/s)", per_s * 10.0);

    let fan = fan_out_agents(100);
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
                state_writes: None,
            };
            black_box(transition(&mut run, done).expect("complete"));
        }
    });
    let per_s = runs as f64 * 101.0 / elapsed.as_secs_f64();
    println!("pure, fan-out of 100 agents:  {per_s:>10.0} transitions/s");
}

/// Sequential runs of `flow`, each timed from the start request to its
/// `run.completed` event (published only after the commit that holds it).
async fn latency(label: &str, flow: Arc<CompiledWorkflow>) {
    latency_with(label, flow, false).await
}

/// [`latency`], with SQLite checkpointing inside commits when
/// `auto_checkpoint` (SQLite only).
async fn latency_with(label: &str, flow: Arc<CompiledWorkflow>, auto_checkpoint: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(&dir.path().join("bench.db")).await;
    if let (true, OpenStore::Sqlite(sqlite)) = (auto_checkpoint, &store) {
        sqlite.checkpoint_inside_commits().await.expect("auto-checkpoint on");
    }
    let (engine, scheduler) = open_scheduler(&store).await;
    // One run at a time, so a limit never queues here: it measures what
    // taking and freeing a slot costs on the start path.
    let limit = run_limit();
    scheduler.concurrency().set(limit, true);
    let mut events = scheduler.subscribe();
    let mut acked = Vec::with_capacity(LATENCY_RUNS);
    let mut done = Vec::with_capacity(LATENCY_RUNS);
    for i in 0..WARM_UP + LATENCY_RUNS {
        let new = new_run(&flow);
        let run_id = new.id.clone();
        let started = Instant::now();
        scheduler.start(new).await.expect("start");
        let ack = started.elapsed();
        let terminal = loop {
            let event = events.recv().await.expect("event stream");
            if event.run_id == run_id && event.event_type.starts_with("run.") && event.event_type != "run.started" {
                break event.event_type.clone();
            }
        };
        let end = started.elapsed();
        assert_eq!(terminal, "run.completed", "{label} run {run_id} ended {terminal}");
        if i >= WARM_UP {
            acked.push(ack);
            done.push(end);
        }
    }
    acked.sort();
    done.sort();
    let stats = Counters::read(scheduler.stats());
    println!(
        "{label} [run limit {limit}]: start→run.completed p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms \
         (start answered p50 {:.3} ms); {:.2} ms/commit over {} runs",
        ms(quantile(&done, 0.5)),
        ms(quantile(&done, 0.9)),
        ms(quantile(&done, 0.99)),
        ms(*done.last().expect("samples")),
        ms(quantile(&acked, 0.5)),
        stats.commit_micros as f64 / 1e3 / stats.commits.max(1) as f64,
        LATENCY_RUNS,
    );
    if let OpenStore::Sqlite(sqlite) = &store {
        let c = sqlite.checkpoint_stats();
        let chores = c.chores.load(Ordering::Relaxed);
        println!(
            "  checkpoints on the commit thread: {chores} (mean {:.3} ms, max {:.3} ms); passive beside it: {}",
            c.chore_micros.load(Ordering::Relaxed) as f64 / 1e3 / chores.max(1) as f64,
            c.max_chore_micros.load(Ordering::Relaxed) as f64 / 1e3,
            c.passive.load(Ordering::Relaxed),
        );
    }
    engine.shutdown().await;
    store.close().await;
}

/// `clients` closed-loop starters of 10-transform chains for MEASURE.
async fn chain_throughput(clients: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = open_store(&path).await;
    let (engine, scheduler) = open_scheduler(&store).await;
    let flow = workflow(chain_definition(10));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (scheduler, flow) = (scheduler.clone(), flow.clone());
            let (measuring, stop, answered) = (measuring.clone(), stop.clone(), answered.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    scheduler.start(new_run(&flow)).await.expect("start");
                    if measuring.load(Ordering::Relaxed) {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // One second to fill the queue, so the window sees the steady state.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = Counters::read(scheduler.stats());
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let after = Counters::read(scheduler.stats());
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("client");
    }
    engine.shutdown().await;
    store.close().await;

    // Step transitions as committed: every step.* event in the file, per
    // finished run (each chain run commits 10 step.started + 10 step.completed).
    let runs = count(&path, "SELECT COUNT(*) FROM runs").await;
    let completed = count(&path, "SELECT COUNT(*) FROM runs WHERE status = 'completed'").await;
    assert_eq!(runs, completed, "every chain run completes");
    let step_events =
        count(&path, "SELECT COUNT(*) FROM run_events WHERE type IN ('step.started', 'step.completed')").await;
    let all_events = count(&path, "SELECT COUNT(*) FROM run_events").await;
    let per_run = step_events as f64 / runs as f64;
    let runs_per_s = answered.load(Ordering::Relaxed) as f64 / elapsed;
    let commits = (after.commits - before.commits) as f64;
    let commands = (after.commands - before.commands) as f64;
    let in_commit = (after.commit_micros - before.commit_micros) as f64 / 1e6;
    println!(
        "chain throughput, {clients} clients: {runs_per_s:>7.0} runs/s, {:>7.0} steps completed/s, \
         {:>7.0} step transitions/s ({per_run:.0} per run: step.started + step.completed), {:>5.1} commits/s, \
         {:>5.1} runs/commit = {:>6.0} step transitions/commit, {:>6.2} ms/commit, {:>3.0}% in commit; \
         {} runs, {} events committed",
        runs_per_s * 10.0,
        runs_per_s * per_run,
        commits / elapsed,
        commands / commits.max(1.0),
        commands / commits.max(1.0) * per_run,
        in_commit * 1e3 / commits.max(1.0),
        in_commit / elapsed * 100.0,
        runs,
        all_events,
    );
}

async fn writer(clients: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(&dir.path().join("bench.db")).await;
    let (engine, scheduler) = open_scheduler(&store).await;
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
                    let run_id = scheduler.start(new_run(&flow)).await.expect("start").run_id;
                    let done = Command::StepSucceeded {
                        step: "work".into(),
                        attempt: 1,
                        output: json!({"ok": true}),
                        cost_cents: 1,
                        now_ms: now_ms(),
                        state_writes: None,
                    };
                    scheduler.command(TENANT, &run_id, done).await.expect("complete");
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
    let stats = Counters::read(scheduler.stats());
    let in_commit = stats.commit_micros as f64 / 1e6;
    println!(
        "writer, {clients:>3} clients: {:>8.0} transitions/s, {:>6.0} commits/s, {:>6.1} transitions/commit, \
         {:>5.2} ms/commit, {:>3.0}% of the time in commit",
        transitions as f64 / elapsed,
        stats.commits as f64 / elapsed,
        stats.commands as f64 / stats.commits.max(1) as f64,
        in_commit * 1e3 / stats.commits.max(1) as f64,
        in_commit / elapsed * 100.0
    );
    engine.shutdown().await;
    store.close().await;
}

/// Parks PARKED runs on a one-hour delay through the API's engine, then has
/// a fresh process recover them from the same file.
async fn parked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = open_store(&path).await;
    let shared: Arc<dyn Store> = store.shared();
    let catalog = WorkflowCatalog::new(shared.clone());
    let definition: Definition = serde_json::from_value(json!({"name": "parked", "steps": [
        {"id": "wait", "type": "delay", "duration": 3600},
        {"id": "after", "type": "transform", "dependsOn": ["wait"], "output": {"n": "$.input.n"}}
    ]}))
    .expect("definition");
    let created = catalog.create(TENANT, WorkflowDraft { definition, ..Default::default() }).await.expect("create");
    let (engine, _) = open_engine(&store, catalog, true, PARTITION_LEASE_MS).await.expect("engine");
    // 10,000 runs of one workflow parked at once: no concurrent-run limit.
    engine.scheduler().concurrency().set(0, true);
    // Compile the version once, so the figure below is the runs, not the cache.
    let start = || StartRun { workflow_id: created.id.clone(), input: json!({"n": 1}), ..Default::default() };
    engine.start(TENANT, start()).await.expect("first start");
    let before = rss_bytes();
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(1));
    let tasks: Vec<_> = (0..PARKING_CLIENTS)
        .map(|_| {
            let (engine, next, request) = (engine.clone(), next.clone(), start());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < PARKED as u64 {
                    let (run, _) = engine.start(TENANT, request.clone()).await.expect("start");
                    assert_eq!(run.status, RunStatus::Running);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("starter");
    }
    let elapsed = started.elapsed();
    let after = rss_bytes();
    println!(
        "parked: {PARKED} runs on a 1 h delay started in {:.2} s ({:.0} runs/s, {PARKING_CLIENTS} concurrent \
         RunEngine::start callers); RSS {:.1} MiB before, {:.1} MiB after: {:.1} MiB for the runs, {:.0} bytes/run",
        elapsed.as_secs_f64(),
        PARKED as f64 / elapsed.as_secs_f64(),
        mib(before),
        mib(after),
        mib(after.saturating_sub(before)),
        after.saturating_sub(before) as f64 / PARKED as f64,
    );
    engine.shutdown().await;
    store.close().await;

    // Recovery in a fresh process, as after a crash: its RSS holds only what
    // recovery builds, not what this process's allocator kept.
    let exe = std::env::current_exe().expect("own path");
    let mut child = std::process::Command::new(exe);
    child.env(RECOVER_ENV, &path);
    if let Some(base) = postgres_base() {
        child.env(DATABASE_ENV, base);
    }
    let status = child.status().expect("recovery process");
    assert!(status.success(), "recovery process failed: {status}");
}

/// The child process of `parked`: opens the file and times recovery.
async fn recover(path: std::path::PathBuf) {
    let before = rss_bytes();
    let store = open_store(&path).await;
    let shared: Arc<dyn Store> = store.shared();
    let opened = rss_bytes();
    let started = Instant::now();
    let catalog = WorkflowCatalog::new(shared.clone());
    let (engine, _) = open_engine(&store, catalog, true, PARTITION_LEASE_MS).await.expect("recover");
    let recovery = started.elapsed();
    let after = rss_bytes();
    // The loader alone, a second time (the file is in the OS cache both times).
    let loading = Instant::now();
    black_box(shared.load_open_runs().await.expect("load"));
    let load_time = loading.elapsed();
    // The recovered runs are live: a command to one is accepted.
    let page = engine
        .list(TENANT, &RunQuery { status: Some(RunStatus::Running), limit: 1, ..Default::default() })
        .await
        .expect("list");
    let sample = &page.runs[0].id;
    engine.cancel(TENANT, sample, "bench".into()).await.expect("a recovered run is live");
    println!(
        "recovery: {} open runs; RunEngine::open (load_open_runs: 2 queries, replay, timers, spawn) {:.0} ms, \
         load_open_runs alone {:.0} ms; RSS {:.1} MiB before the store, {:.1} MiB with it open, \
         {:.1} MiB recovered ({:.0} bytes/run)",
        page.total,
        ms(recovery),
        ms(load_time),
        mib(before),
        mib(opened),
        mib(after),
        after.saturating_sub(opened) as f64 / page.total.max(1) as f64,
    );
    engine.shutdown().await;
    store.close().await;
}

/// The disk's limit: commits of one row, and of 100 rows, on a bare table.
async fn disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = raw_pool(&dir.path().join("disk.db")).await;
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, payload TEXT NOT NULL)")
        .execute(&pool)
        .await
        .expect("table");
    // About the size of a stored step event.
    let payload = "x".repeat(200);
    for rows_per_commit in [1usize, 100] {
        let started = Instant::now();
        let mut commits = 0u64;
        while started.elapsed() < MEASURE {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
            let mut builder = QueryBuilder::<Sqlite>::new("INSERT INTO t (run_id, payload) ");
            builder.push_values(0..rows_per_commit, |mut b, _| {
                b.push_bind("wfrun_01JD0000000000000000000000").push_bind(payload.clone());
            });
            builder.build().execute(&mut *tx).await.expect("insert");
            tx.commit().await.expect("commit");
            commits += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "disk, {rows_per_commit:>3} rows/commit: {:>7.0} commits/s, {:>8.0} rows/s, {:.3} ms/commit",
            commits as f64 / elapsed,
            (commits * rows_per_commit as u64) as f64 / elapsed,
            elapsed * 1e3 / commits as f64,
        );
    }
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM t").fetch_one(&pool).await.expect("count").get(0);
    black_box(rows);
    pool.close().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if let Some(path) = std::env::var_os(RECOVER_ENV) {
        recover(path.into()).await;
        return;
    }
    // `cargo bench` passes `--bench`; the first other argument (not the
    // value of --database-url) filters cases.
    let mut args = std::env::args().skip(1);
    let mut filter: Option<String> = None;
    while let Some(arg) = args.next() {
        if arg == "--database-url" {
            args.next();
        } else if !arg.starts_with('-') && filter.is_none() {
            filter = Some(arg);
        }
    }
    let wanted = |case: &str| filter.as_deref().is_none_or(|f| case.contains(f));
    if let Some(base) = postgres_base() {
        println!("store: Postgres ({})", weft_server::store::redacted_url(&base));
    }
    if wanted("parked") {
        parked().await;
    }
    if wanted("disk") {
        if postgres_base().is_some() {
            println!("disk: skipped (it measures a SQLite file)");
        } else {
            disk().await;
        }
    }
    if wanted("pure") {
        pure_transitions();
    }
    if wanted("chain-latency") {
        latency("chain of 10 transforms", workflow(chain_definition(10))).await;
    }
    if wanted("fanout-latency") {
        latency("fan-out of 100 transforms + join", fan_out_transforms(100)).await;
    }
    if wanted("chain-throughput") {
        chain_throughput(1000).await;
    }
    if wanted("writer") {
        for clients in [1, 16, 128, 512] {
            writer(clients).await;
        }
    }
    if wanted("checkpoint") && postgres_base().is_none() {
        for round in 1..=3 {
            let fan = || fan_out_transforms(100);
            latency_with(&format!("fan-out, checkpoints inside commits (round {round})"), fan(), true).await;
            latency_with(&format!("fan-out, background checkpoints (round {round})"), fan(), false).await;
            let chain = || workflow(chain_definition(10));
            latency_with(&format!("chain, checkpoints inside commits (round {round})"), chain(), true).await;
            latency_with(&format!("chain, background checkpoints (round {round})"), chain(), false).await;
        }
    }
    if wanted("retention") {
        retention(5_000).await;
    }
    if wanted("metrics") {
        metrics_recording();
    }
    if let Some(base) = postgres_base() {
        drop_own_schemas(&base).await;
    }
}

/// What the writer's metrics cost per commit, alone: the recording a
/// commit of one 10-transform chain run makes (the commit's three figures,
/// run started and finished, ten step durations), and of one agent task
/// queued and leased, through the handles the writer keeps, on the real
/// Prometheus recorder.
fn metrics_recording() {
    use weft_server::model::StepKind;
    use weft_server::telemetry::metrics::engine::{StepEnd, WriterMetrics};
    const ROUNDS: u32 = 1_000_000;
    let mut metrics = WriterMetrics::new();
    let chain = |metrics: &mut WriterMetrics| {
        metrics.committed(black_box(11), black_box(0.0008));
        metrics.run_started(black_box("bench-chain"));
        for _ in 0..10 {
            metrics.step_finished(StepKind::Transform, StepEnd::Completed, black_box(0.0001));
        }
        metrics.run_finished(black_box("bench-chain"), "completed");
        metrics.held(black_box(0), black_box(0));
    };
    let task = |metrics: &mut WriterMetrics| {
        metrics.task_queued(black_box("bench-agent"), StepKind::Agent);
        metrics.task_leased(black_box("bench-agent"), StepKind::Agent, black_box(0.002));
    };
    for (name, case) in [("one chain run's commit", &chain as &dyn Fn(&mut WriterMetrics)), ("one task", &task)] {
        for _ in 0..10_000 {
            case(&mut metrics);
        }
        let started = Instant::now();
        for _ in 0..ROUNDS {
            case(&mut metrics);
        }
        let per = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        println!("metrics recording, {name}: {per:.0} ns");
        // Histogram samples wait in lock-free buckets until folded; fold
        // them as the upkeep thread would, outside the timing.
        weft_server::telemetry::metrics::render();
    }
}

/// `runs` finished chains of 10 transforms, then deleted by retention
/// batches exactly as the server's sweeper makes them.
async fn retention(runs: usize) {
    use weft_server::engine::retention::{MAX_HOLD, RUNS_PER_BATCH};
    use weft_server::store::RunSweep;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = open_store(&path).await;
    let (engine, scheduler) = open_scheduler(&store).await;
    let flow = workflow(chain_definition(10));
    let mut starters = Vec::new();
    for client in 0..64 {
        let (scheduler, flow) = (scheduler.clone(), flow.clone());
        starters.push(tokio::spawn(async move {
            for _ in (client..runs).step_by(64) {
                scheduler.start(new_run(&flow)).await.expect("start");
            }
        }));
    }
    for starter in starters {
        starter.await.expect("starter");
    }
    let rows_before = count(&path, "SELECT COUNT(*) FROM run_events").await;
    let shared = store.shared();
    let (mut held, mut per_batch) = (Vec::new(), Vec::new());
    let began = Instant::now();
    loop {
        let sweep = RunSweep {
            // Everything finished is past a retention of 0 an hour from now.
            now_ms: now_ms() + 3_600_000,
            retention_ms: 0,
            max_runs: RUNS_PER_BATCH,
            max_hold: MAX_HOLD,
            partitions: None,
        };
        let swept = shared.sweep_finished_runs(&sweep).await.expect("sweep");
        held.push(swept.held);
        per_batch.push(swept.runs);
        if !swept.more {
            break;
        }
    }
    let elapsed = began.elapsed();
    let deleted: u32 = per_batch.iter().sum();
    let holding: Duration = held.iter().sum();
    held.sort();
    println!(
        "retention: {deleted} runs ({rows_before} events) in {} batches, {:.1} runs/batch; hold per batch \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.0} runs/s of holding ({:.0} runs/s wall, no pauses)",
        held.len(),
        f64::from(deleted) / held.len() as f64,
        ms(quantile(&held, 0.5)),
        ms(quantile(&held, 0.99)),
        ms(*held.last().expect("batches")),
        f64::from(deleted) / holding.as_secs_f64(),
        f64::from(deleted) / elapsed.as_secs_f64(),
    );
    assert_eq!(deleted as usize, runs, "every finished run is deleted");
    engine.shutdown().await;
    store.close().await;
}
