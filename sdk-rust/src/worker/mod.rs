//! The worker runtime: serve agents from Rust with plain async functions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weftflow::Error> {
//! use weftflow::worker::{Outcome, Worker};
//! let weft = weftflow::Weft::connect("http://127.0.0.1:7070").await?;
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
//! - connects one `WorkerService.ConnectWorker` stream (its hello registers
//!   the worker and its agents), grants the server one credit per free slot,
//!   and runs each task the server pushes; heartbeats, completions,
//!   failures and tool checks travel back on the same stream, batched
//!   (`stream.rs`). A server without the stream (UNIMPLEMENTED) is served by
//!   long polls instead, as is every server when [`Worker::polling`] asks
//!   for it (`poll.rs`);
//! - heartbeats every task (a third of the lease by default) so its lease
//!   holds while the handler works;
//! - tells the handler when the run was cancelled or the lease was lost
//!   ([`TaskContext::cancelled`]), and then drops the handler's future if
//!   it does not return by itself: nothing more is reported for that task;
//! - completes or fails the task with the handler's answer, trying again
//!   while the server is unreachable (restarting, failing over) for as long
//!   as the lease would hold, so a restart costs neither the result nor a
//!   re-execution (`task.rs`);
//! - reconnects by itself, with backoff and the same worker id, when the
//!   stream breaks or the server forgot the worker (a server on a fresh
//!   database, or one that forgot a worker silent too long); polls told
//!   NOT_FOUND register again the same way; tasks in flight keep their
//!   leases meanwhile;
//! - on shutdown stops taking tasks (a stream's drain), lets the tasks in
//!   flight finish and report, and returns.

mod link;
mod poll;
mod stream;
mod task;
mod trace;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::{Error, Weft, pb};
use link::Link;

/// How long one CheckToolUse waits on the server for an approval decision.
const APPROVAL_WAIT_SECONDS: u32 = 30;
/// Pauses after failed polls, connections or registrations, so a down
/// server is not hammered: doubling from the first to the longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_LONGEST: Duration = Duration::from_secs(5);

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

/// A handler may answer a bare JSON value: the output, with no cost or
/// state writes.
impl From<Value> for Outcome {
    fn from(output: Value) -> Self {
        Self::new(output)
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
    link: Link,
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
        let mut request = pb::CheckToolUseRequest {
            task_id: self.task.task_id.clone(),
            lease_token: self.task.lease_token,
            tool: tool.into(),
            arguments: crate::json::object_to_proto_struct(&arguments),
            approval_id: String::new(),
            wait_seconds: 0,
        };
        loop {
            let asked = self.link.check_tool_use(request.clone(), self.progress.lease_until());
            let answer = tokio::select! {
                answer = asked => answer?,
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
    polling: bool,
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
            polling: false,
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
    ///
    /// The handler answers the output as a bare JSON value, or an
    /// [`Outcome`] with cost and state writes; an `Err` fails the attempt
    /// ([`TaskError::retryable`] or [`TaskError::permanent`]; any error
    /// `?`-ed is retryable).
    pub fn agent<F, Fut, R>(mut self, agent: impl Into<String>, handler: F) -> Self
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
        R: Into<Outcome> + 'static,
    {
        let handler: Handler = Arc::new(move |context| {
            let answer = handler(context);
            Box::pin(async move { answer.await.map(Into::into) })
        });
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

    /// Long-polls for tasks with the unary RPCs instead of the
    /// ConnectWorker stream (default false). A server without the stream is
    /// polled anyway.
    pub fn polling(mut self, polling: bool) -> Self {
        self.polling = polling;
        self
    }

    /// Registers, then serves tasks until `shutdown` resolves; then lets the
    /// tasks in flight finish and returns. Fails only if the first
    /// registration (the stream's hello) does; later ones are retried with
    /// backoff.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let registration = pb::RegisterWorkerRequest {
            worker_id: self.worker_id,
            name: self.name,
            agents: self.handlers.keys().cloned().collect(),
            concurrency: self.concurrency as u32,
            cost_hints: self.cost_hints,
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let polling = self.polling;
        let setup = Setup {
            weft: self.weft,
            handlers: self.handlers,
            heartbeat_every: self.heartbeat_every,
            concurrency: self.concurrency,
            registration,
        };
        let serving = async move {
            if !polling {
                match stream::connect_first(&setup).await? {
                    Some(connected) => return stream::serve(setup, connected, stop_rx).await,
                    None => tracing::info!("the server has no ConnectWorker stream; long-polling instead"),
                }
            }
            poll::serve(setup, stop_rx).await
        };
        tokio::pin!(serving);
        tokio::select! {
            served = &mut serving => return served,
            () = shutdown => {}
        }
        let _ = stop_tx.send(true);
        serving.await
    }
}

/// What a worker starts serving with.
struct Setup {
    weft: Weft,
    handlers: HashMap<String, Handler>,
    heartbeat_every: Option<Duration>,
    concurrency: usize,
    registration: pb::RegisterWorkerRequest,
}

/// What every task of a running worker shares.
struct Shared {
    worker_id: String,
    handlers: HashMap<String, Handler>,
    heartbeat_every: Duration,
    /// The lease length the server gave at registration.
    lease: Duration,
    /// How heartbeats, answers and tool checks reach the server.
    link: Link,
}

impl Shared {
    fn new(setup: Setup, worker_id: String, lease_seconds: u32, link: Link) -> Self {
        let lease = Duration::from_secs(u64::from(lease_seconds.max(1)));
        Shared {
            worker_id,
            handlers: setup.handlers,
            heartbeat_every: setup.heartbeat_every.unwrap_or(lease / 3),
            lease,
            link,
        }
    }
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
