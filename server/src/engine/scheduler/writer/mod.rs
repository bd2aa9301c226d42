//! The one writer: owns every live [`RunState`], applies commands with
//! `transition`, and commits everything a batch of commands produced in
//! one store transaction before anything leaves the process (replies,
//! published events, armed timers).
//!
//! A panic inside one transition is caught: that command is refused as an
//! internal error, that run alone is rebuilt by replay, and the writer
//! goes on with every other run.
//!
//! # Layout
//!
//! - `mod.rs`: the loop, starts and commands, and the rows they add.
//! - `commit.rs`: the group commit and what a failed one refuses.
//! - `recovery.rs`: taking in, letting go of, and rebuilding runs.

mod commit;
mod recovery;
#[cfg(test)]
pub(crate) mod test_hooks;

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

use super::claims::{ParkedClaims, Waiting};
use super::rows::{self, RunMeta};
use super::{CommandRefusal, IDEMPOTENCY_TTL_MS, NewRun, Request, RetrySeed, Routed, StartReply, StartRouted, now_ms};
use crate::engine::cluster::link::{ClusterLink, Held};
use crate::engine::cluster::messages;
use crate::engine::compile::CompiledWorkflow;
use crate::engine::concurrency::Concurrency;
use crate::engine::run::{
    Command, DeferredStart, Effect, EventType, Outcome, RunEvent, RunState, TransitionError, transition,
};
use crate::model::{EventRecord, StepKind, TaskRecord, TimerRecord};
use crate::store::cluster::partition_of_key;
use crate::store::{CommandRow, InboxAnswer, QueueRow, SlotAsk, Store, partition_of};
use crate::telemetry::metrics::engine::{StepEnd, WriterMetrics};

/// Most commands applied in one group commit.
const MAX_BATCH: usize = 512;

/// A run in memory: its state, what started it, and how many commands it
/// has accepted (the position of the next one).
pub(super) struct Live {
    pub(super) state: RunState,
    pub(super) meta: RunMeta,
    pub(super) commands: u32,
    /// Told when the run leaves the writer (it finished); dropped unsent
    /// when a failed commit throws the run's memory away.
    pub(super) watchers: Vec<oneshot::Sender<()>>,
}

impl Live {
    /// The same run before its first command: what a run started in the
    /// batch in hand is replayed onto.
    fn fresh(like: &Live, workflow: Arc<CompiledWorkflow>) -> Live {
        let (workflow_id, version) = like.state.workflow();
        let state = RunState::new(like.state.run_id().to_string(), workflow_id.to_string(), version, workflow);
        Live { state, meta: like.meta.clone(), commands: 0, watchers: Vec::new() }
    }
}

/// A transition panicked: a bug in the core, confined to one command.
struct Panicked(String);

/// Applies one command to a run, catching a panic inside the transition so
/// one bad run does not stop the writes of every other.
fn apply(state: &mut RunState, command: Command) -> Result<Result<Outcome, TransitionError>, Panicked> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        test_hooks::panic_if_marked(state.run_id());
        transition(state, command)
    }))
    .map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        Panicked(message)
    })
}

/// The longest pause a run may take now, `None` for no limit.
fn max_paused(ms: &std::sync::atomic::AtomicI64) -> Option<i64> {
    Some(ms.load(std::sync::atomic::Ordering::Relaxed)).filter(|ms| *ms > 0)
}

type StartSender = oneshot::Sender<Result<StartReply, StartRouted>>;
type CommandSender = oneshot::Sender<Result<(), Routed>>;

/// An answer held back until the batch is committed.
enum Reply {
    Start(StartSender, StartReply),
    Command(Option<CommandSender>),
}

/// What a batch does to a step's task row.
enum TaskChange {
    /// Queue it (a first or a later attempt).
    Queue(Box<TaskRecord>),
    /// The step took the attempt's outcome.
    Done,
    /// The step was cancelled.
    Cancel,
}

