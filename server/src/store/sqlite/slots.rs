//! [`SlotStore`] on SQLite: each grant is an IMMEDIATE transaction on the
//! commit thread's connection, so it queues between the run writer's
//! commits and holds SQLite's one write lock while it counts.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::slots::{PausedRuns, SlotAsk, SlotStore, StalledAdmission};

/// Slots of a workflow that count against its limit.
fn occupied(tx: &Transaction<'_>, tenant: &str, workflow_id: &str, paused: PausedRuns) -> Result<u32, StoreError> {
    let hold = matches!(paused, PausedRuns::HoldSlots);
    let mut count = tx.prepare_cached(
        "SELECT COUNT(*) FROM run_slots s LEFT JOIN runs r ON r.id = s.run_id \
         WHERE s.tenant_id = ?1 AND s.workflow_id = ?2 AND (?3 OR r.status IS NULL OR r.status <> 'paused')",
    )?;
    let n: i64 = count.query_row(params![tenant, workflow_id, hold], |row| row.get(0))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn insert_slot(
    tx: &Transaction<'_>,
    run_id: &str,
    tenant: &str,
    workflow_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO run_slots (run_id, tenant_id, workflow_id, taken_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (run_id) DO NOTHING",
    )?;
    insert.execute(params![run_id, tenant, workflow_id, now_ms])?;
    Ok(())
}

fn take(conn: &mut Connection, asks: &[SlotAsk], paused: PausedRuns, now_ms: i64) -> Result<Vec<bool>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // (tenant, workflow) → (slots counted, whether runs wait in its queue).
    let mut seen: HashMap<(&str, &str), (u32, bool)> = HashMap::new();
    let mut granted = Vec::with_capacity(asks.len());
    for ask in asks {
        let key = (ask.tenant_id.as_str(), ask.workflow_id.as_str());
        let state = match seen.get_mut(&key) {
            Some(state) => state,
            None => {
                let used = occupied(&tx, key.0, key.1, paused)?;
                let mut waiting =
                    tx.prepare_cached("SELECT 1 FROM run_queue WHERE tenant_id = ?1 AND workflow_id = ?2 LIMIT 1")?;
                let queued = waiting.query_row(params![key.0, key.1], |_| Ok(())).optional()?.is_some();
                seen.entry(key).or_insert((used, queued))
            }
        };
        let (used, queued) = state;
        if !*queued && *used < ask.max_running {
            insert_slot(&tx, &ask.run_id, key.0, key.1, now_ms)?;
            *used += 1;
            granted.push(true);
        } else {
            // Later asks of the batch queue behind this one.
            *queued = true;
            granted.push(false);
        }
    }
    tx.commit()?;
    Ok(granted)
}

fn admit(
    conn: &mut Connection,
    tenant: &str,
    workflow_id: &str,
    paused: PausedRuns,
    most: u32,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let used = occupied(&tx, tenant, workflow_id, paused)?;
    let head: Vec<(i64, String, u32)> = {
        let mut select = tx.prepare_cached(
            "SELECT seq, run_id, max_running FROM run_queue WHERE tenant_id = ?1 AND workflow_id = ?2 \
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = select.query_map(params![tenant, workflow_id, i64::from(most)], |row| {
            Ok((row.get(0)?, row.get(1)?, u32::try_from(row.get::<_, i64>(2)?).unwrap_or(u32::MAX)))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut admitted = Vec::new();
    for ((seq, run_id, max_running), used) in head.into_iter().zip(used..) {
        // In arrival order: the head waits, so everything behind it does.
        if used >= max_running {
            break;
        }
        tx.prepare_cached("DELETE FROM run_queue WHERE seq = ?1")?.execute(params![seq])?;
        insert_slot(&tx, &run_id, tenant, workflow_id, now_ms)?;
        admitted.push(run_id);
    }
    tx.commit()?;
    Ok(admitted)
}

fn stalled(conn: &mut Connection, before_ms: i64) -> Result<Vec<StalledAdmission>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached(
        "DELETE FROM run_slots WHERE taken_at < ?1 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = run_slots.run_id \
         AND r.status IN ('queued', 'pending', 'running', 'paused'))",
    )?
    .execute(params![before_ms])?;
    let found = {
        let mut select = tx.prepare_cached(
            "SELECT s.tenant_id, s.run_id FROM run_slots s JOIN runs r ON r.id = s.run_id \
             WHERE s.taken_at < ?1 AND r.status = 'queued'",
        )?;
        let rows = select.query_map(params![before_ms], |row| {
            Ok(StalledAdmission { tenant_id: row.get(0)?, run_id: row.get(1)? })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.commit()?;
    Ok(found)
}

#[async_trait]
impl SlotStore for SqliteStore {
    async fn take_slots(&self, asks: &[SlotAsk], paused: PausedRuns, now_ms: i64) -> Result<Vec<bool>, StoreError> {
        let asks = asks.to_vec();
        self.commits.run(move |conn| take(conn, &asks, paused, now_ms)).await
    }

    async fn admit_queued(
        &self,
        tenant: &str,
        workflow_id: &str,
        paused: PausedRuns,
        most: u32,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let (tenant, workflow_id) = (tenant.to_string(), workflow_id.to_string());
        self.commits.run(move |conn| admit(conn, &tenant, &workflow_id, paused, most, now_ms)).await
    }

    async fn queued_workflows(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.commits
            .run(|conn| {
                let mut select = conn.prepare_cached("SELECT DISTINCT tenant_id, workflow_id FROM run_queue")?;
                let rows = select.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn stalled_admissions(&self, before_ms: i64) -> Result<Vec<StalledAdmission>, StoreError> {
        self.commits.run(move |conn| stalled(conn, before_ms)).await
    }
}

/// The batch's queue rows and the slot and queue rows of runs that ended.
pub(super) fn write_in_commit(tx: &Transaction<'_>, batch: &crate::store::RunBatch) -> Result<(), StoreError> {
    if !batch.queued.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO run_queue (run_id, tenant_id, workflow_id, max_running, queued_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (run_id) DO NOTHING",
        )?;
        for q in &batch.queued {
            insert.execute(params![q.run_id, q.tenant_id, q.workflow_id, i64::from(q.max_running), q.queued_ms])?;
        }
    }
    if !batch.slots_freed.is_empty() {
        let mut slot = tx.prepare_cached("DELETE FROM run_slots WHERE run_id = ?1")?;
        let mut queue = tx.prepare_cached("DELETE FROM run_queue WHERE run_id = ?1")?;
        for run_id in &batch.slots_freed {
            slot.execute(params![run_id])?;
            queue.execute(params![run_id])?;
        }
    }
    Ok(())
}
