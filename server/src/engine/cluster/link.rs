//! What a replica shares with the others and what the writer, the run
//! facade and the cluster loops all read: the partitions held, the store's
//! cluster side, and a wait on notices. A leaf: it knows neither the
//! writer nor the run facade, so both can use it without a cycle.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::store::{ClusterStore, Notice, PartitionLease, partition_of};

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
        crate::telemetry::metrics::engine::partitions_held().set(held.len() as f64);
    }

    pub(crate) fn remove(&self, partitions: &[u16]) {
        let mut held = self.0.write().expect("held partitions");
        for partition in partitions {
            held.remove(partition);
        }
        crate::telemetry::metrics::engine::partitions_held().set(held.len() as f64);
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