/// What one batch accumulates; keyed maps keep the last row of a key.
#[derive(Default)]
struct Pending {
    /// Run id → instance keys to write (`None`: every instance, new run).
    touched: HashMap<String, Option<BTreeSet<String>>>,
    events: Vec<EventRecord>,
    commands: Vec<CommandRow>,
    timers: HashMap<(String, String), Option<TimerRecord>>,
    tasks: HashMap<(String, String), TaskChange>,
    /// Tasks whose lease the step's timeout ended: (run id, step key).
    tasks_timed_out: Vec<(String, String)>,
    idempotency: HashMap<(String, String), (String, i64)>,
    approvals: Vec<rows::ApprovalChange>,
    replies: Vec<Reply>,
    claims: Vec<Waiting>,
    /// Inbox messages applied: (row id, answer JSON).
    inbox_done: Vec<InboxAnswer>,
    /// Runs created Queued, in arrival order.
    queued: Vec<QueueRow>,
    /// Slots granted to starts that did not happen after all.
    slots_unused: Vec<String>,
    /// Run and step ends to count once the batch is committed.
    observed: Vec<Observed>,
    /// Trace contexts of the runs started in this batch inside a trace.
    run_traces: Vec<crate::store::RunTrace>,
}

/// A run or step event the metrics count, held until its commit.
enum Observed {
    RunStarted(Arc<CompiledWorkflow>),
    RunFinished(Arc<CompiledWorkflow>, &'static str),
    StepFinished(StepKind, StepEnd, i64),
}

pub(super) struct Writer {
    pub(super) store: Arc<dyn Store>,
    pub(super) runs: HashMap<String, Live>,
    pub(super) events: broadcast::Sender<Arc<EventRecord>>,
    pub(super) timers: mpsc::UnboundedSender<TimerRecord>,
    pub(super) stats: Arc<super::SchedulerStats>,
    pub(super) parked: ParkedClaims,
    /// Several replicas: the partitions held, and where to fence commits.
    pub(super) cluster: Option<Arc<ClusterLink>>,
    /// `[runs] max_paused_lifetime` in ms, 0 for none; handed to each run
    /// before a command, so pauses that begin then arm their timer.
    pub(super) max_paused_ms: Arc<std::sync::atomic::AtomicI64>,
    /// The concurrent-run limit (see `engine/concurrency.rs`).
    pub(super) concurrency: Arc<Concurrency>,
    /// Handles of what each commit records.
    pub(super) metrics: WriterMetrics,
}

/// Slot grants of a batch's new runs, by run id.
type Grants = HashMap<String, bool>;

impl Writer {
    /// Serves requests until shutdown or until every sender is gone.
    pub(super) async fn run(mut self, mut requests: mpsc::Receiver<Request>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let first = tokio::select! {
                request = requests.recv() => match request { Some(r) => r, None => break },
                _ = shutdown.changed() => break,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.apply_batch(batch).instrument(batch_span()).await;
            // A lease whose poll left before its answer goes back to the
            // queue now, not when the next request happens to come.
            while self.parked.has_releases() {
                self.apply_batch(Vec::new()).instrument(batch_span()).await;
            }
        }
    }

