//! Several replicas sharing runs on one Postgres database (ENGINE.md §6).
//!
//! - Runs hash into partitions (`store::cluster`). A replica's writer
//!   applies commands only to runs of partitions it holds, and every group
//!   commit is fenced by their epochs, so a replica paused past its lease
//!   cannot commit stale decisions. `partitions.rs` takes, renews, shares
//!   out and hands back partitions, loading a partition's open runs and
//!   timers into the writer when it takes one (recovery, per partition).
//! - A command for a run held elsewhere goes through the inbox
//!   (`inbox.rs`): posted by the replica that received it, applied by the
//!   owner, answered in the owner's commit, so it takes effect once.
//! - `wakeups.rs` turns other replicas' notices into early retries of
//!   parked task claims; polling covers every lost notice.
//!
//! SQLite runs none of this: its one replica holds every partition.

pub(crate) mod inbox;
pub(crate) mod partitions;
pub(crate) mod wakeups;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::engine::{EngineError, RunEngine, WorkflowCatalog};
use tokio::sync::broadcast;

use crate::store::{ClusterStore, Notice, OpenStore, PartitionLease, partition_of};

/// The partitions this replica's writer holds, with their epochs. Only the
/// writer changes it (when it takes in or lets go of a partition's runs);
/// the inbox pump, the sweeper and the partition loop read it.
#[derive(Clone, Default)]
pub struct Held(Arc<RwLock<BTreeMap<u16, i64>>>);

impl Held {
    /// The partitions held, in order.
    pub fn ids(&self) -> Vec<u16> {
        self.0.read().expect("held partitions").keys().copied().collect()
    }

    /// The epoch a partition is held at, if held.
    pub fn epoch(&self, partition: u16) -> Option<i64> {
        self.0.read().expect("held partitions").get(&partition).copied()
    }

    /// Whether the run's partition is held.
    pub fn holds_run(&self, run_id: &str) -> bool {
        self.epoch(partition_of(run_id)).is_some()
    }

    /// How many partitions are held.
    pub fn len(&self) -> usize {
        self.0.read().expect("held partitions").len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn insert(&self, leases: &[PartitionLease]) {
        let mut held = self.0.write().expect("held partitions");
        for lease in leases {
            held.insert(lease.id, lease.epoch);
        }
    }

    pub(crate) fn remove(&self, partitions: &[u16]) {
        let mut held = self.0.write().expect("held partitions");
        for partition in partitions {
            held.remove(partition);
        }
    }
}

/// What a replica shares with the others: the store's cluster side, its
/// own id, and the partitions it holds.
pub struct ClusterLink {
    /// Partition leases, replicas, the inbox, notices.
    pub store: Arc<dyn ClusterStore>,
    /// This replica's id (the owner column of its partitions).
    pub replica: String,
    /// The partitions its writer holds.
    pub held: Held,
    /// Whether commits NOTIFY other replicas.
    pub notify: bool,
    /// How long a partition lease lasts without renewal, ms.
    pub lease_ms: i64,
    /// Rung after partitions were taken in, for the lease sweeper.
    pub taken: Arc<tokio::sync::Notify>,
}

/// Waits until a notice that `wanted` picks arrives, notices may have been
/// lost (the LISTEN connection came back, or this receiver fell behind), or
/// `until` passes. Notices only hurry a look the caller makes anyway.
pub(crate) async fn notice_or_deadline(
    notices: &mut broadcast::Receiver<Notice>,
    until: tokio::time::Instant,
    wanted: impl Fn(&Notice) -> bool,
) {
    loop {
        tokio::select! {
            notice = notices.recv() => match notice {
                Ok(notice) if wanted(&notice) => return,
                Ok(Notice::Lost) | Err(broadcast::error::RecvError::Lagged(_)) => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => return tokio::time::sleep_until(until).await,
            },
            _ = tokio::time::sleep_until(until) => return,
        }
    }
}

/// A fresh replica id: readable in logs and unique per process start.
pub fn new_replica_id() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "weft".to_owned());
    format!("{host}-{}-{}", std::process::id(), &ulid::Ulid::new().to_string()[20..].to_lowercase())
}

/// Opens the run engine as `weft serve` does on `store`: on SQLite the one
/// writer owning every run; on Postgres one replica among several, which
/// takes its share of the partitions (and recovers their runs) before
/// answering. Answers the engine and the replica id (empty on SQLite).
pub async fn open_engine(
    store: &OpenStore,
    catalog: WorkflowCatalog,
    notify: bool,
    partition_lease_ms: u64,
) -> Result<(RunEngine, String), EngineError> {
    let shared = store.shared();
    match store.cluster(notify).await {
        None => Ok((RunEngine::open(shared, catalog).await?, String::new())),
        Some(cluster) => {
            let link = Arc::new(ClusterLink {
                store: cluster,
                replica: new_replica_id(),
                held: Held::default(),
                notify,
                lease_ms: partition_lease_ms.clamp(100, i64::MAX as u64) as i64,
                taken: Arc::default(),
            });
            let replica = link.replica.clone();
            Ok((RunEngine::open_shared(shared, catalog, link).await?, replica))
        }
    }
}
