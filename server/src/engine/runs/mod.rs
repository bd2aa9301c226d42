//! Runs as the api layer sees them: starting a run (resolving and checking
//! the workflow version and the input), reading, listing, cancelling and
//! deleting runs, and their events. Changes go through the
//! [`RunScheduler`]; reads go to the store, which holds every committed
//! change by the time the scheduler answers.
//!
//! This facade is also where a change for a run another replica holds is
//! forwarded over the cluster inbox: the writer only answers "elsewhere".
//!
//! # Layout
//!
//! - `events.rs`: event streams and ExecuteWorkflow.
//! - `retry.rs`: RetryRunFrom.
//! - `resume.rs`: PauseRun, ResumeRun and their forms.
//! - `settle.rs`: StartRun's short wait for a run to pause or end.
//! - `precheck.rs`: a start's refusals, checked without starting.

mod events;
mod precheck;
mod resume;
mod retry;
mod settle;

pub use resume::ResumeForm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::engine::admission::Admission;
use crate::engine::clock::now_ms;
use crate::engine::cluster::forward;
use crate::engine::cluster::link::ClusterLink;
use crate::engine::compile::{self, CompiledWorkflow};
use crate::engine::run::Command;
use crate::engine::scheduler::{
    self, CommandRefusal, IDEMPOTENCY_TTL_MS, NewRun, RetrySeed, Routed, RunScheduler, StartReply, StartRouted,
};
use crate::engine::{EngineError, WorkflowCatalog};
use crate::model::{EventRecord, RunRecord, StepRecord};
use crate::store::{RunPage, RunQuery, Store, StoreError};

/// Compiled versions kept; the cache is cleared when it fills (versions are
/// immutable, so an entry never goes stale).
const CACHE_CAPACITY: usize = 256;

/// A run with its step rows.
pub type RunDetail = (RunRecord, Vec<StepRecord>);

/// What a client asks a run to start with.
#[derive(Debug, Clone, Default)]
pub struct StartRun {
    /// `wf_…`, or a workflow name (see
    /// [`WorkflowCatalog::resolve_reference`]).
    pub workflow_id: String,
    /// Pinned version; `None` means the latest.
    pub version: Option<u32>,
    /// The input; null when none was given.
    pub input: Value,
    /// Initial shared state; null means `{}`.
    pub shared_state: Value,
    /// End user, or empty.
    pub user_id: String,
    /// What starts it; empty means "manual".
    pub trigger: String,
    /// Idempotency key, or empty.
    pub idempotency_key: String,
    /// The schedule starting it (`sched_…`), or empty.
    pub schedule_id: String,
    /// The schedule tick it stands for, ms since the epoch.
    pub scheduled_ms: Option<i64>,
}

/// Runs over one store and one scheduler.
#[derive(Clone)]
pub struct RunEngine {
    store: Arc<dyn Store>,
    catalog: WorkflowCatalog,
    scheduler: RunScheduler,
    compiled: CompileCache,
    /// Set when the server stops serving, so open event streams end and
    /// graceful shutdown does not wait on them.
    closing: Arc<watch::Sender<bool>>,
    /// Several replicas: the partition loop, the inbox pump and the claim
    /// wake-ups, stopped before the writer.
    background: Arc<Background>,
    /// Per-tenant limits on run starts and open runs.
    admission: Arc<Admission>,
}

/// Tasks that run beside the writer, and how to stop them.
#[derive(Default)]
struct Background {
    stop: Option<watch::Sender<bool>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// (tenant, workflow id, version).
type VersionKey = (String, String, u32);

/// Compiled workflow versions by (tenant, id, version).
#[derive(Clone)]
struct CompileCache {
    catalog: WorkflowCatalog,
    entries: Arc<Mutex<HashMap<VersionKey, Arc<CompiledWorkflow>>>>,
}

impl CompileCache {
    /// The compiled form of a workflow version, from the cache or compiled now.
    async fn get(&self, tenant: &str, id: &str, version: u32) -> Result<Arc<CompiledWorkflow>, EngineError> {
        let key = (tenant.to_string(), id.to_string(), version);
        if let Some(hit) = self.entries.lock().expect("compile cache").get(&key) {
            return Ok(hit.clone());
        }
        let workflow = self.catalog.get_version(tenant, id, version).await?;
        let compiled = Arc::new(compile::compile(&workflow.definition).map_err(EngineError::InvalidDefinition)?);
        let mut entries = self.entries.lock().expect("compile cache");
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, compiled.clone());
        Ok(compiled)
    }
}

