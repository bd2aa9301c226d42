//! Runs and steps as plain Rust values: statuses as enums that print as the
//! API writes them (`completed`), inputs and outputs as `serde_json::Value`,
//! times as `SystemTime`, durations as `Duration`, costs as [`Cost`]. The
//! generated message stays reachable as `.raw` for anything not lifted.
//!
//! Built from `pb::Run` with `Run::from`; [`crate::Weft::get_run`],
//! [`crate::Weft::start_run`] and [`crate::Weft::execute`] answer these.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::json::{from_proto_struct, from_proto_value};
use crate::pb;

/// Where a run is in its life, named as the API writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Stored, not started yet.
    Pending,
    /// Waiting for a slot under its workflow's concurrent-run limit.
    Queued,
    /// Steps are running.
    Running,
    /// Held: a pause, an approval, a wait.
    Paused,
    /// Every step finished; `output` is set.
    Completed,
    /// A step failed and nothing routed around it.
    Failed,
    /// Finished, with some branches failed.
    Partial,
    /// Cancelled by a caller or a policy.
    Cancelled,
    /// A status this SDK does not know (a newer server), by its number.
    Unknown(i32),
}

impl RunStatus {
    /// The lower-case name the API writes (`"completed"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Partial => "partial",
            Self::Cancelled => "cancelled",
            Self::Unknown(_) => "unknown",
        }
    }

    /// Whether the run can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Partial | Self::Cancelled)
    }
}

impl From<i32> for RunStatus {
    fn from(value: i32) -> Self {
        match pb::RunStatus::try_from(value) {
            Ok(pb::RunStatus::Pending) => Self::Pending,
            Ok(pb::RunStatus::Queued) => Self::Queued,
            Ok(pb::RunStatus::Running) => Self::Running,
            Ok(pb::RunStatus::Paused) => Self::Paused,
            Ok(pb::RunStatus::Completed) => Self::Completed,
            Ok(pb::RunStatus::Failed) => Self::Failed,
            Ok(pb::RunStatus::Partial) => Self::Partial,
            Ok(pb::RunStatus::Cancelled) => Self::Cancelled,
            Ok(pb::RunStatus::Unspecified) | Err(_) => Self::Unknown(value),
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Where a step is, named as the API writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Some dependency has not finished.
    Pending,
    /// May start: waiting for a worker to claim it (see `waiting_for`).
    Ready,
    /// A worker or the server is executing it.
    Running,
    /// Held by a person-facing gate.
    Paused,
    /// On a timer or an outside event.
    Waiting,
    /// Finished with an output.
    Completed,
    /// Failed after its retries.
    Failed,
    /// Not executed (a branch not taken).
    Skipped,
    /// Stopped because the run ended.
    Cancelled,
    /// A status this SDK does not know, by its number.
    Unknown(i32),
}

impl StepStatus {
    /// The lower-case name the API writes (`"ready"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Waiting => "waiting",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::Unknown(_) => "unknown",
        }
    }
}

impl From<i32> for StepStatus {
    fn from(value: i32) -> Self {
        match pb::StepStatus::try_from(value) {
            Ok(pb::StepStatus::Pending) => Self::Pending,
            Ok(pb::StepStatus::Ready) => Self::Ready,
            Ok(pb::StepStatus::Running) => Self::Running,
            Ok(pb::StepStatus::Paused) => Self::Paused,
            Ok(pb::StepStatus::Waiting) => Self::Waiting,
            Ok(pb::StepStatus::Completed) => Self::Completed,
            Ok(pb::StepStatus::Failed) => Self::Failed,
            Ok(pb::StepStatus::Skipped) => Self::Skipped,
            Ok(pb::StepStatus::Cancelled) => Self::Cancelled,
            Ok(pb::StepStatus::Unspecified) | Err(_) => Self::Unknown(value),
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for StepStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An amount of money in the currency's minor unit (cents), as the API
/// keeps costs: integers, so sums never drift.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cost {
    /// Minor units (cents).
    pub amount: i64,
    /// ISO 4217 code, lower-case (`"usd"`).
    pub currency: String,
}

impl From<Option<&pb::Money>> for Cost {
    fn from(money: Option<&pb::Money>) -> Self {
        match money {
            Some(m) => Self {
                amount: m.amount,
                currency: if m.currency.is_empty() { "usd".into() } else { m.currency.clone() },
            },
            None => Self { amount: 0, currency: "usd".into() },
        }
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02} {}", self.amount / 100, (self.amount % 100).abs(), self.currency)
    }
}

/// Why a run failed, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    /// Stable UPPER_SNAKE code (`STEP_FAILED`).
    pub code: String,
    /// In words, naming the step when there is one.
    pub message: String,
    /// The step that caused it; empty for run-level failures.
    pub step_id: String,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Step id (map items: `id[3]`).
    pub id: String,
    /// Step kind (`"agent"`, `"map"`, …).
    pub kind: String,
    /// Where it is.
    pub status: StepStatus,
    /// Attempts started.
    pub attempts: u32,
    /// Its output, once completed.
    pub output: Option<Value>,
    /// The last failed attempt's error.
    pub error: Option<String>,
    /// Why a ready step has not started (no worker serves its agent).
    pub waiting_for: Option<String>,
    /// What it cost, all attempts together.
    pub cost: Cost,
    /// When its first attempt started.
    pub started_at: Option<SystemTime>,
    /// When it finished.
    pub completed_at: Option<SystemTime>,
    /// The input of its latest attempt, for steps run as a task (an
    /// agent's, as its worker received it); `None` for steps the engine
    /// runs itself, and in every answer but GetRun (starting, executing or
    /// acting on a run leaves it out).
    pub input: Option<Value>,
    /// The worker that claimed its latest attempt; `None` before a claim
    /// for steps the server runs itself, and in every answer but GetRun.
    pub worker_id: Option<String>,
    /// The generated message.
    pub raw: pb::StepRun,
}

