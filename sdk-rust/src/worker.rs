//! The worker runtime: serve agents from Rust with plain async functions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_sdk::Error> {
//! use weft_sdk::worker::{Outcome, Worker};
//! let weft = weft_sdk::Weft::connect("http://127.0.0.1:7070").await?;
//! Worker::new(&weft)
//!     .agent("web-researcher", |task| async move {
//!         let site = task.input()["website"].clone();
//!         Ok(Outcome::new(serde_json::json!({"site": site})).cost(3, "usd"))
//!     })
//!     .concurrency(8)
//!     .run(async { tokio::signal::ctrl_c().await.ok(); })
//!     .await
//! # }
//! ```
//!
//! What it does for a handler:
//! - registers the worker and its agents, then keeps up to `concurrency`
//!   tasks in flight, each claimed by a long poll as soon as a slot is free;
//! - heartbeats every task (a third of the lease by default) so its lease
//!   holds while the handler works;
//! - tells the handler when the run was cancelled or the lease was lost
//!   ([`TaskContext::cancelled`]), and then drops the handler's future if
//!   it does not return by itself: nothing more is reported for that task;
//! - completes or fails the task with the handler's answer, trying again
//!   while the server is unreachable (restarting, failing over) for as long
//!   as the lease would hold, so a restart costs neither the result nor a
//!   re-execution;
//! - registers again by itself, with backoff, when the server answers a
//!   poll with NOT_FOUND for this worker (a server on a fresh database, or
//!   one that forgot a worker silent too long), and keeps serving;
//! - on shutdown stops claiming, lets the tasks in flight finish, and
//!   returns.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tonic::Code;

use crate::json::{from_proto_struct, to_proto_struct, to_proto_value};
use crate::{Error, Weft, pb};

/// Most concurrent long polls of one worker (one per slot up to this).
const MAX_POLLERS: usize = 64;
/// How long one poll waits on the server for a task.
const POLL_WAIT_SECONDS: u32 = 20;
/// How long one CheckToolUse waits on the server for an approval decision.
const APPROVAL_WAIT_SECONDS: u32 = 30;
/// How long a handler told of a cancel may take to return by itself.
const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// Pauses after failed polls or registrations, so a down server is not
/// hammered: doubling from the first to the longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_LONGEST: Duration = Duration::from_secs(5);
/// Least time between two registrations of one worker.
const MIN_REGISTRATION_GAP: Duration = Duration::from_secs(1);
/// Pauses between tries of an answer the server did not take because it
/// was unreachable: doubling from the first to the longest, within the lease.
const ANSWER_RETRY_FIRST: Duration = Duration::from_millis(100);
const ANSWER_RETRY_LONGEST: Duration = Duration::from_secs(2);

/// What a handler answers for a task that worked.
#[derive(Debug, Clone)]
pub struct Outcome {
    output: Value,
    cost: Option<pb::Money>,
    state: serde_json::Map<String, Value>,
}

impl Outcome {
    /// The step's output, seen by later steps as `$.<step>.output`.
    pub fn new(output: Value) -> Self {
        Self { output, cost: None, state: serde_json::Map::new() }
    }

    /// Writes a shared-state key (one the step declares in `stateWrites`),
    /// winning over the output's value for that key.
    pub fn state(mut self, key: impl Into<String>, value: Value) -> Self {
        self.state.insert(key.into(), value);
        self
    }

    /// What the attempt cost, in the currency's minor unit (cents).
    pub fn cost(mut self, cents: i64, currency: &str) -> Self {
        self.cost = Some(pb::Money { amount: cents, currency: currency.into() });
        self
    }
}

/// What a handler answers for a task that failed.
#[derive(Debug, Clone)]
pub struct TaskError {
    message: String,
    retryable: bool,
    code: String,
}

impl TaskError {
    /// A failure another attempt might not have (the step's retries apply).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true, code: String::new() }
    }

    /// A failure no retry can fix: the step fails now.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false, code: String::new() }
    }

    /// An UPPER_SNAKE code leading the step's error (`TOOL_ERROR: …`).
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }
}

impl<E: std::error::Error> From<E> for TaskError {
    /// Any error a handler `?`s is a retryable failure with its message.
    fn from(error: E) -> Self {
        Self::retryable(error.to_string())
    }
}

/// One claimed task, as a handler sees it.
#[derive(Debug, Clone)]
pub struct TaskContext {
    task: Arc<pb::Task>,
    input: Arc<Value>,
    state: Arc<Value>,
    cancelled: watch::Receiver<bool>,
    progress: Arc<Progress>,
    weft: Weft,
}