/// Checks a run's input against the workflow's inputSchema; InputSchema
/// lists every violation.
pub(crate) fn check_input(workflow: &CompiledWorkflow, input: &Value) -> Result<(), EngineError> {
    let Some(schema) = workflow.input_schema() else { return Ok(()) };
    let violations: Vec<(String, String)> =
        schema.iter_errors(input).map(|e| (e.instance_path().to_string(), e.to_string())).collect();
    if violations.is_empty() { Ok(()) } else { Err(EngineError::InputSchema(violations)) }
}

impl RunEngine {
    /// Recovers unfinished runs from the store and starts the scheduler.
    pub async fn open(store: Arc<dyn Store>, catalog: WorkflowCatalog) -> Result<Self, EngineError> {
        let cache = CompileCache { catalog: catalog.clone(), entries: Arc::default() };
        let mut recovered = Vec::new();
        for open in store.load_open_runs().await? {
            let run = &open.run;
            match cache.get(&run.tenant_id, &run.workflow_id, run.workflow_version).await {
                Ok(workflow) => recovered.push((open, workflow)),
                Err(err) => tracing::error!(run = %run.id, error = %err, "cannot recover run: its workflow is gone"),
            }
        }
        let timers = store.list_timers().await?;
        let scheduler = RunScheduler::spawn(store.clone(), recovered, timers);
        let (closing, _) = watch::channel(false);
        let (stop, _) = watch::channel(false);
        let engine = Self {
            store,
            catalog,
            scheduler,
            compiled: cache,
            closing: Arc::new(closing),
            background: Arc::new(Background { stop: Some(stop), tasks: Mutex::default() }),
            admission: Admission::unlimited(),
        };
        engine.start_gate();
        Ok(engine)
    }

    /// Starts the concurrent-run limit's gate beside the writer (see
    /// [`crate::engine::concurrency`]); stopped with the other background
    /// tasks.
    fn start_gate(&self) {
        if let Some(gate) = crate::engine::concurrency::spawn_gate(self.clone(), self.background_stop()) {
            self.keep_background(vec![gate]);
        }
    }

    /// One replica of several on a shared database: starts a writer that
    /// holds nothing yet. [`crate::engine::cluster::open_engine`] then
    /// takes its share of partitions and starts the partition loop, the
    /// inbox pump and the claim wake-ups beside it.
    pub(crate) fn open_shared(store: Arc<dyn Store>, catalog: WorkflowCatalog, link: Arc<ClusterLink>) -> Self {
        let compiled = CompileCache { catalog: catalog.clone(), entries: Arc::default() };
        let scheduler = RunScheduler::spawn_shared(store.clone(), link);
        let (closing, _) = watch::channel(false);
        let (stop, _) = watch::channel(false);
        let engine = Self {
            store,
            catalog,
            scheduler,
            compiled,
            closing: Arc::new(closing),
            background: Arc::new(Background { stop: Some(stop), tasks: Mutex::default() }),
            admission: Admission::unlimited(),
        };
        engine.start_gate();
        engine
    }

    /// The same engine with `limits` on run starts and open runs (an
    /// engine opened without them admits every start).
    pub fn with_limits(mut self, limits: crate::config::LimitSettings) -> Self {
        self.admission = Admission::new(limits, Some(self.store.clone()));
        self
    }

    /// Admits one run start of `tenant` under the limits (see
    /// [`crate::engine::admission`]).
    pub(crate) async fn admit(&self, tenant: &str) -> Result<crate::engine::admission::Ticket, EngineError> {
        self.admission.admit(tenant).await
    }

    /// Changes to `true` when the background tasks must stop.
    pub(crate) fn background_stop(&self) -> watch::Receiver<bool> {
        match &self.background.stop {
            Some(stop) => stop.subscribe(),
            // Never told to stop: nothing runs beside a lone writer.
            None => watch::channel(false).1,
        }
    }

    /// Keeps tasks that run beside the writer, stopped before it.
    pub(crate) fn keep_background(&self, tasks: Vec<tokio::task::JoinHandle<()>>) {
        self.background.tasks.lock().expect("background tasks").extend(tasks);
    }

