//! Cron schedules against an in-process server on loopback (SQLite, WAL,
//! synchronous=FULL), all on the machine's cores:
//!
//! - `memory`: VmRSS of the process once the server serves one workflow,
//!   then after 10,000 schedules are created over gRPC and the fire loop
//!   has read them for a few polls (target: under 50 MB more);
//! - `latency`: with those 10,000 schedules stored, N per-second schedules
//!   (N = 20, then 200 firing on the same second) run for 10 s; for each
//!   run, its create time minus the tick it stands for (target p99 ≤ 50 ms).
//!
//! Run with `cargo bench -p weft-bench --bench schedules`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio::net::TcpListener;
use weft_sdk::pb;

/// The allocator the `weft` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STORED: usize = 10_000;
const CREATES_IN_FLIGHT: usize = 16;
const FIRING_FOR: Duration = Duration::from_secs(10);

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("VmRSS in kB") * 1024
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(time: &Option<prost_types::Timestamp>) -> f64 {
    let t = time.as_ref().expect("a time");
    t.seconds as f64 * 1000.0 + f64::from(t.nanos) / 1e6
}

fn percentiles(mut sample: Vec<f64>) -> String {
    sample.sort_by(f64::total_cmp);
    let at = |q: f64| sample[((sample.len() - 1) as f64 * q) as usize];
    format!(
        "n {}   p50 {:.1} ms   p90 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        sample.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

async fn workflow(weft: &weft_sdk::Weft, name: &str, steps: serde_json::Value) -> String {
    let request = pb::CreateWorkflowRequest {
        workflow: Some(pb::Workflow {
            name: name.into(),
            steps: serde_json::from_value::<Vec<serde_json::Value>>(steps)
                .expect("steps")
                .into_iter()
                .map(|step| pb::Step {
                    id: step["id"].as_str().unwrap_or_default().into(),
                    r#type: step["type"].as_str().unwrap_or_default().into(),
                    agent: step["agent"].as_str().unwrap_or_default().into(),
                    task: step["task"].as_str().unwrap_or_default().into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    weft.workflows()
        .create_workflow(request)
        .await
        .expect("CreateWorkflow")
        .into_inner()
        .workflow
        .expect("a workflow")
        .id
}

async fn create(weft: &weft_sdk::Weft, workflow_id: &str, cron: String, allow: bool) -> String {
    let schedule = pb::Schedule {
        cron_expression: cron,
        overlap_policy: if allow { pb::ScheduleOverlapPolicy::Allow.into() } else { 0 },
        ..Default::default()
    };
    let request = pb::CreateScheduleRequest { workflow_id: workflow_id.into(), schedule: Some(schedule) };
    weft.schedules().create_schedule(request).await.expect("CreateSchedule").into_inner().schedule_id
}

/// `count` per-second schedules fire for [`FIRING_FOR`]; the lateness of
/// every run they started.
async fn latency(weft: &weft_sdk::Weft, workflow_id: &str, count: usize) -> Vec<f64> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(create(weft, workflow_id, "* * * * * *".into(), true).await);
    }
    tokio::time::sleep(FIRING_FOR).await;
    for id in &ids {
        let pause = pb::PauseScheduleRequest { schedule_id: id.clone() };
        weft.schedules().pause_schedule(pause).await.expect("PauseSchedule");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut late = Vec::new();
    for id in &ids {
        let list = pb::ListRunsRequest { schedule_id: id.clone(), page_size: 200, ..Default::default() };
        for run in weft.runs().list_runs(list).await.expect("ListRuns").into_inner().runs {
            late.push(ms(&run.create_time) - ms(&run.scheduled_time));
        }
        weft.schedules()
            .delete_schedule(pb::DeleteScheduleRequest { schedule_id: id.clone() })
            .await
            .expect("DeleteSchedule");
    }
    late
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut config = weft_server::Config {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        log: "warn".into(),
        ..weft_server::Config::default()
    };
    config.schedules.max_per_workflow = 20_000;
    config.schedules.max_per_tenant = 20_000;
    // The runs of one workflow pile up (no worker ever comes): with the
    // concurrent-run limit on, the figures would include the queue's gate.
    config.runs.max_concurrent_per_workflow = 0;
    tokio::spawn(weft_server::run(listener, config, std::future::pending()));
    let weft = weft_sdk::Weft::connect(format!("http://{addr}")).await.expect("connect");
    println!(
        "weft schedules bench: in-process server, SQLite synchronous=FULL, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    let quiet = workflow(&weft, "yearly", json!([{"id": "a", "type": "agent", "agent": "w", "task": "t"}])).await;
    // Runs wait for a worker that never comes; ALLOW lets every tick start.
    let waiting = workflow(&weft, "waiting", json!([{"id": "a", "type": "agent", "agent": "w", "task": "t"}])).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let empty = rss_bytes();

    // Spread over the year's first day, so none fires while measuring.
    let started = Instant::now();
    let weft_ref = &weft;
    let quiet_ref = &quiet;
    futures_util::stream::iter(0..STORED)
        .map(|i| async move {
            let cron = format!("{} {} {} 1 *", i % 60, (i / 60) % 24, 1 + (i / 1440) % 28);
            create(weft_ref, quiet_ref, cron, false).await
        })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let took = started.elapsed();
    // A few polls of the fire loop over the full table.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let full = rss_bytes();
    println!(
        "memory: {STORED} schedules created in {:.1} s ({:.0}/s); VmRSS {:.1} MB empty -> {:.1} MB, +{:.1} MB",
        took.as_secs_f64(),
        STORED as f64 / took.as_secs_f64(),
        mb(empty),
        mb(full),
        mb(full.saturating_sub(empty))
    );

    for count in [20, 200] {
        let late = latency(&weft, &waiting, count).await;
        println!("latency, {count} per-second schedules for {} s: {}", FIRING_FOR.as_secs(), percentiles(late));
    }
}
