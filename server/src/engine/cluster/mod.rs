//! Several replicas sharing runs on one Postgres database (ENGINE.md §6).
//!
//! - Runs hash into partitions (`store::cluster`). A replica's writer
//!   applies commands only to runs of partitions it holds, and every group
//!   commit is fenced by their epochs, so a replica paused past its lease
//!   cannot commit stale decisions. `partitions.rs` takes, renews, shares
//!   out and hands back partitions, loading a partition's open runs and
//!   timers into the writer when it takes one (recovery, per partition).
//! - A command for a run held elsewhere goes through the inbox: the run
//!   facade posts it (`forward.rs`), the owner's pump applies it
//!   (`inbox.rs`) and answers in the owner's commit, so it takes effect
//!   once. The messages and answers are in the leaf `messages.rs`, which
//!   the writer encodes without knowing the pump.
//! - `link.rs` is what all of them share: the partitions held, the store's
//!   cluster side. The writer and the facade import only the leaves
//!   (`link`, `messages`, `forward`); the loops import the facade, and
//!   [`open_engine`] starts them, so no import goes round in a circle.
//! - `wakeups.rs` turns other replicas' notices into early retries of
//!   parked task claims; polling covers every lost notice.
//!
//! SQLite runs none of this: its one replica holds every partition.

pub(crate) mod forward;
pub(crate) mod inbox;
pub(crate) mod link;
pub(crate) mod messages;
pub(crate) mod partitions;
pub(crate) mod wakeups;

use std::sync::Arc;

pub use link::{ClusterLink, Held};

use crate::engine::{EngineError, RunEngine, WorkflowCatalog};
use crate::store::OpenStore;

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
            let engine = RunEngine::open_shared(shared, catalog, link.clone());
            join(&engine, link).await?;
            Ok((engine, replica))
        }
    }
}

/// Takes this replica's share of the partitions (recovering their runs)
/// before answering, then keeps the partition loop, the inbox pump and the
/// claim wake-ups running beside the writer; the engine stops them before
/// its writer at shutdown.
async fn join(engine: &RunEngine, link: Arc<ClusterLink>) -> Result<(), EngineError> {
    partitions::round(engine, &link).await?;
    tracing::info!(replica = %link.replica, partitions = link.held.len(), "replica joined");
    let stopped = engine.background_stop();
    let tasks = vec![
        tokio::spawn(partitions::run(engine.clone(), link.clone(), stopped.clone())),
        tokio::spawn(inbox::pump(engine.clone(), link.clone(), stopped.clone())),
        tokio::spawn(wakeups::run(engine.scheduler().clone(), link, stopped)),
    ];
    engine.keep_background(tasks);
    Ok(())
}