/// What the heartbeats carry to the server and bring back.
#[derive(Debug)]
struct Progress {
    /// Cost so far, cents (usd), sent with every heartbeat.
    cost_cents: AtomicI64,
    /// The last heartbeat said the step or run is paused.
    paused: AtomicBool,
    /// Until when the lease holds, on this machine's clock: a lease
    /// length after the claim or the last heartbeat the server took.
    lease_until: Mutex<Instant>,
}

impl Progress {
    /// A task claimed at `sent` (when the poll went out) under `lease`.
    fn new(sent: Instant, lease: Duration) -> Self {
        Self { cost_cents: AtomicI64::new(0), paused: AtomicBool::new(false), lease_until: Mutex::new(sent + lease) }
    }

    fn lease_until(&self) -> Instant {
        *self.lease_until.lock().expect("lease time")
    }
}

/// The server's answer to [`TaskContext::check_tool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolVerdict {
    /// Whether the agent may use the tool now.
    pub allowed: bool,
    /// Why, in words (the policy rule, or who approved or rejected it).
    pub reason: String,
}

impl TaskContext {
    /// The task as the server sent it (ids, attempt, policy, lease, …).
    pub fn task(&self) -> &pb::Task {
        &self.task
    }

    /// The rendered task text.
    pub fn text(&self) -> &str {
        &self.task.task
    }

    /// The step's inputMap values, as a JSON object.
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The shared-state keys the step declares (stateReads, stateWrites)
    /// with their values when the task was handed out, as a JSON object.
    pub fn state(&self) -> &Value {
        &self.state
    }

    /// True once the run was cancelled or the lease was lost.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Resolves when the run is cancelled or the lease is lost; select on
    /// it to stop long work cleanly.
    pub async fn cancelled(&self) {
        let mut receiver = self.cancelled.clone();
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }

    /// Reports what the attempt has cost so far (cents, usd); the next
    /// heartbeat carries it, so the workflow's cost ceilings apply while the
    /// agent works, not only at the end.
    pub fn report_cost(&self, cents: i64) {
        self.progress.cost_cents.store(cents, Ordering::Relaxed);
    }

    /// True while the last heartbeat said the step is paused (a cost
    /// ceiling, a pending approval): hold at a safe point.
    pub fn is_paused(&self) -> bool {
        self.progress.paused.load(Ordering::Relaxed)
    }

    /// Asks the server whether the agent may use `tool` now, applying the
    /// workflow's policy. A tool that needs approval pauses the step until a
    /// person decides; this waits for that decision (or the run's cancel).
    pub async fn check_tool(&self, tool: &str, arguments: Value) -> Result<ToolVerdict, Error> {
        let mut client = self.weft.workers();
        let mut request = pb::CheckToolUseRequest {
            task_id: self.task.task_id.clone(),
            lease_token: self.task.lease_token,
            tool: tool.into(),
            arguments: crate::json::object_to_proto_struct(&arguments),
            approval_id: String::new(),
            wait_seconds: 0,
        };
        loop {
            let asked = client.check_tool_use(request.clone());
            let answer = tokio::select! {
                answer = asked => answer?.into_inner(),
                _ = self.cancelled() => return Ok(ToolVerdict { allowed: false, reason: "the run was cancelled".into() }),
            };
            match pb::ToolDecision::try_from(answer.decision) {
                Ok(pb::ToolDecision::Allow) => return Ok(ToolVerdict { allowed: true, reason: answer.reason }),
                Ok(pb::ToolDecision::RequireApproval) => {
                    request.approval_id = answer.approval_id;
                    request.wait_seconds = APPROVAL_WAIT_SECONDS;
                }
                _ => return Ok(ToolVerdict { allowed: false, reason: answer.reason }),
            }
        }
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Outcome, TaskError>> + Send>>;
type Handler = Arc<dyn Fn(TaskContext) -> HandlerFuture + Send + Sync>;

/// A worker: agents and their handlers, then [`Worker::run`].
#[must_use = "a worker does nothing until .run() is awaited"]
pub struct Worker {
    weft: Weft,
    worker_id: String,
    name: String,
    handlers: HashMap<String, Handler>,
    cost_hints: Vec<pb::AgentCostHint>,
    concurrency: usize,
    heartbeat_every: Option<Duration>,
}

impl Worker {
    /// A worker with no agents yet, concurrency 1, a server-assigned id.
    pub fn new(weft: &Weft) -> Self {
        Self {
            weft: weft.clone(),
            worker_id: String::new(),
            name: String::new(),
            handlers: HashMap::new(),
            cost_hints: Vec::new(),
            concurrency: 1,
            heartbeat_every: None,
        }
    }

    /// A stable worker id, so a restarted process keeps its identity.
    pub fn id(mut self, worker_id: impl Into<String>) -> Self {
        self.worker_id = worker_id.into();
        self
    }

    /// A display name (e.g. the host name), shown by ListWorkers.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Serves `agent` with `handler`.
    pub fn agent<F, Fut>(mut self, agent: impl Into<String>, handler: F) -> Self
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outcome, TaskError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |context| Box::pin(handler(context)));
        self.handlers.insert(agent.into(), handler);
        self
    }

