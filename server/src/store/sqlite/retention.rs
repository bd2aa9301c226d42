//! Retention on SQLite: deletion batches, expired keys, tombstones and
//! incremental vacuum, each one short IMMEDIATE transaction run on the
//! commit thread between two group commits (see `commit.rs`), so the
//! run writer waits in its queue for at most one batch and never in the
//! busy handler.
//!
//! A batch is bounded by time: it starts no statement once it has held the
//! writer for the sweep's `max_hold`. Each table of a run is emptied by
//! statements deleting at most [`CHUNK_ROWS`] rows each, and the run row goes
//! last, with its tombstone, once nothing else of it is left; a run cut
//! short is finished by the next batch.

use std::time::Instant;

use rusqlite::{Connection, TransactionBehavior, params};

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::retention::{FINISHED_SQL, KeySweep, RetentionStore, RunSweep, Swept};

/// Most rows one statement deletes: about a millisecond of work.
pub(super) const CHUNK_ROWS: i64 = 512;

/// What belongs to a run, table by table, with the column that tells a
/// run's rows apart (the rest of the primary key, or an indexed id).
const CHILDREN: &[(&str, &str)] = &[
    ("run_events", "sequence"),
    ("run_steps", "key"),
    ("run_commands", "seq"),
    ("tasks", "step_key"),
    ("timers", "step_key"),
    ("approvals", "id"),
];

/// Finished runs past the server's retention, oldest first (?1: the
/// cutoff, ?2: how many).
fn server_rule_sql() -> String {
    format!(
        "SELECT id, tenant_id, idempotency_key FROM runs \
         WHERE retention_ms IS NULL AND {FINISHED_SQL} AND completed_at < ?1 ORDER BY completed_at LIMIT ?2"
    )
}

/// Finished runs past their own retention, oldest first (?1: now).
fn own_rule_sql() -> String {
    format!(
        "SELECT id, tenant_id, idempotency_key FROM runs \
         WHERE retention_ms IS NOT NULL AND {FINISHED_SQL} AND completed_at + retention_ms < ?1 \
         ORDER BY completed_at + retention_ms LIMIT ?2"
    )
}

/// A finished run past its retention.
struct Doomed {
    id: String,
    tenant: String,
    idempotency_key: String,
}

/// Deletes one batch of finished runs past their retention, with every
/// row recorded about them, leaving a tombstone per run.
pub(super) fn sweep_runs(conn: &mut Connection, sweep: &RunSweep) -> Result<Swept, StoreError> {
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (mut doomed, candidates) = (Vec::new(), sweep.max_runs.max(1));
    let mut full = false;
    {
        // The server's rule, then runs with their own; oldest first.
        let own = tx.prepare_cached(&server_rule_sql())?;
        let theirs = tx.prepare_cached(&own_rule_sql())?;
        let read =
            |row: &rusqlite::Row<'_>| Ok(Doomed { id: row.get(0)?, tenant: row.get(1)?, idempotency_key: row.get(2)? });
        for (mut query, before) in [(own, sweep.now_ms.saturating_sub(sweep.retention_ms)), (theirs, sweep.now_ms)] {
            let found = query.query_map(params![before, candidates], read)?.collect::<Result<Vec<_>, _>>()?;
            full |= found.len() as u32 >= candidates;
            doomed.extend(found);
        }
    }
    let chunk = CHUNK_ROWS;
    let deadline = started + sweep.max_hold;
    let mut swept = Swept::default();
    'runs: for (i, run) in doomed.iter().enumerate() {
        for (table, column) in CHILDREN {
            loop {
                if Instant::now() >= deadline && swept.rows > 0 {
                    // The rest of this run, and the runs after it, wait
                    // for the next batch (the run row is still here).
                    swept.more = true;
                    break 'runs;
                }
                let deleted = tx
                    .prepare_cached(&format!(
                        "DELETE FROM {table} WHERE run_id = ?1 AND {column} IN \
                         (SELECT {column} FROM {table} WHERE run_id = ?1 LIMIT ?2)"
                    ))?
                    .execute(params![run.id, chunk])? as i64;
                swept.rows += deleted as u32;
                if deleted < chunk {
                    break;
                }
            }
        }
        let keys = tx
            .prepare_cached(
                "DELETE FROM run_idempotency WHERE tenant_id = ?1 AND idempotency_key = ?2 AND run_id = ?3",
            )?
            .execute(params![run.tenant, run.idempotency_key, run.id])?;
        tx.prepare_cached("DELETE FROM runs WHERE id = ?1")?.execute(params![run.id])?;
        tx.prepare_cached(
            "INSERT INTO run_tombstones (run_id, tenant_id, deleted_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (run_id) DO UPDATE SET deleted_at = excluded.deleted_at",
        )?
        .execute(params![run.id, run.tenant, sweep.now_ms])?;
        swept.runs += 1;
        swept.rows += 1 + keys as u32;
        if Instant::now() >= deadline && i + 1 < doomed.len() {
            swept.more = true;
            break;
        }
    }
    // A full list of candidates may have had more behind it.
    swept.more |= full;
    tx.commit()?;
    swept.held = started.elapsed();
    Ok(swept)
}

