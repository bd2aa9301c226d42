//! Partition ownership for one replica: every third of a lease it says it
//! is alive, renews what it holds, lets go of what was taken over, and
//! moves toward its fair share (partitions / replicas alive): taking free
//! or abandoned partitions, or handing back extras so a replica that just
//! joined gets work.
//!
//! Taking a partition is recovery in small: its open runs are replayed and
//! its timers armed in the writer before the writer applies anything to
//! them. Handing one back goes the other way: the writer lets go first,
//! then the lease is released, so no commit can follow the release.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::link::ClusterLink;
use crate::engine::EngineError;
use crate::engine::runs::RunEngine;
use crate::engine::scheduler::Adoption;
use crate::store::cluster::PARTITIONS;
use crate::store::{PartitionLease, StoreError};

/// Runs one round now (so a lone replica serves with every partition),
/// then keeps running rounds until `stop`.
pub(crate) async fn run(engine: RunEngine, link: Arc<ClusterLink>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis((link.lease_ms / 3).max(50) as u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let began = std::time::Instant::now();
        if let Err(err) = round(&engine, &link).await {
            tracing::warn!(error = %err, "partition round failed; trying again");
        }
        // A round longer than the renewal interval eats into the lease: say
        // so, it is the first thing to look at when a lease ran out.
        let took = began.elapsed();
        if took > every {
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                every_ms = every.as_millis() as u64,
                "slow partition round"
            );
        }
    }
}

/// One round: heartbeat, renew, let go of lost partitions, then take or
/// hand back toward the fair share.
pub(crate) async fn round(engine: &RunEngine, link: &ClusterLink) -> Result<(), EngineError> {
    let store = &link.store;
    let alive = store.heartbeat_replica(&link.replica, link.lease_ms).await?;
    let renewed = store.renew_partitions(&link.replica, link.lease_ms).await?;
    let held = link.held.ids();
    let lost: Vec<u16> = held.iter().copied().filter(|id| !renewed.iter().any(|l| l.id == *id)).collect();
    if !lost.is_empty() {
        tracing::warn!(partitions = ?lost, "partitions were taken over by another replica");
        engine.scheduler().drop_partitions(lost).await;
    }
    // Held in the store but not by the writer: an adoption that failed.
    let orphans: Vec<PartitionLease> = renewed.iter().copied().filter(|l| !held.contains(&l.id)).collect();
    if !orphans.is_empty() {
        adopt(engine, link, orphans).await?;
    }
    let share = PARTITIONS.div_ceil(alive.min(u32::from(PARTITIONS)) as u16) as usize;
    let holding = link.held.len();
    tracing::debug!(alive, share, holding, renewed = renewed.len(), "partition round");
    if holding < share {
        let taken = store.acquire_partitions(&link.replica, (share - holding) as u32, link.lease_ms).await?;
        if taken.len() < share - holding {
            // The rest are held under live leases, or locked by a
            // transaction of their owner (see `store::postgres::cluster`).
            tracing::debug!(wanted = share - holding, taken = taken.len(), "fewer partitions free than the share");
        }
        if !taken.is_empty() {
            let ids: Vec<u16> = taken.iter().map(|l| l.id).collect();
            tracing::info!(partitions = ?ids, alive, share, "took partitions");
            adopt(engine, link, taken).await?;
        }
    } else if holding > share {
        let extra: Vec<u16> = link.held.ids().into_iter().rev().take(holding - share).collect();
        engine.scheduler().drop_partitions(extra.clone()).await;
        store.release_partitions(&link.replica, &extra).await?;
        tracing::info!(partitions = ?extra, alive, "handed partitions back for other replicas");
    }
    Ok(())
}

/// Loads the open runs and timers of partitions just taken and hands them
/// to the writer; on failure gives the partitions back for another try.
async fn adopt(engine: &RunEngine, link: &ClusterLink, leases: Vec<PartitionLease>) -> Result<(), EngineError> {
    let ids: Vec<u16> = leases.iter().map(|l| l.id).collect();
    let began = std::time::Instant::now();
    let loaded = async {
        let open = link.store.load_open_runs_in(&ids).await?;
        let timers = link.store.timers_in(&ids).await?;
        Ok::<_, StoreError>((open, timers))
    };
    let (open, timers) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => {
            let _ = link.store.release_partitions(&link.replica, &ids).await;
            return Err(err.into());
        }
    };
    let mut runs = Vec::with_capacity(open.len());
    for open in open {
        let run = &open.run;
        match engine.compiled(&run.tenant_id, &run.workflow_id, run.workflow_version).await {
            Ok(workflow) => runs.push((open, workflow)),
            Err(err) => tracing::error!(run = %run.id, error = %err, "cannot take over run: its workflow is gone"),
        }
    }
    let (run_count, timer_count) = (runs.len(), timers.len());
    engine.scheduler().adopt(Adoption { leases, runs, timers }).await;
    tracing::debug!(
        partitions = ids.len(),
        runs = run_count,
        timers = timer_count,
        took_ms = began.elapsed().as_millis() as u64,
        "adopted partitions"
    );
    // Their task leases may have run out already (a dead or stalled
    // replica's workers): the sweeper looks now rather than at its next
    // deadline, which it knew only for this replica's partitions.
    link.taken.notify_one();
    Ok(())
}
