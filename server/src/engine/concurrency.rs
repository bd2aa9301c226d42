//! The concurrent-run limit per workflow: at most N runs of a workflow
//! running (and, per `[runs] paused_runs_hold_a_slot`, paused) at once;
//! the others are accepted and wait Queued, then start in arrival order
//! as slots free. N is the workflow version's `maxConcurrentRuns`, else
//! the server's `[runs] max_concurrent_per_workflow`; 0 is no limit.
//!
//! # Design
//!
//! A workflow's runs are spread over partitions, and with several replicas
//! over writers, so no writer can count them alone. The count lives in
//! the store (migration 0019): a `run_slots` row per run holding a slot,
//! a `run_queue` row per run waiting, in arrival order. Slots are granted
//! only by [`crate::store::SlotStore`] transactions that count a
//! workflow's slots under a lock (SQLite's write lock; a per-workflow
//! advisory lock on Postgres), so the limit holds across replicas.
//!
//! - **Start** (the writer, `scheduler/writer`): before a batch is
//!   applied, its new runs under a limit ask for slots in one store call.
//!   Granted, the run starts as any run does (no extra event); refused,
//!   the core's `Enqueue` makes it Queued (run.queued) and the batch's
//!   commit writes its `run_queue` row. Retries and runs started by
//!   schedules or webhooks take the same path.
//! - **End**: the commit that ends a run under a limit (or cancels a
//!   queued one) deletes its slot and queue rows, and the writer then
//!   tells the [`gate`] which workflows may have a free slot.
//! - **Gate** (this module, one task per replica): moves the oldest queued
//!   runs of a workflow into free slots (one transaction), then sends each
//!   an `Admit` command, which reaches its owner wherever it is. It also
//!   sweeps every [`SWEEP`]: workflows with runs queued (a notice lost,
//!   or a slot freed by another replica), and runs that hold a slot but
//!   are still queued because their `Admit` was lost in a crash (sent
//!   again; a second `Admit` is refused harmlessly). A slot granted to a
//!   start whose commit then failed (no run row) is deleted by the same
//!   sweep after [`STALL_MS`], so a failed commit holds a slot that long.
//! - **Restart**: queued runs are open runs, replayed like any other, and
//!   the slot and queue rows are durable, so the first sweep carries on.
//!
//! A paused run that does not hold a slot (the setting off) takes one
//! again when it resumes, even if that briefly passes the limit: work in
//! flight is never held back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::engine::clock::now_ms;
use crate::engine::compile::CompiledWorkflow;
use crate::engine::run::Command;
use crate::engine::runs::RunEngine;
use crate::store::PausedRuns;

/// How often the gate looks for queued runs it was not told about.
pub const SWEEP: Duration = Duration::from_secs(1);
/// A slot granted this long ago to a run still queued, or to a run that
/// was never stored, is looked at again by the sweep.
pub const STALL_MS: i64 = 10_000;
/// Most queued runs of one workflow admitted in one transaction.
const ADMIT_BATCH: u32 = 512;

/// (tenant, workflow id).
pub(crate) type WorkflowKey = (String, String);

/// The limit's settings and the way to the gate; shared by the writer
/// and the gate of one replica.
pub struct Concurrency {
    /// `[runs] max_concurrent_per_workflow`; 0 for none.
    default_limit: AtomicU32,
    /// `[runs] paused_runs_hold_a_slot`.
    paused_hold: AtomicBool,
    notices: mpsc::UnboundedSender<WorkflowKey>,
    /// Taken by the gate when it starts.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<WorkflowKey>>>,
}

impl Concurrency {
    /// No limit until [`Self::set`] says otherwise (an engine embedded
    /// without the server's configuration, benchmarks included).
    pub fn new() -> Arc<Self> {
        let (notices, receiver) = mpsc::unbounded_channel();
        Arc::new(Self {
            default_limit: AtomicU32::new(0),
            paused_hold: AtomicBool::new(true),
            notices,
            receiver: Mutex::new(Some(receiver)),
        })
    }