/// Deletes one batch of expired idempotency keys, create request ids and
/// tombstones (at most `max_rows` of each).
pub(super) fn sweep_keys(conn: &mut Connection, sweep: &KeySweep) -> Result<Swept, StoreError> {
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let limit = i64::from(sweep.max_rows.max(1));
    let statements: [(&str, i64); 3] = [
        (
            "DELETE FROM run_idempotency WHERE created_at < ?1 AND (tenant_id, idempotency_key) IN \
             (SELECT tenant_id, idempotency_key FROM run_idempotency WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            sweep.keys_before_ms,
        ),
        (
            "DELETE FROM workflow_create_requests WHERE rowid IN \
             (SELECT rowid FROM workflow_create_requests WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            sweep.keys_before_ms,
        ),
        (
            "DELETE FROM run_tombstones WHERE run_id IN \
             (SELECT run_id FROM run_tombstones WHERE deleted_at < ?1 ORDER BY deleted_at LIMIT ?2)",
            sweep.tombstones_before_ms,
        ),
    ];
    let mut swept = Swept::default();
    for (sql, before) in statements {
        let deleted = tx.prepare_cached(sql)?.execute(params![before, limit])? as u32;
        swept.rows += deleted;
        swept.more |= i64::from(deleted) >= limit;
    }
    tx.commit()?;
    swept.held = started.elapsed();
    Ok(swept)
}

/// Free pages kept for reuse rather than given back: churn under steady
/// load reuses them at once, and returning them would only grow the file
/// again. 2,048 pages of 4 KiB: 8 MiB.
pub(super) const KEEP_FREE_PAGES: i64 = 2048;

/// Most pages one vacuum step gives back.
pub(super) const VACUUM_STEP_PAGES: i64 = 256;

