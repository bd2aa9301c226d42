//! The run scheduler: one writer task owning every live run, fed commands
//! over a channel, committing them in groups (ENGINE.md §3), plus the timer
//! loop. Callers get an answer only after their command is committed;
//! events are published to subscribers at the same moment.
//!
//! # Layout
//!
//! - `writer/`: the writer loop, group commit, and what it releases after;
//!   rebuilding runs after a failed commit or a panic in one transition.
//! - `rows.rs`: rows derived from a run's state, events and effects.
//! - `timers.rs`: the timer loop.
//! - `claims.rs`: workers' claims parked until a matching task is queued.
//! - `tests/`: the writer under faults, over a store that fails on demand.
//!
//! The writer answers a command for a run another replica holds with
//! [`Routed::Elsewhere`]; forwarding it is the run facade's business
//! (`engine::runs`), so this module never reaches the cluster inbox.

mod claims;
mod rows;
#[cfg(test)]
pub(crate) mod tests;
mod timers;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use rows::RunMeta;

use crate::engine::EngineError;
use crate::engine::cluster::link::ClusterLink;
use crate::engine::compile::CompiledWorkflow;
use crate::engine::concurrency::Concurrency;
use crate::engine::run::{Command, RetryOrigin, ReusedStep, RunState, TransitionError, transition};
use crate::model::{EventRecord, TimerRecord};
use crate::store::{ClaimRequest, LeasedTask, OpenRun, Store};

/// Commands waiting for the writer before senders wait too.
const QUEUE: usize = 4096;
/// Events a slow subscriber may fall behind before it must re-read the store.
const EVENT_BUFFER: usize = 4096;

/// How long an idempotency key names its run.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// Milliseconds since the epoch, from the engine's one clock.
pub use crate::engine::clock::now_ms;

/// A run to create and start.
#[derive(Clone)]
pub struct NewRun {
    /// Fresh `wfrun_…` id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// `wf_…`.
    pub workflow_id: String,
    /// Pinned version.
    pub workflow_version: u32,
    /// The compiled version.
    pub workflow: Arc<CompiledWorkflow>,
    /// End user, or empty.
    pub user_id: String,
    /// What started it.
    pub trigger: String,
    /// Idempotency key, or empty.
    pub idempotency_key: String,
    /// Input (already checked against inputSchema).
    pub input: Value,
    /// Initial shared state.
    pub shared_state: Value,
    /// Now, ms since the epoch.
    pub now_ms: i64,
    /// The schedule that starts it (`sched_…`), or empty.
    pub schedule_id: String,
    /// The schedule tick it stands for, ms since the epoch.
    pub scheduled_ms: Option<i64>,
    /// The W3C trace context it is started in, stored on its row so its
    /// tasks carry it to their workers; `None` outside a trace.
    pub trace: Option<crate::store::TraceContext>,
}

/// What a run made by RetryRunFrom takes over from its source run.
#[derive(Debug, Clone)]
pub struct RetrySeed {
    /// The source run and the step to re-run from.
    pub origin: RetryOrigin,
    /// Completed upstream steps and their outputs, in topological order.
    pub reused: Vec<ReusedStep>,
}

/// The answer to a start, once committed.
#[derive(Debug, Clone)]
pub struct StartReply {
    /// The run: the new one, or the one the idempotency key already named.
    pub run_id: String,
    /// Whether the idempotency key returned an earlier run.
    pub existing: bool,
}

/// Why the writer did not apply a command.
#[derive(Debug)]
pub enum CommandRefusal {
    /// The run is not live in this writer: finished, or unknown.
    NotLive,
    /// `transition` refused it; nothing changed.
    Refused(TransitionError),
    /// The commit failed; nothing changed.
    Unavailable,
    /// The transition panicked (a bug); nothing changed, and the run was
    /// rebuilt from what is stored.
    Internal,
}

/// The writer's answer to a command: applied, refused, or for a run whose
/// partition another replica holds (the command comes back to be sent on).
pub(crate) enum Routed {
    Refusal(CommandRefusal),
    Elsewhere(Box<Command>),
    /// The batch it was decided in was dropped because another replica
    /// took one of its partitions meanwhile: nothing was written, and
    /// asking again reaches the new owner.
    Moved,
}

/// How often a command or start whose batch was dropped for a moved
/// partition is asked again before the caller hears UNAVAILABLE.
const MOVED_RETRIES: u32 = 3;

