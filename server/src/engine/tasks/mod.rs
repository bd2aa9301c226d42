//! The task queue as workers see it: claiming the oldest task of their
//! agents under a lease (long-polling until one is committed), and what a
//! claimed task carries. Lease calls (heartbeat, complete, fail) are in
//! `lease.rs`, the output checks in `output.rs`, the policy (CheckToolUse,
//! cost currency) in `policy.rs`, and the sweeper that turns
//! expired leases into `LeaseExpired` commands in `sweeper.rs`, and a
//! worker stream's credits and claims (WorkerService.ConnectWorker) in
//! `stream.rs`, and the leases handed out, remembered so that completions
//! need no read first, in `granted.rs`. What a queued task's step waits
//! for (READY, `waitingFor`, ListWorkers' agent queues) is in
//! `waiting.rs`, and the watcher that records task.unclaimed in
//! `unclaimed.rs`. Each step's latest attempt as reads show it (its input,
//! the worker that claimed it) is in `attempts.rs`.
//!
//! Claims are made by the run writer inside its group commit (ENGINE.md §4),
//! so they share fsyncs with the completions that free the next steps;
//! completions and failures are commands through the same writer, so the
//! step's outcome and the task row change commit together. Heartbeats are
//! single store operations.

mod attempts;
mod granted;
mod lease;
mod output;
mod policy;
mod stream;
mod sweeper;
#[cfg(test)]
mod tests;
mod unclaimed;
mod waiting;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use attempts::{StepAttempt, StepAttempts};
pub use lease::HeartbeatReply;
pub use output::{MAX_OUTPUT_BYTES, TaskOutput};
pub use policy::{ToolAnswer, ToolUse};
pub use stream::{ClaimedTask, MAX_OUTSTANDING_CLAIMS, WorkerStream, check_credits, credit_limit};
pub use waiting::{AgentQueue, MAX_AGENT_QUEUES, StepWaits};

use crate::engine::clock::now_ms;
use crate::engine::workers::WorkerRegistry;
use crate::engine::{EngineError, RunEngine};
use crate::model::definition::Policy;
use crate::store::{ClaimRequest, ClaimScope, LeasedTask};
use sweeper::NewDeadlines;

/// Step kinds workers are handed: agents, and planners (agents whose
/// output is a plan the run splices in). Webhook, http_request and script
/// tasks are claimed only by the server's built-in executor
/// ([`TaskQueue::claim_builtin`]).
const SERVED_KINDS: &[&str] = &["agent", "planner"];

/// A task claimed by a worker, with what it needs beyond the row.
#[derive(Debug, Clone)]
pub struct PolledTask {
    /// The claimed row and its lease.
    pub leased: LeasedTask,
    /// The workflow's policy, when it has one.
    pub policy: Option<Policy>,
    /// When the attempt ends whatever its heartbeats: the step's timeout
    /// from the claim, or the run's timeout, whichever comes first; ms
    /// since the epoch, `None` without either.
    pub deadline_ms: Option<i64>,
}

/// The task queue over one run engine; cheap to clone.
#[derive(Clone)]
pub struct TaskQueue {
    runs: RunEngine,
    workers: WorkerRegistry,
    lease_ms: i64,
    /// Told each new lease deadline, so the sweeper wakes for it.
    deadlines: Arc<NewDeadlines>,
    /// The leases handed out here whose outcome has not come yet.
    grants: Arc<granted::Grants>,
    /// `[tasks] unclaimed_after`, ms: how long a worker task may wait
    /// with nobody polling for its agent.
    unclaimed_after_ms: Arc<AtomicI64>,
    stop: Arc<watch::Sender<bool>>,
    /// The lease sweeper and the unclaimed-task watcher.
    background: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Default `[tasks] unclaimed_after`, ms.
const DEFAULT_UNCLAIMED_AFTER_MS: i64 = 10_000;

impl TaskQueue {
    /// A queue over `runs` handing out leases of `lease`; starts the
    /// sweeper, which first returns the leases that expired while the
    /// server was down, and the unclaimed-task watcher (10 s until
    /// [`Self::set_unclaimed_after`] says otherwise).
    pub fn open(runs: RunEngine, lease: Duration) -> Self {
        let deadlines = Arc::new(NewDeadlines::new());
        let (stop, stopped) = watch::channel(false);
        let sweeper =
            tokio::spawn(sweeper::run(runs.store().clone(), runs.clone(), deadlines.clone(), stopped.clone()));
        let queue = Self {
            workers: WorkerRegistry::new(runs.store().clone()),
            runs,
            lease_ms: lease.as_millis().clamp(1, i64::MAX as u128) as i64,
            deadlines,
            grants: Arc::default(),
            unclaimed_after_ms: Arc::new(AtomicI64::new(DEFAULT_UNCLAIMED_AFTER_MS)),
            stop: Arc::new(stop),
            background: Arc::default(),
        };
        queue.workers.set_touch_every(DEFAULT_UNCLAIMED_AFTER_MS / 2);
        let watcher = tokio::spawn(unclaimed::run(queue.clone(), stopped));
        queue.background.lock().expect("task queue background").extend([sweeper, watcher]);
        queue
    }

