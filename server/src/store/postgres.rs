//! The Postgres store: the same contract as the SQLite store, on a
//! connection pool, for deployments that outgrow one file.
//!
//! SQLite serialises every writer with `BEGIN IMMEDIATE`; Postgres runs
//! writers side by side under READ COMMITTED, so each read-then-write here
//! takes the lock it needs (`FOR UPDATE` on the workflow row, an advisory
//! lock on a create's request id) and callers see the same outcomes: a
//! version conflict, one workflow per request id.
//!
//! Workflows live in this file; runs, tasks and approvals in
//! `postgres_runs`, `postgres_tasks` and `postgres_approvals`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Mutex, broadcast, watch};

use super::cluster::Notice;
use super::postgres_text::{nul_safe, nul_safe_opt, restore};
use super::rows::{self, Columns, WORKFLOW_COLUMNS};
use super::unreadable::listed;
use super::{
    ExpiredLease, LeasedTask, NewVersion, NewWorkflow, OpenRun, RunBatch, RunPage, RunQuery, Store, StoreError,
    TaskLease, WorkflowPage, WorkflowQuery, migrate, postgres_approvals, postgres_runs, postgres_tasks,
};
use crate::model::{
    ApprovalPage, ApprovalQuery, ApprovalRecord, EventRecord, RunRecord, StepRecord, TimerRecord, Workflow,
    WorkflowStatus, WorkflowVersionInfo,
};

/// How long a create's request id stays a deduplication key.
const REQUEST_ID_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// Notices a slow subscriber may fall behind before it polls instead.
const NOTICE_BUFFER: usize = 4096;

/// Connections per process: the run writer holds one per commit, reads and
/// heartbeats share the rest.
const MAX_CONNECTIONS: u32 = 10;

/// The Postgres implementation of [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    listen: Arc<Listening>,
}

/// Notices between replicas: whether they are on, and what is heard.
struct Listening {
    /// How to connect, for the listening connection.
    options: PgConnectOptions,
    /// Whether to NOTIFY and LISTEN (polling runs either way).
    notify: AtomicBool,
    /// What the listening connection hears.
    notices: broadcast::Sender<Notice>,
    /// Stops the listening task.
    stop: Mutex<Option<watch::Sender<bool>>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, with any libpq
    /// parameters sqlx understands, e.g. `options=-csearch_path%3Dschema`)
    /// and runs the migrations in the connection's schema.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        migrate::postgres().run(&pool).await?;
        let (notices, _) = broadcast::channel(NOTICE_BUFFER);
        let listen = Listening { options, notify: AtomicBool::new(true), notices, stop: Mutex::default() };
        Ok(Self { pool, listen: Arc::new(listen) })
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether commits and inbox posts NOTIFY other replicas.
    pub(super) fn notifying(&self) -> bool {
        self.listen.notify.load(Ordering::Relaxed)
    }

    pub(super) fn subscribe_notices(&self) -> broadcast::Receiver<Notice> {
        self.listen.notices.subscribe()
    }

    /// Starts listening for other replicas' notifications, or, with
    /// `notify` false, turns NOTIFY and LISTEN off (replicas then learn of
    /// each other's work by polling alone).
    pub async fn start_listening(&self, notify: bool) {
        self.listen.notify.store(notify, Ordering::Relaxed);
        let mut listening = self.listen.stop.lock().await;
        if !notify || listening.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let (options, notices) = (self.listen.options.clone(), self.listen.notices.clone());
        tokio::spawn(super::postgres_listen::run(options, notices, stopped));
        *listening = Some(stop);
    }