/// Gives back to the file system up to [`VACUUM_STEP_PAGES`] of the free
/// pages beyond [`KEEP_FREE_PAGES`], in a file made with incremental
/// auto-vacuum; answers the pages given back and whether more could be.
pub(super) fn vacuum_step(conn: &mut Connection) -> Result<Swept, StoreError> {
    let started = Instant::now();
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |row| row.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |row| row.get(0))?;
    // 2 is INCREMENTAL; a file made before it (0, NONE) only reuses pages.
    if mode != 2 || free <= KEEP_FREE_PAGES {
        return Ok(Swept::default());
    }
    let pages = (free - KEEP_FREE_PAGES).min(VACUUM_STEP_PAGES);
    conn.execute_batch(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let left: i64 = conn.pragma_query_value(None, "freelist_count", |row| row.get(0))?;
    Ok(Swept {
        runs: 0,
        rows: (free - left).max(0) as u32,
        more: left > KEEP_FREE_PAGES && left < free,
        held: started.elapsed(),
    })
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn sweep_finished_runs(&self, sweep: &RunSweep) -> Result<Swept, StoreError> {
        let sweep = sweep.clone();
        self.commits.run(move |conn| sweep_runs(conn, &sweep)).await
    }

    async fn sweep_expired_keys(&self, sweep: &KeySweep) -> Result<Swept, StoreError> {
        let sweep = sweep.clone();
        self.commits.run(move |conn| sweep_keys(conn, &sweep)).await
    }

    async fn run_tombstone(&self, tenant: &str, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT deleted_at FROM run_tombstones WHERE run_id = ?1 AND tenant_id = ?2")
            .bind(id)
            .bind(tenant)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn reclaim_space(&self) -> Result<Swept, StoreError> {
        self.commits.run(vacuum_step).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch reads candidates by range scans of the 0011 indexes, not
    /// by scanning every run.
    #[tokio::test]
    async fn deletion_batches_read_the_retention_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.close().await;
        let conn = Connection::open(&path).unwrap();
        let plan = |sql: &str| -> String {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = statement.query_map(params![1, 2], |row| row.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        assert!(plan(&server_rule_sql()).contains("USING INDEX runs_expiring ("), "{}", plan(&server_rule_sql()));
        assert!(plan(&own_rule_sql()).contains("USING INDEX runs_expiring_own"), "{}", plan(&own_rule_sql()));
        let events = "DELETE FROM run_events WHERE run_id = ?1 AND sequence IN \
                      (SELECT sequence FROM run_events WHERE run_id = ?1 LIMIT ?2)";
        assert!(!plan(events).contains("SCAN"), "{}", plan(events));
        assert_eq!(conn.pragma_query_value(None, "auto_vacuum", |row| row.get::<_, i64>(0)).unwrap(), 2, "incremental");
    }

    /// After retention frees pages, vacuum steps give back all but the
    /// reserve, each step at most [`VACUUM_STEP_PAGES`].
    #[tokio::test]
    async fn freed_pages_beyond_the_reserve_go_back_to_the_file_system() {
        use crate::store::{CommitStore, RetentionStore, RunBatch};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vacuum.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        // About 4,000 pages of finished runs.
        let runs = (0..800)
            .map(|i| {
                let mut run = super::super::wal::tests::run(i);
                (run.status, run.completed_ms) = (crate::model::RunStatus::Completed, Some(1));
                run
            })
            .collect();
        store.commit_runs(&RunBatch { runs, ..RunBatch::default() }).await.unwrap();
        let pages = |what: &str| {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_query_value(None, what, |row| row.get::<_, i64>(0)).unwrap()
        };
        let before = pages("page_count");
        let sweep = RunSweep {
            now_ms: 10_000,
            retention_ms: 1_000,
            max_runs: 1_000,
            max_hold: std::time::Duration::from_secs(60),
            partitions: None,
        };
        assert_eq!(store.sweep_finished_runs(&sweep).await.unwrap().runs, 800);
        assert!(pages("freelist_count") > KEEP_FREE_PAGES + VACUUM_STEP_PAGES, "{}", pages("freelist_count"));
        let mut steps = 0;
        loop {
            let step = store.reclaim_space().await.unwrap();
            assert!(i64::from(step.rows) <= VACUUM_STEP_PAGES, "{step:?}");
            steps += 1;
            if !step.more {
                break;
            }
        }
        assert!(steps > 1, "one step gives back at most {VACUUM_STEP_PAGES} pages");
        assert!(pages("freelist_count") <= KEEP_FREE_PAGES, "{}", pages("freelist_count"));
        assert!(pages("page_count") < before - 1_000, "{} pages of {before} left", pages("page_count"));
        store.close().await;
    }
}
