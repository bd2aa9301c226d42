//! The worker path end to end (issue #20): agent steps served by the Rust,
//! Python and TypeScript SDK workers, against a `weft serve` child process
//! on loopback, so the server's own CPU time and context switches can be
//! charged per agent step. Three workloads:
//!
//! - `chain`: a run of 10 agent steps in a row; ExecuteWorkflow's latency,
//!   100 sequential runs;
//! - `fanout`: 100 agent steps at once, then a join (a transform that
//!   depends on all of them); ExecuteWorkflow's latency, 30 sequential runs;
//! - `concurrent`: 20 clients each running 10-step chains back to back for
//!   5 s; agent steps completed per second.
//!
//! Each (store, worker) pair gets a fresh server (SQLite file, or a fresh
//! Postgres schema dropped afterwards) and a fresh worker of concurrency 64.
//! One table row per (worker, store, workload): p50/p95 latency of the runs,
//! agent steps/s, and the server's CPU ms and context switches per agent
//! step over the measured runs (warm-up runs excluded).
//!
//! ```sh
//! cargo bench -p weft-bench --bench worker_path -- \
//!     [--worker rust|python|ts|all] [--store sqlite|postgres|all] [--workload chain|fanout|concurrent|all]
//! ```
//!
//! Python and TS need `sdk-gen/install-deps` first. The server binary is
//! built with the bench profile, or taken from `WEFT_BENCH_SERVER`.
//! Postgres: `WEFT_TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test).

use std::time::{Duration, Instant};

use weft_bench::BoxError;
use weft_bench::proc_stats::{self, Usage};
use weft_bench::sdk_workers::{Sdk, SdkWorker};
use weft_bench::server_process::{ServerProcess, Store};
use weft_sdk::builder::{agent, transform, workflow};
use weft_sdk::json::to_proto_value;
use weft_sdk::pb;

/// The bench process's allocator is the `weft` binary's, as in the other benches.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Slots of every worker: the Rust SDK's long polls scale to it, the Python
/// and TS SDKs cap their long polls at 8 whatever it is.
const WORKER_CONCURRENCY: usize = 64;
const WARM_UP_RUNS: usize = 5;
const CONCURRENT_CLIENTS: usize = 20;
const CONCURRENT_DURATION: Duration = Duration::from_secs(5);
/// The server's settings: no limit on runs of one workflow at once (its
/// default, 10, would queue the concurrent clients' runs) and no start rate
/// limit (500/s by default), so the figures are the worker path's alone.
const SERVER_ENV: &[(&str, &str)] =
    &[("WEFT_LOG", "warn"), ("WORKFLOW_MAX_CONCURRENT_RUNS", "0"), ("WEFT_RUN_STARTS_PER_SECOND", "0")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Chain,
    Fanout,
    Concurrent,
}

impl Workload {
    const ALL: [Workload; 3] = [Workload::Chain, Workload::Fanout, Workload::Concurrent];

    fn name(self) -> &'static str {
        match self {
            Self::Chain => "chain",
            Self::Fanout => "fanout",
            Self::Concurrent => "concurrent",
        }
    }

    /// Agent steps in one run of its workflow.
    fn steps_per_run(self) -> u64 {
        if self == Self::Fanout { 100 } else { 10 }
    }

    /// Its workflow, named after the workload: one server measures several
    /// workloads, and workflow names are unique per tenant.
    fn definition(self) -> pb::Workflow {
        let workflow = match self {
            Self::Chain | Self::Concurrent => chain(10),
            Self::Fanout => fan_out(100),
        };
        pb::Workflow { name: format!("worker-path-{}", self.name()), ..workflow }
    }
}

/// `n` agent steps of agent `echo`, each passing `n` on to the next.
fn chain(n: usize) -> pb::Workflow {
    let mut builder = workflow("worker-path-chain");
    for i in 0..n {
        let step = match i {
            0 => agent("a0", "echo", "echo").input_map("n", "$.input.n"),
            _ => agent(format!("a{i}"), "echo", "echo")
                .depends_on([format!("a{}", i - 1)])
                .input_map("n", format!("$.a{}.output.n", i - 1)),
        };
        builder = builder.step(step);
    }
    builder.build()
}

