//! The run writer's group commits on SQLite, made on a thread of their own
//! through one rusqlite connection.
//!
//! Why not sqlx here: sqlx runs each statement on its connection's worker
//! thread and hands the statement and every result across threads, and
//! the multi-row statements a batch built changed their text with every
//! batch size, so its statement cache kept preparing them anew. A group
//! commit is a dozen statements plus two per claim; the worker benchmark's
//! profile put about 45% of all CPU in those statements and 20% in futex
//! wake-ups between threads. Here a batch crosses to the commit thread
//! once, each statement is a single-row statement prepared once and cached,
//! and the whole transaction runs without leaving the thread.
//!
//! Everything else (reads, workflow writes, heartbeats) stays on the sqlx
//! pool; both sides begin writes IMMEDIATE with a busy timeout, so they
//! queue for SQLite's one write lock instead of failing.
//!
//! Housekeeping writes that would otherwise contend with the commits for
//! that lock (retention's deletion batches, WAL restarts, incremental
//! vacuum) run here too, as [`Job::Chore`]s between two batches: a commit
//! then waits in the queue for a chore of a few milliseconds instead of
//! sleeping in SQLite's busy handler. This connection never checkpoints
//! on its own (`wal_autocheckpoint = 0`): `wal.rs` does it beside
//! the commits, not inside them.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter};
use serde_json::Value;
use tokio::sync::oneshot;

use async_trait::async_trait;

use super::SqliteStore;
use crate::model::StepKind;
use crate::store::runs::{CommitStore, RunBatch};
use crate::store::tasks::{LeasedTask, TaskClaim};
use crate::store::{StoreError, TraceContext};

type Reply = oneshot::Sender<Result<Vec<Option<LeasedTask>>, StoreError>>;

