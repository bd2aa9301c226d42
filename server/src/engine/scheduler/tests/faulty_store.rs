//! A [`Store`] for tests that delegates to a real one and fails on demand:
//! the next commits, or every call as if the database were unreachable.
//! It also counts the reads of task rows, for tests of what a call reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_trait::async_trait;

use crate::store::notifications as notify;
use crate::store::schedules as sched;
use crate::store::triggers;

use crate::model::{
    ApprovalPage, ApprovalQuery, ApprovalRecord, EventRecord, RunRecord, StepRecord, TimerRecord, Workflow,
    WorkflowStatus, WorkflowVersionInfo,
};
use crate::store::{
    ApprovalStore, CommitStore, ExpiredLease, KeyRecord, KeyStore, KeySweep, LeasedTask, NamedWorkflow, NewVersion,
    NewWorkflow, OpenRun, RetentionStore, RunBatch, RunPage, RunQuery, RunStore, RunSweep, SecretStore, Store,
    StoreError, Swept, TaskLease, TaskStore, WorkerRecord, WorkerStore, WorkflowPage, WorkflowQuery, WorkflowStore,
};

/// A real store behind switches that make it fail.
pub(crate) struct FaultyStore {
    inner: Arc<dyn Store>,
    /// Commits still to fail.
    failing_commits: AtomicU32,
    /// Every call fails, as when the database does not answer.
    unreachable: AtomicBool,
    /// Calls of `get_task` so far.
    task_reads: AtomicU32,
}

impl FaultyStore {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            failing_commits: AtomicU32::new(0),
            unreachable: AtomicBool::new(false),
            task_reads: AtomicU32::new(0),
        })
    }

    /// How many task rows were read so far.
    pub(crate) fn task_reads(&self) -> u32 {
        self.task_reads.load(Ordering::SeqCst)
    }

    /// The next `count` commits fail (nothing is written).
    pub(crate) fn fail_commits(&self, count: u32) {
        self.failing_commits.store(count, Ordering::SeqCst);
    }

    /// Every call fails (`true`) or goes through again (`false`).
    pub(crate) fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.store(unreachable, Ordering::SeqCst);
    }

    fn reachable(&self) -> Result<(), StoreError> {
        if self.unreachable.load(Ordering::SeqCst) { Err(StoreError::Closed) } else { Ok(()) }
    }

    fn fail_commit(&self) -> Result<(), StoreError> {
        self.reachable()?;
        let failing = self.failing_commits.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match failing {
            Ok(_) => Err(StoreError::Corrupt("injected commit failure".into())),
            Err(_) => Ok(()),
        }
    }
}

#[async_trait]
impl WorkflowStore for FaultyStore {
    async fn create_workflow(&self, tenant: &str, new: NewWorkflow) -> Result<Workflow, StoreError> {
        self.reachable()?;
        self.inner.create_workflow(tenant, new).await
    }

    async fn workflow_by_name(&self, tenant: &str, name: &str) -> Result<Option<NamedWorkflow>, StoreError> {
        self.reachable()?;
        self.inner.workflow_by_name(tenant, name).await
    }

    async fn get_workflow(&self, tenant: &str, id: &str) -> Result<Workflow, StoreError> {
        self.reachable()?;
        self.inner.get_workflow(tenant, id).await
    }

    async fn get_workflow_version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow, StoreError> {
        self.reachable()?;
        self.inner.get_workflow_version(tenant, id, version).await
    }

    async fn list_workflows(&self, tenant: &str, query: &WorkflowQuery) -> Result<WorkflowPage, StoreError> {
        self.reachable()?;
        self.inner.list_workflows(tenant, query).await
    }

    async fn append_workflow_version(&self, tenant: &str, id: &str, next: NewVersion) -> Result<Workflow, StoreError> {
        self.reachable()?;
        self.inner.append_workflow_version(tenant, id, next).await
    }

    async fn set_workflow_status(
        &self,
        tenant: &str,
        id: &str,
        status: WorkflowStatus,
        now_ms: i64,
    ) -> Result<Workflow, StoreError> {
        self.reachable()?;
        self.inner.set_workflow_status(tenant, id, status, now_ms).await
    }