/// The writer's answer to a start that did not start here: it failed, or
/// the run belongs in a partition another replica holds.
pub(crate) enum StartRouted {
    Failed(EngineError),
    Elsewhere(Box<NewRun>, Option<RetrySeed>, u16),
    /// As [`Routed::Moved`]: nothing was written; ask again.
    Moved,
}

/// Open runs and timers of partitions this replica just took, for the
/// writer to take in.
pub(crate) struct Adoption {
    pub(crate) leases: Vec<crate::store::PartitionLease>,
    pub(crate) runs: Vec<(OpenRun, Arc<CompiledWorkflow>)>,
    pub(crate) timers: Vec<TimerRecord>,
}

/// What the writer is asked to do.
pub(crate) enum Request {
    /// A run to create; `inbox` names the message it came in, if any.
    Start {
        new: NewRun,
        seed: Option<RetrySeed>,
        reply: oneshot::Sender<Result<StartReply, StartRouted>>,
        inbox: Option<i64>,
    },
    Command {
        tenant: String,
        run_id: String,
        command: Command,
        /// `None` for fire-and-forget commands (timers).
        reply: Option<oneshot::Sender<Result<(), Routed>>>,
        /// The inbox message it came in, answered in the same commit.
        inbox: Option<i64>,
    },
    /// Take in the runs of partitions just taken.
    Adopt(Adoption, oneshot::Sender<()>),
    /// Let go of the runs of these partitions (handed back, or lost).
    Drop(Vec<u16>, oneshot::Sender<()>),
    /// Try parked claims again: those matching (tenant, agent, kind) up to
    /// a count, or all of them (`None`), because another replica queued
    /// tasks (or may have).
    Recheck(Option<(String, String, String, u32)>),
    /// A worker's claim, made in the writer's next group commit, or parked
    /// until a matching task is queued or the given time (ms) passes.
    Claim(ClaimRequest, i64, claims::ClaimSender),
    /// Tell the sender when this run finishes (dropped at once if the run
    /// is not live).
    WatchFinish(String, oneshot::Sender<()>),
    /// Hand back a claimed lease (of this tenant) its worker never heard
    /// of: queued again, same attempt, in the next commit.
    Release(String, LeasedTask),
}

/// Counters of the writer, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Group commits written.
    pub commits: AtomicU64,
    /// Commands accepted and committed (each one transition).
    pub commands: AtomicU64,
    /// Time spent in the store's commit, microseconds.
    pub commit_micros: AtomicU64,
}

/// A handle on the writer; cheap to clone.
#[derive(Clone)]
pub struct RunScheduler {
    stats: Arc<SchedulerStats>,
    /// Several replicas: where commands for runs held elsewhere go.
    cluster: Option<Arc<ClusterLink>>,
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<Arc<EventRecord>>,
    shutdown: Arc<watch::Sender<bool>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Turns `true` when the writer task ends, however it ends.
    writer_ended: watch::Receiver<bool>,
    /// `[runs] max_paused_lifetime` in ms, 0 for none (shared with the
    /// writer).
    max_paused_ms: Arc<std::sync::atomic::AtomicI64>,
    /// The concurrent-run limit's settings and gate (shared with the writer).
    concurrency: Arc<Concurrency>,
}

/// Says the writer ended when dropped: at the end of its task, or while a
/// panic unwinds out of it.
struct EndedGuard(watch::Sender<bool>);