    /// Expected cost of one call of `agent`, for estimates (cents).
    pub fn cost_hint(mut self, agent: impl Into<String>, min_cents: i64, max_cents: i64, currency: &str) -> Self {
        let money = |amount| Some(pb::Money { amount, currency: currency.into() });
        self.cost_hints.push(pb::AgentCostHint {
            agent: agent.into(),
            min_cost: money(min_cents),
            max_cost: money(max_cents),
        });
        self
    }

    /// Most tasks in flight at once (default 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Heartbeat interval; default a third of the server's lease.
    pub fn heartbeat_every(mut self, interval: Duration) -> Self {
        self.heartbeat_every = Some(interval);
        self
    }

    /// Registers, then serves tasks until `shutdown` resolves; then lets the
    /// tasks in flight finish and returns. Fails only if the first
    /// registration does (later ones are retried with backoff).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let mut registration = pb::RegisterWorkerRequest {
            worker_id: self.worker_id,
            name: self.name,
            agents: self.handlers.keys().cloned().collect(),
            concurrency: self.concurrency as u32,
            cost_hints: self.cost_hints,
        };
        let registered = self.weft.workers().register_worker(registration.clone()).await?.into_inner();
        let lease = Duration::from_secs(u64::from(registered.lease_seconds.max(1)));
        // Registering again keeps the id, the server-assigned one included.
        registration.worker_id = registered.worker_id.clone();
        let shared = Arc::new(Shared {
            weft: self.weft,
            worker_id: registered.worker_id,
            handlers: self.handlers,
            heartbeat_every: self.heartbeat_every.unwrap_or(lease / 3),
            lease,
            registration,
            registrations: AtomicU64::new(1),
            registering: tokio::sync::Mutex::new(Instant::now()),
        });
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let (stop_tx, stop_rx) = watch::channel(false);
        // One poller per slot, at most 64. Each poll takes one task and each
        // claim is made in the server's next group commit, so a poller takes
        // at most one task per commit or two: with 8 pollers a worker of
        // concurrency 64 was held to ~1,900 steps/s, with one per slot it
        // keeps its slots full (~3,700/s). An idle poll costs the server a
        // parked claim, nothing more.
        let pollers: Vec<_> = (0..self.concurrency.min(MAX_POLLERS))
            .map(|_| tokio::spawn(poll_loop(shared.clone(), slots.clone(), stop_rx.clone())))
            .collect();
        shutdown.await;
        let _ = stop_tx.send(true);
        for poller in pollers {
            let _ = poller.await;
        }
        // Every slot back means every task in flight has finished.
        let _all = slots.acquire_many(self.concurrency as u32).await;
        Ok(())
    }
}

struct Shared {
    weft: Weft,
    worker_id: String,
    handlers: HashMap<String, Handler>,
    heartbeat_every: Duration,
    /// The lease length the server gave at registration.
    lease: Duration,
    /// What to register again with.
    registration: pb::RegisterWorkerRequest,
    /// How many registrations went through: a poller told NOT_FOUND
    /// registers again only if none did since its poll went out.
    registrations: AtomicU64,
    /// Held while registering again, so pollers told NOT_FOUND together
    /// register once; holds when the last registration went through.
    registering: tokio::sync::Mutex<Instant>,
}

/// The `n`th pause (from 1) doubling from `first` up to `longest`.
fn backoff(n: u32, first: Duration, longest: Duration) -> Duration {
    first.saturating_mul(1 << n.saturating_sub(1).min(16)).min(longest)
}