/// `n` agent steps of agent `echo` that all start at once, joined by a
/// transform depending on every one of them.
fn fan_out(n: usize) -> pb::Workflow {
    let mut builder = workflow("worker-path-fanout");
    for i in 0..n {
        builder = builder.step(agent(format!("a{i}"), "echo", "echo").input_map("n", "$.input.n"));
    }
    let join = transform("join")
        .depends_on((0..n).map(|i| format!("a{i}")))
        .output("first", "$.a0.output.n")
        .output("last", format!("$.a{}.output.n", n - 1));
    builder.transform(join).build()
}

/// One run with ExecuteWorkflow (start and wait for the end in one call).
async fn execute(weft: &weft_sdk::Weft, workflow_id: &str) -> Result<Duration, BoxError> {
    let request = pb::ExecuteWorkflowRequest {
        workflow_id: workflow_id.into(),
        input: Some(to_proto_value(&serde_json::json!({"n": 1}))),
        timeout_seconds: 60,
        ..Default::default()
    };
    let began = Instant::now();
    let run = weft.runs().execute_workflow(request).await?.into_inner().run.ok_or("no run in the answer")?;
    let elapsed = began.elapsed();
    if run.status != pb::RunStatus::Completed as i32 {
        return Err(format!("run {} ended {:?}, not completed", run.id, pb::RunStatus::try_from(run.status)).into());
    }
    Ok(elapsed)
}

/// What one workload measured.
struct Measured {
    latencies: Vec<Duration>,
    steps: u64,
    elapsed: Duration,
    server: Usage,
}

/// Runs `workload` against the server: warm-up runs, then the measured
/// ones between two samples of the server's counters.
async fn measure(weft: &weft_sdk::Weft, server_pid: u32, workload: Workload) -> Result<Measured, BoxError> {
    let request = pb::CreateWorkflowRequest { workflow: Some(workload.definition()), request_id: String::new() };
    let workflow_id = weft.workflows().create_workflow(request).await?.into_inner().id;
    for _ in 0..WARM_UP_RUNS {
        execute(weft, &workflow_id).await?;
    }
    let before = proc_stats::sample(server_pid)?;
    let began = Instant::now();
    let latencies = match workload {
        Workload::Chain => sequential(weft, &workflow_id, 100).await?,
        Workload::Fanout => sequential(weft, &workflow_id, 30).await?,
        Workload::Concurrent => concurrent(weft, &workflow_id).await?,
    };
    let elapsed = began.elapsed();
    let server = proc_stats::sample(server_pid)?.since(&before);
    Ok(Measured { steps: latencies.len() as u64 * workload.steps_per_run(), latencies, elapsed, server })
}

async fn sequential(weft: &weft_sdk::Weft, workflow_id: &str, runs: usize) -> Result<Vec<Duration>, BoxError> {
    let mut latencies = Vec::with_capacity(runs);
    for _ in 0..runs {
        latencies.push(execute(weft, workflow_id).await?);
    }
    Ok(latencies)
}

/// Clients each running chains back to back until the deadline; a run in
/// flight at the deadline is finished and counted, and so is its time.
async fn concurrent(weft: &weft_sdk::Weft, workflow_id: &str) -> Result<Vec<Duration>, BoxError> {
    let deadline = Instant::now() + CONCURRENT_DURATION;
    let clients: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            let (weft, workflow_id) = (weft.clone(), workflow_id.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    latencies.push(execute(&weft, &workflow_id).await?);
                }
                Ok::<_, BoxError>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await??);
    }
    Ok(latencies)
}

/// The `q` quantile of `sample` in ms (nearest rank below).
fn quantile_ms(sample: &mut [Duration], q: f64) -> f64 {
    sample.sort_unstable();
    sample.get(((sample.len().max(1) - 1) as f64 * q) as usize).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// The 1-minute load average: other work on the machine moves every figure.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().unwrap_or("?").to_owned()
}