    /// Stops listening and closes every connection.
    pub async fn close(&self) {
        if let Some(stop) = self.listen.stop.lock().await.take() {
            let _ = stop.send(true);
        }
        self.pool.close().await;
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values always serialize")
}

/// Tags as JSONB holds them: JSONB refuses `\u0000` even escaped.
fn tags_json(tags: &[String]) -> serde_json::Value {
    tags.iter().map(|tag| serde_json::Value::from(nul_safe(tag).into_owned())).collect()
}

async fn fetch_version<'e, E>(executor: E, tenant: &str, id: &str, version: Option<u32>) -> Result<Workflow, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let sql = format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows w JOIN workflow_versions v \
           ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = COALESCE($3, w.latest_version) \
         WHERE w.tenant_id = $1 AND w.id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(nul_safe(tenant))
        .bind(nul_safe(id))
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
impl Store for PostgresStore {
    async fn create_workflow(&self, tenant: &str, new: NewWorkflow) -> Result<Workflow, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = &new.request_id {
            // Two creates with one request id must not both miss each other:
            // the second waits here until the first commits, then finds it.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))")
                .bind(nul_safe(tenant))
                .bind(nul_safe(request_id))
                .execute(&mut *tx)
                .await?;
            let earlier: Option<String> = sqlx::query_scalar(
                "SELECT workflow_id FROM workflow_create_requests \
                 WHERE tenant_id = $1 AND request_id = $2 AND created_at > $3",
            )
            .bind(nul_safe(tenant))
            .bind(nul_safe(request_id))
            .bind(new.now_ms - REQUEST_ID_TTL_MS)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(existing) = earlier.map(restore) {
                // The first create may have been deleted since; then the token is spent.
                match fetch_version(&mut *tx, tenant, &existing, Some(1)).await {
                    Ok(found) => return Ok(found),
                    Err(StoreError::NotFound { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            sqlx::query(
                "INSERT INTO workflow_create_requests (tenant_id, request_id, workflow_id, created_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, request_id) DO UPDATE SET workflow_id = $3, created_at = $4",
            )
            .bind(nul_safe(tenant))
            .bind(nul_safe(request_id))
            .bind(nul_safe(&new.id))
            .bind(new.now_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO workflows (tenant_id, id, status, trigger_type, tags, latest_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
        )
        .bind(nul_safe(tenant))
        .bind(nul_safe(&new.id))
        .bind(new.status.as_str())
        .bind(nul_safe(&new.trigger_type))
        .bind(tags_json(&new.tags))
        .bind(new.now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, change_summary, created_at) \
             VALUES ($1, $2, 1, $3, $4, $5)",
        )
        .bind(nul_safe(tenant))
        .bind(nul_safe(&new.id))
        .bind(to_json(&new.definition))
        .bind(nul_safe(&new.change_summary))
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
        const FILTER: &str = "w.tenant_id = $1 \
             AND (CASE WHEN $2::text IS NULL THEN w.status <> 'archived' ELSE w.status = $2 END) \
             AND ($3::text IS NULL OR w.tags @> jsonb_build_array($3::text)) \
             AND ($4::text IS NULL OR w.trigger_type = $4)";
        let status = query.status.map(WorkflowStatus::as_str);
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM workflows w WHERE {FILTER}")))
                .bind(nul_safe(tenant))
                .bind(status)
                .bind(nul_safe_opt(query.tag.as_deref()))
                .bind(nul_safe_opt(query.trigger_type.as_deref()))
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
               AND ($5::bigint IS NULL OR w.created_at < $5 OR (w.created_at = $5 AND w.id < $6)) \
             ORDER BY w.created_at DESC, w.id DESC LIMIT $7 OFFSET $8"
        );
        // One row more than asked tells whether another page follows.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(nul_safe(tenant))
            .bind(status)
            .bind(nul_safe_opt(query.tag.as_deref()))
            .bind(nul_safe_opt(query.trigger_type.as_deref()))
            .bind(after_ms)
            .bind(nul_safe_opt(after_id))
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
        let mut tx = self.pool.begin().await?;
        // The row lock makes a concurrent append wait, then read the version
        // this one wrote, and answer VersionConflict (not a key violation).
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT latest_version FROM workflows WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                .bind(nul_safe(tenant))
                .bind(nul_safe(id))
                .fetch_optional(&mut *tx)
                .await?;
        let latest = latest.ok_or_else(|| StoreError::workflow_not_found(id))? as u32;
        if latest != next.based_on {
            return Err(StoreError::VersionConflict { latest });
        }
        let version = latest + 1;
        sqlx::query(
            "INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, change_summary, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(nul_safe(tenant))
        .bind(nul_safe(id))
        .bind(i64::from(version))
        .bind(to_json(&next.definition))
        .bind(nul_safe(&next.change_summary))
        .bind(next.now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE workflows SET latest_version = $3, updated_at = $4, \
                 tags = COALESCE($5, tags), trigger_type = COALESCE($6, trigger_type) \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(nul_safe(tenant))
        .bind(nul_safe(id))
        .bind(i64::from(version))
        .bind(next.now_ms)
        .bind(next.tags.as_deref().map(tags_json))
        .bind(nul_safe_opt(next.trigger_type.as_deref()))
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
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE workflows SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(nul_safe(tenant))
            .bind(nul_safe(id))
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
        let deleted = sqlx::query("DELETE FROM workflows WHERE tenant_id = $1 AND id = $2")
            .bind(nul_safe(tenant))
            .bind(nul_safe(id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::workflow_not_found(id));
        }
        Ok(())
    }

    async fn list_workflow_versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.version, v.change_summary, v.created_at FROM workflows w JOIN workflow_versions v \
               ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id \
             WHERE w.tenant_id = $1 AND w.id = $2 ORDER BY v.version DESC",
        )
        .bind(nul_safe(tenant))
        .bind(nul_safe(id))
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::workflow_not_found(id));
        }
        rows.iter().map(rows::version_info).collect()
    }

    async fn commit_runs(&self, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
        postgres_runs::commit(&self.pool, batch).await
    }

    async fn get_run(&self, tenant: &str, id: &str) -> Result<(RunRecord, Vec<StepRecord>), StoreError> {
        postgres_runs::get_run(&self.pool, tenant, id).await
    }

    async fn list_runs(&self, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError> {
        postgres_runs::list_runs(&self.pool, tenant, query).await
    }

    async fn list_run_events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        postgres_runs::list_events(&self.pool, tenant, run_id, after, limit).await
    }

    async fn delete_run(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        postgres_runs::delete_run(&self.pool, tenant, id).await
    }

    async fn find_idempotent_run(&self, tenant: &str, key: &str, since_ms: i64) -> Result<Option<String>, StoreError> {
        postgres_runs::find_idempotent(&self.pool, tenant, key, since_ms).await
    }

    async fn find_idempotent_runs(
        &self,
        keys: &[(String, String)],
        since_ms: i64,
    ) -> Result<std::collections::HashMap<(String, String), String>, StoreError> {
        postgres_runs::find_idempotent_many(&self.pool, keys, since_ms).await
    }

    async fn load_open_runs(&self) -> Result<Vec<OpenRun>, StoreError> {
        postgres_runs::load_open_runs(&self.pool, None).await
    }

    async fn list_timers(&self) -> Result<Vec<TimerRecord>, StoreError> {
        postgres_runs::list_timers(&self.pool, None).await
    }

    async fn count_tasks(&self, run_id: &str) -> Result<u32, StoreError> {
        postgres_tasks::count_open(&self.pool, run_id).await
    }

    async fn server_secret(&self, name: &str, candidate: &str, now_ms: i64) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(nul_safe(name))
            .bind(nul_safe(candidate))
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(nul_safe(name))
            .fetch_one(&self.pool)
            .await?;
        row.text("value")
    }