    async fn delete_workflow(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.delete_workflow(tenant, id).await
    }

    async fn list_workflow_versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, StoreError> {
        self.reachable()?;
        self.inner.list_workflow_versions(tenant, id).await
    }

    async fn get_version_source(
        &self,
        tenant: &str,
        id: &str,
        version: u32,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.reachable()?;
        self.inner.get_version_source(tenant, id, version).await
    }
}

#[async_trait]
impl CommitStore for FaultyStore {
    async fn commit_runs(&self, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
        self.fail_commit()?;
        self.inner.commit_runs(batch).await
    }
}

#[async_trait]
impl RunStore for FaultyStore {
    async fn get_run(&self, tenant: &str, id: &str) -> Result<(RunRecord, Vec<StepRecord>), StoreError> {
        self.reachable()?;
        self.inner.get_run(tenant, id).await
    }

    async fn list_runs(&self, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError> {
        self.reachable()?;
        self.inner.list_runs(tenant, query).await
    }

    async fn list_run_events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_run_events(tenant, run_id, after, limit).await
    }

    async fn delete_run(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.delete_run(tenant, id).await
    }

    async fn find_idempotent_run(&self, tenant: &str, key: &str, since_ms: i64) -> Result<Option<String>, StoreError> {
        self.reachable()?;
        self.inner.find_idempotent_run(tenant, key, since_ms).await
    }

    async fn find_idempotent_runs(
        &self,
        keys: &[(String, String)],
        since_ms: i64,
    ) -> Result<HashMap<(String, String), String>, StoreError> {
        self.reachable()?;
        self.inner.find_idempotent_runs(keys, since_ms).await
    }

    async fn load_open_runs(&self) -> Result<Vec<OpenRun>, StoreError> {
        self.reachable()?;
        self.inner.load_open_runs().await
    }

    async fn list_timers(&self) -> Result<Vec<TimerRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_timers().await
    }

    async fn load_open_runs_for(&self, ids: &[String]) -> Result<Vec<OpenRun>, StoreError> {
        self.reachable()?;
        self.inner.load_open_runs_for(ids).await
    }

    async fn list_timers_for(&self, ids: &[String]) -> Result<Vec<TimerRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_timers_for(ids).await
    }

    async fn count_open_runs(&self, tenant: &str) -> Result<u64, StoreError> {
        self.reachable()?;
        self.inner.count_open_runs(tenant).await
    }
}

#[async_trait]
impl TaskStore for FaultyStore {
    async fn count_tasks(&self, run_id: &str) -> Result<u32, StoreError> {
        self.reachable()?;
        self.inner.count_tasks(run_id).await
    }

    async fn get_task(&self, tenant: &str, task_id: &str) -> Result<Option<TaskLease>, StoreError> {
        self.reachable()?;
        self.task_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_task(tenant, task_id).await
    }

    async fn extend_lease(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        deadline_ms: i64,
        cost_so_far_cents: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.reachable()?;
        self.inner.extend_lease(tenant, task_id, token, deadline_ms, cost_so_far_cents, now_ms).await
    }

    async fn expired_leases(&self, now_ms: i64, limit: u32) -> Result<Vec<ExpiredLease>, StoreError> {
        self.reachable()?;
        self.inner.expired_leases(now_ms, limit).await
    }

    async fn next_lease_deadline(&self) -> Result<Option<i64>, StoreError> {
        self.reachable()?;
        self.inner.next_lease_deadline().await
    }

    async fn withdraw_lease(&self, task_id: &str, token: u64) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.withdraw_lease(task_id, token).await
    }

    async fn leases_by_owner(&self, tenant: &str) -> Result<Vec<(String, u32)>, StoreError> {
        self.reachable()?;
        self.inner.leases_by_owner(tenant).await
    }
}

#[async_trait]
impl crate::store::StepTaskStore for FaultyStore {
    async fn step_tasks_of_run(&self, tenant: &str, run_id: &str) -> Result<Vec<crate::store::StepTask>, StoreError> {
        self.reachable()?;
        self.inner.step_tasks_of_run(tenant, run_id).await
    }
}