const HEADER: &str = "| worker | store | workload | runs | p50 ms | p95 ms | steps/s | server CPU ms/step | server ctx switches/step | load |\n|---|---|---|---|---|---|---|---|---|---|";

fn row(sdk: Sdk, store: &Store, workload: Workload, load: &str, result: &mut Result<Measured, BoxError>) -> String {
    let start = format!("| {} | {} | {} |", sdk.name(), store.name(), workload.name());
    match result {
        Ok(m) => {
            let steps = m.steps.max(1) as f64;
            format!(
                "{start} {} | {:.2} | {:.2} | {:.0} | {:.3} | {:.1} | {load} |",
                m.latencies.len(),
                quantile_ms(&mut m.latencies, 0.50),
                quantile_ms(&mut m.latencies, 0.95),
                m.steps as f64 / m.elapsed.as_secs_f64(),
                m.server.cpu.as_secs_f64() * 1000.0 / steps,
                m.server.context_switches as f64 / steps,
            )
        }
        Err(error) => format!("{start} failed: {} | | | | | | {load} |", error.to_string().replace('\n', " ")),
    }
}

/// Runs the chosen workloads for one worker on one store, each in turn on
/// one fresh server; one row per workload, failures included.
async fn pair(binary: &std::path::Path, sdk: Sdk, store: &Store, workloads: &[Workload]) -> Vec<String> {
    let load = load_average();
    let fail_all = |error: BoxError| {
        let text = error.to_string();
        workloads.iter().map(|&w| row(sdk, store, w, &load, &mut Err(text.clone().into()))).collect()
    };
    if let Err(error) = sdk.prepare() {
        return fail_all(error);
    }
    let mut server = match ServerProcess::start(binary, store, SERVER_ENV).await {
        Ok(server) => server,
        Err(error) => return fail_all(error),
    };
    let mut rows = Vec::new();
    match SdkWorker::start(sdk, server.url(), WORKER_CONCURRENCY).await {
        Err(error) => rows = fail_all(error),
        Ok(mut worker) => {
            let client = weft_sdk::Weft::connect(server.url().to_owned()).await;
            for &workload in workloads {
                let load = load_average();
                let mut result = match &client {
                    Ok(weft) => measure(weft, server.pid(), workload).await,
                    Err(error) => Err(error.to_string().into()),
                };
                if result.is_err() {
                    // Say whether a process died rather than only that a run timed out.
                    if let Err(why) = worker.check_alive().and_then(|()| server.check_alive()) {
                        result = Err(why);
                    }
                }
                let line = row(sdk, store, workload, &load, &mut result);
                println!("{line}");
                rows.push(line);
            }
            worker.stop().await;
        }
    }
    server.stop().await;
    rows
}

/// `--name value` from the command line, `all` when absent.
fn option(name: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| "all".into())
}

/// The items of `all` whose name is `chosen` (or every one for `all`).
fn choose<T: Clone>(flag: &str, all: &[T], name: impl Fn(&T) -> &'static str) -> Vec<T> {
    let chosen = option(flag);
    let picked: Vec<T> = all.iter().filter(|t| chosen == "all" || name(t) == chosen).cloned().collect();
    if picked.is_empty() {
        let names: Vec<_> = all.iter().map(&name).collect();
        eprintln!("{flag} {chosen}: use one of {} or all", names.join(", "));
        std::process::exit(2);
    }
    picked
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let postgres = std::env::var("WEFT_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    let sdks = choose("--worker", &Sdk::ALL, |s| s.name());
    let workloads = choose("--workload", &Workload::ALL, |w| w.name());
    let stores = choose("--store", &[Store::Sqlite, Store::Postgres(postgres)], Store::name);
    let binary = weft_bench::server_process::server_binary()?;
    println!(
        "weft worker-path bench: {} as a child process, worker concurrency {WORKER_CONCURRENCY}, {} cores",
        binary.display(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("{HEADER}");
    let mut rows = Vec::new();
    for store in &stores {
        for &sdk in &sdks {
            rows.extend(pair(&binary, sdk, store, &workloads).await);
        }
    }
    println!("\n{HEADER}\n{}", rows.join("\n"));
    Ok(())
}
