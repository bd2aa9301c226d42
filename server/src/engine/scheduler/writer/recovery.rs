//! How the writer's memory of runs is (re)built: runs of partitions taken
//! in, runs let go, and runs whose memory can no longer be trusted: after
//! a failed commit (they ran ahead of the store) or a panic inside one
//! transition (the state may be half changed). Those are dropped and
//! replayed from their stored commands, plus the commands of the batch in
//! hand that the store does not have yet.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::super::{Adoption, replay, replay_onto};
use super::{Pending, Writer};
use crate::store::partition_of;

impl Writer {
    /// Takes in the runs and timers of partitions just taken.
    pub(super) fn adopt(&mut self, adoption: Adoption) {
        let Some(link) = &self.cluster else { return };
        let runs = adoption.runs.len();
        for (open, workflow) in adoption.runs {
            if let Some(live) = replay(open, workflow) {
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
    pub(super) fn let_go(&mut self, partitions: &[u16]) {
        let Some(link) = &self.cluster else { return };
        link.held.remove(partitions);
        let before = self.runs.len();
        self.runs.retain(|id, _| !partitions.contains(&partition_of(id)));
        tracing::info!(partitions = ?partitions, runs = before - self.runs.len(), "let go of partitions");
    }

    /// Drops runs whose in-memory state ran ahead of a failed commit and
    /// reloads the ones the store still has open.
    pub(super) async fn rebuild(&mut self, run_ids: Vec<String>) {
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
            // Only the runs the batch touched, not every open run.
            _ => (self.store.load_open_runs_for(&run_ids).await, self.store.list_timers_for(&run_ids).await),
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
            if let Some(live) = replay(open, workflow) {
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

    /// After a panic inside a transition of `run_id`: its memory may be
    /// half changed, so it is dropped and rebuilt from its stored commands
    /// and those `pending` holds for it (accepted earlier in this batch,
    /// not yet committed), which gives exactly the state before the
    /// command that panicked. If the store cannot be read, the run leaves
    /// the writer (its pending commands are still committed; it resumes
    /// at restart) and is no longer written as a row of this batch.
    pub(super) async fn rebuild_after_panic(&mut self, run_id: &str, pending: &mut Pending) {
        let Some(lost) = self.runs.remove(run_id) else { return };
        let workflow = lost.state.version_workflow().clone();
        let in_batch: Vec<&str> =
            pending.commands.iter().filter(|row| row.run_id == *run_id).map(|row| row.command.as_str()).collect();
        let stored = match self.store.load_open_runs_for(&[run_id.to_string()]).await {
            Ok(mut open) => open.pop(),
            Err(err) => {
                tracing::error!(run = %run_id, error = %err, "cannot reload a run after a panic; it resumes at restart");
                pending.touched.remove(run_id);
                return;
            }
        };
        let rebuilt = match stored {
            Some(open) => replay(open, workflow).and_then(|live| replay_onto(live, &in_batch)),
            // Started in this batch: nothing stored yet, every command is in hand.
            None => replay_onto(super::Live::fresh(&lost, workflow), &in_batch),
        };
        match rebuilt {
            Some(mut live) => {
                live.watchers = lost.watchers;
                tracing::warn!(run = %run_id, commands = live.commands, "run rebuilt after a panic in its transition");
                self.runs.insert(run_id.to_string(), live);
            }
            None => {
                pending.touched.remove(run_id);
            }
        }
    }
}
