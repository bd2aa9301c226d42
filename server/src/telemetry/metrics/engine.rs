//! The engine's metric handles. The run writer records once per commit
//! through [`WriterMetrics`], which makes each labelled handle the first
//! time its labels are seen and keeps it, so a commit's recording takes
//! no lock and allocates nothing once a workflow, agent and step type
//! have been seen. Rarer events (lease expiry, timers, partitions) go
//! through the plain functions below.

use std::collections::HashMap;

use metrics::{Counter, Gauge, Histogram};

use super::{
    POLLS_PARKED, RUNS_FINISHED, RUNS_OPEN, RUNS_STARTED, STEP_DURATION, TASK_DISPATCH, TASKS_EXPIRED, TASKS_LEASED,
    TASKS_QUEUED, TIMERS_ARMED, WRITER_BATCH_SIZE, WRITER_COMMIT_DURATION, WRITER_COMMIT_FAILURES, WRITER_COMMITS,
    handle,
};
use crate::model::StepKind;

/// A run's counters under one workflow name.
struct RunHandles {
    started: Counter,
    /// By terminal status, made when first seen.
    finished: HashMap<&'static str, Counter>,
}

/// A task's handles under one (agent, step type).
struct TaskHandles {
    queued: Counter,
    leased: Counter,
    dispatch: Histogram,
}

/// How a step ended, for its duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepEnd {
    /// step.completed.
    Completed,
    /// step.failed (after retries).
    Failed,
}

impl StepEnd {
    fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// What the run writer records, with its handles kept.
pub struct WriterMetrics {
    commits: Counter,
    commit_failures: Counter,
    commit_seconds: Histogram,
    batch_commands: Histogram,
    open_runs: Gauge,
    parked_polls: Gauge,
    runs: HashMap<String, RunHandles>,
    steps: HashMap<(StepKind, StepEnd), Histogram>,
    tasks: HashMap<String, HashMap<StepKind, TaskHandles>>,
}

impl Default for WriterMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl WriterMetrics {
    /// Handles on the process's recorder (installed now if it was not).
    pub fn new() -> Self {
        handle();
        Self {
            commits: metrics::counter!(WRITER_COMMITS.name),
            commit_failures: metrics::counter!(WRITER_COMMIT_FAILURES.name),
            commit_seconds: metrics::histogram!(WRITER_COMMIT_DURATION.name),
            batch_commands: metrics::histogram!(WRITER_BATCH_SIZE.name),
            open_runs: metrics::gauge!(RUNS_OPEN.name),
            parked_polls: metrics::gauge!(POLLS_PARKED.name),
            runs: HashMap::new(),
            steps: HashMap::new(),
            tasks: HashMap::new(),
        }
    }

    /// A group commit was written: `commands` transitions in `seconds`.
    pub fn committed(&self, commands: usize, seconds: f64) {
        self.commits.increment(1);
        self.commit_seconds.record(seconds);
        self.batch_commands.record(commands as f64);
    }

    /// A group commit failed after `seconds`.
    pub fn commit_failed(&self, seconds: f64) {
        self.commit_failures.increment(1);
        self.commit_seconds.record(seconds);
    }

    /// What the writer holds after a commit.
    pub fn held(&self, open_runs: usize, parked_polls: usize) {
        self.open_runs.set(open_runs as f64);
        self.parked_polls.set(parked_polls as f64);
    }

    fn run(&mut self, workflow: &str) -> &mut RunHandles {
        if !self.runs.contains_key(workflow) {
            let handles = RunHandles {
                started: metrics::counter!(RUNS_STARTED.name, "workflow" => workflow.to_string()),
                finished: HashMap::new(),
            };
            self.runs.insert(workflow.to_string(), handles);
        }
        self.runs.get_mut(workflow).expect("inserted just now")
    }

    /// A run of `workflow` started.
    pub fn run_started(&mut self, workflow: &str) {
        self.run(workflow).started.increment(1);
    }

    /// A run of `workflow` ended with `status` (the run.* event's).
    pub fn run_finished(&mut self, workflow: &str, status: &'static str) {
        let run = self.run(workflow);
        run.finished
            .entry(status)
            .or_insert_with(
                || metrics::counter!(RUNS_FINISHED.name, "workflow" => workflow.to_string(), "status" => status),
            )
            .increment(1);
    }

    /// A step of `kind` ended after `seconds` from its first start.
    pub fn step_finished(&mut self, kind: StepKind, end: StepEnd, seconds: f64) {
        self.steps
            .entry((kind, end))
            .or_insert_with(
                || metrics::histogram!(STEP_DURATION.name, "kind" => kind.as_str(), "status" => end.as_str()),
            )
            .record(seconds);
    }

    fn task(&mut self, agent: &str, kind: StepKind) -> &TaskHandles {
        if !self.tasks.contains_key(agent) {
            self.tasks.insert(agent.to_string(), HashMap::new());
        }
        let by_kind = self.tasks.get_mut(agent).expect("inserted just now");
        by_kind.entry(kind).or_insert_with(|| {
            let labels = [("agent", agent.to_string()), ("kind", kind.as_str().to_string())];
            TaskHandles {
                queued: metrics::counter!(TASKS_QUEUED.name, &labels),
                leased: metrics::counter!(TASKS_LEASED.name, &labels),
                dispatch: metrics::histogram!(TASK_DISPATCH.name, &labels),
            }
        })
    }

    /// A task attempt was queued.
    pub fn task_queued(&mut self, agent: &str, kind: StepKind) {
        self.task(agent, kind).queued.increment(1);
    }

    /// A task was leased `waited_seconds` after it was queued.
    pub fn task_leased(&mut self, agent: &str, kind: StepKind, waited_seconds: f64) {
        let task = self.task(agent, kind);
        task.leased.increment(1);
        task.dispatch.record(waited_seconds);
    }
}

/// Why a lease ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No heartbeat or answer before the lease's deadline.
    Lease,
    /// The step's `timeout` ran out.
    Timeout,
}

/// A lease of `agent`'s task ran out (rare: made on the spot).
pub fn task_expired(agent: &str, why: Expiry) {
    handle();
    let reason = match why {
        Expiry::Lease => "lease",
        Expiry::Timeout => "timeout",
    };
    metrics::counter!(TASKS_EXPIRED.name, "agent" => agent.to_string(), "reason" => reason).increment(1);
}

/// The gauge of timers the timer loop waits on.
pub fn timers_armed() -> Gauge {
    handle();
    metrics::gauge!(TIMERS_ARMED.name)
}

/// The gauge of partitions this replica holds.
pub fn partitions_held() -> Gauge {
    handle();
    metrics::gauge!(super::PARTITIONS_HELD.name)
}
