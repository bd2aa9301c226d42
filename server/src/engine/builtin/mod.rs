//! The built-in executor: the server runs webhook, http_request and script
//! steps itself, as tasks of the same durable queue workers use. It claims
//! them under reserved agent names (`weft:webhook`, …) that no worker can
//! register, and reports through the same lease calls, so retries (the
//! attempt number), crash recovery (an expired lease is retried) and
//! cancellation (a withdrawn task) work as they do for agents.
//!
//! One claim loop per kind; each claimed task runs in its own tokio task,
//! at most [`MAX_IN_FLIGHT`] per kind, while a keep-alive heartbeats its
//! lease and notices a cancelled run. The kinds' own logic is in
//! `webhook.rs`, `http_request.rs` and `script.rs`; callbacks to waiting
//! webhooks arrive through `callback.rs`.
//!
//! The executor owns no worker registration, so `ListWorkers` never shows
//! it; its leases are owned by [`OWNER`].

mod callback;
mod headers;
mod http_request;
mod script;
mod vault;
mod webhook;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

pub use callback::{Callback, CallbackError, CallbackReceiver};
pub use vault::{ResolveError, SecretVault};

use crate::config::ScriptSettings;
use crate::engine::TaskQueue;
use crate::engine::tasks::TaskOutput;
use crate::model::StepKind;
use crate::model::json_limits::{self, JsonFault};
use crate::outbound::{OutboundClient, Secret};
use crate::store::LeasedTask;

/// Lease owner of every built-in claim.
pub const OWNER: &str = "weft:builtin";
/// Most tasks of one kind running at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long one claim waits for a task before asking again.
const CLAIM_WAIT: Duration = Duration::from_secs(30);

/// What the executor needs beyond the queue.
#[derive(Debug, Clone)]
pub struct BuiltinSettings {
    /// The SSRF-guarded HTTP client.
    pub client: OutboundClient,
    /// Key of `Weft-Signature` and callback tokens.
    pub secret: Secret,
    /// Base URL of callback URLs, without a trailing slash.
    pub public_url: String,
    /// How long a webhook waits for its callback when the step sets no timeout.
    pub callback_timeout: Duration,
    /// Script steps' switch and limits.
    pub script: ScriptSettings,
    /// Where header `{{ secrets.NAME }}` references find their values.
    pub vault: SecretVault,
}

/// The fields of a built-in task's spec (the task text, written by the
/// engine as the attempt was dispatched).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct TaskSpec {
    pub url: String,
    pub method: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub wait_for_callback: bool,
    pub body: Option<Value>,
    pub timeout_ms: Option<u64>,
    pub language: String,
    pub script: String,
}

/// How an attempt ended, as the executor reports it.
#[derive(Debug)]
pub(crate) enum Finish {
    /// Completed with this output.
    Done(Value),
    /// Completed with a body Weft will not keep (too deep, or an integer
    /// that would change): the step fails with the fault's code.
    Refused(JsonFault),
    /// Answered with more than a cap allows (a response body, stdout):
    /// the step fails with OUTPUT_TOO_LARGE; the text names the cap.
    TooLarge(String),
    /// Failed; `retryable` lets the step's retries apply.
    Failed { error: String, retryable: bool },
    /// The webhook was accepted and waits for its callback until
    /// `deadline_ms`; nothing to report now.
    AwaitCallback { deadline_ms: i64 },
    /// The run was cancelled (or the lease lost): report nothing.
    Abandoned,
}

/// One claimed task with what running it needs.
pub(crate) struct Job {
    pub leased: LeasedTask,
    pub spec: TaskSpec,
    pub settings: Arc<BuiltinSettings>,
    /// Turns true when the task was cancelled or its lease lost.
    pub cancelled: watch::Receiver<bool>,
}

impl Job {
    /// The key every delivery of this step carries, whatever the attempt.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.leased.run_id, self.leased.step_key)
    }
}

/// The types the server runs itself (those with a
/// [`StepKind::builtin_agent`]), each with the kind list its claim loop
/// asks for.
const BUILTIN_KINDS: [(&[&str], StepKind); 3] = [
    (&[StepKind::Webhook.as_str()], StepKind::Webhook),
    (&[StepKind::HttpRequest.as_str()], StepKind::HttpRequest),
    (&[StepKind::Script.as_str()], StepKind::Script),
];

