//! What a step whose task nobody holds is waiting for, as reads show it.
//!
//! **READY is a read-time projection.** The run state machine marks an
//! agent step Running when its task is queued (step.started is recorded
//! then), and a claim changes only the task row. Recording a claim in the
//! run as well would add a transition, an event and a step row to every
//! claim, on the hot path that group commit keeps cheap (ENGINE.md §3–4).
//! Instead, reads of a run (GetRun and every RPC answering a run) look up
//! the run's queued task rows, by primary key, and show a Running step
//! whose task is queued as READY, with the queued attempt not counted as started. The store
//! is the one truth every replica reads, so the projection is right on
//! both stores and whichever replica answers.
//!
//! Once such a task has waited longer than `[tasks] unclaimed_after` and
//! no worker was seen for its agent within that time (see
//! [`WorkerRegistry::presence`](crate::engine::workers::WorkerRegistry::presence)),
//! the step also says `waitingFor: "a worker for agent '…'"`: the same
//! rule the watcher (`unclaimed.rs`) records task.unclaimed by, read
//! live, so it clears as soon as a worker polls or claims.
//!
//! ListWorkers' agent queues ([`AgentQueue`]) come from the same rows and
//! sightings, and ExecuteWorkflow's timeout names the waiting steps
//! ([`waiting_summary`]).

use std::collections::HashMap;

use serde_json::Value;

use super::TaskQueue;
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::runs::RunDetail;
use crate::engine::workers::AgentPresence;
use crate::model::{RunRecord, RunStatus, StepKind, StepRecord, StepStatus};

/// Most agents ListWorkers lists in `agent_queues`.
pub const MAX_AGENT_QUEUES: u32 = 1_000;
/// Most steps an ExecuteWorkflow timeout names; the rest are counted.
const MAX_NAMED_STEPS: usize = 10;

/// What each long-waiting step of a run waits for, by instance key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepWaits(HashMap<String, String>);

impl StepWaits {
    /// What the step `key` waits for, in words; empty when nothing is said.
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }
}

/// One agent's queue as ListWorkers shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentQueue {
    /// Agent name.
    pub agent: String,
    /// Tasks queued.
    pub queued: u32,
    /// Live workers registered for it.
    pub live_workers: u32,
    /// Whether one was seen within `[tasks] unclaimed_after`.
    pub served: bool,
    /// When the oldest queued task was queued, ms since the epoch.
    pub oldest_ms: i64,
}

/// What a step waits for when no worker serves its agent.
pub(super) fn worker_for(agent: &str) -> String {
    format!("a worker for agent '{agent}'")
}

/// Whether a worker task's wait says "a worker for agent …": queued for
/// longer than `after_ms`, and nobody seen for its agent within it.
pub(super) fn unserved(
    kind: StepKind,
    queued_ms: i64,
    presence: Option<&AgentPresence>,
    now_ms: i64,
    after_ms: i64,
) -> bool {
    matches!(kind, StepKind::Agent | StepKind::Planner)
        && now_ms.saturating_sub(queued_ms) >= after_ms
        && !presence.is_some_and(|p| p.served)
}

impl TaskQueue {
    /// Shows READY the steps of `detail` whose task is queued, and answers
    /// what the long-waiting ones wait for. A store failure is logged and
    /// leaves the run as recorded: a read never fails for the projection.
    pub async fn project_waits(&self, tenant: &str, detail: &mut RunDetail) -> StepWaits {
        match self.try_project_waits(tenant, detail).await {
            Ok(waits) => waits,
            Err(err) => {
                tracing::warn!(run_id = %detail.0.id, error = %err, "cannot read the run's queued tasks; showing it as recorded");
                StepWaits::default()
            }
        }
    }