    /// Applies a batch of requests in order and commits what they produced.
    pub(super) async fn apply_batch(&mut self, mut batch: Vec<Request>) {
        tracing::Span::current().record("requests", batch.len());
        let mut pending = Pending::default();
        let mut known = self.known_keys(&batch).await;
        let mut grants = self.grant_slots(&mut batch, known.as_ref()).await;
        for request in batch {
            match request {
                Request::Start { new, seed, reply, inbox } => {
                    self.start(new, seed, reply, inbox, known.as_ref(), &mut grants, &mut pending).await
                }
                Request::Command { tenant, run_id, command, reply, inbox } => {
                    #[cfg(test)]
                    test_hooks::kill_if_marked(&run_id);
                    if let Err(Panicked(message)) = self.command(&tenant, &run_id, command, reply, inbox, &mut pending)
                    {
                        tracing::error!(run = %run_id, panic = %message, "a transition panicked; the command is refused and the run rebuilt");
                        self.rebuild_after_panic(&run_id, &mut pending).await;
                    }
                }
                Request::Claim(claim, until_ms, reply) => pending.claims.push(Waiting { claim, reply, until_ms }),
                // Answered at once (dropped) when the run is not live: it
                // finished already, or never was.
                Request::WatchFinish(run_id, watcher) => {
                    if let Some(live) = self.runs.get_mut(&run_id) {
                        live.watchers.push(watcher);
                    }
                }
                Request::Recheck(matching) => pending.claims.extend(self.parked.take_for_recheck(matching)),
                Request::Release(tenant, leased) => self.parked.hand_back(tenant, leased),
                // What is decided so far is committed under the partitions
                // held so far; then the set changes.
                Request::Adopt(adoption, done) => {
                    self.commit(std::mem::take(&mut pending)).await;
                    // Keys committed just now are in no lookup made before.
                    known = None;
                    self.adopt(adoption);
                    let _ = done.send(());
                }
                Request::Drop(partitions, done) => {
                    self.commit(std::mem::take(&mut pending)).await;
                    known = None;
                    self.let_go(&partitions);
                    let _ = done.send(());
                }
            }
        }
        self.commit(pending).await;
    }

    /// The runs the idempotency keys of the batch's starts already name,
    /// looked up in one store call; `None` when that failed (each keyed
    /// start then asks on its own, and hears the store's error itself).
    async fn known_keys(&self, batch: &[Request]) -> Option<HashMap<(String, String), String>> {
        let mut keys = Vec::new();
        let mut since = i64::MAX;
        for request in batch {
            if let Request::Start { new, .. } = request
                && !new.idempotency_key.is_empty()
            {
                keys.push((new.tenant.clone(), new.idempotency_key.clone()));
                since = since.min(new.now_ms - IDEMPOTENCY_TTL_MS);
            }
        }
        if keys.is_empty() {
            return Some(HashMap::new());
        }
        match self.store.find_idempotent_runs(&keys, since).await {
            Ok(found) => Some(found),
            Err(err) => {
                tracing::warn!(error = %err, keys = keys.len(), "cannot look up the batch's idempotency keys at once");
                None
            }
        }
    }

    /// Asks the store for a slot for each new run of the batch that
    /// starts under a concurrent-run limit, in one call, in arrival order
    /// (see `engine/concurrency.rs`). Runs an idempotency key already
    /// names ask nothing; a start missing from the answer (the call failed,
    /// or its key could not be looked up) asks on its own in [`Self::start`].
    async fn grant_slots(&self, batch: &mut [Request], known: Option<&HashMap<(String, String), String>>) -> Grants {
        let mut asks = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for request in batch.iter_mut() {
            let Request::Start { new, .. } = request else { continue };
            let max_running = self.concurrency.limit_for(&new.workflow);
            if max_running == 0 {
                continue;
            }
            // Placed now, so the slot is asked under the id the run keeps.
            if let Some(link) = &self.cluster {
                let keyed =
                    (!new.idempotency_key.is_empty()).then(|| partition_of_key(&new.tenant, &new.idempotency_key));
                if place(&link.held, &mut new.id, keyed).is_err() {
                    continue;
                }
            }
            if !new.idempotency_key.is_empty() {
                let key = (new.tenant.clone(), new.idempotency_key.clone());
                if known.is_none_or(|known| known.contains_key(&key)) || !keys.insert(key) {
                    continue;
                }
            }
            asks.push(SlotAsk {
                run_id: new.id.clone(),
                tenant_id: new.tenant.clone(),
                workflow_id: new.workflow_id.clone(),
                max_running,
            });
        }
        if asks.is_empty() {
            return Grants::new();
        }
        match self.store.take_slots(&asks, self.concurrency.paused(), now_ms()).await {
            Ok(granted) => asks.into_iter().map(|a| a.run_id).zip(granted).collect(),
            Err(err) => {
                tracing::warn!(error = %err, asks = asks.len(), "cannot ask for the batch's run slots at once");
                Grants::new()
            }
        }
    }

