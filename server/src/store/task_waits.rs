//! What the store answers about tasks nobody holds yet: the queued tasks
//! of one run (GetRun shows their steps READY), the worker tasks queued
//! longest (the unclaimed watcher), and the queue of each agent
//! (ListWorkers `agent_queues`).
//!
//! Every query reads only queued rows: the partial indexes `tasks_queued`
//! (tenant, agent, created_at) and `tasks_queued_any_tenant` (agent,
//! created_at) hold nothing else, and a run's tasks are found by the
//! primary key (run_id, step_key), so finished tasks are never scanned.
//! Written once for both databases over [`Dialect`].

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::{self, Columns};
use crate::model::StepKind;

/// A task waiting in the queue for a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTask {
    /// `task_…`.
    pub task_id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Owning run.
    pub run_id: String,
    /// Instance key of the step.
    pub step_key: String,
    /// The attempt it is queued for.
    pub attempt: u32,
    /// The step type.
    pub kind: StepKind,
    /// The agent it asks for ("" for a step with none).
    pub agent: String,
    /// When this attempt was queued, ms since the epoch.
    pub queued_ms: i64,
}

/// One agent's queue in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentQueueRow {
    /// Agent name.
    pub agent: String,
    /// Tasks queued.
    pub queued: u32,
    /// When the oldest was queued, ms since the epoch.
    pub oldest_ms: i64,
}

/// Where a position in the oldest-first scan of queued worker tasks is:
/// (queued ms, task id) of the last row seen.
pub type QueueCursor = (i64, String);

/// Reads of the queued tasks; both stores implement it.
#[async_trait]
pub trait TaskWaitStore: Send + Sync + 'static {
    /// The queued tasks of one run (any kind), by step key.
    async fn queued_tasks_of_run(&self, tenant: &str, run_id: &str) -> Result<Vec<QueuedTask>, StoreError>;

    /// At most `limit` queued agent and planner tasks of every tenant
    /// queued at or before `queued_by_ms`, oldest first (ties by task
    /// id), after `after`.
    async fn oldest_worker_tasks(
        &self,
        queued_by_ms: i64,
        after: Option<&QueueCursor>,
        limit: u32,
    ) -> Result<Vec<QueuedTask>, StoreError>;

    /// The agents of a tenant with queued agent or planner tasks (only
    /// `agent` when given), most queued first, ties by name; at most
    /// `limit`.
    async fn agent_queues(
        &self,
        tenant: &str,
        agent: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AgentQueueRow>, StoreError>;
}

/// (run, tenant): by the primary key's run_id prefix.
const OF_RUN: &str = "SELECT task_id, tenant_id, run_id, step_key, attempt, kind, agent, created_at FROM tasks \
     WHERE run_id = ?1 AND tenant_id = ?2 AND status = 'queued' ORDER BY step_key";

/// (queued by ms, after ms, after id, limit): the queued rows only
/// (`tasks_queued_any_tenant`).
const OLDEST: &str = "SELECT task_id, tenant_id, run_id, step_key, attempt, kind, agent, created_at FROM tasks \
     WHERE status = 'queued' AND kind IN ('agent', 'planner') \
     AND created_at <= ?1 AND (created_at > ?2 OR (created_at = ?2 AND task_id > ?3)) \
     ORDER BY created_at, task_id LIMIT ?4";

/// (tenant, agent or NULL, limit): a tenant's queued rows (`tasks_queued`).
const QUEUES: &str = "SELECT agent, COUNT(*) AS n, MIN(created_at) AS oldest FROM tasks \
     WHERE tenant_id = ?1 AND status = 'queued' AND kind IN ('agent', 'planner') \
     AND (CAST(?2 AS TEXT) IS NULL OR agent = ?2) \
     GROUP BY agent ORDER BY COUNT(*) DESC, agent LIMIT ?3";

fn queued(row: &impl Columns) -> Result<QueuedTask, StoreError> {
    let task_id = row.text("task_id")?;
    let kind = rows::step_kind(row, ("task", &task_id))?;
    Ok(QueuedTask {
        tenant_id: row.text("tenant_id")?,
        run_id: row.text("run_id")?,
        step_key: row.text("step_key")?,
        attempt: u32::try_from(row.int("attempt")?).unwrap_or_default(),
        kind,
        agent: row.opt_text("agent")?.unwrap_or_default(),
        queued_ms: row.int("created_at")?,
        task_id,
    })
}

/// Keeps the rows that decode, logging the others: one damaged row never
/// fails a read of the queue.
fn readable(rows: Vec<Result<QueuedTask, StoreError>>) -> Vec<QueuedTask> {
    rows.into_iter()
        .filter_map(|row| match row {
            Ok(task) => Some(task),
            Err(err) => {
                tracing::error!(error = %err, "a queued task row was skipped");
                None
            }
        })
        .collect()
}

#[async_trait]
impl<D: Dialect> TaskWaitStore for D {
    async fn queued_tasks_of_run(&self, tenant: &str, run_id: &str) -> Result<Vec<QueuedTask>, StoreError> {
        let rows = D::fetch_all(&mut *self.acquire().await?, OF_RUN, &[Arg::Text(run_id), Arg::Text(tenant)]).await?;
        Ok(readable(rows.iter().map(queued).collect()))
    }

    async fn oldest_worker_tasks(
        &self,
        queued_by_ms: i64,
        after: Option<&QueueCursor>,
        limit: u32,
    ) -> Result<Vec<QueuedTask>, StoreError> {
        let (after_ms, after_id) = match after {
            Some((ms, id)) => (*ms, id.as_str()),
            None => (i64::MIN, ""),
        };
        let args = [Arg::Int(queued_by_ms), Arg::Int(after_ms), Arg::Text(after_id), Arg::Int(i64::from(limit))];
        let rows = D::fetch_all(&mut *self.acquire().await?, OLDEST, &args).await?;
        Ok(readable(rows.iter().map(queued).collect()))
    }

    async fn agent_queues(
        &self,
        tenant: &str,
        agent: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AgentQueueRow>, StoreError> {
        let args = [Arg::Text(tenant), Arg::OptText(agent), Arg::Int(i64::from(limit))];
        let rows = D::fetch_all(&mut *self.acquire().await?, QUEUES, &args).await?;
        rows.iter()
            .map(|row| {
                Ok(AgentQueueRow {
                    agent: row.opt_text("agent")?.unwrap_or_default(),
                    queued: u32::try_from(row.int("n")?).unwrap_or(u32::MAX),
                    oldest_ms: row.int("oldest")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// Every read of the queue goes through an index that holds only queued
    /// rows (or the run's primary key), never a scan of finished tasks.
    #[tokio::test]
    async fn queue_reads_use_the_queued_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.close().await;
        let conn = Connection::open(&path).unwrap();
        let plan = |sql: &str| -> String {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            // The plan does not depend on the values: NULL for each.
            let nulls = rusqlite::params_from_iter(vec![rusqlite::types::Null; statement.parameter_count()]);
            let rows = statement.query_map(nulls, |row| row.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        assert!(plan(OF_RUN).contains("USING PRIMARY KEY (run_id=?)"), "{}", plan(OF_RUN));
        assert!(plan(OLDEST).contains("USING INDEX tasks_queued_any_tenant"), "{}", plan(OLDEST));
        assert!(plan(QUEUES).contains("USING INDEX tasks_queued (tenant_id=?)"), "{}", plan(QUEUES));
    }
}
