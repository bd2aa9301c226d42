//! The inbox: commands (and starts) for runs another replica holds.
//!
//! The replica that received the call posts a message for the run's
//! partition and waits for its answer. The holder's pump reads the
//! messages of its partitions and hands each to its writer, which answers
//! it in the commit that applies it, so a message takes effect once, even
//! when the holder dies right after. A refusal changes nothing and is
//! answered on its own. A message whose partition moves before it is
//! applied waits for the next holder.
//!
//! NOTIFY wakes both sides early; each side also polls, so a lost notice
//! only delays.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use super::{ClusterLink, notice_or_deadline};
use crate::engine::EngineError;
use crate::engine::run::{Command, RetryOrigin, ReusedStep, TransitionError};
use crate::engine::runs::RunEngine;
use crate::engine::scheduler::{CommandRefusal, NewRun, RetrySeed, Routed, StartReply, StartRouted, now_ms};
use crate::store::{InboxEntry, Notice, partition_of};

/// How long a caller waits for the holder's answer before giving up
/// (the message may still be applied later; a retry is refused as a
/// duplicate by the run itself).
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// The longest pause between two looks for an answer when no notice comes.
const ANSWER_POLL_MAX: Duration = Duration::from_millis(200);
/// How often the pump looks for messages when no notice comes.
const PUMP_POLL: Duration = Duration::from_millis(200);
/// Messages read per look.
const PUMP_PAGE: u32 = 256;
/// Answers nobody came back for are deleted after this long.
const ANSWER_KEPT_MS: i64 = 10 * 60 * 1000;

/// A message for the holder of a run.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "message", rename_all = "camelCase")]
enum Message {
    /// Apply this command to the run.
    Command { command: Box<Command> },
    /// Start this run (in the message's partition).
    Start { start: Box<StartSpec> },
}

/// A start as it travels: everything but the compiled workflow, which the
/// holder compiles (versions never change).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartSpec {
    id: String,
    tenant: String,
    workflow_id: String,
    workflow_version: u32,
    user_id: String,
    trigger: String,
    idempotency_key: String,
    input: Value,
    shared_state: Value,
    now_ms: i64,
    retry_origin: Option<RetryOrigin>,
    reused: Vec<ReusedStep>,
}

/// The holder's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "camelCase", rename_all_fields = "camelCase")]
enum Answer {
    /// The command was applied and committed.
    Applied,
    /// The run was started (or the idempotency key named an earlier one).
    Started { run_id: String, existing: bool },
    /// `transition` refused the command; nothing changed.
    Refused { error: TransitionError },
    /// The run is finished, or unknown.
    NotLive,
    /// The start failed; nothing changed.
    Failed { message: String },
}

fn to_json(answer: &Answer) -> String {
    serde_json::to_string(answer).expect("answers always serialize")
}

/// The answer to a command applied in a commit.
pub(crate) fn applied() -> String {
    to_json(&Answer::Applied)
}

/// The answer to a start committed (or found by its key).
pub(crate) fn started(reply: &StartReply) -> String {
    to_json(&Answer::Started { run_id: reply.run_id.clone(), existing: reply.existing })
}

/// Sends a command to the holder of the run's partition and waits for its
/// answer.
pub(crate) async fn forward_command(
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
        Ok(other) => {
            tracing::error!(answer = ?other, "an inbox command was answered as a start");
            Err(CommandRefusal::Unavailable)
        }
        Err(_) => Err(CommandRefusal::Unavailable),
    }
}

