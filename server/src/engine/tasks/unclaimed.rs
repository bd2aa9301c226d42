//! The unclaimed-task watcher: every fraction of `[tasks] unclaimed_after`
//! it reads the worker tasks queued longer than that, oldest first, and
//! for each whose agent no worker was seen for within it, hands the run
//! writer `TaskUnclaimed`. The transition records task.unclaimed once per
//! attempt (it refuses a second: the stored commands keep that across
//! restarts), and this replica logs one warning per accepted note.
//!
//! Cheap by construction: nothing is added to a claim or a dispatch; the
//! scan reads only queued rows (a partial index holds nothing else), at
//! most [`MAX_SCANNED`] per look, and the tasks already noted are
//! remembered here so they cost no command. With several replicas each
//! notes the tasks of the runs it holds (their writer is local), and
//! workers seen by any replica count, as the registry's sightings are
//! shared through the store.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::watch;

use super::TaskQueue;
use super::waiting::unserved;
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::run::Command;
use crate::engine::scheduler::CommandRefusal;
use crate::engine::workers::AgentPresence;
use crate::store::QueueCursor;

/// Rows read per query, and most rows read per look.
const PAGE: u32 = 500;
const MAX_SCANNED: usize = 5_000;
/// Shortest and longest pause between looks.
const MIN_TICK_MS: i64 = 25;
const MAX_TICK_MS: i64 = 2_000;

/// (task id, attempt) of the tasks noted (or refused) already.
type Noted = HashSet<(String, u32)>;

pub(super) async fn run(queue: TaskQueue, mut stop: watch::Receiver<bool>) {
    let mut noted = Noted::new();
    loop {
        let after_ms = queue.unclaimed_after_ms();
        if let Err(err) = look(&queue, after_ms, &mut noted).await {
            tracing::warn!(error = %err, "cannot look for unclaimed tasks; trying again");
        }
        // A quarter of the wait: a task is noted at most that late.
        let tick = Duration::from_millis((after_ms / 4).clamp(MIN_TICK_MS, MAX_TICK_MS) as u64);
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One look over the tasks queued longer than `after_ms`.
async fn look(queue: &TaskQueue, after_ms: i64, noted: &mut Noted) -> Result<(), EngineError> {
    let now = now_ms();
    let store = queue.runs.store();
    let cluster = queue.runs.scheduler().cluster();
    let mut presence: HashMap<String, HashMap<String, AgentPresence>> = HashMap::new();
    // What is still queued of the noted: the rest is forgotten, so the set
    // never outgrows the queue.
    let mut still = Noted::new();
    let mut cursor: Option<QueueCursor> = None;
    let mut scanned = 0;
    while scanned < MAX_SCANNED {
        let page = store.oldest_worker_tasks(now - after_ms, cursor.as_ref(), PAGE).await?;
        scanned += page.len();
        for task in &page {
            let key = (task.task_id.clone(), task.attempt);
            if noted.contains(&key) {
                still.insert(key);
                continue;
            }
            // Another replica's writer holds the run: its watcher notes it.
            if cluster.is_some_and(|link| !link.held.holds_run(&task.run_id)) {
                continue;
            }
            if !presence.contains_key(&task.tenant_id) {
                let agents = queue.workers.presence(&task.tenant_id, now, now - after_ms).await?;
                presence.insert(task.tenant_id.clone(), agents);
            }
            let seen = presence.get(&task.tenant_id).and_then(|agents| agents.get(&task.agent));
            if !unserved(task.kind, task.queued_ms, seen, now, after_ms) {
                continue;
            }
            let command = Command::TaskUnclaimed {
                step: task.step_key.clone(),
                attempt: task.attempt,
                agent: task.agent.clone(),
                now_ms: now,
            };
            match queue.runs.command(&task.tenant_id, &task.run_id, command).await {
                Ok(()) => {
                    tracing::warn!(
                        run_id = %task.run_id,
                        step_id = %task.step_key,
                        agent = %task.agent,
                        "no worker has polled for agent '{}' within {} ms; step '{}' of run {} waits for one",
                        task.agent,
                        after_ms,
                        task.step_key,
                        task.run_id
                    );
                    still.insert(key);
                }
                // Noted before (a restart forgot it here), or the step or
                // run moved on meanwhile: nothing more to say about it.
                Err(CommandRefusal::Refused(_) | CommandRefusal::NotLive) => {
                    still.insert(key);
                }
                // The writer is busy or rebuilt the run: the next look tries again.
                Err(CommandRefusal::Unavailable | CommandRefusal::Internal) => {}
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => cursor = Some((last.queued_ms, last.task_id.clone())),
            _ => break,
        }
    }
    *noted = still;
    Ok(())
}
