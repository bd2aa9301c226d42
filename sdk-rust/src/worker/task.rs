//! One task's life in the worker: its handler, heartbeats beside it
//! (cancellation and pauses come back with them), and the answer, tried
//! again while the server is unreachable and the lease holds. Every call
//! goes through the worker's [`Link`]: the stream, or the unary RPCs.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;
use tonic::Code;

use super::Outcome;
use super::{Progress, Shared, TaskContext, TaskError, backoff};
use crate::json::{from_proto_struct, to_proto_struct, to_proto_value};
use crate::pb;

/// How long a handler told of a cancel may take to return by itself.
const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// Pauses between tries of an answer the server did not take because it
/// was unreachable: doubling from the first to the longest, within the lease.
const ANSWER_RETRY_FIRST: Duration = Duration::from_millis(100);
const ANSWER_RETRY_LONGEST: Duration = Duration::from_secs(2);

/// Runs one task, claimed by a poll sent at `sent` (or pushed then): its handler,
/// heartbeats beside it, then the report.
pub(super) async fn execute(shared: Arc<Shared>, task: pb::Task, sent: Instant) {
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
    let span = super::trace::task_span(&task);
    let context = TaskContext {
        task: Arc::new(task),
        input: Arc::new(input),
        state: Arc::new(state),
        cancelled: cancel_rx,
        progress: progress.clone(),
        link: shared.link.clone(),
    };
    let heartbeats = heartbeat_loop(&shared, &task_id, token, &progress, &cancel_tx);
    let work = tracing::Instrument::instrument(handler(context), span);
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
    loop {
        tokio::time::sleep(shared.heartbeat_every).await;
        let cents = progress.cost_cents.load(Ordering::Relaxed);
        let cost_so_far = (cents > 0).then(|| pb::Money { amount: cents, currency: "usd".into() });
        let request = pb::HeartbeatRequest { task_id: task_id.into(), lease_token: token, cost_so_far };
        let sent = Instant::now();
        match shared.link.heartbeat(request, progress.lease_until()).await {
            Ok(answer) if answer.cancelled => break,
            Ok(answer) => {
                progress.paused.store(answer.paused, Ordering::Relaxed);
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
pub(super) fn transient(status: &tonic::Status) -> bool {
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
    let link = &shared.link;
    let sent = match result {
        Ok(outcome) => {
            let request = pb::CompleteTaskRequest {
                task_id: task_id.into(),
                lease_token: token,
                output: Some(to_proto_value(&outcome.output)),
                cost: outcome.cost,
                state_writes: (!outcome.state.is_empty()).then(|| to_proto_struct(&outcome.state)),
            };
            deliver(task_id, lease_until, || link.complete(request.clone(), lease_until)).await
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
            deliver(task_id, lease_until, || link.fail(request.clone(), lease_until)).await
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
            let failed = deliver(task_id, lease_until, || link.fail(request.clone(), lease_until)).await;
            if let Err(status) = failed {
                tracing::debug!(task_id, code = ?status.code(), "the refused completion's step was already decided");
            }
        }
    }
}
