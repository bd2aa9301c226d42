//! What the store is given and answers about runs: one group commit of the
//! run writer ([`RunBatch`], [`CommitStore`]), listing filters and pages,
//! and the open runs recovery replays.
//!
//! [`RunStore`], the reads, is written once here for both databases over
//! [`Dialect`]; the commits are each database's own (`sqlite/commit.rs`
//! on rusqlite, `postgres/commit.rs` with UNNEST arrays).

use std::collections::HashMap;

use async_trait::async_trait;

use super::dialect::{Arg, Dialect};
use super::paging;
use super::rows::{self, Columns, OPEN_RUNS, RUN_COLUMNS};
use super::unreadable::listed;
use super::{LeasedTask, StoreError};
use crate::model::{
    ApprovalDecision, ApprovalRecord, EventRecord, RunRecord, RunStatus, StepRecord, TaskRecord, TimerRecord,
};

/// Everything one group commit writes, one multi-row statement per table.
/// Rows of a key appear at most once in each list (the writer keeps the
/// last version), so statement order within the commit does not matter.
#[derive(Debug, Clone, Default)]
pub struct RunBatch {
    /// Run rows to insert or update.
    pub runs: Vec<RunRecord>,
    /// Step rows to insert or update.
    pub steps: Vec<StepRecord>,
    /// New events.
    pub events: Vec<EventRecord>,
    /// Accepted commands.
    pub commands: Vec<CommandRow>,
    /// Timers armed.
    pub timers: Vec<TimerRecord>,
    /// Timers fired or cancelled: (run id, step key).
    pub timers_done: Vec<(String, String)>,
    /// Tasks queued (or re-queued for another attempt).
    pub tasks: Vec<TaskRecord>,
    /// Tasks whose step took an outcome: (run id, step key).
    pub tasks_done: Vec<(String, String)>,
    /// Tasks withdrawn because their step was cancelled: (run id, step key).
    pub tasks_cancelled: Vec<(String, String)>,
    /// Tasks whose current lease the step's timeout ended: (run id, step
    /// key). Its token is kept (before the lease ends as `tasks_done` or a
    /// re-queue says), so that lease's late calls are told why.
    pub tasks_timed_out: Vec<(String, String)>,
    /// Idempotency keys taken.
    pub idempotency: Vec<IdempotencyRow>,
    /// Approvals opened.
    pub approvals_opened: Vec<ApprovalRecord>,
    /// Decisions on open approvals (written after the openings).
    pub approvals_decided: Vec<ApprovalDecision>,
    /// Workers' claims, made after the rows above are written (so a task
    /// queued by this batch can be claimed by it), in order.
    pub claims: Vec<super::ClaimRequest>,
    /// Leases handed back to the queue before the claims are made, because
    /// the poll they were made for left before its answer: (task id, token).
    pub releases: Vec<(String, u64)>,
    /// Several replicas only: the partition leases the batch was decided
    /// under; nothing is written unless all are still held.
    pub fence: Option<super::Fence>,
    /// Inbox messages this batch applied, answered in the same commit so
    /// a message takes effect once.
    pub inbox_done: Vec<InboxAnswer>,
    /// Whether to wake other replicas (NOTIFY) about what this batch did.
    pub notify: bool,
    /// Runs created Queued, in arrival order (`run_queue` rows).
    pub queued: Vec<super::slots::QueueRow>,
    /// Runs under a concurrent-run limit that ended: their slot and queue
    /// rows are deleted.
    pub slots_freed: Vec<String>,
    /// Trace contexts of runs this batch creates, written onto their rows
    /// (after them); empty unless a run was started inside a trace.
    pub run_traces: Vec<super::RunTrace>,
}

/// One accepted command of a run, in the order the writer applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRow {
    /// The run it changed.
    pub run_id: String,
    /// Its position among the run's commands, from 1.
    pub position: u32,
    /// The command, as JSON.
    pub command: String,
}

/// An idempotency key given to a new run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRow {
    /// The tenant the key belongs to.
    pub tenant_id: String,
    /// The key the client sent.
    pub key: String,
    /// The run it started.
    pub run_id: String,
    /// When, ms since the epoch (the key's window starts here).
    pub created_ms: i64,
}

/// The answer to one inbox message a batch applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxAnswer {
    /// The inbox row.
    pub id: i64,
    /// The answer, as JSON.
    pub answer: String,
}