    /// Whether a new run under `max_running` has a slot: from the batch's
    /// grants, else asked for on its own.
    async fn slot_for(&self, new: &NewRun, max_running: u32, grants: &mut Grants) -> Result<bool, StartRouted> {
        if let Some(granted) = grants.remove(&new.id) {
            return Ok(granted);
        }
        let ask = SlotAsk {
            run_id: new.id.clone(),
            tenant_id: new.tenant.clone(),
            workflow_id: new.workflow_id.clone(),
            max_running,
        };
        match self.store.take_slots(&[ask], self.concurrency.paused(), new.now_ms).await {
            Ok(granted) => Ok(granted.first().copied().unwrap_or(false)),
            Err(err) => Err(StartRouted::Failed(err.into())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn start(
        &mut self,
        mut new: NewRun,
        seed: Option<RetrySeed>,
        reply: StartSender,
        inbox: Option<i64>,
        known: Option<&HashMap<(String, String), String>>,
        grants: &mut Grants,
        pending: &mut Pending,
    ) {
        if let Some(link) = &self.cluster {
            let keyed = (!new.idempotency_key.is_empty()).then(|| partition_of_key(&new.tenant, &new.idempotency_key));
            if let Err(partition) = place(&link.held, &mut new.id, keyed) {
                if grants.remove(&new.id) == Some(true) {
                    pending.slots_unused.push(new.id.clone());
                }
                let _ = reply.send(Err(StartRouted::Elsewhere(Box::new(new), seed, partition)));
                return;
            }
        }
        if !new.idempotency_key.is_empty() {
            let key = (new.tenant.clone(), new.idempotency_key.clone());
            if let Some((run_id, _)) = pending.idempotency.get(&key) {
                let reply_value = StartReply { run_id: run_id.clone(), existing: true };
                answer_inbox(pending, inbox, &reply_value);
                pending.replies.push(Reply::Start(reply, reply_value));
                return;
            }
            // Checked here, in the single writer, so two concurrent starts
            // with one key cannot both create a run (with several replicas,
            // every start with one key goes to the holder of its partition).
            let found = match known {
                Some(known) => Ok(known.get(&key).cloned()),
                None => self.store.find_idempotent_run(&key.0, &key.1, new.now_ms - IDEMPOTENCY_TTL_MS).await,
            };
            match found {
                Ok(Some(run_id)) => {
                    let reply_value = StartReply { run_id, existing: true };
                    answer_inbox(pending, inbox, &reply_value);
                    pending.replies.push(Reply::Start(reply, reply_value));
                    return;
                }
                Ok(None) => {}
                Err(err) => {
                    let _ = reply.send(Err(StartRouted::Failed(err.into())));
                    return;
                }
            }
            pending.idempotency.insert(key, (new.id.clone(), new.now_ms));
        }
        let max_running = self.concurrency.limit_for(&new.workflow);
        let admitted = match max_running {
            0 => true,
            _ => match self.slot_for(&new, max_running, grants).await {
                Ok(granted) => granted,
                Err(refused) => {
                    let key = (new.tenant.clone(), new.idempotency_key.clone());
                    if pending.idempotency.get(&key).is_some_and(|(run, _)| *run == new.id) {
                        pending.idempotency.remove(&key);
                    }
                    let _ = reply.send(Err(refused));
                    return;
                }
            },
        };
        let queue_row = (!admitted).then(|| QueueRow {
            run_id: new.id.clone(),
            tenant_id: new.tenant.clone(),
            workflow_id: new.workflow_id.clone(),
            max_running,
            queued_ms: new.now_ms,
        });
        let mut state = RunState::new(new.id.clone(), new.workflow_id, new.workflow_version, new.workflow);
        let retry_of_run_id = seed.as_ref().map(|s| s.origin.run_id.clone());
        let command = match (seed, admitted) {
            (None, true) => {
                Command::Start { input: new.input.clone(), shared_state: new.shared_state, now_ms: new.now_ms }
            }
            (Some(RetrySeed { origin, reused }), true) => Command::StartFrom {
                input: new.input.clone(),
                shared_state: new.shared_state,
                origin,
                reused,
                now_ms: new.now_ms,
            },
            (seed, false) => {
                let (origin, reused) = seed.map_or((None, Vec::new()), |s| (Some(s.origin), s.reused));
                let start = DeferredStart { input: new.input.clone(), shared_state: new.shared_state, origin, reused };
                Command::Enqueue { start, now_ms: new.now_ms }
            }
        };
        let meta = RunMeta {
            tenant: new.tenant,
            user_id: new.user_id,
            trigger: new.trigger,
            idempotency_key: new.idempotency_key,
            input: new.input,
            retry_of_run_id,
            created_ms: new.now_ms,
            gated: max_running > 0,
            schedule_id: Some(new.schedule_id).filter(|id| !id.is_empty()),
            scheduled_ms: new.scheduled_ms,
        };
        // A slot granted to a start that does not happen goes back.
        let granted_slot = max_running > 0 && admitted;
        let json = serde_json::to_string(&command).expect("commands always serialize");
        let span = tracing::debug_span!("run", run_id = %new.id).entered();
        state.set_max_paused_ms(max_paused(&self.max_paused_ms));
        let applied = apply(&mut state, command);
        drop(span);
        match applied {
            // A new run has nothing stored to rebuild: refusing it is all.
            Err(Panicked(message)) => {
                tracing::error!(run = %new.id, panic = %message, "a start panicked; it is refused");
                let key = (meta.tenant, meta.idempotency_key);
                if pending.idempotency.get(&key).is_some_and(|(run, _)| *run == new.id) {
                    pending.idempotency.remove(&key);
                }
                if granted_slot {
                    pending.slots_unused.push(new.id.clone());
                }
                let _ = reply.send(Err(StartRouted::Failed(super::internal())));
            }
            Ok(Ok(outcome)) => {
                let id = new.id;
                if let Some(context) = new.trace {
                    pending.run_traces.push(crate::store::RunTrace { run_id: id.clone(), context });
                }
                pending.queued.extend(queue_row);
                self.runs.insert(id.clone(), Live { state, meta, commands: 0, watchers: Vec::new() });
                pending.touched.insert(id.clone(), None);
                self.record(&id, json, &outcome, None, pending);
                let reply_value = StartReply { run_id: id, existing: false };
                answer_inbox(pending, inbox, &reply_value);
                pending.replies.push(Reply::Start(reply, reply_value));
            }
            Ok(Err(err)) => {
                if granted_slot {
                    pending.slots_unused.push(new.id.clone());
                }
                let _ = reply.send(Err(StartRouted::Failed(err.into())));
            }
        }
    }

    /// Applies a command to a live run and adds its rows to the batch.
    /// `Err` when the transition panicked: the command is refused, and the
    /// caller must rebuild the run before anything else touches it.
    fn command(
        &mut self,
        tenant: &str,
        run_id: &str,
        command: Command,
        reply: Option<CommandSender>,
        inbox: Option<i64>,
        pending: &mut Pending,
    ) -> Result<(), Panicked> {
        let Some(live) = self.runs.get_mut(run_id).filter(|live| live.meta.tenant == tenant) else {
            let elsewhere = self.cluster.as_ref().is_some_and(|link| !link.held.holds_run(run_id));
            if let Some(reply) = reply {
                let _ = reply.send(Err(if elsewhere {
                    Routed::Elsewhere(Box::new(command))
                } else {
                    Routed::Refusal(CommandRefusal::NotLive)
                }));
            }
            return Ok(());
        };
        // A finished step's task leaves the outbox; a fired timer is spent.
        let consumed = match &command {
            Command::StepSucceeded { step, .. }
            | Command::StepFailed { step, .. }
            | Command::LeaseExpired { step, .. }
            | Command::StepTimedOut { step, .. }
            | Command::OutputRejected { step, .. } => Some((true, step.clone())),
            Command::TimerFired { step, .. } => Some((false, step.clone())),
            _ => None,
        };
        let timed_out = matches!(&command, Command::StepTimedOut { .. });
        let json = serde_json::to_string(&command).expect("commands always serialize");
        let span = tracing::debug_span!("run", run_id = %run_id).entered();
        live.state.set_max_paused_ms(max_paused(&self.max_paused_ms));
        let applied = apply(&mut live.state, command);
        drop(span);
        match applied {
            Err(panicked) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(Routed::Refusal(CommandRefusal::Internal)));
                }
                return Err(panicked);
            }
            Ok(Ok(outcome)) => {
                if let Some((task, step)) = consumed {
                    let key = (run_id.to_string(), step);
                    if timed_out {
                        pending.tasks_timed_out.push(key.clone());
                    }
                    if task {
                        pending.tasks.insert(key, TaskChange::Done);
                    } else {
                        pending.timers.insert(key, None);
                    }
                }
                // Spliced steps have no event of their own until they start,
                // yet GetRun lists them: write every instance of the run.
                if outcome.events.iter().any(|e| e.event_type == EventType::PlanSpliced) {
                    pending.touched.insert(run_id.to_string(), None);
                }
                let keys: BTreeSet<String> = outcome.events.iter().filter_map(|e| e.step_id.clone()).collect();
                self.record(run_id, json, &outcome, Some(keys), pending);
                if let Some(id) = inbox {
                    pending.inbox_done.push(InboxAnswer { id, answer: messages::applied() });
                }
                pending.replies.push(Reply::Command(reply));
            }
            Ok(Err(err)) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(Routed::Refusal(CommandRefusal::Refused(err))));
                }
            }
        }
        Ok(())
    }

    /// Adds an accepted command's rows to the batch.
    fn record(
        &mut self,
        run_id: &str,
        json: String,
        outcome: &Outcome,
        keys: Option<BTreeSet<String>>,
        p: &mut Pending,
    ) {
        let live = self.runs.get_mut(run_id).expect("recorded runs are live");
        live.commands += 1;
        p.commands.push(CommandRow { run_id: run_id.to_string(), position: live.commands, command: json });
        if let Some(keys) = keys {
            // A new run (`None`) is written whole anyway.
            if let Some(existing) = p.touched.entry(run_id.to_string()).or_insert_with(|| Some(BTreeSet::new())) {
                existing.extend(keys);
            }
        }
        let now = outcome.events.last().map(|e| e.now_ms).unwrap_or_else(now_ms);
        p.events.extend(outcome.events.iter().map(|e| rows::event_record(run_id, e)));
        p.observed.extend(outcome.events.iter().filter_map(|e| observe(&live.state, e)));
        let tenant = live.meta.tenant.clone();
        for effect in &outcome.effects {
            match effect {
                Effect::DispatchTask(task) => {
                    let row = rows::task_record(run_id, &tenant, task, now);
                    p.tasks.insert((run_id.to_string(), task.step.clone()), TaskChange::Queue(Box::new(row)));
                }
                Effect::CancelTask { step } => {
                    p.tasks.insert((run_id.to_string(), step.clone()), TaskChange::Cancel);
                }
                Effect::ArmTimer { step, due_ms } => {
                    let row = TimerRecord {
                        run_id: run_id.to_string(),
                        step_key: step.clone(),
                        tenant_id: tenant.clone(),
                        due_ms: *due_ms,
                    };
                    p.timers.insert((run_id.to_string(), step.clone()), Some(row));
                }
                Effect::CancelTimer { step } => {
                    p.timers.insert((run_id.to_string(), step.clone()), None);
                }
                Effect::ApprovalOpened(opened) => {
                    let row = rows::approval_opened(run_id, &tenant, opened, now);
                    p.approvals.push(rows::ApprovalChange::Open(Box::new(row)));
                }
                Effect::ApprovalDecided(decided) => {
                    p.approvals.push(rows::ApprovalChange::Decide(rows::approval_decided(decided, now)));
                }
            }
        }
    }
}