    async fn try_project_waits(&self, tenant: &str, detail: &mut RunDetail) -> Result<StepWaits, EngineError> {
        let (run, steps) = detail;
        // Only a live run with a step in flight can have a queued task.
        if run.status.is_terminal() || !steps.iter().any(|s| s.status == StepStatus::Running) {
            return Ok(StepWaits::default());
        }
        let queued = self.runs.store().queued_tasks_of_run(tenant, &run.id).await?;
        if queued.is_empty() {
            return Ok(StepWaits::default());
        }
        let (now, after_ms) = (now_ms(), self.unclaimed_after_ms());
        let mut presence: Option<HashMap<String, AgentPresence>> = None;
        let mut waits = HashMap::new();
        for task in queued {
            let Some(step) = steps.iter_mut().find(|s| s.key == task.step_key && s.status == StepStatus::Running)
            else {
                continue;
            };
            step.status = StepStatus::Ready;
            // The queued attempt has not started: attempts count started
            // ones (0 before the first), and a first attempt nobody claimed
            // has no start time yet.
            step.attempts = step.attempts.saturating_sub(1);
            if step.attempts == 0 {
                step.started_ms = None;
            }
            if !unserved(task.kind, task.queued_ms, None, now, after_ms) {
                continue;
            }
            // Read once per run, and only for a task that waited long.
            if presence.is_none() {
                presence = Some(self.workers.presence(tenant, now, now - after_ms).await?);
            }
            let seen = presence.as_ref().and_then(|agents| agents.get(&task.agent));
            if unserved(task.kind, task.queued_ms, seen, now, after_ms) {
                waits.insert(task.step_key, worker_for(&task.agent));
            }
        }
        Ok(StepWaits(waits))
    }

    /// The agents of a tenant with queued worker tasks (only `agent` when
    /// given), most queued first, at most [`MAX_AGENT_QUEUES`], with who
    /// serves each.
    pub async fn agent_queues(&self, tenant: &str, agent: Option<&str>) -> Result<Vec<AgentQueue>, EngineError> {
        let rows = self.runs.store().agent_queues(tenant, agent, MAX_AGENT_QUEUES).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let agents = self.workers.presence(tenant, now, now - self.unclaimed_after_ms()).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let presence = agents.get(&row.agent).copied().unwrap_or_default();
                AgentQueue {
                    live_workers: presence.live_workers,
                    served: presence.served,
                    agent: row.agent,
                    queued: row.queued,
                    oldest_ms: row.oldest_ms,
                }
            })
            .collect())
    }

    /// The steps of run `run_id` still waiting and why, for a timeout's
    /// message ("waiting: step 'scrape' (ready: a worker for agent …)");
    /// `None` when nothing is waiting or the run cannot be read.
    pub async fn waiting_summary(&self, tenant: &str, run_id: &str) -> Option<String> {
        let mut detail = self.runs.get(tenant, run_id).await.ok()?;
        let waits = self.project_waits(tenant, &mut detail).await;
        waiting_summary(&detail.0, &detail.1, &waits)
    }
}