impl Drop for EndedGuard {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// Rebuilds a run by replaying its commands; `None` (logged) if the stored
/// commands do not replay, which would mean the data is damaged.
fn replay(open: OpenRun, workflow: Arc<CompiledWorkflow>) -> Option<writer::Live> {
    let run = open.run;
    let state = RunState::new(run.id.clone(), run.workflow_id.clone(), run.workflow_version, workflow);
    let meta = RunMeta {
        tenant: run.tenant_id,
        user_id: run.user_id,
        trigger: run.trigger,
        idempotency_key: run.idempotency_key,
        input: run.input.unwrap_or(Value::Null),
        retry_of_run_id: run.retry_of_run_id,
        created_ms: run.created_ms,
        gated: true,
        schedule_id: run.schedule_id,
        scheduled_ms: run.scheduled_ms,
    };
    let live = writer::Live { state, meta, commands: 0, watchers: Vec::new() };
    replay_onto(live, &open.commands.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Applies commands (as stored, JSON) to a run in order, counting them;
/// `None` (logged) if one does not replay.
fn replay_onto(mut live: writer::Live, commands: &[&str]) -> Option<writer::Live> {
    for json in commands {
        let applied = serde_json::from_str::<Command>(json)
            .map_err(|e| e.to_string())
            .and_then(|command| transition(&mut live.state, command).map_err(|e| e.to_string()));
        if let Err(err) = applied {
            let (run, command) = (live.state.run_id(), live.commands + 1);
            tracing::error!(run = %run, command, error = %err, "run does not replay; left out of recovery");
            return None;
        }
        live.commands += 1;
    }
    Some(live)
}

/// A claim's answer not yet read. The writer checks that the caller is
/// still there before claiming, but a caller that gives up (its wait ran
/// out, the server is stopping, the client went away) just after the
/// writer sent a lease would drop that lease unseen: dropping this closes
/// the channel first, so the writer's later sends fail and it hands their
/// leases back itself, then hands back one that already arrived.
struct PendingClaim<'a> {
    answer: oneshot::Receiver<Result<Option<LeasedTask>, EngineError>>,
    scheduler: &'a RunScheduler,
}

impl Drop for PendingClaim<'_> {
    fn drop(&mut self) {
        self.answer.close();
        if let Ok(Ok(Some(leased))) = self.answer.try_recv() {
            tracing::debug!(task_id = %leased.task_id, "a claim answered after its caller left; handing it back");
            self.scheduler.release(leased.tenant_id.clone(), leased);
        }
    }
}

impl RunScheduler {
    /// Starts the writer and the timer loop with the runs recovered from
    /// the store (each with its compiled workflow) and the armed timers.
    pub fn spawn(
        store: Arc<dyn Store>,
        recovered: Vec<(OpenRun, Arc<CompiledWorkflow>)>,
        timers: Vec<TimerRecord>,
    ) -> Self {
        Self::spawn_with(store, recovered, timers, None)
    }

    /// Starts a writer that holds no partition yet, for one replica of
    /// several; partitions come in through [`Self::adopt`].
    pub(crate) fn spawn_shared(store: Arc<dyn Store>, link: Arc<ClusterLink>) -> Self {
        Self::spawn_with(store, Vec::new(), Vec::new(), Some(link))
    }

    fn spawn_with(
        store: Arc<dyn Store>,
        recovered: Vec<(OpenRun, Arc<CompiledWorkflow>)>,
        timers: Vec<TimerRecord>,
        cluster: Option<Arc<ClusterLink>>,
    ) -> Self {
        let (requests, receiver) = mpsc::channel(QUEUE);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (shutdown, stop) = watch::channel(false);
        let (arm, arms) = mpsc::unbounded_channel();
        let mut runs = HashMap::new();
        for (open, workflow) in recovered {
            if let Some(live) = replay(open, workflow) {
                runs.insert(live.state.run_id().to_string(), live);
            }
        }
        tracing::info!(runs = runs.len(), timers = timers.len(), "run scheduler recovered");
        for timer in timers {
            let _ = arm.send(timer);
        }
        let stats = Arc::new(SchedulerStats::default());
        let max_paused_ms = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let concurrency = Concurrency::new();
        let writer = writer::Writer {
            max_paused_ms: max_paused_ms.clone(),
            concurrency: concurrency.clone(),
            store,
            runs,
            events: events.clone(),
            timers: arm,
            stats: stats.clone(),
            parked: claims::ParkedClaims::default(),
            cluster: cluster.clone(),
            metrics: crate::telemetry::metrics::engine::WriterMetrics::new(),
        };
        let (ended, writer_ended) = watch::channel(false);
        let stop_writer = stop.clone();
        let tasks = vec![
            tokio::spawn(async move {
                let _ended = EndedGuard(ended);
                writer.run(receiver, stop_writer).await;
            }),
            tokio::spawn(timers::run(arms, requests.clone(), stop)),
        ];
        Self {
            stats,
            cluster,
            requests,
            events,
            shutdown: Arc::new(shutdown),
            tasks: Arc::new(Mutex::new(tasks)),
            writer_ended,
            max_paused_ms,
            concurrency,
        }
    }

    /// The concurrent-run limit's settings: [`Concurrency::set`] applies
    /// the server's configuration (an embedded writer has no limit).
    pub fn concurrency(&self) -> &Arc<Concurrency> {
        &self.concurrency
    }