#[async_trait]
impl crate::store::TaskWaitStore for FaultyStore {
    async fn queued_tasks_of_run(
        &self,
        tenant: &str,
        run_id: &str,
    ) -> Result<Vec<crate::store::QueuedTask>, StoreError> {
        self.reachable()?;
        self.inner.queued_tasks_of_run(tenant, run_id).await
    }

    async fn oldest_worker_tasks(
        &self,
        queued_by_ms: i64,
        after: Option<&crate::store::QueueCursor>,
        limit: u32,
    ) -> Result<Vec<crate::store::QueuedTask>, StoreError> {
        self.reachable()?;
        self.inner.oldest_worker_tasks(queued_by_ms, after, limit).await
    }

    async fn agent_queues(
        &self,
        tenant: &str,
        agent: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::store::AgentQueueRow>, StoreError> {
        self.reachable()?;
        self.inner.agent_queues(tenant, agent, limit).await
    }
}

#[async_trait]
impl ApprovalStore for FaultyStore {
    async fn get_approval(&self, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        self.reachable()?;
        self.inner.get_approval(tenant, id).await
    }

    async fn list_approvals(&self, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, StoreError> {
        self.reachable()?;
        self.inner.list_approvals(tenant, query).await
    }
}

#[async_trait]
impl RetentionStore for FaultyStore {
    async fn sweep_finished_runs(&self, sweep: &RunSweep) -> Result<Swept, StoreError> {
        self.reachable()?;
        self.inner.sweep_finished_runs(sweep).await
    }

    async fn sweep_expired_keys(&self, sweep: &KeySweep) -> Result<Swept, StoreError> {
        self.reachable()?;
        self.inner.sweep_expired_keys(sweep).await
    }

    async fn run_tombstone(&self, tenant: &str, id: &str) -> Result<Option<i64>, StoreError> {
        self.reachable()?;
        self.inner.run_tombstone(tenant, id).await
    }

    async fn reclaim_space(&self) -> Result<Swept, StoreError> {
        self.reachable()?;
        self.inner.reclaim_space().await
    }
}

#[async_trait]
impl SecretStore for FaultyStore {
    async fn server_secret(&self, name: &str, candidate: &str, now_ms: i64) -> Result<String, StoreError> {
        self.reachable()?;
        self.inner.server_secret(name, candidate, now_ms).await
    }
}

#[async_trait]
impl KeyStore for FaultyStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.insert_key(key).await
    }
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.reachable()?;
        self.inner.get_key(id).await
    }
    async fn list_keys(&self, tenant: &str, limit: u32) -> Result<Vec<KeyRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_keys(tenant, limit).await
    }
    async fn count_live_keys(&self, tenant: &str) -> Result<u32, StoreError> {
        self.reachable()?;
        self.inner.count_live_keys(tenant).await
    }
    async fn revoke_key(&self, tenant: &str, id: &str, now_ms: i64) -> Result<Option<KeyRecord>, StoreError> {
        self.reachable()?;
        self.inner.revoke_key(tenant, id, now_ms).await
    }
    async fn any_key_exists(&self) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.any_key_exists().await
    }
}

#[async_trait]
impl crate::store::TenantSecretStore for FaultyStore {
    async fn put_tenant_secret(
        &self,
        tenant: &str,
        name: &str,
        sealed: &str,
        now_ms: i64,
    ) -> Result<(crate::store::TenantSecretInfo, bool), StoreError> {
        self.reachable()?;
        self.inner.put_tenant_secret(tenant, name, sealed, now_ms).await
    }

    async fn tenant_secret(&self, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
        self.reachable()?;
        self.inner.tenant_secret(tenant, name).await
    }

    async fn list_tenant_secrets(
        &self,
        tenant: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<crate::store::TenantSecretInfo>, StoreError> {
        self.reachable()?;
        self.inner.list_tenant_secrets(tenant, after, limit).await
    }

    async fn delete_tenant_secret(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.delete_tenant_secret(tenant, name).await
    }
}

#[async_trait]
impl WorkerStore for FaultyStore {
    async fn upsert_worker(&self, tenant: &str, worker: &WorkerRecord) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.upsert_worker(tenant, worker).await
    }