/// What the metrics count of an event, if anything.
fn observe(state: &RunState, event: &RunEvent) -> Option<Observed> {
    let step = |end| {
        let key = event.step_id.as_deref()?;
        // Map items (`sub[3]`) are their sub-step's type.
        let id = key.split('[').next().unwrap_or(key);
        let compiled = state.compiled();
        let kind = compiled.node(id).and_then(|node| compiled.step(node)).map(|step| step.kind())?;
        Some(Observed::StepFinished(kind, end, event.duration_ms.unwrap_or(0)))
    };
    match event.event_type {
        EventType::RunStarted => Some(Observed::RunStarted(state.compiled().clone())),
        EventType::RunCompleted | EventType::RunFailed | EventType::RunPartial | EventType::RunCancelled => {
            Some(Observed::RunFinished(state.compiled().clone(), event.status))
        }
        EventType::StepCompleted => step(StepEnd::Completed),
        EventType::StepFailed => step(StepEnd::Failed),
        EventType::RunQueued
        | EventType::StepStarted
        | EventType::StepRetrying
        | EventType::StepSkipped
        | EventType::StepCancelled
        | EventType::PlanSpliced
        | EventType::StepCostExceeded
        | EventType::ApprovalPending
        | EventType::ApprovalDecided
        | EventType::StepResumed
        | EventType::RunPaused
        | EventType::RunResumed
        | EventType::StepReset
        | EventType::TaskUnclaimed => None,
    }
}

