//! What several replicas on one database share (ENGINE.md §6): runs hash
//! into [`PARTITIONS`] partitions; a replica owns a partition under a lease
//! and an epoch that every takeover bumps; commands for a run another
//! replica owns go through an inbox the owner answers; notices (LISTEN/
//! NOTIFY on Postgres) wake replicas early, and polling makes up for any
//! notice lost.
//!
//! Only Postgres implements [`ClusterStore`]: SQLite serves one replica
//! that owns every partition, with no fence and no inbox.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use super::{OpenRun, StoreError};
use crate::model::TimerRecord;

/// How many partitions runs hash into; fixed, so every replica agrees.
pub const PARTITIONS: u16 = 64;

/// The partition of a run. The SQL twin is [`PARTITION_SQL`]: the first
/// byte of the SHA-256 of the id, modulo [`PARTITIONS`] (256 is a multiple
/// of 64, so every partition is as likely).
pub fn partition_of(run_id: &str) -> u16 {
    u16::from(Sha256::digest(run_id.as_bytes())[0]) % PARTITIONS
}

/// The partition that decides starts with an idempotency key: every start
/// with one key goes to one writer, which checks the key atomically.
pub fn partition_of_key(tenant: &str, key: &str) -> u16 {
    let mut hash = Sha256::new();
    hash.update(tenant.as_bytes());
    hash.update([0]);
    hash.update(key.as_bytes());
    u16::from(hash.finalize()[0]) % PARTITIONS
}

/// [`partition_of`] in SQL, over a column holding a run id (`{}`).
pub(crate) const PARTITION_SQL: &str = "(get_byte(sha256(convert_to({}, 'UTF8')), 0) % 64)";

/// The SQL expression of the partition of the run id in `column`.
pub(crate) fn partition_sql(column: &str) -> String {
    PARTITION_SQL.replace("{}", column)
}

/// A partition held by a replica, and the epoch it was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionLease {
    /// 0 .. PARTITIONS.
    pub id: u16,
    /// Bumped by every takeover.
    pub epoch: i64,
}

/// The leases a group commit was decided under: the commit writes nothing
/// unless `replica` still holds every one at its epoch.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    /// The committing replica.
    pub replica: String,
    /// The partitions of the runs the batch writes.
    pub partitions: Vec<PartitionLease>,
}

/// A message waiting in the inbox for the owner of its run.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    /// Row id; the answer is keyed by it.
    pub id: i64,
    /// Tenant of the run.
    pub tenant: String,
    /// The run (or the run to be) it is for.
    pub run_id: String,
    /// The message, JSON (see `engine::cluster::inbox`).
    pub body: String,
}

/// A wake-up from another replica (or from this one: filter by replica).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// An inbox message for this partition was posted.
    Inbox(u16),
    /// An inbox message was answered.
    InboxDone(i64),
    /// Tasks were queued: (replica that queued them, tenant, agent, kind, how many).
    Tasks { replica: String, tenant: String, agent: String, kind: String, count: u32 },
    /// Events of this run were committed by `replica`.
    Events { replica: String, run_id: String },
    /// The listening connection dropped: notices may have been missed.
    Lost,
}