/// Sends a start to the holder of `partition` and waits for its answer.
pub(crate) async fn forward_start(
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
        retry_origin,
        reused,
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

/// Reads the messages of the partitions this replica holds and applies
/// them, until `stop`.
pub(crate) async fn pump(engine: RunEngine, link: Arc<ClusterLink>, mut stop: watch::Receiver<bool>) {
    let mut notices = link.store.notices();
    let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut last_purge = now_ms();
    loop {
        let held = link.held.ids();
        if !held.is_empty() {
            match link.store.pending_inbox(&held, PUMP_PAGE).await {
                Ok(entries) => {
                    for entry in entries {
                        if !in_flight.lock().expect("inbox in flight").insert(entry.id) {
                            continue;
                        }
                        let (engine, in_flight) = (engine.clone(), in_flight.clone());
                        let link = link.clone();
                        tokio::spawn(async move {
                            let id = entry.id;
                            handle(&engine, &link, entry).await;
                            in_flight.lock().expect("inbox in flight").remove(&id);
                        });
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot read the inbox; trying again"),
            }
        }
        if now_ms() - last_purge > 60_000 {
            last_purge = now_ms();
            if let Err(err) = link.store.purge_inbox(last_purge - ANSWER_KEPT_MS).await {
                tracing::warn!(error = %err, "cannot purge old inbox answers");
            }
        }
        let wake = tokio::time::Instant::now() + PUMP_POLL;
        let for_held = |notice: &Notice| matches!(notice, Notice::Inbox(p) if link.held.epoch(*p).is_some());
        tokio::select! {
            _ = notice_or_deadline(&mut notices, wake, for_held) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Applies one message through this replica's writer. Applied messages
/// are answered in their commit; refusals here; a message whose partition
/// left this replica is left for the next holder.
async fn handle(engine: &RunEngine, link: &ClusterLink, entry: InboxEntry) {
    let message: Message = match serde_json::from_str(&entry.body) {
        Ok(message) => message,
        Err(err) => {
            tracing::error!(id = entry.id, error = %err, "an inbox message does not parse; refusing it");
            let answer = Answer::Failed { message: format!("unreadable message: {err}") };
            answer_now(link, entry.id, &answer).await;
            return;
        }
    };
    let scheduler = engine.scheduler();
    match message {
        Message::Command { command } => {
            match scheduler.command_here(&entry.tenant, &entry.run_id, *command, Some(entry.id)).await {
                // Unanswered, the message waits for whoever holds its partition.
                Ok(()) | Err(Routed::Elsewhere(_) | Routed::Moved | Routed::Refusal(CommandRefusal::Unavailable)) => {}
                Err(Routed::Refusal(CommandRefusal::Refused(error))) => {
                    answer_now(link, entry.id, &Answer::Refused { error }).await
                }
                Err(Routed::Refusal(CommandRefusal::NotLive)) => answer_now(link, entry.id, &Answer::NotLive).await,
            }
        }
        Message::Start { start } => {
            let start = *start;
            let workflow = match engine.compiled(&start.tenant, &start.workflow_id, start.workflow_version).await {
                Ok(workflow) => workflow,
                Err(err) => {
                    answer_now(link, entry.id, &Answer::Failed { message: err.to_string() }).await;
                    return;
                }
            };
            let seed = start.retry_origin.map(|origin| RetrySeed { origin, reused: start.reused });
            let new = NewRun {
                id: start.id,
                tenant: start.tenant,
                workflow_id: start.workflow_id,
                workflow_version: start.workflow_version,
                workflow,
                user_id: start.user_id,
                trigger: start.trigger,
                idempotency_key: start.idempotency_key,
                input: start.input,
                shared_state: start.shared_state,
                now_ms: start.now_ms,
            };
            match scheduler.start_here(new, seed, Some(entry.id)).await {
                Ok(_) | Err(StartRouted::Elsewhere(..) | StartRouted::Moved) => {}
                Err(StartRouted::Failed(err)) => {
                    answer_now(link, entry.id, &Answer::Failed { message: err.to_string() }).await
                }
            }
        }
    }
}

async fn answer_now(link: &ClusterLink, id: i64, answer: &Answer) {
    if let Err(err) = link.store.answer_inbox(id, &to_json(answer)).await {
        tracing::warn!(id, error = %err, "cannot answer an inbox message; it will be tried again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::run::StepStatus;

    #[test]
    fn refusals_cross_replicas_intact() {
        let error = TransitionError::NotInFlight {
            step: "a".into(),
            status: StepStatus::Paused,
            expected: "running external work".into(),
        };
        let json = to_json(&Answer::Refused { error: error.clone() });
        let back: Answer = serde_json::from_str(&json).unwrap();
        assert!(matches!(back, Answer::Refused { error: e } if e == error), "{json}");
        let stale = TransitionError::StaleAttempt { step: "b".into(), attempt: 1, current: 2 };
        let back: Answer = serde_json::from_str(&to_json(&Answer::Refused { error: stale.clone() })).unwrap();
        assert!(matches!(back, Answer::Refused { error: e } if e == stale));
    }

    #[test]
    fn commands_travel_as_json_and_come_back_equal() {
        let command = Command::Cancel { reason: "stop".into(), now_ms: 5 };
        let body = serde_json::to_string(&Message::Command { command: Box::new(command.clone()) }).unwrap();
        let Message::Command { command: back } = serde_json::from_str(&body).unwrap() else { panic!("{body}") };
        assert_eq!(*back, command);
    }
}