/// Why each live step of a run is not done, in words, at most
/// [`MAX_NAMED_STEPS`] of them; `None` when none is.
pub fn waiting_summary(run: &RunRecord, steps: &[StepRecord], waits: &StepWaits) -> Option<String> {
    if run.status == RunStatus::Queued {
        return Some("the run is queued under its workflow's concurrent-run limit".to_owned());
    }
    let action = run.pending_action.as_ref();
    let action_text = |key: &str| -> Option<String> {
        let action = action.filter(|a| a.get("step").and_then(Value::as_str) == Some(key))?;
        let kind = action.get("type").and_then(Value::as_str).filter(|t| !t.is_empty())?;
        Some(match action.get("event").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            Some(event) => format!("{kind} '{event}'"),
            None => kind.to_owned(),
        })
    };
    let described: Vec<String> = steps
        .iter()
        .filter_map(|step| {
            let why = match step.status {
                StepStatus::Ready => Some(waits.get(&step.key).to_owned()).filter(|w| !w.is_empty()),
                StepStatus::Paused | StepStatus::Waiting => action_text(&step.key),
                StepStatus::Running => None,
                StepStatus::Pending
                | StepStatus::Completed
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Cancelled => return None,
            };
            let status = step.status.as_str();
            Some(match why {
                Some(why) => format!("step '{}' ({status}: {why})", step.key),
                None => format!("step '{}' ({status})", step.key),
            })
        })
        .collect();
    if described.is_empty() {
        return None;
    }
    let mut text = format!("waiting: {}", described[..described.len().min(MAX_NAMED_STEPS)].join(", "));
    if described.len() > MAX_NAMED_STEPS {
        text.push_str(&format!(" and {} more", described.len() - MAX_NAMED_STEPS));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(key: &str, status: StepStatus) -> StepRecord {
        StepRecord {
            run_id: "wfrun_x".into(),
            key: key.into(),
            position: 0,
            step_id: key.into(),
            kind: StepKind::Agent,
            parent_id: None,
            item_index: None,
            status,
            attempts: 1,
            output: None,
            error: None,
            cost_cents: 0,
            started_ms: None,
            completed_ms: None,
        }
    }

    fn run(status: RunStatus, pending_action: Option<Value>) -> RunRecord {
        RunRecord {
            id: "wfrun_x".into(),
            tenant_id: "t".into(),
            workflow_id: "wf_x".into(),
            workflow_version: 1,
            user_id: String::new(),
            status,
            input: None,
            output: None,
            shared_state: None,
            error: None,
            error_code: None,
            cancel_reason: None,
            can_retry_from: None,
            pending_action,
            cost_cents: 0,
            trigger: "manual".into(),
            idempotency_key: String::new(),
            retry_of_run_id: None,
            created_ms: 0,
            started_ms: None,
            completed_ms: None,
            retention_ms: None,
            schedule_id: None,
            scheduled_ms: None,
        }
    }

    #[test]
    fn a_summary_names_each_waiting_step_and_why() {
        let steps = [
            step("done", StepStatus::Completed),
            step("scrape", StepStatus::Ready),
            step("approve", StepStatus::Paused),
            step("later", StepStatus::Pending),
            step("busy", StepStatus::Running),
            step("queued", StepStatus::Ready),
        ];
        let waits = StepWaits(HashMap::from([("scrape".to_owned(), worker_for("web-researcher"))]));
        let action = json!({"step": "approve", "type": "approval", "message": "ok?"});
        let text = waiting_summary(&run(RunStatus::Paused, Some(action)), &steps, &waits).unwrap();
        assert_eq!(
            text,
            "waiting: step 'scrape' (ready: a worker for agent 'web-researcher'), step 'approve' (paused: approval), \
             step 'busy' (running), step 'queued' (ready)"
        );
        let event = json!({"step": "w", "type": "event", "event": "signed"});
        let text = waiting_summary(&run(RunStatus::Paused, Some(event)), &[step("w", StepStatus::Waiting)], &waits);
        assert_eq!(text.as_deref(), Some("waiting: step 'w' (waiting: event 'signed')"));
        assert_eq!(waiting_summary(&run(RunStatus::Running, None), &[step("a", StepStatus::Completed)], &waits), None);
        let queued = waiting_summary(&run(RunStatus::Queued, None), &[], &waits).unwrap();
        assert!(queued.contains("concurrent-run limit"), "{queued}");
    }

    #[test]
    fn a_summary_names_at_most_ten_steps_then_counts() {
        let steps: Vec<StepRecord> = (0..13).map(|i| step(&format!("s{i}"), StepStatus::Running)).collect();
        let text = waiting_summary(&run(RunStatus::Running, None), &steps, &StepWaits::default()).unwrap();
        assert!(text.contains("step 's9' (running)") && !text.contains("'s10'"), "{text}");
        assert!(text.ends_with(" and 3 more"), "{text}");
    }

    #[test]
    fn only_a_long_wait_of_a_worker_task_with_nobody_seen_is_unserved() {
        let served = AgentPresence { live_workers: 1, served: true };
        let absent = AgentPresence { live_workers: 1, served: false };
        assert!(unserved(StepKind::Agent, 0, None, 500, 300));
        assert!(unserved(StepKind::Planner, 0, Some(&absent), 300, 300));
        assert!(!unserved(StepKind::Agent, 0, Some(&served), 500, 300), "a worker polled");
        assert!(!unserved(StepKind::Agent, 300, None, 500, 300), "not long enough");
        assert!(!unserved(StepKind::Webhook, 0, None, 500, 300), "the server runs it");
    }
}