    async fn touch_worker(
        &self,
        tenant: &str,
        worker_id: &str,
        now_ms: i64,
        seen_since_ms: i64,
    ) -> Result<Option<WorkerRecord>, StoreError> {
        self.reachable()?;
        self.inner.touch_worker(tenant, worker_id, now_ms, seen_since_ms).await
    }

    async fn list_workers(
        &self,
        tenant: &str,
        seen_since_ms: i64,
        limit: u32,
    ) -> Result<Vec<WorkerRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_workers(tenant, seen_since_ms, limit).await
    }

    async fn count_other_workers(&self, tenant: &str, worker_id: &str, seen_since_ms: i64) -> Result<u32, StoreError> {
        self.reachable()?;
        self.inner.count_other_workers(tenant, worker_id, seen_since_ms).await
    }

    async fn prune_workers(&self, seen_before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        self.reachable()?;
        self.inner.prune_workers(seen_before_ms, limit).await
    }
}

#[async_trait]
impl crate::store::NotificationStore for FaultyStore {
    async fn insert_subscription(&self, s: &notify::SubscriptionRecord, max: u32) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.insert_subscription(s, max).await
    }
    async fn get_subscription(&self, tenant: &str, id: &str) -> Result<Option<notify::SubscriptionRecord>, StoreError> {
        self.reachable()?;
        self.inner.get_subscription(tenant, id).await
    }
    async fn list_subscriptions(
        &self,
        tenant: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<notify::SubscriptionRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_subscriptions(tenant, after, limit).await
    }
    async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.delete_subscription(tenant, id).await
    }
    async fn outbox(&self, limit: u32) -> Result<Vec<notify::OutboxEntry>, StoreError> {
        self.reachable()?;
        self.inner.outbox(limit).await
    }
    async fn fan_out(&self, run_id: &str, sequence: i64, d: &[notify::DeliveryRecord]) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.fan_out(run_id, sequence, d).await
    }
    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<notify::ClaimedDelivery>, StoreError> {
        self.reachable()?;
        self.inner.claim_deliveries(now_ms, lease_until, limit).await
    }
    async fn record_attempt(&self, id: &str, lease: i64, a: &notify::AttemptRecord) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.record_attempt(id, lease, a).await
    }
    async fn list_deliveries(
        &self,
        tenant: &str,
        q: &notify::DeliveryQuery,
    ) -> Result<Vec<notify::DeliveryRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_deliveries(tenant, q).await
    }
    async fn prune_deliveries(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        self.reachable()?;
        self.inner.prune_deliveries(before_ms, limit).await
    }
}

#[async_trait]
impl crate::store::TriggerStore for FaultyStore {
    async fn get_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
    ) -> Result<Option<triggers::TriggerRecord>, StoreError> {
        self.reachable()?;
        self.inner.get_trigger(tenant, workflow_id).await
    }
    async fn find_webhook(&self, webhook_id: &str) -> Result<Option<triggers::TriggerRecord>, StoreError> {
        self.reachable()?;
        self.inner.find_webhook(webhook_id).await
    }
    async fn deploy_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        webhook_id: &str,
        webhook_secret: &str,
        now_ms: i64,
    ) -> Result<triggers::TriggerRecord, StoreError> {
        self.reachable()?;
        self.inner.deploy_trigger(tenant, workflow_id, webhook_id, webhook_secret, now_ms).await
    }
    async fn undeploy_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
    ) -> Result<Option<triggers::TriggerRecord>, StoreError> {
        self.reachable()?;
        self.inner.undeploy_trigger(tenant, workflow_id).await
    }
    async fn arm_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        webhook_id: &str,
        webhook_secret: &str,
        armed_until_ms: i64,
    ) -> Result<Option<triggers::TriggerRecord>, StoreError> {
        self.reachable()?;
        self.inner.arm_trigger(tenant, workflow_id, webhook_id, webhook_secret, armed_until_ms).await
    }
    async fn claim_window(&self, webhook_id: &str, now_ms: i64) -> Result<Option<triggers::ClaimedWindow>, StoreError> {
        self.reachable()?;
        self.inner.claim_window(webhook_id, now_ms).await
    }
    async fn release_window(&self, webhook_id: &str, window: triggers::ClaimedWindow) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.release_window(webhook_id, window).await
    }
    async fn record_webhook_fire(
        &self,
        webhook_id: &str,
        run_id: &str,
        fired_ms: i64,
        delivery: Option<&str>,
    ) -> Result<(), StoreError> {
        self.reachable()?;
        self.inner.record_webhook_fire(webhook_id, run_id, fired_ms, delivery).await
    }
}

