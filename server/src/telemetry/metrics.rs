//! Prometheus metrics, served on `GET /metrics`: the one place that names
//! every metric Weft records, with its type, labels, help text and (for
//! histograms) buckets ([`ALL`]), and the process-wide recorder they go to
//! ([`handle`]).
//!
//! The `metrics` facade has one global recorder per process; tests start
//! several servers in one process, so the recorder is installed once, on
//! first use, and every server's `/metrics` renders the same one. Anything
//! that records calls [`handle`] before making its metric handles, so no
//! handle is made against the facade's no-op recorder.
//!
//! Hot paths keep handles: [`engine::WriterMetrics`] (the run writer, per
//! commit) and the request layer (`gateway::request_metrics`).

pub mod engine;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// What a metric is, as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; `rate()` of it is per second.
    Counter,
    /// Goes up and down; the value now.
    Gauge,
    /// Observations in buckets, with `_sum` and `_count`.
    Histogram,
}

/// One metric: its name, type, labels and meaning.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Prometheus name, `weft_` prefixed, in base units.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Label names, in the order they are documented.
    pub labels: &'static [&'static str],
    /// `# HELP` text.
    pub help: &'static str,
    /// Histogram bucket upper bounds; empty for other kinds.
    pub buckets: &'static [f64],
}

/// Latencies of calls and commits, seconds: 0.5 ms to 10 s.
const LATENCY: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Waits of steps and tasks, seconds: 1 ms to an hour.
const WAIT: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];
/// Commands per group commit, up to the writer's batch cap (512).
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Runs started (run.started), by workflow name.
pub const RUNS_STARTED: Spec = Spec {
    name: "weft_runs_started_total",
    kind: Kind::Counter,
    labels: &["workflow"],
    help: "Runs started (run.started committed), by workflow name.",
    buckets: &[],
};
/// Runs finished, by workflow name and terminal status.
pub const RUNS_FINISHED: Spec = Spec {
    name: "weft_runs_finished_total",
    kind: Kind::Counter,
    labels: &["workflow", "status"],
    help: "Runs finished, by workflow name and terminal status (completed, failed, partial, cancelled).",
    buckets: &[],
};
/// Step durations, from the first start to completion or final failure.
pub const STEP_DURATION: Spec = Spec {
    name: "weft_step_duration_seconds",
    kind: Kind::Histogram,
    labels: &["kind", "status"],
    help: "How long steps took from their first start to step.completed or step.failed, by step type and outcome.",
    buckets: WAIT,
};
/// Tasks queued for workers or the built-in executor (every attempt).
pub const TASKS_QUEUED: Spec = Spec {
    name: "weft_tasks_queued_total",
    kind: Kind::Counter,
    labels: &["agent", "kind"],
    help: "Task attempts queued, by agent (empty for built-in steps) and step type.",
    buckets: &[],
};
/// Tasks leased to a worker or the built-in executor.
pub const TASKS_LEASED: Spec = Spec {
    name: "weft_tasks_leased_total",
    kind: Kind::Counter,
    labels: &["agent", "kind"],
    help: "Task leases granted (claims that got a task), by agent (empty for built-in steps) and step type.",
    buckets: &[],
};
/// Leases that ran out.
pub const TASKS_EXPIRED: Spec = Spec {
    name: "weft_tasks_expired_total",
    kind: Kind::Counter,
    labels: &["agent", "reason"],
    help: "Leases that ran out, by agent and reason (lease: no heartbeat in time; timeout: the step's timeout).",
    buckets: &[],
};
/// Queue wait of a task: queued to leased.
pub const TASK_DISPATCH: Spec = Spec {
    name: "weft_task_dispatch_seconds",
    kind: Kind::Histogram,
    labels: &["agent", "kind"],
    help: "Time from a task attempt being queued (ready) to its lease, by agent and step type.",
    buckets: WAIT,
};
/// Group commits written.
pub const WRITER_COMMITS: Spec = Spec {
    name: "weft_writer_commits_total",
    kind: Kind::Counter,
    labels: &[],
    help: "Group commits the run writer wrote; rate() is commits per second.",
    buckets: &[],
};
/// Group commits the store refused.
pub const WRITER_COMMIT_FAILURES: Spec = Spec {
    name: "weft_writer_commit_failures_total",
    kind: Kind::Counter,
    labels: &[],
    help: "Group commits that failed (store error or partitions taken over); their callers were refused.",
    buckets: &[],
};
/// Store time of one group commit.
pub const WRITER_COMMIT_DURATION: Spec = Spec {
    name: "weft_writer_commit_duration_seconds",
    kind: Kind::Histogram,
    labels: &[],
    help: "Time the store took to write one group commit.",
    buckets: LATENCY,
};
/// Commands per group commit.
pub const WRITER_BATCH_SIZE: Spec = Spec {
    name: "weft_writer_batch_commands",
    kind: Kind::Histogram,
    labels: &[],
    help: "Commands (run transitions) written per group commit.",
    buckets: BATCH,
};
/// Unfinished runs the writer holds.
pub const RUNS_OPEN: Spec = Spec {
    name: "weft_runs_open",
    kind: Kind::Gauge,
    labels: &[],
    help: "Unfinished runs held by this replica's writer (queued, running, paused), after its last commit.",
    buckets: &[],
};
/// Long polls waiting for a task.
pub const POLLS_PARKED: Spec = Spec {
    name: "weft_task_polls_parked",
    kind: Kind::Gauge,
    labels: &[],
    help: "Workers' task polls (PollTask long-polls, stream claims) parked in the writer, waiting for a task.",
    buckets: &[],
};
/// Timers the timer loop waits on.
pub const TIMERS_ARMED: Spec = Spec {
    name: "weft_timers_armed",
    kind: Kind::Gauge,
    labels: &[],
    help: "Timers (delays, waits' timeouts, pause limits) the timer loop is waiting on.",
    buckets: &[],
};
/// Postgres partitions this replica holds.
pub const PARTITIONS_HELD: Spec = Spec {
    name: "weft_partitions_held",
    kind: Kind::Gauge,
    labels: &[],
    help: "Run partitions this replica holds (Postgres; absent on SQLite).",
    buckets: &[],
};
/// gRPC and gRPC-web calls, by method and status code.
pub const GRPC_REQUESTS: Spec = Spec {
    name: "weft_grpc_requests_total",
    kind: Kind::Counter,
    labels: &["method", "code"],
    help: "gRPC and gRPC-web calls, by method path and status code name (unknown paths: method=\"other\").",
    buckets: &[],
};
/// gRPC call latency, to the end of the answer (streams: their whole life).
pub const GRPC_DURATION: Spec = Spec {
    name: "weft_grpc_request_duration_seconds",
    kind: Kind::Histogram,
    labels: &["method"],
    help: "gRPC call time from the request to the end of the answer (for streams, the stream's life).",
    buckets: LATENCY,
};
/// REST and other HTTP requests, by route template and status.
pub const HTTP_REQUESTS: Spec = Spec {
    name: "weft_http_requests_total",
    kind: Kind::Counter,
    labels: &["method", "route", "status"],
    help: "HTTP requests that are not gRPC (REST, probes, hooks, /metrics), by method, route template and status.",
    buckets: &[],
};
/// HTTP request latency, to the end of the answer.
pub const HTTP_DURATION: Spec = Spec {
    name: "weft_http_request_duration_seconds",
    kind: Kind::Histogram,
    labels: &["method", "route"],
    help: "HTTP request time to the end of the answer (for SSE and NDJSON streams, the stream's life).",
    buckets: LATENCY,
};