    /// Sets `[runs] max_paused_lifetime` (`None`: paused runs wait as long
    /// as they need); it applies to pauses that begin from now on.
    pub fn set_max_paused(&self, lifetime: Option<std::time::Duration>) {
        let ms = lifetime.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1));
        self.max_paused_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Resolves when the writer task has ended: at shutdown, or (a bug)
    /// when something outside a single transition panicked in it. Until
    /// then it never resolves.
    pub async fn writer_stopped(&self) {
        let mut ended = self.writer_ended.clone();
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// The writer's counters.
    pub fn stats(&self) -> &SchedulerStats {
        &self.stats
    }

    /// Creates and starts a run in this replica's writer; answers once it
    /// is committed. A run whose partition another replica holds is not
    /// started (UNAVAILABLE): [`crate::engine::RunEngine`] forwards those.
    pub async fn start(&self, new: NewRun) -> Result<StartReply, EngineError> {
        local_start(self.route_start(new, None).await)
    }

    /// Creates and starts a retry run that takes over `seed`'s outputs in
    /// this replica's writer; answers once it is committed.
    pub async fn start_from(&self, new: NewRun, seed: RetrySeed) -> Result<StartReply, EngineError> {
        local_start(self.route_start(new, Some(seed)).await)
    }

    /// Asks this replica's writer to start a run, asking again when its
    /// batch was dropped for a moved partition; a start for a partition held
    /// elsewhere comes back as [`StartRouted::Elsewhere`] for the caller to
    /// forward.
    pub(crate) async fn route_start(
        &self,
        mut new: NewRun,
        mut seed: Option<RetrySeed>,
    ) -> Result<StartReply, StartRouted> {
        let mut moves = 0;
        loop {
            // Only a replica among several can see its batch dropped.
            let spare = (self.cluster.is_some() && moves < MOVED_RETRIES).then(|| (new.clone(), seed.clone()));
            match self.start_here(new, seed, None).await {
                Err(StartRouted::Moved) => match spare {
                    Some(again) => (new, seed, moves) = (again.0, again.1, moves + 1),
                    None => return Err(StartRouted::Moved),
                },
                answered @ (Ok(_) | Err(StartRouted::Failed(_) | StartRouted::Elsewhere(..))) => return answered,
            }
        }
    }

    /// Asks this replica's writer to start a run; `inbox` names the message
    /// it came in, answered in the start's commit.
    pub(crate) async fn start_here(
        &self,
        new: NewRun,
        seed: Option<RetrySeed>,
        inbox: Option<i64>,
    ) -> Result<StartReply, StartRouted> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Start { new, seed, reply, inbox };
        self.requests.send(request).await.map_err(|_| StartRouted::Failed(stopped()))?;
        answer.await.map_err(|_| StartRouted::Failed(stopped()))?
    }

    /// Resolves when the run `run_id` leaves the writer: it finished (and
    /// that is committed), or it was not live when asked, or a failed
    /// commit made the writer forget it. The caller reads the store to
    /// learn which; one waiter per run, not one woken by every event.
    pub async fn finished(&self, run_id: &str) {
        let (watcher, fired) = oneshot::channel();
        if self.requests.send(Request::WatchFinish(run_id.to_string(), watcher)).await.is_ok() {
            let _ = fired.await;
        }
    }

    /// Applies a command to a run live in this replica's writer; answers
    /// once it is committed. A run another replica holds is NotLive here:
    /// [`crate::engine::RunEngine::command`] forwards those.
    pub async fn command(&self, tenant: &str, run_id: &str, command: Command) -> Result<(), CommandRefusal> {
        match self.route_command(tenant, run_id, command).await {
            Ok(()) => Ok(()),
            Err(Routed::Refusal(refusal)) => Err(refusal),
            Err(Routed::Elsewhere(_)) => Err(CommandRefusal::NotLive),
            Err(Routed::Moved) => Err(CommandRefusal::Unavailable),
        }
    }

    /// Asks this replica's writer to apply a command, asking again when its
    /// batch was dropped for a moved partition; a command for a run held
    /// elsewhere comes back as [`Routed::Elsewhere`] for the caller to
    /// forward.
    pub(crate) async fn route_command(&self, tenant: &str, run_id: &str, mut command: Command) -> Result<(), Routed> {
        let mut moves = 0;
        loop {
            // Only a replica among several can see its batch dropped.
            let spare = (self.cluster.is_some() && moves < MOVED_RETRIES).then(|| command.clone());
            match self.command_here(tenant, run_id, command, None).await {
                Err(Routed::Moved) => match spare {
                    Some(again) => (command, moves) = (again, moves + 1),
                    None => return Err(Routed::Moved),
                },
                answered @ (Ok(()) | Err(Routed::Refusal(_) | Routed::Elsewhere(_))) => return answered,
            }
        }
    }