    /// Sets the server's default limit (0: none) and whether paused runs
    /// hold their slot; they apply to runs started from now on.
    pub fn set(&self, default_limit: u32, paused_runs_hold_a_slot: bool) {
        self.default_limit.store(default_limit, Ordering::Relaxed);
        self.paused_hold.store(paused_runs_hold_a_slot, Ordering::Relaxed);
    }

    /// The limit a new run of `workflow` starts under; 0 for none.
    pub fn limit_for(&self, workflow: &CompiledWorkflow) -> u32 {
        workflow.definition().max_concurrent_runs.unwrap_or_else(|| self.default_limit.load(Ordering::Relaxed))
    }

    /// Which slots count.
    pub fn paused(&self) -> PausedRuns {
        if self.paused_hold.load(Ordering::Relaxed) { PausedRuns::HoldSlots } else { PausedRuns::FreeSlots }
    }

    /// Tells the gate that a slot of these workflows may be free.
    pub(crate) fn notify(&self, workflows: impl IntoIterator<Item = WorkflowKey>) {
        for key in workflows {
            // No gate (an embedded writer): nothing waits for it.
            let _ = self.notices.send(key);
        }
    }

    fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<WorkflowKey>> {
        self.receiver.lock().expect("gate receiver").take()
    }
}

/// Starts the gate of `engine`'s replica; it runs until `stop` turns true.
pub(crate) fn spawn_gate(engine: RunEngine, mut stop: watch::Receiver<bool>) -> Option<tokio::task::JoinHandle<()>> {
    let mut notices = engine.scheduler().concurrency().take_receiver()?;
    Some(tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut due = BTreeSet::new();
            let swept = tokio::select! {
                notice = notices.recv() => match notice {
                    Some(key) => { due.insert(key); false }
                    None => return,
                },
                _ = sweep.tick() => true,
                _ = stop.changed() => return,
            };
            while let Ok(key) = notices.try_recv() {
                due.insert(key);
            }
            if swept {
                sweep_once(&engine, &mut due).await;
            }
            for (tenant, workflow_id) in due {
                admit(&engine, &tenant, &workflow_id).await;
            }
        }
    }))
}

/// The sweep: every workflow with runs queued is due; lost admissions are
/// sent again.
async fn sweep_once(engine: &RunEngine, due: &mut BTreeSet<WorkflowKey>) {
    let store = engine.store();
    match store.queued_workflows().await {
        Ok(found) => due.extend(found),
        Err(err) => tracing::warn!(error = %err, "cannot list workflows with queued runs"),
    }
    match store.stalled_admissions(now_ms() - STALL_MS).await {
        Ok(stalled) => {
            for run in stalled {
                tracing::info!(run = %run.run_id, "a queued run holds a slot; admitting it again");
                send_admit(engine, &run.tenant_id, &run.run_id).await;
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot look for stalled admissions"),
    }
}

/// Admits what the free slots of one workflow allow, oldest first.
async fn admit(engine: &RunEngine, tenant: &str, workflow_id: &str) {
    let concurrency = engine.scheduler().concurrency();
    loop {
        let admitted =
            match engine.store().admit_queued(tenant, workflow_id, concurrency.paused(), ADMIT_BATCH, now_ms()).await {
                Ok(admitted) => admitted,
                Err(err) => {
                    // The sweep tries again.
                    tracing::warn!(error = %err, workflow = %workflow_id, "cannot admit queued runs");
                    return;
                }
            };
        let full = admitted.len() as u32 >= ADMIT_BATCH;
        // Sent together, in order: they reach the writer in arrival order.
        let sends = admitted.iter().map(|run_id| send_admit(engine, tenant, run_id));
        futures_util::future::join_all(sends).await;
        if !full {
            return;
        }
    }
}

async fn send_admit(engine: &RunEngine, tenant: &str, run_id: &str) {
    match engine.command(tenant, run_id, Command::Admit { now_ms: now_ms() }).await {
        Ok(()) => {}
        // Started already (a second Admit), cancelled meanwhile, or the
        // owner is busy: the slot row is swept if it is stale.
        Err(refusal) => tracing::debug!(run = %run_id, refusal = ?refusal, "admit not applied"),
    }
}