    async fn get_task(&self, tenant: &str, task_id: &str) -> Result<Option<TaskLease>, StoreError> {
        postgres_tasks::get(&self.pool, tenant, task_id).await
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
        postgres_tasks::extend(&self.pool, tenant, task_id, token, deadline_ms, cost_so_far_cents, now_ms).await
    }

    async fn expired_leases(&self, now_ms: i64, limit: u32) -> Result<Vec<ExpiredLease>, StoreError> {
        postgres_tasks::expired(&self.pool, now_ms, limit, None).await
    }

    async fn next_lease_deadline(&self) -> Result<Option<i64>, StoreError> {
        postgres_tasks::next_deadline(&self.pool, None).await
    }

    async fn withdraw_lease(&self, task_id: &str, token: u64) -> Result<(), StoreError> {
        postgres_tasks::withdraw(&self.pool, task_id, token).await
    }

    async fn leases_by_owner(&self, tenant: &str) -> Result<Vec<(String, u32)>, StoreError> {
        postgres_tasks::leases_by_owner(&self.pool, tenant).await
    }

    async fn sweep_finished_runs(&self, sweep: &super::RunSweep) -> Result<super::Swept, StoreError> {
        super::postgres_retention::sweep_runs(&self.pool, sweep).await
    }

    async fn sweep_expired_keys(&self, sweep: &super::KeySweep) -> Result<super::Swept, StoreError> {
        super::postgres_retention::sweep_keys(&self.pool, sweep).await
    }

    async fn run_tombstone(&self, tenant: &str, id: &str) -> Result<Option<i64>, StoreError> {
        super::postgres_retention::tombstone(&self.pool, tenant, id).await
    }

    async fn reclaim_space(&self) -> Result<super::Swept, StoreError> {
        Ok(super::Swept::default())
    }

    async fn get_approval(&self, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        postgres_approvals::get(&self.pool, tenant, id).await
    }

    async fn list_approvals(&self, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, StoreError> {
        postgres_approvals::list(&self.pool, tenant, query).await
    }
}
