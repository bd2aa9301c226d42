//! The writer's group commit: everything a batch produced goes to the
//! store in one transaction, and only then do replies, events and timers
//! leave the process. A failed commit refuses the batch's callers and
//! rebuilds the runs it touched (`recovery.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::super::claims::Claimable;
use super::super::rows;
use super::super::{CommandRefusal, Routed, StartRouted};
use super::{Pending, Reply, TaskChange, Writer};
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::model::RunStatus;
use crate::store::{ClaimRequest, Fence, IdempotencyRow, PartitionLease, RunBatch, StoreError, partition_of};

impl Writer {
    /// Writes the batch, then releases replies, events and timers; on a
    /// failed write, refuses every caller and rebuilds the touched runs
    /// from what the store holds.
    pub(super) async fn commit(&mut self, p: Pending) {
        let now = now_ms();
        self.parked.expire(now);
        if p.replies.is_empty() && p.claims.is_empty() && !self.parked.has_releases() {
            return;
        }
        let mut batch = RunBatch::default();
        // Workflows whose slots may free once this is committed.
        let mut slots_free = BTreeSet::new();
        let paused_free = matches!(self.concurrency.paused(), crate::store::PausedRuns::FreeSlots);
        for (run_id, keys) in &p.touched {
            let live = &self.runs[run_id];
            batch.runs.push(rows::run_record(&live.state, &live.meta));
            batch.steps.extend(rows::step_records(&live.state, keys.as_ref()));
            let status = live.state.status();
            if live.meta.gated && (status.is_terminal() || (paused_free && status == RunStatus::Paused)) {
                if status.is_terminal() {
                    batch.slots_freed.push(run_id.clone());
                }
                slots_free.insert((live.meta.tenant.clone(), live.state.workflow().0.to_string()));
            }
        }
        batch.slots_freed.extend(p.slots_unused);
        batch.run_traces = p.run_traces;
        // A run queued just as a slot freed elsewhere must not wait for
        // the sweep.
        slots_free.extend(p.queued.iter().map(|q| (q.tenant_id.clone(), q.workflow_id.clone())));
        batch.queued = p.queued;
        batch.events = p.events;
        batch.commands = p.commands;
        let mut armed = Vec::new();
        for (key, timer) in p.timers {
            match timer {
                Some(timer) => {
                    armed.push(timer.clone());
                    batch.timers.push(timer);
                }
                None => batch.timers_done.push(key),
            }
        }
        for (key, change) in p.tasks {
            match change {
                TaskChange::Queue(task) => batch.tasks.push(*task),
                TaskChange::Done => batch.tasks_done.push(key),
                TaskChange::Cancel => batch.tasks_cancelled.push(key),
            }
        }
        batch.tasks_timed_out = p.tasks_timed_out;
        for change in p.approvals {
            match change {
                rows::ApprovalChange::Open(approval) => batch.approvals_opened.push(*approval),
                rows::ApprovalChange::Decide(decision) => batch.approvals_decided.push(decision),
            }
        }
        batch.idempotency = p
            .idempotency
            .into_iter()
            .map(|((tenant_id, key), (run_id, created_ms))| IdempotencyRow { tenant_id, key, run_id, created_ms })
            .collect();
        if let Some(link) = &self.cluster {
            let partitions: BTreeSet<u16> = p.touched.keys().map(|id| partition_of(id)).collect();
            let partitions = partitions
                .into_iter()
                .filter_map(|id| link.held.epoch(id).map(|epoch| PartitionLease { id, epoch }))
                .collect();
            batch.fence = Some(Fence { replica: link.replica.clone(), partitions });
            batch.notify = link.notify;
        }
        batch.inbox_done = p.inbox_done;
        // Claims are tried after the batch's rows are written: the fresh
        // ones, then parked ones for each task this batch makes claimable.
        let releases = self.parked.take_releases();
        let mut tried = p.claims;
        {
            let claimable: Vec<Claimable<'_>> = batch
                .tasks
                .iter()
                .map(|t| (t.tenant_id.as_str(), t.agent.as_deref().unwrap_or_default(), t.kind.as_str()))
                .chain(releases.iter().map(|(tenant, l)| (tenant.as_str(), l.agent.as_str(), l.kind.as_str())))
                .collect();
            tried.extend(self.parked.take_matching(&claimable));
        }
        // A parked claim was asked for long ago: its lease starts now.
        batch.claims = tried.iter().map(|w| ClaimRequest { now_ms: now, ..w.claim.clone() }).collect();
        batch.releases = releases.iter().map(|(_, l)| (l.task_id.clone(), l.lease_token)).collect();

        let writing = std::time::Instant::now();
        let written = self.store.commit_runs(&batch).await;
        let took = writing.elapsed().as_micros() as u64;
        self.stats.commit_micros.fetch_add(took, Ordering::Relaxed);
        let span = tracing::Span::current();
        span.record("runs", batch.runs.len());
        span.record("commands", batch.commands.len());
        span.record("commit_us", took);
        let mut claimed = match written {
            Ok(claimed) => claimed,
            Err(err) => {
                self.metrics.commit_failed(took as f64 / 1e6);
                let moved = if let StoreError::Fenced(lost) = &err {
                    // Another replica holds these partitions now: what was
                    // decided here under them must not be written. Callers
                    // ask again and reach the new owner; claims wait on.
                    tracing::warn!(partitions = ?lost, "partitions were taken over; the batch decided under them is dropped");
                    self.let_go(lost);
                    self.parked.repark(tried, releases, now);
                    true
                } else {
                    tracing::error!(error = %err, commands = batch.commands.len(), "run commit failed");
                    self.parked.refuse(tried, releases);
                    false
                };
                self.fail_batch(p.replies, p.touched.keys().cloned().collect(), moved).await;
                return;
            }
        };
        for leased in claimed.iter_mut().flatten() {
            if let Some(live) = self.runs.get(&leased.run_id) {
                leased.shared_state = live.state.declared_state(&leased.step_key);
            }
        }
        self.count(&batch, &claimed, p.observed, took, now);
        self.parked.settle(tried, claimed, now);
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats.commands.fetch_add(batch.commands.len() as u64, Ordering::Relaxed);
        for reply in p.replies {
            match reply {
                Reply::Start(tx, value) => {
                    let _ = tx.send(Ok(value));
                }
                Reply::Command(Some(tx)) => {
                    let _ = tx.send(Ok(()));
                }
                Reply::Command(None) => {}
            }
        }
        for event in batch.events {
            // No subscriber is not an error.
            let _ = self.events.send(Arc::new(event));
        }
        for timer in armed {
            let _ = self.timers.send(timer);
        }
        self.concurrency.notify(slots_free);
        // Finished runs accept no more commands; the store answers for them.
        self.runs.retain(|_, live| {
            if !live.state.status().is_terminal() {
                return true;
            }
            for watcher in live.watchers.drain(..) {
                let _ = watcher.send(());
            }
            false
        });
        self.metrics.held(self.runs.len(), self.parked.polls());
    }

