//! Worker registrations as the store keeps them: one row per tenant and
//! worker id, shared by every replica on the database and kept across
//! restarts, so a poll that reaches another replica, or a restarted one,
//! still finds its worker. The engine (`engine/workers.rs`) decides when to
//! write (it caches, and writes a worker's last sight at most every few
//! seconds); the store only remembers.
//!
//! The registration (name, agents, concurrency, cost hints) is stored as
//! one JSON document; only what queries filter on is a column. A document
//! that cannot be read back is skipped by listings (and logged) and is a
//! `Corrupt` error for the one worker it belongs to, which re-registers
//! over it.
//!
//! [`WorkerStore`] is written once here for both databases, over
//! [`Dialect`]: its statements read the same on both.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;
use crate::model::definition::Money;

/// Expected cost of one call of an agent, as a worker declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCostHint {
    /// Agent name.
    pub agent: String,
    /// Lowest expected cost.
    pub min: Money,
    /// Highest expected cost.
    pub max: Money,
}

/// A worker's registration with its times.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRecord {
    /// The worker id (chosen by the worker, or `wkr_…`).
    pub worker_id: String,
    /// Display name.
    pub name: String,
    /// Agent names served; never empty.
    pub agents: Vec<String>,
    /// Most tasks at once, as declared.
    pub concurrency: u32,
    /// Per-agent cost hints.
    pub cost_hints: Vec<AgentCostHint>,
    /// When it registered (or registered again), ms since the epoch.
    pub registered_ms: i64,
    /// Last sight of it as stored, ms since the epoch (may trail the
    /// replicas' own sightings by the engine's write interval).
    pub last_seen_ms: i64,
}

/// The stored JSON document of a registration.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    name: String,
    agents: Vec<String>,
    concurrency: u32,
    cost_hints: Vec<AgentCostHint>,
}

/// The JSON document a registration is stored as.
fn encode(worker: &WorkerRecord) -> String {
    let document = Document {
        name: worker.name.clone(),
        agents: worker.agents.clone(),
        concurrency: worker.concurrency,
        cost_hints: worker.cost_hints.clone(),
    };
    serde_json::to_string(&document).expect("a registration always serializes")
}

/// A record from a row's columns; `Corrupt` when the document does not
/// read back as a registration.
fn decode(
    worker_id: String,
    document: &str,
    registered_ms: i64,
    last_seen_ms: i64,
) -> Result<WorkerRecord, StoreError> {
    let document: Document = serde_json::from_str(document)
        .map_err(|e| StoreError::Corrupt(format!("registration of worker '{worker_id}': {e}")))?;
    Ok(WorkerRecord {
        worker_id,
        name: document.name,
        agents: document.agents,
        concurrency: document.concurrency,
        cost_hints: document.cost_hints,
        registered_ms,
        last_seen_ms,
    })
}

/// Keeps the rows that decode, logging the others: one damaged row never
/// fails a listing.
fn readable(rows: Vec<Result<WorkerRecord, StoreError>>) -> Vec<WorkerRecord> {
    rows.into_iter()
        .filter_map(|row| match row {
            Ok(worker) => Some(worker),
            Err(err) => {
                tracing::error!(error = %err, "a stored worker registration was skipped");
                None
            }
        })
        .collect()
}

/// Where worker registrations live; both stores implement it.
#[async_trait]
pub trait WorkerStore: Send + Sync + 'static {
    /// Writes a registration, replacing any of the same tenant and id.
    async fn upsert_worker(&self, tenant: &str, worker: &WorkerRecord) -> Result<(), StoreError>;

    /// Moves a worker's last sight forward to `now_ms` (never back) and
    /// answers its registration, unless it is unknown or was last seen
    /// before `seen_since_ms` (it is forgotten); then `None`, and nothing
    /// changed.
    async fn touch_worker(
        &self,
        tenant: &str,
        worker_id: &str,
        now_ms: i64,
        seen_since_ms: i64,
    ) -> Result<Option<WorkerRecord>, StoreError>;

    /// At most `limit` of a tenant's workers seen at or after
    /// `seen_since_ms`, most recently seen first, ties by id. Rows that do
    /// not read back are left out (and logged).
    async fn list_workers(&self, tenant: &str, seen_since_ms: i64, limit: u32)
    -> Result<Vec<WorkerRecord>, StoreError>;

    /// How many of a tenant's workers other than `worker_id` were seen at
    /// or after `seen_since_ms`.
    async fn count_other_workers(&self, tenant: &str, worker_id: &str, seen_since_ms: i64) -> Result<u32, StoreError>;

    /// Deletes at most `limit` workers (any tenant) last seen before
    /// `seen_before_ms`; answers how many went.
    async fn prune_workers(&self, seen_before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}