impl From<pb::StepRun> for Step {
    fn from(raw: pb::StepRun) -> Self {
        Self {
            id: raw.id.clone(),
            kind: raw.r#type.clone(),
            status: StepStatus::from(raw.status),
            attempts: raw.attempts,
            output: raw.output.as_ref().map(from_proto_value),
            error: non_empty(&raw.error),
            waiting_for: non_empty(&raw.waiting_for),
            cost: Cost::from(raw.cost.as_ref()),
            started_at: raw.start_time.as_ref().map(system_time),
            completed_at: raw.complete_time.as_ref().map(system_time),
            input: raw.input.as_ref().map(from_proto_value),
            worker_id: non_empty(&raw.worker_id),
            raw,
        }
    }
}

/// One execution of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Run id (`wfrun_…`).
    pub id: String,
    /// The workflow it runs, and at which version.
    pub workflow_id: String,
    /// Version of the workflow the run started on.
    pub workflow_version: u32,
    /// Where it is.
    pub status: RunStatus,
    /// Its input (`$.input`).
    pub input: Value,
    /// Its output, once completed.
    pub output: Option<Value>,
    /// Shared state (`$.state`).
    pub state: Value,
    /// Why it failed.
    pub error: Option<RunError>,
    /// Its steps, in definition order.
    pub steps: Vec<Step>,
    /// Total cost so far.
    pub cost: Cost,
    /// Time from start to end, or to now while running.
    pub duration: Duration,
    /// When it was created, started and finished.
    pub created_at: Option<SystemTime>,
    /// When its first step started.
    pub started_at: Option<SystemTime>,
    /// When it reached a terminal status.
    pub completed_at: Option<SystemTime>,
    /// The generated message.
    pub raw: pb::Run,
}

impl Run {
    /// The step with id `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }
}

impl From<pb::Run> for Run {
    fn from(raw: pb::Run) -> Self {
        Self {
            id: raw.id.clone(),
            workflow_id: raw.workflow_id.clone(),
            workflow_version: raw.workflow_version,
            status: RunStatus::from(raw.status),
            input: raw.input.as_ref().map(from_proto_value).unwrap_or(Value::Null),
            output: raw.output.as_ref().map(from_proto_value),
            state: raw
                .shared_state
                .as_ref()
                .map(from_proto_struct)
                .unwrap_or_else(|| Value::Object(Default::default())),
            error: raw.error.as_ref().map(|e| RunError {
                code: e.code.clone(),
                message: e.message.clone(),
                step_id: e.step_id.clone(),
            }),
            steps: raw.steps.iter().cloned().map(Step::from).collect(),
            cost: Cost::from(raw.cost.as_ref()),
            duration: Duration::from_secs(u64::from(raw.duration)),
            created_at: raw.create_time.as_ref().map(system_time),
            started_at: raw.start_time.as_ref().map(system_time),
            completed_at: raw.complete_time.as_ref().map(system_time),
            raw,
        }
    }
}

/// Reads as `run r_… completed {"x":1}` (or the error), for logs and
/// quick looks.
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run {} {}", self.id, self.status)?;
        match (&self.output, &self.error) {
            (Some(output), _) => write!(f, " {output}"),
            (None, Some(error)) => write!(f, " {}: {}", error.code, error.message),
            (None, None) => Ok(()),
        }
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn system_time(at: &prost_types::Timestamp) -> SystemTime {
    let nanos = u32::try_from(at.nanos).unwrap_or(0);
    match u64::try_from(at.seconds) {
        Ok(seconds) => UNIX_EPOCH + Duration::new(seconds, nanos),
        Err(_) => UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_proto_value;
    use serde_json::json;

    #[test]
    fn a_run_reads_as_plain_values() {
        let raw = pb::Run {
            id: "r_1".into(),
            status: pb::RunStatus::Completed as i32,
            output: Some(to_proto_value(&json!({"x": 1}))),
            cost: Some(pb::Money { amount: 125, currency: String::new() }),
            steps: vec![
                pb::StepRun {
                    id: "a".into(),
                    status: pb::StepStatus::Ready as i32,
                    waiting_for: "a worker for agent 'x'".into(),
                    ..Default::default()
                },
                pb::StepRun {
                    id: "b".into(),
                    status: pb::StepStatus::Completed as i32,
                    input: Some(to_proto_value(&json!({"lead": "acme"}))),
                    worker_id: "w-1".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let run = Run::from(raw);
        assert_eq!(run.status, "completed");
        assert_eq!(run.output, Some(json!({"x": 1})));
        assert_eq!(run.cost.to_string(), "1.25 usd");
        assert_eq!(run.step("a").map(|s| s.status), Some(StepStatus::Ready));
        assert_eq!(run.step("a").and_then(|s| s.waiting_for.as_deref()), Some("a worker for agent 'x'"));
        assert_eq!(run.step("a").map(|s| (s.input.clone(), s.worker_id.clone())), Some((None, None)));
        assert_eq!(run.step("b").and_then(|s| s.input.clone()), Some(json!({"lead": "acme"})));
        assert_eq!(run.step("b").and_then(|s| s.worker_id.as_deref()), Some("w-1"));
        assert_eq!(run.to_string(), r#"run r_1 completed {"x":1}"#);
    }

    #[test]
    fn unknown_statuses_keep_their_number() {
        assert_eq!(RunStatus::from(99), RunStatus::Unknown(99));
        assert_eq!(StepStatus::from(-1).as_str(), "unknown");
    }
}
