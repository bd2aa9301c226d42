//! The Postgres side of several replicas: partition leases with epochs,
//! the replicas table, the inbox, and what a group commit adds when it is
//! fenced (the epoch check, inbox answers, NOTIFY).
//!
//! Lease times are the database's clock, not the replicas', so replicas
//! with skewed clocks still agree on when a lease ran out.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use tokio::sync::broadcast;

use super::PostgresStore;
use super::listen::{EVENTS_CHANNEL, INBOX_CHANNEL, INBOX_DONE_CHANNEL, TASKS_CHANNEL};
use super::sql::{in_partitions, partition_ids};
use super::text::nul_safe;
use crate::model::TimerRecord;
use crate::store::StoreError;
use crate::store::cluster::{ClusterStore, Fence, InboxEntry, Notice, PartitionLease};
use crate::store::dialect::Arg;
use crate::store::rows::Columns;
use crate::store::runs::{self, InboxAnswer, OpenRun, RunBatch};
use crate::store::tasks::{self, ExpiredLease};

/// Now on the database's clock, ms since the epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The shortest a fenced commit's transaction may sit idle between two
/// statements before Postgres ends it, whatever the replica's lease says.
const MIN_IDLE_MS: i64 = 100;

/// SQLSTATE of a session Postgres ended for idling in a transaction longer
/// than `idle_in_transaction_session_timeout`.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "25P03";

/// Refuses the commit unless the replica still holds every partition at
/// the epoch the batch was decided under. The rows stay share-locked to
/// the end of the transaction, so a takeover (which updates them) waits
/// for this commit rather than slipping in between the check and it.
///
/// The locks are why the same statement bounds how long the transaction
/// may idle: by the time left until other replicas count this one dead
/// (its `replicas.seen_until`, renewed with its partition leases), at
/// least [`MIN_IDLE_MS`]. A replica stopped in the middle of a commit (a
/// SIGSTOP, a VM pause, a starved runtime) would otherwise keep these rows,
/// and the task rows its claims locked, for as long as it stays stopped:
/// `SKIP LOCKED` takeovers pass over them long after its lease ran out.
/// Postgres ends such a session instead, nothing of the batch is written,
/// and [`outlived_lease`] reports it as fenced.
pub(super) async fn check_fence(tx: &mut PgConnection, fence: &Fence) -> Result<(), StoreError> {
    // One statement, one round trip: a FROM-less SELECT evaluates both.
    let sql = format!(
        "SELECT ARRAY(SELECT id FROM partitions WHERE owner = $1 \
           AND (id, epoch) IN (SELECT * FROM UNNEST($2::smallint[], $3::bigint[])) FOR SHARE), \
         set_config('idle_in_transaction_session_timeout', GREATEST( \
           COALESCE((SELECT seen_until FROM replicas WHERE id = $1), 0) - {NOW_MS}, {MIN_IDLE_MS})::text, true)"
    );
    let (held, _idle): (Vec<i16>, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&fence.replica)
        .bind(fence.partitions.iter().map(|p| p.id as i16).collect::<Vec<_>>())
        .bind(fence.partitions.iter().map(|p| p.epoch).collect::<Vec<_>>())
        .fetch_one(&mut *tx)
        .await?;
    if held.len() == fence.partitions.len() {
        return Ok(());
    }
    let lost = fence.partitions.iter().map(|p| p.id).filter(|id| !held.contains(&(*id as i16))).collect();
    Err(StoreError::Fenced(lost))
}

/// A fenced commit that failed because Postgres ended its session for
/// idling past the bound [`check_fence`] set (the replica was stopped
/// mid-commit for about a lease): nothing was written, and its partitions
/// may have been taken over meanwhile, so it is reported as fenced on all
/// of them. Any other outcome passes through.
pub(super) fn outlived_lease<T>(written: Result<T, StoreError>, fence: Option<&Fence>) -> Result<T, StoreError> {
    match (written, fence) {
        (Err(StoreError::Database(sqlx::Error::Database(err))), Some(fence))
            if err.code().as_deref() == Some(IDLE_IN_TRANSACTION_TIMEOUT) =>
        {
            Err(StoreError::Fenced(fence.partitions.iter().map(|p| p.id).collect()))
        }
        (written, _) => written,
    }
}