    /// Asks this replica's writer to apply a command; `inbox` names the
    /// message it came in, answered in the command's commit.
    pub(crate) async fn command_here(
        &self,
        tenant: &str,
        run_id: &str,
        command: Command,
        inbox: Option<i64>,
    ) -> Result<(), Routed> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Command {
            tenant: tenant.to_string(),
            run_id: run_id.to_string(),
            command,
            reply: Some(reply),
            inbox,
        };
        let unavailable = || Routed::Refusal(CommandRefusal::Unavailable);
        self.requests.send(request).await.map_err(|_| unavailable())?;
        answer.await.unwrap_or(Err(unavailable()))
    }

    /// Hands the writer the runs of partitions just taken; answers once
    /// it holds them.
    pub(crate) async fn adopt(&self, adoption: Adoption) {
        let (done, adopted) = oneshot::channel();
        if self.requests.send(Request::Adopt(adoption, done)).await.is_ok() {
            let _ = adopted.await;
        }
    }

    /// Makes the writer let go of these partitions' runs; answers once it
    /// no longer applies commands to them.
    pub(crate) async fn drop_partitions(&self, partitions: Vec<u16>) {
        let (done, dropped) = oneshot::channel();
        if self.requests.send(Request::Drop(partitions, done)).await.is_ok() {
            let _ = dropped.await;
        }
    }

    /// Retries parked claims in the writer's next commit.
    pub(crate) async fn recheck(&self, matching: Option<(String, String, String, u32)>) {
        let _ = self.requests.send(Request::Recheck(matching)).await;
    }

    /// The replica link, when this is one replica of several.
    pub(crate) fn cluster(&self) -> Option<&Arc<ClusterLink>> {
        self.cluster.as_ref()
    }

    /// Claims the oldest queued task matching `claim` under a new lease,
    /// waiting until `until_ms` for one to be queued (`None` then). The
    /// writer makes the claim inside a group commit: at once when a task is
    /// there, else in the commit that queues a matching task, so claims
    /// share fsyncs with everything else and a parked poll hears of its
    /// task as soon as that commit is done. Dropping the future gives up:
    /// a lease the writer answered with just before is handed back
    /// ([`PendingClaim`]), not left to expire with no worker on it.
    pub async fn claim(&self, claim: ClaimRequest, until_ms: i64) -> Result<Option<LeasedTask>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Claim(claim, until_ms, reply)).await.map_err(|_| stopped())?;
        let mut pending = PendingClaim { answer, scheduler: self };
        (&mut pending.answer).await.map_err(|_| stopped())?
    }

    /// Hands a claimed lease back to the queue in the writer's next commit,
    /// as if never claimed (same attempt; its token stays spent): for a
    /// claim answered to a worker stream that ended before the task was
    /// pushed. Callable from `Drop`; does nothing once the writer stopped.
    pub(crate) fn release(&self, tenant: String, leased: LeasedTask) {
        match self.requests.try_send(Request::Release(tenant, leased)) {
            Err(mpsc::error::TrySendError::Full(request)) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let requests = self.requests.clone();
                    runtime.spawn(async move {
                        let _ = requests.send(request).await;
                    });
                }
            }
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Every committed event from now on, of every run (filter by run id).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.events.subscribe()
    }

    /// Stops the writer (after the batch in hand is committed) and the
    /// timer loop, and waits for both.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().expect("scheduler task list"));
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// A start answered here, for callers that do not forward: a partition held
/// elsewhere is as unavailable as a stopped writer.
fn local_start(routed: Result<StartReply, StartRouted>) -> Result<StartReply, EngineError> {
    match routed {
        Ok(reply) => Ok(reply),
        Err(StartRouted::Failed(err)) => Err(err),
        Err(StartRouted::Elsewhere(..)) => Err(stopped()),
        Err(StartRouted::Moved) => Err(moved()),
    }
}

/// What a caller hears when its request panicked the core (a bug): the
/// writer refused it and rebuilt the run.
pub(crate) fn internal() -> EngineError {
    EngineError::Internal("the run could not apply this request; it was rebuilt, nothing changed")
}

pub(crate) fn stopped() -> EngineError {
    EngineError::Unavailable("the run scheduler is stopping; retry later")
}

pub(crate) fn moved() -> EngineError {
    EngineError::Unavailable("the run's partition kept moving between replicas; retry")
}