/// Sleeps `pause` unless the worker stops first; false when it stops.
async fn pause_unless_stopped(pause: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

async fn poll_loop(shared: Arc<Shared>, slots: Arc<Semaphore>, mut stop: watch::Receiver<bool>) {
    let mut failures = 0;
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            _ = stop.wait_for(|s| *s) => return,
        };
        let request = pb::PollTaskRequest {
            worker_id: shared.worker_id.clone(),
            agents: Vec::new(),
            wait_seconds: POLL_WAIT_SECONDS,
        };
        let registrations = shared.registrations.load(Ordering::Acquire);
        let mut client = shared.weft.workers();
        let sent = Instant::now();
        let polled = tokio::select! {
            polled = client.poll_task(request) => polled,
            _ = stop.wait_for(|s| *s) => return,
        };
        match polled {
            Ok(response) => {
                failures = 0;
                if let Some(task) = response.into_inner().task {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        execute(shared, task, sent).await;
                        drop(permit);
                    });
                }
            }
            // The only thing a poll can find missing is this worker.
            Err(status) if status.code() == Code::NotFound => {
                drop(permit);
                if !register_again(&shared, registrations, &mut stop).await {
                    return;
                }
            }
            Err(status) => {
                drop(permit);
                failures += 1;
                tracing::warn!(code = ?status.code(), message = status.message(), "poll failed");
                if !pause_unless_stopped(backoff(failures, BACKOFF_FIRST, BACKOFF_LONGEST), &mut stop).await {
                    return;
                }
            }
        }
    }
}

/// Registers the worker again after a poll sent when `seen` registrations
/// had gone through was told NOT_FOUND; retries with backoff until it
/// works. Does nothing when another poller registered meanwhile. False
/// when the worker stops first.
async fn register_again(shared: &Shared, seen: u64, stop: &mut watch::Receiver<bool>) -> bool {
    let mut last = shared.registering.lock().await;
    if shared.registrations.load(Ordering::Acquire) != seen {
        return true;
    }
    // A server that keeps forgetting the worker (say, a replica whose
    // clock is far off) must not turn this into a busy loop.
    if !pause_unless_stopped(MIN_REGISTRATION_GAP.saturating_sub(last.elapsed()), stop).await {
        return false;
    }
    tracing::warn!(worker_id = shared.worker_id, "the server does not know this worker (any more); registering again");
    let mut failures = 0;
    loop {
        if *stop.borrow() {
            return false;
        }
        match shared.weft.workers().register_worker(shared.registration.clone()).await {
            Ok(_) => {
                *last = Instant::now();
                shared.registrations.fetch_add(1, Ordering::AcqRel);
                return true;
            }
            Err(status) => {
                failures += 1;
                tracing::warn!(code = ?status.code(), message = status.message(), "registering again failed");
                if !pause_unless_stopped(backoff(failures, BACKOFF_FIRST, BACKOFF_LONGEST), stop).await {
                    return false;
                }
            }
        }
    }
}

/// Runs one task, claimed by a poll sent at `sent`: its handler,
/// heartbeats beside it, then the report.
async fn execute(shared: Arc<Shared>, task: pb::Task, sent: Instant) {
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let input = task.input.as_ref().map(from_proto_struct).unwrap_or_else(|| Value::Object(Default::default()));
    let state = task.state.as_ref().map(from_proto_struct).unwrap_or_else(|| Value::Object(Default::default()));
    let (task_id, token) = (task.task_id.clone(), task.lease_token);
    let progress = Arc::new(Progress::new(sent, shared.lease));
    let Some(handler) = shared.handlers.get(&task.agent).cloned() else {
        let error = TaskError::permanent(format!("this worker has no handler for agent '{}'", task.agent));
        report(&shared, &task_id, token, progress.lease_until(), Err(error)).await;
        return;
    };
    let context = TaskContext {
        task: Arc::new(task),
        input: Arc::new(input),
        state: Arc::new(state),
        cancelled: cancel_rx,
        progress: progress.clone(),
        weft: shared.weft.clone(),
    };
    let heartbeats = heartbeat_loop(&shared, &task_id, token, &progress, &cancel_tx);
    let work = handler(context);
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => report(&shared, &task_id, token, progress.lease_until(), result).await,
        // Cancelled or lease lost: the handler has been told; give it a
        // moment to stop by itself, then drop it. Its answer no longer counts.
        _ = heartbeats => {
            let _ = tokio::time::timeout(CANCEL_GRACE, &mut work).await;
        }
    }
}