impl RunBatch {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.events.is_empty() && self.commands.is_empty()
    }
}

/// Filters and page position of a run listing.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only runs of this workflow.
    pub workflow_id: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs for this end user.
    pub user_id: Option<String>,
    /// Only runs with this trigger label.
    pub trigger: Option<String>,
    /// Only runs this schedule started.
    pub schedule_id: Option<String>,
    /// Resume after this (created ms, id) position, newest first.
    pub after: Option<(i64, String)>,
    /// Rows to skip, when `after` is `None`.
    pub offset: u32,
    /// Most rows to return.
    pub limit: u32,
}

/// One page of runs.
#[derive(Debug, Clone)]
pub struct RunPage {
    /// The rows, newest first.
    pub runs: Vec<RunRecord>,
    /// Rows matching the filters, across pages.
    pub total: u32,
    /// Whether rows follow this page.
    pub has_more: bool,
}

/// A run that was not finished when the process stopped, with the commands
/// that built it, in order (JSON, as written).
#[derive(Debug, Clone)]
pub struct OpenRun {
    /// The run row.
    pub run: RunRecord,
    /// Its accepted commands.
    pub commands: Vec<String>,
}

/// Where the run writer's group commits go; each database writes them its
/// own fastest way.
#[async_trait]
pub trait CommitStore: Send + Sync + 'static {
    /// Writes one group commit of the run writer in one transaction: all of
    /// it or none of it. Then makes the batch's task claims in the same
    /// transaction, each taking the oldest queued task matching it under a
    /// new lease (the next fencing token); answers one entry per claim, in
    /// order, `None` where nothing matched.
    async fn commit_runs(&self, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError>;
}

/// Where runs, their steps and events are read.
#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// A run and its step rows in list order.
    async fn get_run(&self, tenant: &str, id: &str) -> Result<(RunRecord, Vec<StepRecord>), StoreError>;

    /// A page of runs, newest first.
    async fn list_runs(&self, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError>;

    /// At most `limit` events of a run with a sequence above `after`, in
    /// order. Empty for an unknown run.
    async fn list_run_events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// Deletes a run with its steps, events, commands, timers and tasks.
    async fn delete_run(&self, tenant: &str, id: &str) -> Result<(), StoreError>;

    /// The run an idempotency key was given to after `since_ms`, if any.
    async fn find_idempotent_run(&self, tenant: &str, key: &str, since_ms: i64) -> Result<Option<String>, StoreError>;

    /// For each (tenant, key) of `keys` that an idempotency key was given
    /// to after `since_ms`: the run it named. One query however many keys,
    /// so the run writer checks a whole batch of starts in one round trip.
    async fn find_idempotent_runs(
        &self,
        keys: &[(String, String)],
        since_ms: i64,
    ) -> Result<HashMap<(String, String), String>, StoreError>;

    /// Every unfinished run with its commands, for recovery.
    async fn load_open_runs(&self) -> Result<Vec<OpenRun>, StoreError>;

    /// Every armed timer, for recovery.
    async fn list_timers(&self) -> Result<Vec<TimerRecord>, StoreError>;

    /// The unfinished runs among `ids`, with their commands: what the
    /// writer rebuilds after a failed commit or a panic in one transition,
    /// without reading every other open run.
    async fn load_open_runs_for(&self, ids: &[String]) -> Result<Vec<OpenRun>, StoreError>;

    /// The armed timers of the runs among `ids`.
    async fn list_timers_for(&self, ids: &[String]) -> Result<Vec<TimerRecord>, StoreError>;

    /// How many of `tenant`'s runs are open (pending, running or paused):
    /// what the open-runs limit counts. One indexed count (the partial
    /// `runs_open` index holds only open runs).
    async fn count_open_runs(&self, tenant: &str) -> Result<u64, StoreError>;
}

/// What differs between the databases around run reads; with it, a
/// [`Dialect`] is a [`RunStore`].
pub(crate) trait RunDialect: Dialect {
    /// A table of `tenant_id`, `idempotency_key` pairs from `?1`, a JSON
    /// array of [tenant, key] pairs ([`Arg::Pairs`]).
    const KEY_PAIRS: &'static str;

    /// `AND <column> IN <the strings of ?n>`, for a parameter bound as
    /// [`Arg::List`].
    fn in_list(column: &str, n: usize) -> String;
}