/// Work for the commit thread.
pub(super) enum Job {
    /// One batch to write and where its answer goes.
    Batch { batch: Box<RunBatch>, reply: Reply },
    /// Other work on the connection, which answers for itself.
    Chore(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// The commit thread and the way to it.
pub(super) struct CommitThread {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Batches written so far, so the checkpointer can tell when the
    /// writer is idle.
    batches: Arc<AtomicU64>,
}

impl CommitThread {
    /// Opens a connection to the database file at `path` (already created
    /// and migrated through sqlx) and starts the thread that owns it.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Per connection: the journal mode is the file's, but durability
        // and foreign keys are each connection's own.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Checkpoints happen beside the commits (wal.rs), not in them.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // A claim's statement text varies with its agents; leave room.
        conn.set_prepared_statement_cache_capacity(64);
        let (jobs, inbox) = mpsc::channel::<Job>();
        let batches = Arc::new(AtomicU64::new(0));
        let counted = batches.clone();
        let thread = std::thread::Builder::new()
            .name("weft-sqlite-commit".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = inbox.recv() {
                    match job {
                        Job::Batch { batch, reply } => {
                            // A panic while writing rolls the transaction back as
                            // it unwinds; it fails this batch, not every later one.
                            let written =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&mut conn, &batch)))
                                    .unwrap_or_else(|_| {
                                        Err(StoreError::Corrupt("the commit thread panicked writing a batch".into()))
                                    });
                            counted.fetch_add(1, Ordering::Relaxed);
                            let _ = reply.send(written);
                        }
                        // A chore that panics drops its answer; the caller sees Closed.
                        Job::Chore(chore) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chore(&mut conn)));
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the commit thread: {e}")))?;
        Ok(Self { jobs: Mutex::new(Some(jobs)), thread: Mutex::new(Some(thread)), batches })
    }

    /// How many batches the thread has written.
    pub(super) fn batches(&self) -> Arc<AtomicU64> {
        self.batches.clone()
    }

    /// A way to hand the thread chores from another thread; `None` once
    /// closing. It keeps the thread alive: drop it before [`Self::close`].
    pub(super) fn chores(&self) -> Option<mpsc::Sender<Job>> {
        self.jobs.lock().expect("commit sender lock").clone()
    }

    /// Runs `chore` on the commit thread's connection, between batches.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        chore: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let jobs = self.chores().ok_or(StoreError::Closed)?;
        let job = Job::Chore(Box::new(move |conn| {
            let _ = reply.send(chore(conn));
        }));
        jobs.send(job).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Writes `batch` in one transaction; the claims' leases, in order.
    pub(super) async fn commit(&self, batch: RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let jobs = self.jobs.lock().expect("commit sender lock").clone().ok_or(StoreError::Closed)?;
        jobs.send(Job::Batch { batch: Box::new(batch), reply }).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Lets the thread finish the batch in hand and waits for it to close
    /// its connection.
    pub(super) async fn close(&self) {
        drop(self.jobs.lock().expect("commit sender lock").take());
        let thread = self.thread.lock().expect("commit thread lock").take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(|v| v.to_string())
}

/// Writes one group commit atomically.
fn write(conn: &mut Connection, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write_runs(&tx, batch)?;
    write_run_traces(&tx, batch)?;
    write_timers(&tx, batch)?;
    write_tasks(&tx, batch)?;
    write_approvals(&tx, batch)?;
    super::slots::write_in_commit(&tx, batch)?;
    {
        // An expired key (older than its TTL) is taken over by the new run.
        let mut keys = tx.prepare_cached(
            "INSERT INTO run_idempotency (tenant_id, idempotency_key, run_id, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant_id, idempotency_key) DO UPDATE SET run_id = excluded.run_id, \
             created_at = excluded.created_at",
        )?;
        for row in &batch.idempotency {
            keys.execute(params![row.tenant_id, row.key, row.run_id, row.created_ms])?;
        }
        let mut release = tx.prepare_cached(
            "UPDATE tasks SET status = 'queued', lease_owner = NULL, lease_deadline = NULL, claimed_by = NULL \
             WHERE task_id = ?1 AND lease_token = ?2 AND status = 'leased'",
        )?;
        for (task_id, token) in &batch.releases {
            release.execute(params![task_id, *token as i64])?;
        }
    }
    let mut claimed = Vec::with_capacity(batch.claims.len());
    for claim in &batch.claims {
        claimed.push(claim_one(&tx, &claim.as_claim())?);
    }
    tx.commit()?;
    Ok(claimed)
}

/// Puts the trace context of each run the batch creates on its row (the
/// run upsert never touches these columns, so it is written once).
fn write_run_traces(tx: &Transaction<'_>, batch: &RunBatch) -> Result<(), StoreError> {
    if batch.run_traces.is_empty() {
        return Ok(());
    }
    let mut traces = tx.prepare_cached("UPDATE runs SET trace_parent = ?2, trace_state = ?3 WHERE id = ?1")?;
    for trace in &batch.run_traces {
        traces.execute(params![trace.run_id, trace.context.traceparent, trace.context.tracestate])?;
    }
    Ok(())
}

fn write_runs(tx: &Transaction<'_>, batch: &RunBatch) -> Result<(), StoreError> {
    let mut runs = tx.prepare_cached(
        "INSERT INTO runs (id, tenant_id, workflow_id, workflow_version, user_id, status, input, output, \
         shared_state, error, cancel_reason, can_retry_from, cost_cents, trigger_label, idempotency_key, \
         created_at, started_at, completed_at, retry_of_run_id, error_code, pending_action, retention_ms, \
         schedule_id, scheduled_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
         ?22, ?23, ?24) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, output = excluded.output, \
         pending_action = excluded.pending_action, shared_state = excluded.shared_state, error = excluded.error, \
         error_code = excluded.error_code, cancel_reason = excluded.cancel_reason, \
         can_retry_from = excluded.can_retry_from, cost_cents = excluded.cost_cents, \
         started_at = excluded.started_at, completed_at = excluded.completed_at",
    )?;
    for r in &batch.runs {
        runs.execute(params![
            r.id,
            r.tenant_id,
            r.workflow_id,
            i64::from(r.workflow_version),
            r.user_id,
            r.status.as_str(),
            json_text(&r.input),
            json_text(&r.output),
            json_text(&r.shared_state),
            r.error,
            r.cancel_reason,
            r.can_retry_from,
            r.cost_cents,
            r.trigger,
            r.idempotency_key,
            r.created_ms,
            r.started_ms,
            r.completed_ms,
            r.retry_of_run_id,
            r.error_code,
            json_text(&r.pending_action),
            r.retention_ms,
            r.schedule_id,
            r.scheduled_ms,
        ])?;
    }
    let mut steps = tx.prepare_cached(
        "INSERT INTO run_steps (run_id, key, position, step_id, kind, parent_id, item_index, status, attempts, \
         output, error, cost_cents, started_at, completed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (run_id, key) DO UPDATE SET position = excluded.position, status = excluded.status, \
         attempts = excluded.attempts, output = excluded.output, error = excluded.error, \
         cost_cents = excluded.cost_cents, started_at = excluded.started_at, completed_at = excluded.completed_at",
    )?;
    for s in &batch.steps {
        steps.execute(params![
            s.run_id,
            s.key,
            i64::from(s.position),
            s.step_id,
            s.kind.as_str(),
            s.parent_id,
            s.item_index.map(i64::from),
            s.status.as_str(),
            i64::from(s.attempts),
            json_text(&s.output),
            s.error,
            s.cost_cents,
            s.started_ms,
            s.completed_ms,
        ])?;
    }
    let mut events = tx.prepare_cached(
        "INSERT INTO run_events (run_id, sequence, type, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for e in &batch.events {
        let payload = serde_json::to_string(e).expect("events always serialize");
        events.execute(params![e.run_id, e.sequence as i64, e.event_type, payload, e.created_ms])?;
    }
    let mut commands = tx.prepare_cached("INSERT INTO run_commands (run_id, seq, command) VALUES (?1, ?2, ?3)")?;
    for row in &batch.commands {
        commands.execute(params![row.run_id, i64::from(row.position), row.command])?;
    }
    Ok(())
}

