//! The inbox pump: commands (and starts) for runs this replica holds,
//! posted by another replica.
//!
//! The replica that received the call posts a message for the run's
//! partition and waits for its answer (`forward.rs`). The holder's pump
//! reads the messages of its partitions and hands each to its writer, which
//! answers it in the commit that applies it, so a message takes effect
//! once, even when the holder dies right after. A refusal changes nothing and is
//! answered on its own. A message whose partition moves before it is
//! applied waits for the next holder.
//!
//! NOTIFY wakes both sides early; each side also polls, so a lost notice
//! only delays.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::link::{ClusterLink, notice_or_deadline};
use super::messages::{Answer, Message, to_json};
use crate::engine::clock::now_ms;
use crate::engine::runs::RunEngine;
use crate::engine::scheduler::{CommandRefusal, NewRun, RetrySeed, Routed, StartRouted};
use crate::store::{InboxEntry, Notice};

/// How often the pump looks for messages when no notice comes.
const PUMP_POLL: Duration = Duration::from_millis(200);
/// Messages read per look.
const PUMP_PAGE: u32 = 256;
/// Answers nobody came back for are deleted after this long.
const ANSWER_KEPT_MS: i64 = 10 * 60 * 1000;

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
                Err(Routed::Refusal(CommandRefusal::Internal)) => {
                    let answer = Answer::Failed { message: "the command panicked the run's transition".into() };
                    answer_now(link, entry.id, &answer).await
                }
            }
        }
        Message::Start { start } => {
            let start = *start;
            let trace = start.trace();
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
                schedule_id: start.schedule_id,
                scheduled_ms: start.scheduled_ms,
                trace,
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