/// Heartbeats until the run is cancelled or the lease is lost (then flags
/// `cancel` and returns); otherwise never returns.
async fn heartbeat_loop(shared: &Shared, task_id: &str, token: u64, progress: &Progress, cancel: &watch::Sender<bool>) {
    let mut client = shared.weft.workers();
    loop {
        tokio::time::sleep(shared.heartbeat_every).await;
        let cents = progress.cost_cents.load(Ordering::Relaxed);
        let cost_so_far = (cents > 0).then(|| pb::Money { amount: cents, currency: "usd".into() });
        let request = pb::HeartbeatRequest { task_id: task_id.into(), lease_token: token, cost_so_far };
        let sent = Instant::now();
        match client.heartbeat(request).await {
            Ok(answer) if answer.get_ref().cancelled => break,
            Ok(answer) => {
                progress.paused.store(answer.get_ref().paused, Ordering::Relaxed);
                *progress.lease_until.lock().expect("lease time") = sent + shared.lease;
            }
            // The lease moved on (expired, or the task finished elsewhere).
            Err(status) if matches!(status.code(), Code::Aborted | Code::FailedPrecondition | Code::NotFound) => break,
            Err(status) => tracing::warn!(task_id, code = ?status.code(), "heartbeat failed; retrying"),
        }
    }
    let _ = cancel.send(true);
}

/// Whether a call may not have reached the server, or the server could
/// not take it: it was unreachable, restarting, or failing over.
fn transient(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown | Code::DeadlineExceeded)
}

/// Makes a call with `send`, again after each transient failure (with
/// backoff) while the lease would still hold at the next try. Sending an
/// answer twice is harmless: the second is refused as already finished.
async fn deliver<F, Fut>(task_id: &str, lease_until: Instant, mut send: F) -> Result<(), tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    let mut failures = 0;
    loop {
        match send().await {
            Err(status) if transient(&status) => {
                failures += 1;
                let pause = backoff(failures, ANSWER_RETRY_FIRST, ANSWER_RETRY_LONGEST);
                if Instant::now() + pause >= lease_until {
                    return Err(status);
                }
                tracing::warn!(task_id, code = ?status.code(), "the server did not take the answer; trying again");
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}

/// Sends the handler's answer, trying again while the server is
/// unreachable and the lease (until `lease_until`) holds. A refusal (lease
/// lost, run cancelled) is logged: the server already decided what became
/// of the task; an answer refused as invalid fails the task with the reason.
async fn report(shared: &Shared, task_id: &str, token: u64, lease_until: Instant, result: Result<Outcome, TaskError>) {
    let client = shared.weft.workers();
    let sent = match result {
        Ok(outcome) => {
            let request = pb::CompleteTaskRequest {
                task_id: task_id.into(),
                lease_token: token,
                output: Some(to_proto_value(&outcome.output)),
                cost: outcome.cost,
                state_writes: (!outcome.state.is_empty()).then(|| to_proto_struct(&outcome.state)),
            };
            deliver(task_id, lease_until, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.complete_task(request).await.map(|_| ()) }
            })
            .await
        }
        Err(error) => {
            let request = pb::FailTaskRequest {
                task_id: task_id.into(),
                lease_token: token,
                error: error.message,
                retryable: error.retryable,
                cost: None,
                error_code: error.code,
            };
            deliver(task_id, lease_until, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.fail_task(request).await.map(|_| ()) }
            })
            .await
        }
    };
    if let Err(status) = sent {
        tracing::warn!(task_id, code = ?status.code(), message = status.message(), "the task's answer was refused");
        // A completion the server refused as invalid (say, a state write to
        // a key the step does not declare) leaves the attempt open; fail it
        // with the reason rather than let it sit until the lease runs out.
        // When the server already failed the step (an invalid output), this
        // is refused in turn, and changes nothing.
        if status.code() == tonic::Code::InvalidArgument {
            let request = pb::FailTaskRequest {
                task_id: task_id.into(),
                lease_token: token,
                error: format!("the completion was refused: {}", status.message()),
                retryable: false,
                cost: None,
                error_code: "COMPLETION_REFUSED".into(),
            };
            let failed = deliver(task_id, lease_until, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.fail_task(request).await.map(|_| ()) }
            })
            .await;
            if let Err(status) = failed {
                tracing::debug!(task_id, code = ?status.code(), "the refused completion's step was already decided");
            }
        }
    }
}