    /// Counts what a written commit did: per commit, then per run, step
    /// and task it touched, through handles the metrics keep.
    fn count(
        &mut self,
        batch: &crate::store::RunBatch,
        claimed: &[Option<crate::store::LeasedTask>],
        observed: Vec<super::Observed>,
        took_micros: u64,
        now: i64,
    ) {
        let metrics = &mut self.metrics;
        metrics.committed(batch.commands.len(), took_micros as f64 / 1e6);
        for seen in observed {
            match seen {
                super::Observed::RunStarted(workflow) => metrics.run_started(&workflow.definition().name),
                super::Observed::RunFinished(workflow, status) => {
                    metrics.run_finished(&workflow.definition().name, status)
                }
                super::Observed::StepFinished(kind, end, ms) => metrics.step_finished(kind, end, ms as f64 / 1e3),
            }
        }
        for task in &batch.tasks {
            metrics.task_queued(task.agent.as_deref().unwrap_or_default(), task.kind);
        }
        for leased in claimed.iter().flatten() {
            metrics.task_leased(&leased.agent, leased.kind, (now - leased.queued_ms).max(0) as f64 / 1e3);
        }
    }

    /// After a failed commit: refuses every caller of the batch (or, when
    /// the batch was dropped for `moved` partitions, tells them to ask
    /// again) and rebuilds the runs it touched from what the store holds.
    async fn fail_batch(&mut self, replies: Vec<Reply>, touched: Vec<String>, moved: bool) {
        for reply in replies {
            match reply {
                Reply::Start(tx, _) if moved => {
                    let _ = tx.send(Err(StartRouted::Moved));
                }
                Reply::Start(tx, _) => {
                    let err = EngineError::Unavailable("the run could not be stored; retry later");
                    let _ = tx.send(Err(StartRouted::Failed(err)));
                }
                Reply::Command(Some(tx)) if moved => {
                    let _ = tx.send(Err(Routed::Moved));
                }
                Reply::Command(Some(tx)) => {
                    let _ = tx.send(Err(Routed::Refusal(CommandRefusal::Unavailable)));
                }
                Reply::Command(None) => {}
            }
        }
        self.rebuild(touched).await;
    }
}
