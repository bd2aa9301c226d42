//! What the store answers about the task of each step of one run, for
//! reads of the run (GetRun's `StepRun.input` and `StepRun.workerId`): the
//! input the latest attempt was handed and the worker that claimed it.
//!
//! A task row is one per (run, step key), overwritten by each attempt, and
//! kept after its step finishes until the run is deleted, so it answers
//! for the latest attempt, after a restart as before. `claimed_by`
//! (migration 0022) is set by the claim and kept after the lease ends,
//! where `lease_owner` is cleared. Read by the primary key's run_id
//! prefix; written once for both databases over [`Dialect`].

use async_trait::async_trait;
use serde_json::Value;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;

/// The task of one step instance, as its latest attempt left it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTask {
    /// Instance key of the step (`id`, or `id[i]` for a map item).
    pub step_key: String,
    /// The input the attempt was handed; `None` when the stored text
    /// cannot be read (logged).
    pub input: Option<Value>,
    /// Lease owner of the claim of the attempt; `None` before a claim.
    pub claimed_by: Option<String>,
}

/// Reads of a run's task rows; both stores implement it.
#[async_trait]
pub trait StepTaskStore: Send + Sync + 'static {
    /// Every task of run `run_id` in `tenant`, whatever its status, by
    /// step key.
    async fn step_tasks_of_run(&self, tenant: &str, run_id: &str) -> Result<Vec<StepTask>, StoreError>;
}

/// (run, tenant): by the primary key's run_id prefix.
const OF_RUN: &str =
    "SELECT step_key, input, claimed_by FROM tasks WHERE run_id = ?1 AND tenant_id = ?2 ORDER BY step_key";

fn step_task(row: &impl Columns, run_id: &str) -> Result<StepTask, StoreError> {
    let step_key = row.text("step_key")?;
    let input = row.json_text("input")?.and_then(|text| match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(run_id, step = %step_key, error = %err, "a task's stored input cannot be read; reading it as unset");
            None
        }
    });
    Ok(StepTask { input, claimed_by: row.opt_text("claimed_by")?, step_key })
}

#[async_trait]
impl<D: Dialect> StepTaskStore for D {
    async fn step_tasks_of_run(&self, tenant: &str, run_id: &str) -> Result<Vec<StepTask>, StoreError> {
        let rows = D::fetch_all(&mut *self.acquire().await?, OF_RUN, &[Arg::Text(run_id), Arg::Text(tenant)]).await?;
        Ok(rows
            .iter()
            .filter_map(|row| match step_task(row, run_id) {
                Ok(task) => Some(task),
                Err(err) => {
                    tracing::warn!(run_id, error = %err, "a task row cannot be read; its step shows no input or worker");
                    None
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A run's tasks are found by the primary key, never by a scan of
    /// every run's tasks.
    #[tokio::test]
    async fn the_read_uses_the_primary_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.close().await;
        let conn = Connection::open(&path).unwrap();
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {OF_RUN}")).unwrap();
        let nulls = rusqlite::params_from_iter(vec![rusqlite::types::Null; statement.parameter_count()]);
        let plan = statement.query_map(nulls, |row| row.get::<_, String>(3)).unwrap();
        let plan = plan.map(Result::unwrap).collect::<Vec<_>>().join("; ");
        assert!(plan.contains("USING PRIMARY KEY (run_id=?)"), "{plan}");
    }
}