    /// Sets `[tasks] unclaimed_after`: how long an agent or planner task may
    /// wait queued, with no worker polling for its agent, before its step
    /// says so (`waitingFor`, task.unclaimed, a warning).
    pub fn set_unclaimed_after(&self, after: Duration) {
        let ms = after.as_millis().clamp(1, i64::MAX as u128) as i64;
        self.unclaimed_after_ms.store(ms, Ordering::Relaxed);
        // Other replicas judge from stored sightings: keep them fresh.
        self.workers.set_touch_every(ms / 2);
    }

    /// `[tasks] unclaimed_after`, ms.
    pub fn unclaimed_after_ms(&self) -> i64 {
        self.unclaimed_after_ms.load(Ordering::Relaxed)
    }

    /// The registered workers.
    pub fn workers(&self) -> &WorkerRegistry {
        &self.workers
    }

    /// Length of a lease, ms.
    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// Live leases per worker id.
    pub async fn in_flight(&self, tenant: &str) -> Result<Vec<(String, u32)>, EngineError> {
        Ok(self.runs.store().leases_by_owner(tenant).await?)
    }

    /// Stops the sweeper and the watcher and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let handles = std::mem::take(&mut *self.background.lock().expect("task queue background"));
        for handle in handles {
            let _ = handle.await;
        }
    }

    /// Claims the oldest queued task of `agents` (all the worker's agents
    /// when empty) for a registered worker, waiting up to `wait` for one to
    /// be committed. `None` when none came in time or the server is
    /// stopping. NotFound for an unknown worker; InvalidArgument for an
    /// agent the worker did not register.
    pub async fn poll(
        &self,
        tenant: &str,
        worker_id: &str,
        agents: Vec<String>,
        wait: Duration,
    ) -> Result<Option<PolledTask>, EngineError> {
        let registered =
            self.workers.touch(tenant, worker_id, now_ms()).await?.ok_or_else(|| EngineError::NotFound {
                what: format!("worker '{worker_id}' (register it again)"),
                reason: "WORKER_NOT_FOUND",
            })?;
        let agents = if agents.is_empty() { registered.clone() } else { agents };
        if let Some(stranger) = agents.iter().find(|a| !registered.contains(a)) {
            return Err(EngineError::invalid("agents", format!("agent '{stranger}' is not registered by this worker")));
        }
        match self.claim_waiting(ClaimScope::Tenant(tenant.to_owned()), agents, SERVED_KINDS, worker_id, wait).await? {
            Some(leased) => self.describe(tenant, leased).await.map(Some),
            None => Ok(None),
        }
    }