const COLUMNS: &str = "id, registration, registered_at, last_seen";

/// (tenant, id, registration, registered ms, last seen ms).
const UPSERT: &str = "INSERT INTO workers (tenant_id, id, registration, registered_at, last_seen) \
     VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (tenant_id, id) DO UPDATE SET registration = excluded.registration, \
     registered_at = excluded.registered_at, last_seen = excluded.last_seen";

/// (tenant, id, now ms, seen since ms); never moves a sight back.
const TOUCH: &str = "UPDATE workers SET last_seen = CASE WHEN last_seen > ?3 THEN last_seen ELSE ?3 END \
     WHERE tenant_id = ?1 AND id = ?2 AND last_seen >= ?4 RETURNING {columns}";

/// (tenant, seen since ms, limit).
const LIST: &str = "SELECT {columns} FROM workers WHERE tenant_id = ?1 AND last_seen >= ?2 \
     ORDER BY last_seen DESC, id LIMIT ?3";

/// (tenant, id, seen since ms) → `n`.
const COUNT_OTHERS: &str = "SELECT COUNT(*) AS n FROM workers WHERE tenant_id = ?1 AND id <> ?2 AND last_seen >= ?3";

/// (seen before ms, limit). The outer condition is checked again on a row
/// a registration rewrote meanwhile, so a worker that just came back stays.
const PRUNE: &str = "DELETE FROM workers WHERE (tenant_id, id) IN \
     (SELECT tenant_id, id FROM workers WHERE last_seen < ?1 LIMIT ?2) AND last_seen < ?1";

fn worker(row: &impl Columns) -> Result<WorkerRecord, StoreError> {
    let document = row.json_text("registration")?.unwrap_or_default();
    decode(row.text("id")?, &document, row.int("registered_at")?, row.int("last_seen")?)
}

#[async_trait]
impl<D: Dialect> WorkerStore for D {
    async fn upsert_worker(&self, tenant: &str, worker: &WorkerRecord) -> Result<(), StoreError> {
        let document = encode(worker);
        let args = [
            Arg::Text(tenant),
            Arg::Text(&worker.worker_id),
            Arg::Json(&document),
            Arg::Int(worker.registered_ms),
            Arg::Int(worker.last_seen_ms),
        ];
        D::execute(&mut *self.acquire().await?, UPSERT, &args).await?;
        Ok(())
    }

    async fn touch_worker(
        &self,
        tenant: &str,
        worker_id: &str,
        now_ms: i64,
        seen_since_ms: i64,
    ) -> Result<Option<WorkerRecord>, StoreError> {
        let args = [Arg::Text(tenant), Arg::Text(worker_id), Arg::Int(now_ms), Arg::Int(seen_since_ms)];
        let sql = TOUCH.replace("{columns}", COLUMNS);
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &args).await?;
        row.as_ref().map(worker).transpose()
    }

    async fn list_workers(
        &self,
        tenant: &str,
        seen_since_ms: i64,
        limit: u32,
    ) -> Result<Vec<WorkerRecord>, StoreError> {
        let args = [Arg::Text(tenant), Arg::Int(seen_since_ms), Arg::Int(i64::from(limit))];
        let sql = LIST.replace("{columns}", COLUMNS);
        let rows = D::fetch_all(&mut *self.acquire().await?, &sql, &args).await?;
        Ok(readable(rows.iter().map(worker).collect()))
    }

    async fn count_other_workers(&self, tenant: &str, worker_id: &str, seen_since_ms: i64) -> Result<u32, StoreError> {
        let args = [Arg::Text(tenant), Arg::Text(worker_id), Arg::Int(seen_since_ms)];
        let row = D::fetch_optional(&mut *self.acquire().await?, COUNT_OTHERS, &args).await?;
        let count = match row {
            Some(row) => row.int("n")?,
            None => 0,
        };
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn prune_workers(&self, seen_before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let args = [Arg::Int(seen_before_ms), Arg::Int(i64::from(limit))];
        D::execute(&mut *self.acquire().await?, PRUNE, &args).await
    }
}