/// The span of one batch: requests in, runs and commands written, and how
/// long the commit took (µs), recorded as they are known.
fn batch_span() -> tracing::Span {
    tracing::info_span!(
        "writer_batch",
        requests = tracing::field::Empty,
        runs = tracing::field::Empty,
        commands = tracing::field::Empty,
        commit_us = tracing::field::Empty,
    )
}

/// Puts a new run in a partition this replica holds: the one its
/// idempotency key names (`keyed`), else any, drawing fresh ids until one
/// falls in a held partition (a run id is random, so ~64/held draws). The
/// partition that must start it instead, when it is not held here.
fn place(held: &Held, run_id: &mut String, keyed: Option<u16>) -> Result<(), u16> {
    const DRAWS: usize = 100_000;
    let wanted = |p: u16| match keyed {
        Some(k) => p == k,
        None => held.epoch(p).is_some(),
    };
    if let Some(k) = keyed
        && held.epoch(k).is_none()
    {
        return Err(k);
    }
    if held.is_empty() {
        return Err(partition_of(run_id));
    }
    for _ in 0..DRAWS {
        if wanted(partition_of(run_id)) {
            return Ok(());
        }
        *run_id = crate::ids::new_run_id();
    }
    Err(partition_of(run_id))
}

/// Answers the inbox message a start came in, in the start's commit.
fn answer_inbox(pending: &mut Pending, inbox: Option<i64>, reply: &StartReply) {
    if let Some(id) = inbox {
        pending.inbox_done.push(InboxAnswer { id, answer: messages::started(&reply.run_id, reply.existing) });
    }
}