/// Answers the inbox messages a batch applied, in its transaction.
pub(super) async fn answer_in_commit(tx: &mut PgConnection, done: &[InboxAnswer]) -> Result<(), StoreError> {
    if done.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE inbox SET result = d.result FROM UNNEST($1::bigint[], $2::text[]) AS d(id, result) \
         WHERE inbox.id = d.id AND inbox.result IS NULL",
    )
    .bind(done.iter().map(|d| d.id).collect::<Vec<_>>())
    .bind(done.iter().map(|d| nul_safe(d.answer.as_str())).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Wakes other replicas about what a batch did: events of its runs, tasks
/// queued (or handed back), inbox messages answered. Delivered by Postgres
/// at commit, and only then. One statement for all of them.
pub(super) async fn notify_in_commit(tx: &mut PgConnection, batch: &RunBatch) -> Result<(), StoreError> {
    let replica = batch.fence.as_ref().map(|f| f.replica.as_str()).unwrap_or_default();
    let mut channels: Vec<&str> = Vec::new();
    let mut payloads: Vec<String> = Vec::new();
    let runs: std::collections::BTreeSet<&str> = batch.events.iter().map(|e| e.run_id.as_str()).collect();
    for run in runs {
        channels.push(EVENTS_CHANNEL);
        payloads.push(serde_json::json!([replica, run]).to_string());
    }
    let mut queued: BTreeMap<(&str, &str, &str), u32> = BTreeMap::new();
    for task in &batch.tasks {
        *queued.entry((&task.tenant_id, task.agent.as_deref().unwrap_or_default(), task.kind.as_str())).or_default() +=
            1;
    }
    for ((tenant, agent, kind), count) in queued {
        channels.push(TASKS_CHANNEL);
        payloads.push(serde_json::json!([replica, tenant, agent, kind, count]).to_string());
    }
    if !batch.releases.is_empty() {
        // Handed-back leases do not say their agent here: wake every claim.
        channels.push(TASKS_CHANNEL);
        payloads.push(serde_json::json!([replica]).to_string());
    }
    for done in &batch.inbox_done {
        channels.push(INBOX_DONE_CHANNEL);
        payloads.push(done.id.to_string());
    }
    if channels.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_notify(c, p) FROM UNNEST($1::text[], $2::text[]) AS n(c, p)")
        .bind(channels)
        .bind(payloads.iter().map(|p| nul_safe(p.as_str())).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn leases(rows: Vec<(i16, i64)>) -> Vec<PartitionLease> {
    rows.into_iter().map(|(id, epoch)| PartitionLease { id: id as u16, epoch }).collect()
}

#[async_trait]
impl ClusterStore for PostgresStore {
    async fn heartbeat_replica(&self, replica: &str, lease_ms: i64) -> Result<u32, StoreError> {
        let sql = format!(
            "WITH seen AS (INSERT INTO replicas (id, seen_until, started_at) VALUES ($1, {NOW_MS} + $2, {NOW_MS}) \
               ON CONFLICT (id) DO UPDATE SET seen_until = excluded.seen_until RETURNING id), \
             forgotten AS (DELETE FROM replicas WHERE seen_until < {NOW_MS} - 600000) \
             SELECT 1 + COUNT(*) FROM replicas WHERE seen_until >= {NOW_MS} AND id <> $1"
        );
        let live: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(replica).bind(lease_ms).fetch_one(self.pool()).await?;
        Ok(live.clamp(1, i64::from(u32::MAX)) as u32)
    }

    async fn leave(&self, replica: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE partitions SET owner = NULL, lease_until = 0 WHERE owner = $1")
            .bind(replica)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM replicas WHERE id = $1").bind(replica).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn renew_partitions(&self, replica: &str, lease_ms: i64) -> Result<Vec<PartitionLease>, StoreError> {
        let sql = format!("UPDATE partitions SET lease_until = {NOW_MS} + $2 WHERE owner = $1 RETURNING id, epoch");
        let rows: Vec<(i16, i64)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(replica).bind(lease_ms).fetch_all(self.pool()).await?;
        Ok(leases(rows))
    }

    async fn acquire_partitions(
        &self,
        replica: &str,
        max: u32,
        lease_ms: i64,
    ) -> Result<Vec<PartitionLease>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // Free partitions first, then those whose owner stopped renewing;
        // rows another replica is taking right now are skipped, not waited on.
        let sql = format!(
            "UPDATE partitions p SET owner = $1, epoch = p.epoch + 1, lease_until = {NOW_MS} + $3 \
             FROM (SELECT id FROM partitions \
                   WHERE (owner IS NULL OR lease_until < {NOW_MS}) AND owner IS DISTINCT FROM $1 \
                   ORDER BY owner NULLS FIRST, id LIMIT $2 FOR UPDATE SKIP LOCKED) f \
             WHERE p.id = f.id RETURNING p.id, p.epoch"
        );
        let rows: Vec<(i16, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(replica)
            .bind(i64::from(max))
            .bind(lease_ms)
            .fetch_all(self.pool())
            .await?;
        Ok(leases(rows))
    }

    async fn release_partitions(&self, replica: &str, partitions: &[u16]) -> Result<(), StoreError> {
        sqlx::query("UPDATE partitions SET owner = NULL, lease_until = 0 WHERE owner = $1 AND id = ANY($2::int[])")
            .bind(replica)
            .bind(partition_ids(partitions))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn load_open_runs_in(&self, partitions: &[u16]) -> Result<Vec<OpenRun>, StoreError> {
        runs::open_runs(self, Some((in_partitions, &[Arg::Partitions(partitions)]))).await
    }

    async fn timers_in(&self, partitions: &[u16]) -> Result<Vec<TimerRecord>, StoreError> {
        runs::timers(self, Some((in_partitions, &[Arg::Partitions(partitions)]))).await
    }

    async fn expired_leases_in(
        &self,
        partitions: &[u16],
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ExpiredLease>, StoreError> {
        tasks::expired(self, now_ms, limit, &in_partitions("run_id", 3), &[Arg::Partitions(partitions)]).await
    }

    async fn next_lease_deadline_in(&self, partitions: &[u16]) -> Result<Option<i64>, StoreError> {
        tasks::next_deadline(self, &in_partitions("run_id", 1), &[Arg::Partitions(partitions)]).await
    }

    async fn post_inbox(
        &self,
        partition: u16,
        tenant: &str,
        run_id: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let notify = if self.notifying() { "SELECT pg_notify($6, $1::text) FROM posted" } else { "SELECT 0" };
        let sql = format!(
            "WITH posted AS (INSERT INTO inbox (partition, tenant_id, run_id, body, created_at) \
               VALUES ($1, $2, $3, $4, $5) RETURNING id), woken AS ({notify}) SELECT id FROM posted, woken"
        );
        let id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(partition as i16)
            .bind(nul_safe(tenant))
            .bind(nul_safe(run_id))
            .bind(nul_safe(body))
            .bind(now_ms)
            .bind(INBOX_CHANNEL)
            .fetch_one(self.pool())
            .await?;
        Ok(id)
    }

    async fn pending_inbox(&self, partitions: &[u16], limit: u32) -> Result<Vec<InboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, run_id, body FROM inbox WHERE result IS NULL AND partition = ANY($1::int[]) \
             ORDER BY id LIMIT $2",
        )
        .bind(partition_ids(partitions))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(InboxEntry {
                    id: row.try_get("id")?,
                    tenant: row.text("tenant_id")?,
                    run_id: row.text("run_id")?,
                    body: row.text("body")?,
                })
            })
            .collect()
    }

    async fn answer_inbox(&self, id: i64, result: &str) -> Result<(), StoreError> {
        let notify = if self.notifying() { "SELECT pg_notify($3, $1::text) FROM answered" } else { "SELECT 0" };
        let sql = format!(
            "WITH answered AS (UPDATE inbox SET result = $2 WHERE id = $1 AND result IS NULL RETURNING id), \
             woken AS ({notify}) SELECT COUNT(*) FROM answered, woken"
        );
        let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(nul_safe(result))
            .bind(INBOX_DONE_CHANNEL)
            .fetch_one(self.pool())
            .await?;
        Ok(())
    }

    async fn take_inbox_answer(&self, id: i64) -> Result<Option<String>, StoreError> {
        let answer: Option<String> =
            sqlx::query_scalar("DELETE FROM inbox WHERE id = $1 AND result IS NOT NULL RETURNING result")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(answer.map(super::text::restore))
    }

    async fn purge_inbox(&self, before_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM inbox WHERE result IS NOT NULL AND created_at < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    fn notices(&self) -> broadcast::Receiver<Notice> {
        self.subscribe_notices()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use sqlx::Connection;

    use super::*;

    /// `WEFT_TEST_DATABASE_URL`, or `None` (the test is skipped) outside CI.
    fn postgres_url(test: &str) -> Option<String> {
        let url = std::env::var("WEFT_TEST_DATABASE_URL").ok().filter(|url| !url.trim().is_empty());
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(url.is_some() || !in_ci, "{test}: WEFT_TEST_DATABASE_URL is not set; CI must provide Postgres");
        if url.is_none() {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: WEFT_TEST_DATABASE_URL is not set");
        }
        url
    }

    /// A replica stopped in the middle of a fenced commit (here: a
    /// transaction left idle after the fence check) must not keep its
    /// partitions once its lease ran out. Postgres ends the transaction
    /// after the time the replica had left, another replica takes the
    /// partition, and the stopped commit, resumed, is reported as fenced.
    #[tokio::test]
    async fn a_commit_stopped_past_its_lease_lets_its_partitions_go() {
        let Some(base) = postgres_url("a_commit_stopped_past_its_lease_lets_its_partitions_go") else { return };
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let schema = format!("weft_t_{}_fence_{}", nanos / 1_000_000_000, nanos % 1_000_000_000);
        let mut admin = PgConnection::connect(&base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let store = PostgresStore::open(&format!("{base}{separator}options=-csearch_path%3D{schema}")).await.unwrap();

        const LEASE_MS: i64 = 400;
        store.heartbeat_replica("stopped", LEASE_MS).await.unwrap();
        let held = store.acquire_partitions("stopped", 1, LEASE_MS).await.unwrap();
        let fence = Fence { replica: "stopped".into(), partitions: held.clone() };
        let mut tx = store.pool().begin().await.unwrap();
        check_fence(&mut tx, &fence).await.expect("the partition is held");

        // The transaction idles (its replica is stopped) while another
        // replica waits for the lease to run out and takes the partition.
        let began = Instant::now();
        let taken = loop {
            store.heartbeat_replica("alive", LEASE_MS).await.unwrap();
            let taken = store.acquire_partitions("alive", 64, LEASE_MS).await.unwrap();
            if taken.iter().any(|l| l.id == held[0].id) {
                break Some(began.elapsed());
            }
            if began.elapsed() > Duration::from_millis(6 * LEASE_MS as u64) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(taken.is_some(), "partition {} stayed locked by the stopped commit", held[0].id);

        // Resumed, the stopped commit writes nothing and says it was fenced.
        let resumed = sqlx::query("SELECT 1").execute(&mut *tx).await.map(|_| ()).map_err(StoreError::from);
        match outlived_lease(resumed, Some(&fence)) {
            Err(StoreError::Fenced(lost)) => assert_eq!(lost, vec![held[0].id]),
            other => panic!("the resumed commit was fenced: {other:?}"),
        }
        drop(tx);
        store.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await.unwrap();
    }

    /// `PARTITION_SQL` (which the partition filters of takeover use) and
    /// `partition_of` (which the writer routes by) must agree on every run
    /// id, or a replica taking over a partition would adopt runs another
    /// replica still writes. 1,000 ids: fresh run ids, one id per partition
    /// (so every partition is compared), and ids outside ASCII (the SQL
    /// hashes the UTF-8 bytes, like Rust). A plain SELECT: nothing is created.
    #[tokio::test]
    async fn the_sql_partition_hash_equals_partition_of() {
        use crate::store::cluster::{PARTITIONS, partition_of, partition_sql};

        let Some(url) = postgres_url("the_sql_partition_hash_equals_partition_of") else { return };
        let mut ids: Vec<String> = ["", "wfrun_", "wfrun_é", "wfrun_日本語", "wfrun_🦀", "WFRUN_UPPER", "a b\tc"]
            .into_iter()
            .map(String::from)
            .chain(["x".repeat(1000), "ü".repeat(300)])
            .collect();
        let mut covered = vec![false; usize::from(PARTITIONS)];
        for n in 0.. {
            if covered.iter().all(|&c| c) {
                break;
            }
            let id = format!("wfrun_cover_{n}");
            let p = usize::from(partition_of(&id));
            if !covered[p] {
                covered[p] = true;
                ids.push(id);
            }
        }
        while ids.len() < 1000 {
            ids.push(crate::ids::new_run_id());
        }

        let mut conn = PgConnection::connect(&url).await.unwrap();
        let sql = format!(
            "SELECT t.id, {} FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n) ORDER BY t.n",
            partition_sql("t.id")
        );
        let rows: Vec<(String, i32)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&ids).fetch_all(&mut conn).await.unwrap();
        assert_eq!(rows.len(), ids.len());
        let mut seen = vec![false; usize::from(PARTITIONS)];
        for ((id, sql_partition), sent) in rows.iter().zip(&ids) {
            assert_eq!(id, sent, "rows come back in the order sent");
            assert_eq!(*sql_partition, i32::from(partition_of(id)), "partition of {id:?}: SQL vs Rust");
            seen[usize::try_from(*sql_partition).unwrap()] = true;
        }
        assert!(seen.iter().all(|&s| s), "every partition was compared");
        conn.close().await.unwrap();
    }
}
