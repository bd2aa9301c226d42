//! The SQLite store: one file, WAL journal, synchronous=FULL, write
//! transactions begun IMMEDIATE so two writers never deadlock upgrading a
//! read lock, and a busy timeout so they queue instead of failing.
//!
//! No connection checkpoints the WAL on its own: `sqlite_wal.rs` does it
//! beside the commits. New files are made with incremental auto-vacuum, so
//! pages retention frees can be given back (`sqlite_retention.rs`); a file
//! made before keeps reusing its free pages but never shrinks until it is
//! vacuumed once by hand (README, "Retention").

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::retention::{KeySweep, RunSweep, Swept};
use super::rows::{self, Columns, WORKFLOW_COLUMNS};
use super::sqlite_commit::CommitThread;
use super::sqlite_wal::{CheckpointStats, Checkpointer};
use super::unreadable::listed;
use super::{
    ExpiredLease, LeasedTask, NewVersion, NewWorkflow, OpenRun, RunBatch, RunPage, RunQuery, Store, StoreError,
    TaskLease, WorkflowPage, WorkflowQuery, migrate, sqlite_retention, sqlite_runs, sqlite_tasks,
};
use crate::model::{EventRecord, RunRecord, StepRecord, TimerRecord, Workflow, WorkflowStatus, WorkflowVersionInfo};

/// How long a create's request id stays a deduplication key.
const REQUEST_ID_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The run writer's commits, on a connection and thread of their own.
    commits: Arc<CommitThread>,
    /// WAL checkpoints, beside the commits.
    checkpoints: Arc<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite:weft.db`,
    /// `sqlite://path`, or a bare file path) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") { url.to_owned() } else { format!("sqlite://{url}") };
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Takes effect only in a new file (see the module header).
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .pragma("wal_autocheckpoint", "0")
            // A WAL grown under a burst is cut back to 16 MiB when it rewinds.
            .pragma("journal_size_limit", "16777216");
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options.clone()).await?;
        migrate::sqlite().run(&pool).await?;
        let file = options.get_filename();
        if file.as_os_str() == ":memory:" {
            return Err(StoreError::Corrupt("an in-memory SQLite database cannot be shared; give a file path".into()));
        }
        let auto_vacuum: i64 = sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(&pool).await?;
        if auto_vacuum != 2 {
            tracing::info!(
                file = %file.display(),
                "this database was made without incremental auto-vacuum: space retention frees is reused \
                 but the file does not shrink; see README, Retention, to convert it once"
            );
        }
        let commits = Arc::new(CommitThread::open(file)?);
        let chores = commits.chores().ok_or(StoreError::Closed)?;
        let checkpoints = Arc::new(Checkpointer::start(file, chores, commits.batches())?);
        Ok(Self { pool, commits, checkpoints })
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.checkpoints.stop().await;
        self.commits.close().await;
        self.pool.close().await;
    }

    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Figures of the WAL checkpoints made on the commit thread.
    pub fn checkpoint_stats(&self) -> Arc<CheckpointStats> {
        self.checkpoints.stats()
    }

    /// Goes back to SQLite's own checkpoints inside commits (every 1,000
    /// WAL pages) and stops the checkpoint thread: how this store worked
    /// before, for benchmarks that compare the two.
    #[doc(hidden)]
    pub async fn checkpoint_inside_commits(&self) -> Result<(), StoreError> {
        self.checkpoints.stop().await;
        self.commits.run(|conn| Ok(conn.pragma_update(None, "wal_autocheckpoint", 1000)?)).await
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values always serialize")
}