    /// Ends every open event stream; called when the server stops accepting
    /// requests.
    pub fn close_streams(&self) {
        let _ = self.closing.send(true);
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub(crate) fn catalog(&self) -> &WorkflowCatalog {
        &self.catalog
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The run writer underneath: for benchmarks and embedders that drive
    /// it directly.
    pub fn scheduler(&self) -> &RunScheduler {
        &self.scheduler
    }

    /// The compiled form of a workflow version (cached).
    pub(crate) async fn compiled(
        &self,
        tenant: &str,
        id: &str,
        version: u32,
    ) -> Result<Arc<CompiledWorkflow>, EngineError> {
        self.compiled.get(tenant, id, version).await
    }

    /// Stops the replica's background tasks, then the scheduler after its
    /// current commit; a replica of several then gives its partitions up,
    /// so the others take them at once rather than after the lease.
    pub async fn shutdown(&self) {
        if let Some(stop) = &self.background.stop {
            let _ = stop.send(true);
        }
        let tasks = std::mem::take(&mut *self.background.tasks.lock().expect("background tasks"));
        for task in tasks {
            let _ = task.await;
        }
        self.scheduler.shutdown().await;
        if let Some(link) = self.scheduler.cluster() {
            match link.store.leave(&link.replica).await {
                Ok(()) => tracing::info!(replica = %link.replica, "replica left; its partitions are free"),
                Err(err) => tracing::warn!(error = %err, "cannot give partitions up; they free when the lease ends"),
            }
        }
    }

    /// Starts a run, or returns the run an idempotency key already named.
    pub async fn start(&self, tenant: &str, request: StartRun) -> Result<RunDetail, EngineError> {
        let run_id = self.start_run_id(tenant, request).await?;
        self.get(tenant, &run_id).await
    }

    /// [`Self::start`] answering only the run's id, without reading the
    /// run back: for starters that need no more (schedule fires, webhook
    /// calls), so a burst of them does not pay a read per run.
    pub async fn start_run_id(&self, tenant: &str, request: StartRun) -> Result<String, EngineError> {
        // A known key returns its run "whatever the other fields say", so it
        // is looked up before the workflow and input are checked. The writer
        // checks again, atomically, for concurrent first uses of a key.
        if !request.idempotency_key.is_empty() {
            let since = now_ms() - IDEMPOTENCY_TTL_MS;
            if let Some(run_id) = self.store.find_idempotent_run(tenant, &request.idempotency_key, since).await? {
                return Ok(run_id);
            }
        }
        // After the replay above, which is never refused nor counted.
        let ticket = self.admit(tenant).await?;
        let id = self.catalog.resolve_reference(tenant, &request.workflow_id).await?;
        let workflow = match request.version {
            Some(version) => self.catalog.get_version(tenant, &id, version).await?,
            None => self.catalog.get(tenant, &id).await?,
        };
        let compiled = self.check_start(tenant, &workflow, &request.input).await?;
        let new = NewRun {
            id: crate::ids::new_run_id(),
            tenant: tenant.to_string(),
            workflow_id: workflow.id,
            workflow_version: workflow.version,
            workflow: compiled,
            user_id: request.user_id,
            trigger: if request.trigger.is_empty() { "manual".into() } else { request.trigger },
            idempotency_key: request.idempotency_key,
            input: request.input,
            shared_state: request.shared_state,
            now_ms: now_ms(),
            schedule_id: request.schedule_id,
            scheduled_ms: request.scheduled_ms,
            trace: crate::telemetry::propagation::current(),
        };
        let reply = self.launch(new, None).await?;
        if !reply.existing {
            ticket.keep();
        }
        Ok(reply.run_id)
    }

    /// Creates and starts a run (taking over `seed`'s outputs, for a retry);
    /// answers once it is committed, by this replica's writer or, when the
    /// run's partition is held elsewhere, by its holder over the inbox.
    pub(crate) async fn launch(&self, new: NewRun, seed: Option<RetrySeed>) -> Result<StartReply, EngineError> {
        match self.scheduler.route_start(new, seed).await {
            Ok(reply) => Ok(reply),
            Err(StartRouted::Failed(err)) => Err(err),
            Err(StartRouted::Elsewhere(new, seed, partition)) => match self.scheduler.cluster() {
                Some(link) => forward::start(link, partition, &new, seed).await,
                None => Err(scheduler::stopped()),
            },
            Err(StartRouted::Moved) => Err(scheduler::moved()),
        }
    }

    /// Applies a command to a live run; answers once it is committed. A run
    /// another replica holds gets the command through the inbox, and the
    /// answer is the owner's.
    pub async fn command(&self, tenant: &str, run_id: &str, command: Command) -> Result<(), CommandRefusal> {
        match self.scheduler.route_command(tenant, run_id, command).await {
            Ok(()) => Ok(()),
            Err(Routed::Refusal(refusal)) => Err(refusal),
            Err(Routed::Elsewhere(command)) => match self.scheduler.cluster() {
                Some(link) => forward::command(link, tenant, run_id, *command).await,
                None => Err(CommandRefusal::NotLive),
            },
            Err(Routed::Moved) => Err(CommandRefusal::Unavailable),
        }
    }

    /// A run with its steps; NotFound says so when retention deleted it.
    pub async fn get(&self, tenant: &str, run_id: &str) -> Result<RunDetail, EngineError> {
        match self.store.get_run(tenant, run_id).await {
            Err(StoreError::NotFound { entity, id }) => {
                let what = entity.describe(&id);
                Err(super::retention::missing_run(self.store.as_ref(), tenant, run_id, what).await)
            }
            found => Ok(found?),
        }
    }

    /// A page of runs, newest first. Listing the runs of a workflow the
    /// tenant does not have is NotFound, not an empty page; the workflow
    /// is looked up only when the page is empty, so the runs a deleted
    /// workflow left behind still list.
    pub async fn list(&self, tenant: &str, query: &RunQuery) -> Result<RunPage, EngineError> {
        let page = self.store.list_runs(tenant, query).await?;
        if let (true, Some(workflow_id)) = (page.runs.is_empty(), &query.workflow_id) {
            self.catalog.get(tenant, workflow_id).await?;
        }
        Ok(page)
    }

    /// NotFound unless run `run_id` exists and, when `workflow_id` is
    /// given, is a run of that workflow (as routes that nest a run under
    /// its workflow promise).
    pub async fn check_run_of(&self, tenant: &str, run_id: &str, workflow_id: Option<&str>) -> Result<(), EngineError> {
        let Some(workflow_id) = workflow_id else { return Ok(()) };
        let (run, _) = self.get(tenant, run_id).await?;
        if run.workflow_id != workflow_id {
            return Err(EngineError::NotFound {
                what: format!("run '{run_id}' of workflow '{workflow_id}'"),
                reason: "RUN_NOT_FOUND",
            });
        }
        Ok(())
    }

    /// Cancels a live run; a finished one is refused with FailedPrecondition.
    pub async fn cancel(&self, tenant: &str, run_id: &str, reason: String) -> Result<RunDetail, EngineError> {
        let reason = if reason.is_empty() { "cancelled by request".to_string() } else { reason };
        match self.command(tenant, run_id, Command::Cancel { reason, now_ms: now_ms() }).await {
            Ok(()) => self.get(tenant, run_id).await,
            Err(CommandRefusal::Refused(err)) => Err(err.into()),
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
            Err(CommandRefusal::Internal) => Err(crate::engine::scheduler::internal()),
            Err(CommandRefusal::NotLive) => {
                let (run, _) = self.get(tenant, run_id).await?;
                Err(EngineError::FailedPrecondition {
                    message: format!("run '{run_id}' is {} and cannot be cancelled", run.status),
                    reason: "RUN_NOT_ACTIVE",
                })
            }
        }
    }

    /// Deletes a finished run. A live run is refused with FailedPrecondition
    /// rather than cancelled implicitly: deleting is not a way to stop work.
    pub async fn delete(&self, tenant: &str, run_id: &str) -> Result<(), EngineError> {
        let (run, _) = self.get(tenant, run_id).await?;
        if run.status.is_live() {
            return Err(EngineError::FailedPrecondition {
                message: format!("run '{run_id}' is {}; cancel it before deleting it", run.status),
                reason: "RUN_ACTIVE",
            });
        }
        Ok(self.store.delete_run(tenant, run_id).await?)
    }

    /// At most `limit` events after `after`; NotFound for an unknown run.
    pub async fn events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, EngineError> {
        let events = self.store.list_run_events(tenant, run_id, after, limit).await?;
        if events.is_empty() {
            // Distinguish "no more events" from "no such run".
            self.get(tenant, run_id).await?;
        }
        Ok(events)
    }

    /// Every event committed from now on (all runs; filter by run id).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.scheduler.subscribe()
    }
}