    /// Claims the oldest queued task of `kinds` under the reserved `agent`
    /// for the built-in executor (lease owner `owner`), of any tenant: the
    /// executor serves them all and acts in the task's own
    /// ([`LeasedTask::tenant_id`]). Waits up to `wait`; `None` when none
    /// came in time or the server is stopping.
    pub async fn claim_builtin(
        &self,
        kinds: &'static [&'static str],
        agent: &str,
        owner: &str,
        wait: Duration,
    ) -> Result<Option<LeasedTask>, EngineError> {
        self.claim_waiting(ClaimScope::AnyTenant, vec![agent.to_string()], kinds, owner, wait).await
    }

    /// Claims the oldest queued task of `agents` and `kinds` for `owner`,
    /// waiting up to `wait`; `None` when none came in time or the server
    /// is stopping. The writer answers when it claimed a task for this
    /// call, at once or in the commit that queues one; giving up drops the
    /// answer, which the writer sees before claiming.
    #[tracing::instrument(
        name = "task_claim",
        skip_all,
        fields(owner = %owner, run_id = tracing::field::Empty, task_id = tracing::field::Empty)
    )]
    async fn claim_waiting(
        &self,
        scope: ClaimScope,
        agents: Vec<String>,
        kinds: &'static [&'static str],
        owner: &str,
        wait: Duration,
    ) -> Result<Option<LeasedTask>, EngineError> {
        let claim = ClaimRequest {
            scope,
            agents,
            kinds,
            worker_id: owner.to_string(),
            now_ms: now_ms(),
            lease_ms: self.lease_ms,
        };
        let until_ms = now_ms().saturating_add(wait.as_millis().min(i64::MAX as u128) as i64);
        let mut closing = self.runs.closing();
        let claimed = tokio::select! {
            claimed = self.runs.scheduler().claim(claim, until_ms) => claimed?,
            _ = tokio::time::sleep(wait) => None,
            _ = closing.wait_for(|closing| *closing) => None,
        };
        if let Some(leased) = &claimed {
            self.deadlines.tell(leased.lease_deadline_ms);
            self.grants.record(leased);
            let span = tracing::Span::current();
            span.record("run_id", leased.run_id.as_str());
            span.record("task_id", leased.task_id.as_str());
        }
        Ok(claimed)
    }

    /// The shared-state keys a task's step declares, with their committed
    /// values; `None` when it declares none.
    async fn stored_state(
        &self,
        tenant: &str,
        workflow: &crate::engine::compile::CompiledWorkflow,
        leased: &LeasedTask,
    ) -> Result<Option<serde_json::Value>, EngineError> {
        // A map item's key is `step[i]`; its declarations are the step's.
        let step = leased.step_key.split('[').next().unwrap_or_default();
        let Some(def) = workflow.node(step).and_then(|node| workflow.step_def(node)) else { return Ok(None) };
        let keys: Vec<&String> = def.state_reads.iter().chain(&def.state_writes).collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let (run, _) = self.runs.get(tenant, &leased.run_id).await?;
        let state = run.shared_state.unwrap_or_default();
        let values = keys.into_iter().map(|k| (k.clone(), state.get(k).cloned().unwrap_or_default())).collect();
        Ok(Some(serde_json::Value::Object(values)))
    }

    /// A task's row, whatever its state; `None` for an unknown id.
    pub async fn task_row(&self, tenant: &str, task_id: &str) -> Result<Option<crate::store::TaskLease>, EngineError> {
        Ok(self.runs.store().get_task(tenant, task_id).await?)
    }

    /// Moves the end of a live lease to `deadline_ms` (a webhook waiting
    /// for its callback holds its lease that long). False when the lease
    /// is no longer live.
    pub async fn hold_lease(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        deadline_ms: i64,
    ) -> Result<bool, EngineError> {
        let now = now_ms();
        let held = self.runs.store().extend_lease(tenant, task_id, token, deadline_ms, 0, now).await?;
        if let Some(deadline) = held {
            self.deadlines.tell(deadline);
        }
        Ok(held.is_some())
    }

    /// Adds the workflow's policy and the run's deadline to a claimed task,
    /// and the declared shared state of a run another replica holds (the
    /// writer adds it for runs held here).
    async fn describe(&self, tenant: &str, leased: LeasedTask) -> Result<PolledTask, EngineError> {
        let mut polled = PolledTask { leased, policy: None, deadline_ms: None };
        self.fill_in(tenant, &mut polled).await?;
        Ok(polled)
    }

    /// [`Self::describe`] in place, so a caller keeps the lease whatever
    /// happens.
    async fn fill_in(&self, tenant: &str, polled: &mut PolledTask) -> Result<(), EngineError> {
        let leased = &mut polled.leased;
        let workflow = self.runs.compiled(tenant, &leased.workflow_id, leased.workflow_version).await?;
        if leased.shared_state.is_none() && self.runs.scheduler().cluster().is_some() {
            leased.shared_state = self.stored_state(tenant, &workflow, leased).await?;
        }
        let definition = workflow.definition();
        let run_deadline_ms = match (leased.run_started_ms, definition.timeout) {
            (Some(started), timeout) if timeout > 0 => Some(started.saturating_add(i64::from(timeout) * 1000)),
            _ => None,
        };
        polled.deadline_ms = run_deadline_ms.into_iter().chain(leased.attempt_deadline_ms).min();
        polled.policy = definition.policy.clone();
        Ok(())
    }
}
