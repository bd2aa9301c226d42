//! Forwarding to another replica: a command or start for a run whose
//! partition another replica holds is posted to the inbox, and the caller
//! waits for the holder's answer. The run facade calls this when its
//! writer answers that the run is held elsewhere.

use std::time::Duration;

use super::link::{ClusterLink, notice_or_deadline};
use super::messages::{Answer, Message, StartSpec};
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::run::Command;
use crate::engine::scheduler::{CommandRefusal, NewRun, RetrySeed, StartReply};
use crate::store::{Notice, partition_of};

/// How long a caller waits for the holder's answer before giving up
/// (the message may still be applied later; a retry is refused as a
/// duplicate by the run itself).
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// The longest pause between two looks for an answer when no notice comes.
const ANSWER_POLL_MAX: Duration = Duration::from_millis(200);

/// Sends a command to the holder of the run's partition and waits for its
/// answer.
pub(crate) async fn command(
    link: &ClusterLink,
    tenant: &str,
    run_id: &str,
    command: Command,
) -> Result<(), CommandRefusal> {
    let message = Message::Command { command: Box::new(command) };
    match post_and_wait(link, partition_of(run_id), tenant, run_id, &message).await {
        Ok(Answer::Applied) => Ok(()),
        Ok(Answer::Refused { error }) => Err(CommandRefusal::Refused(error)),
        Ok(Answer::NotLive) => Err(CommandRefusal::NotLive),
        Ok(Answer::Failed { message }) => {
            tracing::error!(%message, "a forwarded command failed on the replica holding its run");
            Err(CommandRefusal::Internal)
        }
        Ok(other) => {
            tracing::error!(answer = ?other, "an inbox command was answered as a start");
            Err(CommandRefusal::Unavailable)
        }
        Err(_) => Err(CommandRefusal::Unavailable),
    }
}

/// Sends a start to the holder of `partition` and waits for its answer.
pub(crate) async fn start(
    link: &ClusterLink,
    partition: u16,
    new: &NewRun,
    seed: Option<RetrySeed>,
) -> Result<StartReply, EngineError> {
    let (retry_origin, reused) = match seed {
        Some(RetrySeed { origin, reused }) => (Some(origin), reused),
        None => (None, Vec::new()),
    };
    let start = StartSpec {
        id: new.id.clone(),
        tenant: new.tenant.clone(),
        workflow_id: new.workflow_id.clone(),
        workflow_version: new.workflow_version,
        user_id: new.user_id.clone(),
        trigger: new.trigger.clone(),
        idempotency_key: new.idempotency_key.clone(),
        input: new.input.clone(),
        shared_state: new.shared_state.clone(),
        now_ms: new.now_ms,
        schedule_id: new.schedule_id.clone(),
        scheduled_ms: new.scheduled_ms,
        retry_origin,
        reused,
        traceparent: new.trace.as_ref().map(|trace| trace.traceparent.clone()),
        tracestate: new.trace.as_ref().and_then(|trace| trace.tracestate.clone()),
    };
    let message = Message::Start { start: Box::new(start) };
    match post_and_wait(link, partition, &new.tenant, &new.id, &message).await? {
        Answer::Started { run_id, existing } => Ok(StartReply { run_id, existing }),
        Answer::Failed { message } => Err(EngineError::Unavailable(leak_free(message))),
        other => {
            tracing::error!(answer = ?other, "an inbox start was answered as a command");
            Err(EngineError::Unavailable("the run could not be started; retry later"))
        }
    }
}

/// A start failure as the caller hears it; the holder's own words are in
/// its log.
fn leak_free(message: String) -> &'static str {
    tracing::warn!(%message, "a start forwarded to another replica failed there");
    "the run could not be started on the replica that holds its partition; retry later"
}

/// Posts a message and waits for the answer: woken by the answer's
/// notice, and looking anyway at growing intervals.
async fn post_and_wait(
    link: &ClusterLink,
    partition: u16,
    tenant: &str,
    run_id: &str,
    message: &Message,
) -> Result<Answer, EngineError> {
    let unavailable = EngineError::Unavailable("the replica holding this run did not answer in time; retry later");
    let mut notices = link.store.notices();
    let body = serde_json::to_string(message).expect("messages always serialize");
    let id = link.store.post_inbox(partition, tenant, run_id, &body, now_ms()).await?;
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(answer) = link.store.take_inbox_answer(id).await? {
            return serde_json::from_str(&answer).map_err(|err| {
                tracing::error!(error = %err, %answer, "an inbox answer does not parse");
                EngineError::Unavailable("the replica holding this run answered in a form this one cannot read")
            });
        }
        let wake = tokio::time::Instant::now() + pause;
        if wake > deadline {
            return Err(unavailable);
        }
        notice_or_deadline(&mut notices, wake, |notice| matches!(notice, Notice::InboxDone(done) if *done == id)).await;
        pause = (pause * 2).min(ANSWER_POLL_MAX);
    }
}