/// A condition added to a recovery read (Postgres: only runs of some
/// partitions), with its arguments, numbered from `?{first}`.
pub(crate) type Narrowing<'a> = (fn(&str, usize) -> String, &'a [Arg<'a>]);

/// Every run not in a terminal status, with its commands: two queries in
/// all, however many runs are open (recovery after a crash with thousands
/// of parked runs must not pay a round trip per run).
pub(crate) async fn open_runs<D: Dialect>(
    store: &D,
    within: Option<Narrowing<'_>>,
) -> Result<Vec<OpenRun>, StoreError> {
    let (run_filter, command_filter, args) = match within {
        Some((filter, args)) => (filter("id", 1), filter("r.id", 1), args),
        None => (String::new(), String::new(), &[][..]),
    };
    let mut conn = store.acquire().await?;
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE {OPEN_RUNS} {run_filter}");
    let rows = D::fetch_all(&mut *conn, &sql, args).await?;
    let mut open = Vec::with_capacity(rows.len());
    let mut index = HashMap::with_capacity(rows.len());
    for row in &rows {
        let run = rows::run(row)?;
        index.insert(run.id.clone(), open.len());
        open.push(OpenRun { run, commands: Vec::new() });
    }
    let sql = format!(
        "SELECT c.run_id, c.command FROM run_commands c JOIN runs r ON r.id = c.run_id \
         WHERE r.{OPEN_RUNS} {command_filter} ORDER BY c.run_id, c.seq"
    );
    for row in D::fetch_all(&mut *conn, &sql, args).await? {
        if let Some(&i) = index.get(&row.text("run_id")?) {
            open[i].commands.push(row.text("command")?);
        }
    }
    Ok(open)
}

/// Every armed timer (narrowed as [`open_runs`] is).
pub(crate) async fn timers<D: Dialect>(
    store: &D,
    within: Option<Narrowing<'_>>,
) -> Result<Vec<TimerRecord>, StoreError> {
    let (filter, args) = match within {
        Some((filter, args)) => (filter("run_id", 1), args),
        None => (String::new(), &[][..]),
    };
    let sql = format!("SELECT run_id, step_key, tenant_id, due_at FROM timers WHERE 1 = 1 {filter} ORDER BY due_at");
    let rows = D::fetch_all(&mut *store.acquire().await?, &sql, args).await?;
    rows.iter().map(rows::timer).collect()
}

/// Tables holding rows of a run, deleted with it.
const RUN_TABLES: [&str; 7] =
    ["run_steps", "run_events", "run_commands", "timers", "tasks", "run_idempotency", "approvals"];

#[async_trait]
impl<D: RunDialect> RunStore for D {
    async fn get_run(&self, tenant: &str, id: &str) -> Result<(RunRecord, Vec<StepRecord>), StoreError> {
        let mut conn = self.acquire().await?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ?1 AND id = ?2");
        let run = match D::fetch_optional(&mut *conn, &sql, &[Arg::Text(tenant), Arg::Text(id)]).await? {
            Some(row) => rows::run(&row)?,
            None => return Err(StoreError::run_not_found(id)),
        };
        let sql = "SELECT * FROM run_steps WHERE run_id = ?1 ORDER BY position, key";
        let steps = D::fetch_all(&mut *conn, sql, &[Arg::Text(id)]).await?;
        let steps = steps.iter().map(rows::step).collect::<Result<Vec<_>, _>>()?;
        Ok((run, steps))
    }

    async fn list_runs(&self, tenant: &str, query: &RunQuery) -> Result<RunPage, StoreError> {
        const FILTER: &str = "tenant_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR workflow_id = ?2) \
             AND (CAST(?3 AS TEXT) IS NULL OR status = ?3) AND (CAST(?4 AS TEXT) IS NULL OR user_id = ?4) \
             AND (CAST(?5 AS TEXT) IS NULL OR trigger_label = ?5) AND (CAST(?6 AS TEXT) IS NULL OR schedule_id = ?6)";
        let mut conn = self.acquire().await?;
        let filters = [
            Arg::Text(tenant),
            Arg::OptText(query.workflow_id.as_deref()),
            Arg::OptText(query.status.map(RunStatus::as_str)),
            Arg::OptText(query.user_id.as_deref()),
            Arg::OptText(query.trigger.as_deref()),
            Arg::OptText(query.schedule_id.as_deref()),
        ];
        let count = format!("SELECT COUNT(*) AS n FROM runs WHERE {FILTER}");
        let total = paging::count::<D>(&mut *conn, &count, &filters).await?;
        let mut args = filters.to_vec();
        args.extend(paging::after(&query.after));
        args.push(paging::limit_plus_one(query.limit));
        args.push(Arg::Int(if query.after.is_some() { 0 } else { i64::from(query.offset) }));
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE {FILTER} \
               AND (CAST(?7 AS BIGINT) IS NULL OR created_at < ?7 OR (created_at = ?7 AND id < ?8)) \
             ORDER BY created_at DESC, id DESC LIMIT ?9 OFFSET ?10"
        );
        let rows = D::fetch_all(&mut *conn, &sql, &args).await?;
        let (runs, has_more) = paging::page(&rows, "run", query.limit, rows::run);
        Ok(RunPage { runs, total, has_more })
    }

    async fn list_run_events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let sql = "SELECT e.payload FROM run_events e JOIN runs r ON r.id = e.run_id AND r.tenant_id = ?1 \
             WHERE e.run_id = ?2 AND e.sequence > ?3 ORDER BY e.sequence LIMIT ?4";
        let args = [Arg::Text(tenant), Arg::Text(run_id), Arg::Int(after as i64), Arg::Int(i64::from(limit))];
        let rows = D::fetch_all(&mut *self.acquire().await?, sql, &args).await?;
        let read = |row: &D::Row| -> Result<EventRecord, StoreError> {
            let payload = row.json_text("payload")?.unwrap_or_default();
            serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("event of {run_id}: {e}")))
        };
        Ok(rows.iter().filter_map(|row| listed("event of run", run_id, read(row))).collect())
    }

    async fn delete_run(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = D::execute(
            &mut *tx,
            "DELETE FROM runs WHERE tenant_id = ?1 AND id = ?2",
            &[Arg::Text(tenant), Arg::Text(id)],
        )
        .await?;
        if deleted == 0 {
            return Err(StoreError::run_not_found(id));
        }
        for table in RUN_TABLES {
            D::execute(&mut *tx, &format!("DELETE FROM {table} WHERE run_id = ?1"), &[Arg::Text(id)]).await?;
        }
        D::commit(tx).await
    }

    async fn find_idempotent_run(&self, tenant: &str, key: &str, since_ms: i64) -> Result<Option<String>, StoreError> {
        let sql =
            "SELECT run_id FROM run_idempotency WHERE tenant_id = ?1 AND idempotency_key = ?2 AND created_at > ?3";
        let args = [Arg::Text(tenant), Arg::Text(key), Arg::Int(since_ms)];
        let row = D::fetch_optional(&mut *self.acquire().await?, sql, &args).await?;
        row.map(|row| row.text("run_id")).transpose()
    }

    async fn find_idempotent_runs(
        &self,
        keys: &[(String, String)],
        since_ms: i64,
    ) -> Result<HashMap<(String, String), String>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT i.tenant_id, i.idempotency_key, i.run_id FROM ({}) k JOIN run_idempotency i \
               ON i.tenant_id = k.tenant_id AND i.idempotency_key = k.idempotency_key \
             WHERE i.created_at > ?2",
            D::KEY_PAIRS
        );
        let rows = D::fetch_all(&mut *self.acquire().await?, &sql, &[Arg::Pairs(keys), Arg::Int(since_ms)]).await?;
        rows.iter()
            .map(|row| Ok(((row.text("tenant_id")?, row.text("idempotency_key")?), row.text("run_id")?)))
            .collect()
    }

    async fn load_open_runs(&self) -> Result<Vec<OpenRun>, StoreError> {
        open_runs(self, None).await
    }

    async fn list_timers(&self) -> Result<Vec<TimerRecord>, StoreError> {
        timers(self, None).await
    }

    async fn load_open_runs_for(&self, ids: &[String]) -> Result<Vec<OpenRun>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        open_runs(self, Some((D::in_list, &[Arg::List(ids)]))).await
    }

    async fn list_timers_for(&self, ids: &[String]) -> Result<Vec<TimerRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        timers(self, Some((D::in_list, &[Arg::List(ids)]))).await
    }

    async fn count_open_runs(&self, tenant: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) AS n FROM runs WHERE {OPEN_RUNS} AND tenant_id = ?1");
        let n = paging::count::<D>(&mut *self.acquire().await?, &sql, &[Arg::Text(tenant)]).await?;
        Ok(u64::from(n))
    }
}