/// The running executor.
pub struct BuiltinExecutor {
    stop: watch::Sender<bool>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

impl BuiltinExecutor {
    /// Starts one claim loop per kind.
    pub fn start(tasks: TaskQueue, settings: BuiltinSettings) -> Self {
        let settings = Arc::new(settings);
        let (stop, stopped) = watch::channel(false);
        let loops = BUILTIN_KINDS
            .into_iter()
            .filter_map(|(kinds, kind)| Some((kinds, kind.builtin_agent()?)))
            .map(|(kinds, agent)| {
                tokio::spawn(claim_loop(tasks.clone(), settings.clone(), kinds, agent, stopped.clone()))
            })
            .collect();
        Self { stop, loops: Mutex::new(loops) }
    }

    /// Stops claiming and waits for the loops. Tasks in hand are dropped
    /// (a script's process group is killed); their leases expire and they
    /// are retried after a restart, as a worker's would be.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let loops = std::mem::take(&mut *self.loops.lock().expect("builtin loops"));
        for handle in loops {
            handle.abort();
            let _ = handle.await;
        }
    }
}

async fn claim_loop(
    tasks: TaskQueue,
    settings: Arc<BuiltinSettings>,
    kinds: &'static [&'static str],
    agent: &'static str,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // Tasks in hand; dropped (and so aborted) with this loop at shutdown.
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let claimed = tokio::select! {
            claimed = tasks.claim_builtin(kinds, agent, OWNER, CLAIM_WAIT) => claimed,
            _ = stopped.wait_for(|s| *s) => return,
        };
        match claimed {
            Ok(Some(leased)) => {
                let (tasks, settings) = (tasks.clone(), settings.clone());
                running.spawn(async move {
                    run_task(tasks, settings, leased).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                if *stopped.borrow() {
                    return;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, agent, "built-in executor cannot claim; retrying in 1 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        }
    }
}

/// Runs one task under a keep-alive and reports how it ended.
async fn run_task(tasks: TaskQueue, settings: Arc<BuiltinSettings>, leased: LeasedTask) {
    // Every call about the lease acts in the task's own tenant.
    let (tenant, task_id, token) = (leased.tenant_id.clone(), leased.task_id.clone(), leased.lease_token);
    let spec = match leased.task.as_deref().map(serde_json::from_str::<TaskSpec>) {
        Some(Ok(spec)) => spec,
        _ => {
            let error = "the task's spec is missing or unreadable".to_owned();
            report(&tasks, &tenant, &task_id, token, Finish::Failed { error, retryable: false }).await;
            return;
        }
    };
    let (cancel, cancelled) = watch::channel(false);
    let job = Job { leased, spec, settings, cancelled };
    // A webhook awaiting its callback holds its lease through the send,
    // so its keep-alive must not heartbeat (that would shorten the hold).
    let kind = job.leased.kind;
    let holds = kind == StepKind::Webhook && job.spec.wait_for_callback;
    if holds && !webhook::hold_through_send(&tasks, &job).await {
        return;
    }
    let keepalive = tokio::spawn(keep_alive(tasks.clone(), tenant.clone(), task_id.clone(), token, cancel, !holds));
    let finish = match kind {
        StepKind::Webhook => webhook::run(&job).await,
        StepKind::HttpRequest => http_request::run(&job).await,
        StepKind::Script => script::run(&job).await,
        StepKind::Agent
        | StepKind::Parallel
        | StepKind::Condition
        | StepKind::Delay
        | StepKind::Approval
        | StepKind::Transform
        | StepKind::Map
        | StepKind::Planner
        | StepKind::Wait
        | StepKind::Loop => {
            let error = format!("no built-in executor runs '{}' tasks", kind.as_str());
            Finish::Failed { error, retryable: false }
        }
    };
    keepalive.abort();
    match finish {
        Finish::AwaitCallback { deadline_ms } => webhook::await_callback(&tasks, &job, deadline_ms).await,
        finish => report(&tasks, &tenant, &task_id, token, finish).await,
    }
}

/// Heartbeats the lease every third of its length (unless `heartbeats` is
/// off: the lease is held long enough already), and looks twice a second
/// whether the task is still live (a read), so a cancelled run stops its
/// script or request promptly; flags a cancel or a lost lease.
async fn keep_alive(
    tasks: TaskQueue,
    tenant: String,
    task_id: String,
    token: u64,
    cancel: watch::Sender<bool>,
    heartbeats: bool,
) {
    let every = Duration::from_millis((tasks.lease_ms() / 3).clamp(50, 10_000) as u64);
    let look = Duration::from_millis(500).min(every);
    let mut next_beat = tokio::time::Instant::now() + every;
    loop {
        tokio::time::sleep(look).await;
        let live = if heartbeats && tokio::time::Instant::now() >= next_beat {
            next_beat += every;
            matches!(tasks.heartbeat(&tenant, &task_id, token, 0).await, Ok(reply) if !reply.cancelled)
        } else {
            tasks.check_lease(&tenant, &task_id, token).await.is_ok()
        };
        if !live {
            let _ = cancel.send(true);
            return;
        }
    }
}

/// Completes or fails the attempt. A refusal (the run was cancelled, the
/// lease given up) changes nothing and is only logged.
pub(crate) async fn report(tasks: &TaskQueue, tenant: &str, task_id: &str, token: u64, finish: Finish) {
    let result = match finish {
        Finish::Done(output) => tasks.complete(tenant, task_id, token, TaskOutput::Json(output), 0).await,
        Finish::Refused(fault) => tasks.complete(tenant, task_id, token, TaskOutput::Refused(fault), 0).await,
        Finish::TooLarge(message) => tasks.complete(tenant, task_id, token, TaskOutput::TooLarge(message), 0).await,
        Finish::Failed { error, retryable } => {
            tasks.fail(tenant, task_id, token, error, retryable, 0).await.map(|_| ())
        }
        Finish::AwaitCallback { .. } | Finish::Abandoned => Ok(()),
    };
    if let Err(err) = result {
        tracing::debug!(task_id, error = %err, "built-in task outcome not taken");
    }
}

/// The interpreter a script step's `language` runs with.
pub fn interpreter_of(language: &str) -> Option<&'static str> {
    match language {
        "shell" => Some("sh"),
        "python" => Some("python3"),
        _ => None,
    }
}

/// The webhook secret: the configured one, else the one kept in the
/// store, made from 32 random bytes on the first start.
pub async fn webhook_secret(
    store: &dyn crate::store::Store,
    configured: Option<&str>,
) -> Result<Secret, crate::store::StoreError> {
    if let Some(secret) = configured {
        return Ok(Secret::new(secret));
    }
    let mut bytes = [0u8; 32];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if let Err(err) = random {
        return Err(crate::store::StoreError::Corrupt(format!("cannot read /dev/urandom for a webhook secret: {err}")));
    }
    let candidate = hex::encode(bytes);
    let kept = store.server_secret("webhook_secret", &candidate, crate::engine::scheduler::now_ms()).await?;
    Ok(Secret::new(&kept))
}

/// `value` with whole-valued floats written as integers. Free-form JSON
/// travels through `google.protobuf.Value`, whose numbers are doubles, so
/// an input `3` arrives as `3.0`; what leaves the server (request bodies,
/// a script's stdin) is written the way people wrote it.
pub(crate) fn whole_numbers(mut value: Value) -> Value {
    fn fix(value: &mut Value) {
        match value {
            Value::Number(n) => {
                if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15)
                    && !n.is_i64()
                    && !n.is_u64()
                {
                    *value = Value::from(f as i64);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(fix),
            Value::Object(map) => map.values_mut().for_each(fix),
            _ => {}
        }
    }
    fix(&mut value);
    value
}

/// `body` as JSON when it parses, else as text (lossy UTF-8). JSON that
/// nests deeper than the limit, or holds an integer beyond ±2^53, is
/// refused (named from `root`, e.g. `output.body`) rather than kept
/// changed or read as text: a number never changes silently.
pub(crate) fn json_or_text(body: &[u8], root: &str) -> Result<Value, JsonFault> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    Ok(json_limits::parse_network(body, root)?
        .unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned())))
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn every_type_with_a_reserved_agent_has_a_claim_loop() {
        for kind in StepKind::ALL {
            let claimed = BUILTIN_KINDS.iter().any(|(kinds, k)| *k == kind && kinds == &[kind.as_str()]);
            assert_eq!(claimed, kind.builtin_agent().is_some(), "{kind:?}");
        }
    }
}