async fn fetch_version<'e, E>(executor: E, tenant: &str, id: &str, version: Option<u32>) -> Result<Workflow, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let sql = format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows w JOIN workflow_versions v \
           ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = COALESCE(?3, w.latest_version) \
         WHERE w.tenant_id = ?1 AND w.id = ?2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(id)
        .bind(version.map(i64::from))
        .fetch_optional(executor)
        .await?;
    match row {
        Some(row) => rows::workflow(&row),
        None => Err(match version {
            Some(v) => StoreError::NotFound { entity: super::error::Entity::WorkflowVersion(v), id: id.to_owned() },
            None => StoreError::workflow_not_found(id),
        }),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_workflow(&self, tenant: &str, new: NewWorkflow) -> Result<Workflow, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(request_id) = &new.request_id {
            let earlier: Option<String> = sqlx::query_scalar(
                "SELECT workflow_id FROM workflow_create_requests \
                 WHERE tenant_id = ?1 AND request_id = ?2 AND created_at > ?3",
            )
            .bind(tenant)
            .bind(request_id)
            .bind(new.now_ms - REQUEST_ID_TTL_MS)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(existing) = earlier {
                // The first create may have been deleted since; then the token is spent.
                match fetch_version(&mut *tx, tenant, &existing, Some(1)).await {
                    Ok(found) => return Ok(found),
                    Err(StoreError::NotFound { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            sqlx::query(
                "INSERT INTO workflow_create_requests (tenant_id, request_id, workflow_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (tenant_id, request_id) DO UPDATE SET workflow_id = ?3, created_at = ?4",
            )
            .bind(tenant)
            .bind(request_id)
            .bind(&new.id)
            .bind(new.now_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO workflows (tenant_id, id, status, trigger_type, tags, latest_version, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6)",
        )
        .bind(tenant)
        .bind(&new.id)
        .bind(new.status.as_str())
        .bind(&new.trigger_type)
        .bind(to_json(&new.tags))
        .bind(new.now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, change_summary, created_at) \
             VALUES (?1, ?2, 1, ?3, ?4, ?5)",
        )
        .bind(tenant)
        .bind(&new.id)
        .bind(to_json(&new.definition))
        .bind(&new.change_summary)
        .bind(new.now_ms)
        .execute(&mut *tx)
        .await?;
        let created = fetch_version(&mut *tx, tenant, &new.id, None).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_workflow(&self, tenant: &str, id: &str) -> Result<Workflow, StoreError> {
        fetch_version(&self.pool, tenant, id, None).await
    }

    async fn get_workflow_version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow, StoreError> {
        // Distinguish an unknown workflow from an unknown version of a known one.
        let latest = fetch_version(&self.pool, tenant, id, None).await?;
        if version == latest.version {
            return Ok(latest);
        }
        fetch_version(&self.pool, tenant, id, Some(version)).await
    }

    async fn list_workflows(&self, tenant: &str, query: &WorkflowQuery) -> Result<WorkflowPage, StoreError> {
        const FILTER: &str = "w.tenant_id = ?1 \
             AND (CASE WHEN ?2 IS NULL THEN w.status <> 'archived' ELSE w.status = ?2 END) \
             AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(w.tags) t WHERE t.value = ?3)) \
             AND (?4 IS NULL OR w.trigger_type = ?4)";
        let status = query.status.map(WorkflowStatus::as_str);
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM workflows w WHERE {FILTER}")))
                .bind(tenant)
                .bind(status)
                .bind(query.tag.as_deref())
                .bind(query.trigger_type.as_deref())
                .fetch_one(&self.pool)
                .await?;
        let (after_ms, after_id) = match &query.after {
            Some((ms, id)) => (Some(*ms), Some(id.as_str())),
            None => (None, None),
        };
        let sql = format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows w JOIN workflow_versions v \
               ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = w.latest_version \
             WHERE {FILTER} \
               AND (?5 IS NULL OR w.created_at < ?5 OR (w.created_at = ?5 AND w.id < ?6)) \
             ORDER BY w.created_at DESC, w.id DESC LIMIT ?7 OFFSET ?8"
        );
        // One row more than asked tells whether another page follows.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(status)
            .bind(query.tag.as_deref())
            .bind(query.trigger_type.as_deref())
            .bind(after_ms)
            .bind(after_id)
            .bind(i64::from(query.limit) + 1)
            .bind(if query.after.is_some() { 0 } else { i64::from(query.offset) })
            .fetch_all(&self.pool)
            .await?;
        let mut workflows: Vec<_> = rows
            .iter()
            .filter_map(|row| listed("workflow", &row.text("id").unwrap_or_default(), rows::workflow(row)))
            .collect();
        let has_more = workflows.len() > query.limit as usize;
        workflows.truncate(query.limit as usize);
        Ok(WorkflowPage { workflows, total: total as u32, has_more })
    }

    async fn append_workflow_version(&self, tenant: &str, id: &str, next: NewVersion) -> Result<Workflow, StoreError> {
        let mut tx = self.begin_write().await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT latest_version FROM workflows WHERE tenant_id = ?1 AND id = ?2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let latest = latest.ok_or_else(|| StoreError::workflow_not_found(id))? as u32;
        if latest != next.based_on {
            return Err(StoreError::VersionConflict { latest });
        }
        let version = latest + 1;
        sqlx::query(
            "INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, change_summary, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(tenant)
        .bind(id)
        .bind(i64::from(version))
        .bind(to_json(&next.definition))
        .bind(&next.change_summary)
        .bind(next.now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE workflows SET latest_version = ?3, updated_at = ?4, \
                 tags = COALESCE(?5, tags), trigger_type = COALESCE(?6, trigger_type) \
             WHERE tenant_id = ?1 AND id = ?2",
        )
        .bind(tenant)
        .bind(id)
        .bind(i64::from(version))
        .bind(next.now_ms)
        .bind(next.tags.as_ref().map(to_json))
        .bind(next.trigger_type.as_deref())
        .execute(&mut *tx)
        .await?;
        let written = fetch_version(&mut *tx, tenant, id, None).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn set_workflow_status(
        &self,
        tenant: &str,
        id: &str,
        status: WorkflowStatus,
        now_ms: i64,
    ) -> Result<Workflow, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE workflows SET status = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant)
            .bind(id)
            .bind(status.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::workflow_not_found(id));
        }
        let workflow = fetch_version(&mut *tx, tenant, id, None).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    async fn delete_workflow(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM workflows WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::workflow_not_found(id));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_workflow_versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.version, v.change_summary, v.created_at FROM workflows w JOIN workflow_versions v \
               ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id \
             WHERE w.tenant_id = ?1 AND w.id = ?2 ORDER BY v.version DESC",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::workflow_not_found(id));
        }
        rows.iter().map(rows::version_info).collect()
    }

    async fn commit_runs(&self, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
        // The commit thread needs the batch for as long as it writes. The
        // clone stands in for the per-value copies sqlx's binds made before
        // (rusqlite binds by reference), so the commit copies no more than
        // it did; the writer keeps its batch to publish the events.
        self.commits.commit(batch.clone()).await
    }

    async fn get_run(&self, tenant: &str, id: &str) -> Result<(RunRecord, Vec<StepRecord>), StoreError> {
        sqlite_runs::get_run(&self.pool, tenant, id).await
    }

    async fn list_runs(&self, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError> {
        sqlite_runs::list_runs(&self.pool, tenant, query).await
    }

    async fn list_run_events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        sqlite_runs::list_events(&self.pool, tenant, run_id, after, limit).await
    }

    async fn delete_run(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        sqlite_runs::delete_run(&self.pool, tenant, id).await
    }

    async fn find_idempotent_run(&self, tenant: &str, key: &str, since_ms: i64) -> Result<Option<String>, StoreError> {
        sqlite_runs::find_idempotent(&self.pool, tenant, key, since_ms).await
    }

    async fn find_idempotent_runs(
        &self,
        keys: &[(String, String)],
        since_ms: i64,
    ) -> Result<std::collections::HashMap<(String, String), String>, StoreError> {
        sqlite_runs::find_idempotent_many(&self.pool, keys, since_ms).await
    }

    async fn load_open_runs(&self) -> Result<Vec<OpenRun>, StoreError> {
        sqlite_runs::load_open_runs(&self.pool).await
    }

    async fn list_timers(&self) -> Result<Vec<TimerRecord>, StoreError> {
        sqlite_runs::list_timers(&self.pool).await
    }

    async fn count_tasks(&self, run_id: &str) -> Result<u32, StoreError> {
        sqlite_tasks::count_open(&self.pool, run_id).await
    }

    async fn server_secret(&self, name: &str, candidate: &str, now_ms: i64) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(candidate)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        let row =
            sqlx::query("SELECT value FROM server_secrets WHERE name = ?1").bind(name).fetch_one(&self.pool).await?;
        Ok(row.try_get("value")?)
    }

    async fn get_task(&self, tenant: &str, task_id: &str) -> Result<Option<TaskLease>, StoreError> {
        sqlite_tasks::get(&self.pool, tenant, task_id).await
    }

    async fn extend_lease(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        deadline_ms: i64,
        cost_so_far_cents: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        sqlite_tasks::extend(&self.pool, tenant, task_id, token, deadline_ms, cost_so_far_cents, now_ms).await
    }

    async fn expired_leases(&self, now_ms: i64, limit: u32) -> Result<Vec<ExpiredLease>, StoreError> {
        sqlite_tasks::expired(&self.pool, now_ms, limit).await
    }

    async fn next_lease_deadline(&self) -> Result<Option<i64>, StoreError> {
        sqlite_tasks::next_deadline(&self.pool).await
    }

    async fn withdraw_lease(&self, task_id: &str, token: u64) -> Result<(), StoreError> {
        sqlite_tasks::withdraw(&self.pool, task_id, token).await
    }

    async fn leases_by_owner(&self, tenant: &str) -> Result<Vec<(String, u32)>, StoreError> {
        sqlite_tasks::leases_by_owner(&self.pool, tenant).await
    }

    async fn sweep_finished_runs(&self, sweep: &RunSweep) -> Result<Swept, StoreError> {
        let sweep = sweep.clone();
        self.commits.run(move |conn| sqlite_retention::sweep_runs(conn, &sweep)).await
    }

    async fn sweep_expired_keys(&self, sweep: &KeySweep) -> Result<Swept, StoreError> {
        let sweep = sweep.clone();
        self.commits.run(move |conn| sqlite_retention::sweep_keys(conn, &sweep)).await
    }

    async fn run_tombstone(&self, tenant: &str, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT deleted_at FROM run_tombstones WHERE run_id = ?1 AND tenant_id = ?2")
            .bind(id)
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn reclaim_space(&self) -> Result<Swept, StoreError> {
        self.commits.run(sqlite_retention::vacuum_step).await
    }

    async fn get_approval(&self, tenant: &str, id: &str) -> Result<Option<crate::model::ApprovalRecord>, StoreError> {
        super::sqlite_approvals::get(&self.pool, tenant, id).await
    }

    async fn list_approvals(
        &self,
        tenant: &str,
        query: &crate::model::ApprovalQuery,
    ) -> Result<crate::model::ApprovalPage, StoreError> {
        super::sqlite_approvals::list(&self.pool, tenant, query).await
    }
}