fn write_timers(tx: &Transaction<'_>, batch: &RunBatch) -> Result<(), StoreError> {
    let mut done = tx.prepare_cached("DELETE FROM timers WHERE run_id = ?1 AND step_key = ?2")?;
    for (run, key) in &batch.timers_done {
        done.execute(params![run, key])?;
    }
    let mut armed = tx.prepare_cached(
        "INSERT INTO timers (run_id, step_key, tenant_id, due_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (run_id, step_key) DO UPDATE SET due_at = excluded.due_at",
    )?;
    for t in &batch.timers {
        armed.execute(params![t.run_id, t.step_key, t.tenant_id, t.due_ms])?;
    }
    Ok(())
}

/// The task rows of the batch. A task queued again (the next attempt)
/// keeps its id and its last token, so its next lease gets a higher one.
fn write_tasks(tx: &Transaction<'_>, batch: &RunBatch) -> Result<(), StoreError> {
    // Before the lease ends below: it keeps the token that timed out.
    let mut timed_out = tx.prepare_cached(
        "UPDATE tasks SET timed_out_token = lease_token WHERE run_id = ?1 AND step_key = ?2 AND status = 'leased'",
    )?;
    for (run, key) in &batch.tasks_timed_out {
        timed_out.execute(params![run, key])?;
    }
    let mut finish = tx.prepare_cached(
        "UPDATE tasks SET status = ?3, lease_owner = NULL, lease_deadline = NULL WHERE run_id = ?1 AND step_key = ?2",
    )?;
    for (run, key) in &batch.tasks_done {
        finish.execute(params![run, key, "done"])?;
    }
    for (run, key) in &batch.tasks_cancelled {
        finish.execute(params![run, key, "cancelled"])?;
    }
    let mut queue = tx.prepare_cached(
        "INSERT INTO tasks (task_id, run_id, step_key, tenant_id, attempt, kind, agent, task, input, created_at, \
         timeout_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (run_id, step_key) DO UPDATE SET attempt = excluded.attempt, task = excluded.task, \
         input = excluded.input, created_at = excluded.created_at, status = 'queued', lease_owner = NULL, \
         lease_deadline = NULL, cost_so_far = 0, timeout_ms = excluded.timeout_ms, attempt_deadline = NULL, \
         claimed_by = NULL",
    )?;
    for t in &batch.tasks {
        queue.execute(params![
            t.task_id,
            t.run_id,
            t.step_key,
            t.tenant_id,
            i64::from(t.attempt),
            t.kind.as_str(),
            t.agent,
            t.task,
            t.input.to_string(),
            t.created_ms,
            t.timeout_ms,
        ])?;
    }
    Ok(())
}

/// Approvals opened, then decided, so one opened and decided in one batch
/// ends decided.
fn write_approvals(tx: &Transaction<'_>, batch: &RunBatch) -> Result<(), StoreError> {
    let mut open = tx.prepare_cached(
        "INSERT INTO approvals (id, tenant_id, run_id, step_key, kind, action, tool, arguments, message, \
         options, status, default_action, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT (id) DO NOTHING",
    )?;
    for a in &batch.approvals_opened {
        let options = serde_json::to_string(&a.options).expect("strings serialize");
        open.execute(params![
            a.id,
            a.tenant_id,
            a.run_id,
            a.step_key,
            a.kind.as_str(),
            a.action,
            a.tool,
            a.arguments.to_string(),
            a.message,
            options,
            a.status.as_str(),
            a.default_action,
            a.expires_ms,
            a.created_ms,
        ])?;
    }
    let mut decide = tx.prepare_cached(
        "UPDATE approvals SET status = ?2, decision = ?3, option = ?4, decided_by = ?5, decided_at = ?6, \
         comment = ?7 WHERE id = ?1",
    )?;
    for d in &batch.approvals_decided {
        decide.execute(params![
            d.id,
            d.status.as_str(),
            d.decision,
            d.option,
            d.decided_by,
            d.decided_ms,
            d.comment
        ])?;
    }
    Ok(())
}

