//! The one writer: owns every live [`RunState`], applies commands with
//! `transition`, and commits everything a batch of commands produced in
//! one store transaction before anything leaves the process (replies,
//! published events, armed timers).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::claims::{Claimable, ParkedClaims, Waiting};
use super::rows::{self, RunMeta};
use super::{
    Adoption, CommandRefusal, IDEMPOTENCY_TTL_MS, NewRun, Request, RetrySeed, Routed, StartReply, StartRouted, now_ms,
};
use crate::engine::EngineError;
use crate::engine::cluster::{ClusterLink, Held, inbox};
use crate::engine::run::{Command, Effect, EventType, Outcome, RunState, transition};
use crate::model::ids;
use crate::model::{EventRecord, TaskRecord, TimerRecord};
use crate::store::cluster::partition_of_key;
use crate::store::{ClaimRequest, CommandRow, IdempotencyRow, InboxAnswer, RunBatch, Store};
use crate::store::{Fence, PartitionLease, StoreError, partition_of};

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
}

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
            self.apply_batch(batch).await;
            // A lease whose poll left before its answer goes back to the
            // queue now, not when the next request happens to come.
            while self.parked.has_releases() {
                self.apply_batch(Vec::new()).await;
            }
        }
    }

    /// Applies a batch of requests in order and commits what they produced.
    pub(super) async fn apply_batch(&mut self, batch: Vec<Request>) {
        let mut pending = Pending::default();
        for request in batch {
            match request {
                Request::Start { new, seed, reply, inbox } => self.start(new, seed, reply, inbox, &mut pending).await,
                Request::Command { tenant, run_id, command, reply, inbox } => {
                    self.command(&tenant, &run_id, command, reply, inbox, &mut pending)
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
                // What is decided so far is committed under the partitions
                // held so far; then the set changes.
                Request::Adopt(adoption, done) => {
                    self.commit(std::mem::take(&mut pending)).await;
                    self.adopt(adoption);
                    let _ = done.send(());
                }
                Request::Drop(partitions, done) => {
                    self.commit(std::mem::take(&mut pending)).await;
                    self.let_go(&partitions);
                    let _ = done.send(());
                }
            }
        }
        self.commit(pending).await;
    }

    /// Takes in the runs and timers of partitions just taken.
    fn adopt(&mut self, adoption: Adoption) {
        let Some(link) = &self.cluster else { return };
        let runs = adoption.runs.len();
        for (open, workflow) in adoption.runs {
            if let Some(live) = super::replay(open, workflow) {
                self.runs.insert(live.state.run_id().to_string(), live);
            }
        }
        for timer in adoption.timers {
            let _ = self.timers.send(timer);
        }
        link.held.insert(&adoption.leases);
        let ids: Vec<u16> = adoption.leases.iter().map(|l| l.id).collect();
        tracing::info!(partitions = ?ids, runs, "took in partitions");
    }

    /// Forgets the runs of partitions handed back or lost; commands for
    /// them go to their new owner from now on.
    fn let_go(&mut self, partitions: &[u16]) {
        let Some(link) = &self.cluster else { return };
        link.held.remove(partitions);
        let before = self.runs.len();
        self.runs.retain(|id, _| !partitions.contains(&partition_of(id)));
        tracing::info!(partitions = ?partitions, runs = before - self.runs.len(), "let go of partitions");
    }

    async fn start(
        &mut self,
        mut new: NewRun,
        seed: Option<RetrySeed>,
        reply: StartSender,
        inbox: Option<i64>,
        pending: &mut Pending,
    ) {
        if let Some(link) = &self.cluster {
            let keyed = (!new.idempotency_key.is_empty()).then(|| partition_of_key(&new.tenant, &new.idempotency_key));
            if let Err(partition) = place(&link.held, &mut new.id, keyed) {
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
            match self.store.find_idempotent_run(&key.0, &key.1, new.now_ms - IDEMPOTENCY_TTL_MS).await {
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
        let mut state = RunState::new(new.id.clone(), new.workflow_id, new.workflow_version, new.workflow);
        let retry_of_run_id = seed.as_ref().map(|s| s.origin.run_id.clone());
        let command = match seed {
            None => Command::Start { input: new.input.clone(), shared_state: new.shared_state, now_ms: new.now_ms },
            Some(RetrySeed { origin, reused }) => Command::StartFrom {
                input: new.input.clone(),
                shared_state: new.shared_state,
                origin,
                reused,
                now_ms: new.now_ms,
            },
        };
        let meta = RunMeta {
            tenant: new.tenant,
            user_id: new.user_id,
            trigger: new.trigger,
            idempotency_key: new.idempotency_key,
            input: new.input,
            retry_of_run_id,
            created_ms: new.now_ms,
        };
        let json = serde_json::to_string(&command).expect("commands always serialize");
        match transition(&mut state, command) {
            Ok(outcome) => {
                let id = new.id;
                self.runs.insert(id.clone(), Live { state, meta, commands: 0, watchers: Vec::new() });
                pending.touched.insert(id.clone(), None);
                self.record(&id, json, &outcome, None, pending);
                let reply_value = StartReply { run_id: id, existing: false };
                answer_inbox(pending, inbox, &reply_value);
                pending.replies.push(Reply::Start(reply, reply_value));
            }
            Err(err) => {
                let _ = reply.send(Err(StartRouted::Failed(err.into())));
            }
        }
    }

    fn command(
        &mut self,
        tenant: &str,
        run_id: &str,
        command: Command,
        reply: Option<CommandSender>,
        inbox: Option<i64>,
        pending: &mut Pending,
    ) {
        let Some(live) = self.runs.get_mut(run_id).filter(|live| live.meta.tenant == tenant) else {
            let elsewhere = self.cluster.as_ref().is_some_and(|link| !link.held.holds_run(run_id));
            if let Some(reply) = reply {
                let _ = reply.send(Err(if elsewhere {
                    Routed::Elsewhere(Box::new(command))
                } else {
                    Routed::Refusal(CommandRefusal::NotLive)
                }));
            }
            return;
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
        match transition(&mut live.state, command) {
            Ok(outcome) => {
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
                    pending.inbox_done.push(InboxAnswer { id, answer: inbox::applied() });
                }
                pending.replies.push(Reply::Command(reply));
            }
            Err(err) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(Routed::Refusal(CommandRefusal::Refused(err))));
                }
            }
        }
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
        let tenant = live.meta.tenant.clone();
        p.approvals.extend(outcome.events.iter().filter_map(|e| rows::approval_change(run_id, &tenant, e)));
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
            }
        }
    }

    /// Writes the batch, then releases replies, events and timers; on a
    /// failed write, refuses every caller and rebuilds the touched runs
    /// from what the store holds.
    async fn commit(&mut self, p: Pending) {
        let now = now_ms();
        self.parked.expire(now);
        if p.replies.is_empty() && p.claims.is_empty() && !self.parked.has_releases() {
            return;
        }
        let mut batch = RunBatch::default();
        for (run_id, keys) in &p.touched {
            let live = &self.runs[run_id];
            batch.runs.push(rows::run_record(&live.state, &live.meta));
            batch.steps.extend(rows::step_records(&live.state, keys.as_ref()));
        }
        batch.events = p.events;
        batch.commands = p.commands;
        let mut armed = Vec::new();
        for (key, timer) in p.timers {
            match timer {
                Some(timer) => {
                    armed.push(timer.clone());
                    batch.timers.push(timer);
                }
                None => batch.timers_done.push(key),
            }
        }
        for (key, change) in p.tasks {
            match change {
                TaskChange::Queue(task) => batch.tasks.push(*task),
                TaskChange::Done => batch.tasks_done.push(key),
                TaskChange::Cancel => batch.tasks_cancelled.push(key),
            }
        }
        batch.tasks_timed_out = p.tasks_timed_out;
        for change in p.approvals {
            match change {
                rows::ApprovalChange::Open(approval) => batch.approvals_opened.push(*approval),
                rows::ApprovalChange::Decide(decision) => batch.approvals_decided.push(decision),
            }
        }
        batch.idempotency = p
            .idempotency
            .into_iter()
            .map(|((tenant_id, key), (run_id, created_ms))| IdempotencyRow { tenant_id, key, run_id, created_ms })
            .collect();
        if let Some(link) = &self.cluster {
            let partitions: BTreeSet<u16> = p.touched.keys().map(|id| partition_of(id)).collect();
            let partitions = partitions
                .into_iter()
                .filter_map(|id| link.held.epoch(id).map(|epoch| PartitionLease { id, epoch }))
                .collect();
            batch.fence = Some(Fence { replica: link.replica.clone(), partitions });
            batch.notify = link.notify;
        }
        batch.inbox_done = p.inbox_done;
        // Claims are tried after the batch's rows are written: the fresh
        // ones, then parked ones for each task this batch makes claimable.
        let releases = self.parked.take_releases();
        let mut tried = p.claims;
        {
            let claimable: Vec<Claimable<'_>> = batch
                .tasks
                .iter()
                .map(|t| (t.tenant_id.as_str(), t.agent.as_deref().unwrap_or_default(), t.kind.as_str()))
                .chain(releases.iter().map(|(tenant, l)| (tenant.as_str(), l.agent.as_str(), l.kind.as_str())))
                .collect();
            tried.extend(self.parked.take_matching(&claimable));
        }
        // A parked claim was asked for long ago: its lease starts now.
        batch.claims = tried.iter().map(|w| ClaimRequest { now_ms: now, ..w.claim.clone() }).collect();
        batch.releases = releases.iter().map(|(_, l)| (l.task_id.clone(), l.lease_token)).collect();

        let writing = std::time::Instant::now();
        let written = self.store.commit_runs(&batch).await;
        self.stats.commit_micros.fetch_add(writing.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut claimed = match written {
            Ok(claimed) => claimed,
            Err(err) => {
                let moved = if let StoreError::Fenced(lost) = &err {
                    // Another replica holds these partitions now: what was
                    // decided here under them must not be written. Callers
                    // ask again and reach the new owner; claims wait on.
                    tracing::warn!(partitions = ?lost, "partitions were taken over; the batch decided under them is dropped");
                    self.let_go(lost);
                    self.parked.repark(tried, releases, now);
                    true
                } else {
                    tracing::error!(error = %err, commands = batch.commands.len(), "run commit failed");
                    self.parked.refuse(tried, releases);
                    false
                };
                self.fail_batch(p.replies, p.touched.keys().cloned().collect(), moved).await;
                return;
            }
        };
        for leased in claimed.iter_mut().flatten() {
            if let Some(live) = self.runs.get(&leased.run_id) {
                leased.shared_state = live.state.declared_state(&leased.step_key);
            }
        }
        self.parked.settle(tried, claimed, now);
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats.commands.fetch_add(batch.commands.len() as u64, Ordering::Relaxed);
        for reply in p.replies {
            match reply {
                Reply::Start(tx, value) => {
                    let _ = tx.send(Ok(value));
                }
                Reply::Command(Some(tx)) => {
                    let _ = tx.send(Ok(()));
                }
                Reply::Command(None) => {}
            }
        }
        for event in batch.events {
            // No subscriber is not an error.
            let _ = self.events.send(Arc::new(event));
        }
        for timer in armed {
            let _ = self.timers.send(timer);
        }
        // Finished runs accept no more commands; the store answers for them.
        self.runs.retain(|_, live| {
            if !live.state.status().is_terminal() {
                return true;
            }
            for watcher in live.watchers.drain(..) {
                let _ = watcher.send(());
            }
            false
        });
    }

    /// After a failed commit: refuses every caller of the batch (or, when
    /// the batch was dropped for `moved` partitions, tells them to ask
    /// again) and rebuilds the runs it touched from what the store holds.
    async fn fail_batch(&mut self, replies: Vec<Reply>, touched: Vec<String>, moved: bool) {
        for reply in replies {
            match reply {
                Reply::Start(tx, _) if moved => {
                    let _ = tx.send(Err(StartRouted::Moved));
                }
                Reply::Start(tx, _) => {
                    let err = EngineError::Unavailable("the run could not be stored; retry later");
                    let _ = tx.send(Err(StartRouted::Failed(err)));
                }
                Reply::Command(Some(tx)) if moved => {
                    let _ = tx.send(Err(Routed::Moved));
                }
                Reply::Command(Some(tx)) => {
                    let _ = tx.send(Err(Routed::Refusal(CommandRefusal::Unavailable)));
                }
                Reply::Command(None) => {}
            }
        }
        self.rebuild(touched).await;
    }

    /// Drops runs whose in-memory state ran ahead of a failed commit and
    /// reloads the ones the store still has open.
    async fn rebuild(&mut self, run_ids: Vec<String>) {
        let previous: HashMap<String, Arc<crate::engine::compile::CompiledWorkflow>> = run_ids
            .iter()
            .filter_map(|id| self.runs.remove(id).map(|live| (id.clone(), live.state.version_workflow().clone())))
            .collect();
        // With several replicas, only the partitions still held are read
        // (a run of a partition lost meanwhile is its new owner's now).
        let partitions: Option<Vec<u16>> = self.cluster.as_ref().map(|link| {
            let held = link.held.ids();
            let wanted: BTreeSet<u16> =
                previous.keys().map(|id| partition_of(id)).filter(|p| held.contains(p)).collect();
            wanted.into_iter().collect()
        });
        let (open, timers) = match (&self.cluster, &partitions) {
            (Some(link), Some(partitions)) => {
                (link.store.load_open_runs_in(partitions).await, link.store.timers_in(partitions).await)
            }
            _ => (self.store.load_open_runs().await, self.store.list_timers().await),
        };
        let open = match open {
            Ok(open) => open,
            Err(err) => {
                tracing::error!(error = %err, "cannot reload runs after a failed commit; they resume at restart");
                return;
            }
        };
        for open in open.into_iter().filter(|o| previous.contains_key(&o.run.id)) {
            let workflow = previous[&open.run.id].clone();
            if let Some(live) = super::replay(open, workflow) {
                self.runs.insert(live.state.run_id().to_string(), live);
            }
        }
        // A timer consumed by the failed batch still has its row: arm it again.
        match timers {
            Ok(timers) => {
                for timer in timers.into_iter().filter(|t| previous.contains_key(&t.run_id)) {
                    let _ = self.timers.send(timer);
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot re-arm timers after a failed commit"),
        }
    }
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
        *run_id = ids::new_run_id();
    }
    Err(partition_of(run_id))
}

/// Answers the inbox message a start came in, in the start's commit.
fn answer_inbox(pending: &mut Pending, inbox: Option<i64>, reply: &StartReply) {
    if let Some(id) = inbox {
        pending.inbox_done.push(InboxAnswer { id, answer: inbox::started(reply) });
    }
}