/// Every metric, in the order the README lists them.
pub const ALL: &[Spec] = &[
    RUNS_STARTED,
    RUNS_FINISHED,
    STEP_DURATION,
    TASKS_QUEUED,
    TASKS_LEASED,
    TASKS_EXPIRED,
    TASK_DISPATCH,
    WRITER_COMMITS,
    WRITER_COMMIT_FAILURES,
    WRITER_COMMIT_DURATION,
    WRITER_BATCH_SIZE,
    RUNS_OPEN,
    POLLS_PARKED,
    TIMERS_ARMED,
    PARTITIONS_HELD,
    GRPC_REQUESTS,
    GRPC_DURATION,
    HTTP_REQUESTS,
    HTTP_DURATION,
];

/// How often histogram samples are folded into their buckets when nobody
/// scrapes (rendering folds them too); bounds the memory they hold.
const UPKEEP: Duration = Duration::from_secs(5);

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's recorder, installed on first call.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install)
}

/// The exposition text of every metric recorded so far.
pub fn render() -> String {
    handle().render()
}

fn install() -> PrometheusHandle {
    let mut builder = PrometheusBuilder::new();
    for spec in ALL.iter().filter(|spec| spec.kind == Kind::Histogram) {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(spec.name.to_string()), spec.buckets)
            .expect("every histogram in ALL has buckets");
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Only an embedding program could have done this; its recorder
        // gets the metrics and /metrics shows none.
        tracing::warn!("another metrics recorder is installed; GET /metrics will be empty");
    }
    for spec in ALL {
        match spec.kind {
            Kind::Counter => metrics::describe_counter!(spec.name, spec.help),
            Kind::Gauge => metrics::describe_gauge!(spec.name, spec.help),
            Kind::Histogram => metrics::describe_histogram!(spec.name, spec.help),
        }
    }
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new().name("weft-metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP);
            upkeep.run_upkeep();
        }
    });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot start the metrics upkeep thread; histograms fold only when scraped");
    }
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_prefixed_unique_and_histograms_have_buckets() {
        let mut names = std::collections::HashSet::new();
        for spec in ALL {
            assert!(spec.name.starts_with("weft_"), "{}", spec.name);
            assert!(names.insert(spec.name), "{} twice", spec.name);
            assert_eq!(spec.kind == Kind::Histogram, !spec.buckets.is_empty(), "{}", spec.name);
            assert_eq!(spec.kind == Kind::Counter, spec.name.ends_with("_total"), "{}", spec.name);
        }
    }
}