#[async_trait]
impl crate::store::TemplateStore for FaultyStore {
    async fn insert_template(&self, t: &crate::store::templates::TemplateRecord, max: u32) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.insert_template(t, max).await
    }
    async fn get_template(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<crate::store::templates::TemplateRecord>, StoreError> {
        self.reachable()?;
        self.inner.get_template(tenant, id).await
    }
    async fn list_templates(
        &self,
        tenant: &str,
        query: &crate::store::templates::TemplateQuery,
    ) -> Result<(Vec<crate::store::templates::TemplateRecord>, u32), StoreError> {
        self.reachable()?;
        self.inner.list_templates(tenant, query).await
    }
    async fn delete_template(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.delete_template(tenant, id).await
    }
}

#[async_trait]
impl crate::store::SlotStore for FaultyStore {
    async fn take_slots(
        &self,
        asks: &[crate::store::SlotAsk],
        paused: crate::store::PausedRuns,
        now_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        self.reachable()?;
        self.inner.take_slots(asks, paused, now_ms).await
    }

    async fn admit_queued(
        &self,
        tenant: &str,
        workflow_id: &str,
        paused: crate::store::PausedRuns,
        most: u32,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.reachable()?;
        self.inner.admit_queued(tenant, workflow_id, paused, most, now_ms).await
    }

    async fn queued_workflows(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.reachable()?;
        self.inner.queued_workflows().await
    }

    async fn stalled_admissions(&self, before_ms: i64) -> Result<Vec<crate::store::StalledAdmission>, StoreError> {
        self.reachable()?;
        self.inner.stalled_admissions(before_ms).await
    }
}

#[async_trait]
impl crate::store::ScheduleStore for FaultyStore {
    async fn insert_schedule(
        &self,
        s: &sched::ScheduleRecord,
        per_workflow: u32,
        per_tenant: u32,
    ) -> Result<Result<(), sched::InsertRefusal>, StoreError> {
        self.reachable()?;
        self.inner.insert_schedule(s, per_workflow, per_tenant).await
    }
    async fn get_schedule(&self, tenant: &str, id: &str) -> Result<Option<sched::ScheduleRecord>, StoreError> {
        self.reachable()?;
        self.inner.get_schedule(tenant, id).await
    }
    async fn schedule_by_id(&self, id: &str) -> Result<Option<sched::ScheduleRecord>, StoreError> {
        self.reachable()?;
        self.inner.schedule_by_id(id).await
    }
    async fn schedules_by_ids(&self, ids: &[String]) -> Result<Vec<sched::ScheduleRecord>, StoreError> {
        self.reachable()?;
        self.inner.schedules_by_ids(ids).await
    }
    async fn list_schedules(
        &self,
        tenant: &str,
        workflow_id: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<sched::ScheduleRecord>, StoreError> {
        self.reachable()?;
        self.inner.list_schedules(tenant, workflow_id, after, limit).await
    }
    async fn update_schedule(&self, s: &sched::ScheduleRecord) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.update_schedule(s).await
    }
    async fn delete_schedule(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.delete_schedule(tenant, id).await
    }
    async fn due_schedules(&self, until_ms: i64, limit: u32) -> Result<Vec<(String, i64)>, StoreError> {
        self.reachable()?;
        self.inner.due_schedules(until_ms, limit).await
    }
    async fn record_fire(
        &self,
        id: &str,
        seen: (Option<i64>, Option<i64>),
        fire: &sched::FireRecord,
    ) -> Result<bool, StoreError> {
        self.reachable()?;
        self.inner.record_fire(id, seen, fire).await
    }
    async fn record_fires(&self, fires: &[sched::FireBatchEntry]) -> Result<Vec<bool>, StoreError> {
        self.reachable()?;
        self.inner.record_fires(fires).await
    }
}