/// Claims the oldest queued task of the claim's agents and kinds, if any.
fn claim_one(tx: &Transaction<'_>, claim: &TaskClaim<'_>) -> Result<Option<LeasedTask>, StoreError> {
    let agents = vec!["?"; claim.agents.len()].join(", ");
    let kinds = vec!["?"; claim.kinds.len()].join(", ");
    // A tenant's claim stays in its tenant; the built-in executor's takes
    // any tenant's task (and acts in the task's tenant).
    let tenant = claim.scope.tenant();
    let in_tenant = if tenant.is_some() { "AND tenant_id = ?" } else { "" };
    // A step timeout starts its attempt's clock here; the lease never
    // outlives it.
    let sql = format!(
        "UPDATE tasks SET status = 'leased', lease_token = lease_token + 1, lease_owner = ?, \
         claimed_by = ?, attempt_deadline = ? + timeout_ms, lease_deadline = MIN(?, COALESCE(? + timeout_ms, ?)), \
         cost_so_far = 0 WHERE (run_id, step_key) = (SELECT run_id, step_key FROM tasks \
         WHERE status = 'queued' {in_tenant} AND agent IN ({agents}) AND kind IN ({kinds}) \
         ORDER BY created_at, task_id LIMIT 1) \
         RETURNING task_id, tenant_id, run_id, step_key, attempt, kind, agent, task, input, lease_token, lease_deadline, \
         attempt_deadline, created_at"
    );
    let deadline = claim.now_ms.saturating_add(claim.lease_ms);
    let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(8 + claim.agents.len() + claim.kinds.len());
    // Once as the lease's owner, once as who claimed the attempt (kept
    // after the lease ends).
    values.push(claim.worker_id.to_owned().into());
    values.push(claim.worker_id.to_owned().into());
    values.push(claim.now_ms.into());
    values.push(deadline.into());
    values.push(claim.now_ms.into());
    values.push(deadline.into());
    if let Some(tenant) = tenant {
        values.push(tenant.to_owned().into());
    }
    values.extend(claim.agents.iter().map(|a| a.clone().into()));
    values.extend(claim.kinds.iter().map(|k| (*k).to_owned().into()));
    let mut update = tx.prepare_cached(&sql)?;
    let row = update
        .query_row(params_from_iter(values), |row| {
            Ok((
                row.get::<_, String>("task_id")?,
                row.get::<_, String>("tenant_id")?,
                row.get::<_, String>("run_id")?,
                row.get::<_, String>("step_key")?,
                row.get::<_, i64>("attempt")?,
                row.get::<_, String>("kind")?,
                row.get::<_, Option<String>>("agent")?,
                row.get::<_, Option<String>>("task")?,
                row.get::<_, String>("input")?,
                row.get::<_, i64>("lease_token")?,
                row.get::<_, i64>("lease_deadline")?,
                row.get::<_, Option<i64>>("attempt_deadline")?,
                row.get::<_, i64>("created_at")?,
            ))
        })
        .optional()?;
    let Some((
        task_id,
        tenant_id,
        run_id,
        step_key,
        attempt,
        kind,
        agent,
        task,
        input,
        token,
        lease_deadline,
        attempt_deadline,
        queued_ms,
    )) = row
    else {
        return Ok(None);
    };
    let mut run = tx.prepare_cached(
        "SELECT workflow_id, workflow_version, user_id, started_at, trace_parent, trace_state FROM runs WHERE id = ?1",
    )?;
    let (workflow_id, workflow_version, user_id, run_started_ms, trace_context) =
        run.query_row(params![run_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<i64>>(3)?,
                TraceContext::from_columns(row.get(4)?, row.get(5)?),
            ))
        })?;
    let input = serde_json::from_str::<Value>(&input)
        .map_err(|e| StoreError::Corrupt(format!("input of task {task_id}: {e}")))?;
    Ok(Some(LeasedTask {
        input,
        step_key,
        workflow_id,
        workflow_version: workflow_version as u32,
        user_id,
        run_started_ms,
        attempt: attempt as u32,
        kind: StepKind::from_name(&kind).ok_or_else(|| StoreError::unknown_value("task", &task_id, "kind", &kind))?,
        agent: agent.unwrap_or_default(),
        task,
        lease_token: token as u64,
        lease_deadline_ms: lease_deadline,
        attempt_deadline_ms: attempt_deadline,
        queued_ms,
        task_id,
        tenant_id,
        run_id,
        shared_state: None,
        trace_context,
    }))
}

#[async_trait]
impl CommitStore for SqliteStore {
    async fn commit_runs(&self, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
        // The commit thread needs the batch for as long as it writes. The
        // clone stands in for the per-value copies sqlx's binds made before
        // (rusqlite binds by reference), so the commit copies no more than
        // it did; the writer keeps its batch to publish the events.
        self.commits.commit(batch.clone()).await
    }
}