/// The shared state of several replicas.
#[async_trait]
pub trait ClusterStore: Send + Sync + 'static {
    /// Records that `replica` is alive for `lease_ms` more; answers how many
    /// replicas are alive now, this one included.
    async fn heartbeat_replica(&self, replica: &str, lease_ms: i64) -> Result<u32, StoreError>;

    /// Gives up every partition of `replica` and forgets it (a clean stop).
    async fn leave(&self, replica: &str) -> Result<(), StoreError>;

    /// Extends the leases `replica` still holds; answers them. A partition
    /// taken over meanwhile is not among them.
    async fn renew_partitions(&self, replica: &str, lease_ms: i64) -> Result<Vec<PartitionLease>, StoreError>;

    /// Takes at most `max` partitions nobody holds (free, or their lease
    /// ran out), bumping each epoch.
    async fn acquire_partitions(
        &self,
        replica: &str,
        max: u32,
        lease_ms: i64,
    ) -> Result<Vec<PartitionLease>, StoreError>;

    /// Gives partitions up (their runs left this replica's writer first).
    async fn release_partitions(&self, replica: &str, partitions: &[u16]) -> Result<(), StoreError>;

    /// Every unfinished run of these partitions, with its commands.
    async fn load_open_runs_in(&self, partitions: &[u16]) -> Result<Vec<OpenRun>, StoreError>;

    /// Every armed timer of these partitions.
    async fn timers_in(&self, partitions: &[u16]) -> Result<Vec<TimerRecord>, StoreError>;

    /// At most `limit` expired leases of tasks of these partitions.
    async fn expired_leases_in(
        &self,
        partitions: &[u16],
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<super::ExpiredLease>, StoreError>;

    /// The earliest live lease deadline among tasks of these partitions.
    async fn next_lease_deadline_in(&self, partitions: &[u16]) -> Result<Option<i64>, StoreError>;

    /// Posts a message for the owner of `partition`; its row id.
    async fn post_inbox(
        &self,
        partition: u16,
        tenant: &str,
        run_id: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError>;

    /// Unanswered messages of these partitions, oldest first.
    async fn pending_inbox(&self, partitions: &[u16], limit: u32) -> Result<Vec<InboxEntry>, StoreError>;

    /// Answers a message outside a group commit (a refusal changes nothing).
    async fn answer_inbox(&self, id: i64, result: &str) -> Result<(), StoreError>;

    /// The answer to a message, taking the row away once answered.
    async fn take_inbox_answer(&self, id: i64) -> Result<Option<String>, StoreError>;

    /// Deletes answered messages older than `before_ms` whose sender never
    /// came back for them.
    async fn purge_inbox(&self, before_ms: i64) -> Result<(), StoreError>;

    /// Notices from every replica from now on.
    fn notices(&self) -> broadcast::Receiver<Notice>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_runs_and_keys_evenly_enough() {
        let mut runs = [0u32; PARTITIONS as usize];
        let mut keys = [0u32; PARTITIONS as usize];
        for i in 0..6400 {
            runs[partition_of(&crate::ids::new_run_id()) as usize] += 1;
            keys[partition_of_key("t", &format!("key-{i}")) as usize] += 1;
        }
        assert!(runs.iter().all(|&c| (40..200).contains(&c)), "{runs:?}");
        assert!(keys.iter().all(|&c| (40..200).contains(&c)), "{keys:?}");
        assert_eq!(partition_sql("r.id"), "(get_byte(sha256(convert_to(r.id, 'UTF8')), 0) % 64)");
    }

    /// Replicas of two versions must agree on every partition during a
    /// rolling upgrade: the values are pinned, computed independently
    /// (Python's hashlib: `sha256(b"t\0k1").digest()[0] % 64`).
    #[test]
    fn partitions_are_pinned_across_versions() {
        assert_eq!(partition_of("wfrun_x"), 27);
        assert_eq!(partition_of("wfrun_01jq3c5m8x6y7z9a0b1c2d3e4f"), 54);
        // Without the NUL between tenant and key, "t"+"k1" would hash as
        // "tk1" (partition 58).
        assert_eq!(partition_of_key("t", "k1"), 24);
    }

    /// The NUL between tenant and key keeps ("ab", "c") and ("a", "bc")
    /// apart; hashed as one string they would always share a partition.
    #[test]
    fn tenant_and_key_do_not_run_together() {
        let same = (0..256)
            .filter(|i| {
                partition_of_key(&format!("tenant{i}x"), "key") == partition_of_key(&format!("tenant{i}"), "xkey")
            })
            .count();
        assert!(same < 32, "{same} of 256 split pairs share a partition");
    }
}
