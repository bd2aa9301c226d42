//! Cron schedules as the store keeps them (migration 0016): one row per
//! schedule, holding what the user set and the durable timer
//! (`next_fire_at`) the engine's fire loop (`engine/schedules`) waits on.
//!
//! [`ScheduleStore`] is written once here for both databases over
//! [`Dialect`]. The store only remembers: cron math, overlap and catch-up
//! are the engine's. A fire is recorded with a compare-and-set on the
//! timer it consumed ([`ScheduleStore::record_fire`]), so of two replicas
//! (or a replica and its own restart) only one moves a schedule on.

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;

/// What a schedule does when a tick comes while its previous run is
/// unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Start nothing for that tick.
    #[default]
    Skip,
    /// Start the run anyway.
    Allow,
    /// Hold one tick back and start it when the previous run ends.
    BufferOne,
}

impl Overlap {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Allow => "allow",
            Self::BufferOne => "buffer_one",
        }
    }

    /// The policy a stored name means.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "skip" => Some(Self::Skip),
            "allow" => Some(Self::Allow),
            "buffer_one" => Some(Self::BufferOne),
            _ => None,
        }
    }
}

/// What a schedule does about ticks missed while no server ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// One run for the whole missed window.
    #[default]
    Once,
    /// Nothing for the missed window.
    Skip,
}

impl CatchUp {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::Skip => "none",
        }
    }

    /// The policy a stored name means.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "once" => Some(Self::Once),
            "none" => Some(Self::Skip),
            _ => None,
        }
    }
}

/// One schedule, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    /// `sched_…`.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// The workflow it starts (`wf_…`).
    pub workflow_id: String,
    /// The cron expression, as given.
    pub cron_expression: String,
    /// The IANA zone it is read in.
    pub timezone: String,
    /// The input of its runs, as JSON text; `None` for no input.
    pub input: Option<String>,
    /// Whether it fires.
    pub enabled: bool,
    /// Its overlap policy.
    pub overlap: Overlap,
    /// Its catch-up policy.
    pub catch_up: CatchUp,
    /// Pinned workflow version; 0 for the latest at each fire.
    pub version: u32,
    /// End user its runs act for.
    pub user_id: String,
    /// The tick it fires next, ms since the epoch; `None` while disabled.
    pub next_fire_ms: Option<i64>,
    /// A tick held back by BUFFER_ONE until the previous run ends.
    pub buffered_ms: Option<i64>,
    /// The last tick it fired (or skipped).
    pub last_fire_ms: Option<i64>,
    /// The last run it started.
    pub last_run_id: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last change by a user, ms since the epoch.
    pub updated_ms: i64,
}

/// Why an insert stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertRefusal {
    /// The workflow already has the most schedules allowed.
    WorkflowFull,
    /// The tenant already has the most schedules allowed.
    TenantFull,
}

/// What a fire changes on its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireRecord {
    /// The next tick, or `None` when the expression has no more.
    pub next_fire_ms: Option<i64>,
    /// The tick held back, if any.
    pub buffered_ms: Option<i64>,
    /// The tick just fired or skipped.
    pub last_fire_ms: Option<i64>,
    /// The run started, if one was.
    pub last_run_id: Option<String>,
}

/// Where schedules live.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Stores `schedule` unless its workflow already has `max_per_workflow`
    /// schedules or its tenant `max_per_tenant`: nothing is stored then.
    async fn insert_schedule(
        &self,
        schedule: &ScheduleRecord,
        max_per_workflow: u32,
        max_per_tenant: u32,
    ) -> Result<Result<(), InsertRefusal>, StoreError>;

    /// A tenant's schedule by id.
    async fn get_schedule(&self, tenant: &str, id: &str) -> Result<Option<ScheduleRecord>, StoreError>;

    /// A schedule by id whatever its tenant (the fire loop's read).
    async fn schedule_by_id(&self, id: &str) -> Result<Option<ScheduleRecord>, StoreError>;

    /// The schedules of `ids` that exist, whatever their tenant, in no
    /// particular order (the fire loop's read of a batch).
    async fn schedules_by_ids(&self, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError>;

    /// At most `limit` of a workflow's schedules, oldest first, after the
    /// (created ms, id) position `after`.
    async fn list_schedules(
        &self,
        tenant: &str,
        workflow_id: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<ScheduleRecord>, StoreError>;

    /// Replaces what a user sets and the timer of the tenant's schedule
    /// `schedule.id`; false when the tenant has no such schedule.
    async fn update_schedule(&self, schedule: &ScheduleRecord) -> Result<bool, StoreError>;

    /// Deletes a tenant's schedule; false when there is none.
    async fn delete_schedule(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;

    /// (id, tick) of at most `limit` schedules whose next tick is due by
    /// `until_ms`, earliest first, and of every schedule holding a
    /// buffered tick (at its buffered tick).
    async fn due_schedules(&self, until_ms: i64, limit: u32) -> Result<Vec<(String, i64)>, StoreError>;

    /// Records a fire of schedule `id` if its timer still is
    /// (`next_fire_ms`, `buffered_ms`) as the fire read it; false (nothing
    /// written) when another fire or a user's change came first.
    async fn record_fire(
        &self,
        id: &str,
        seen: (Option<i64>, Option<i64>),
        fire: &FireRecord,
    ) -> Result<bool, StoreError>;

    /// [`ScheduleStore::record_fire`] of several fires in one transaction:
    /// for each, whether it was recorded.
    async fn record_fires(&self, fires: &[FireBatchEntry]) -> Result<Vec<bool>, StoreError>;
}

/// One fire of a batch: the schedule, its timer as the fire read it
/// (next, buffered), and what the fire changes.
pub type FireBatchEntry = (String, (Option<i64>, Option<i64>), FireRecord);

const COLUMNS: &str = "id, tenant_id, workflow_id, cron_expression, timezone, input_data, enabled, overlap, \
     catch_up, version, user_id, next_fire_at, buffered_at, last_fire_at, last_run_id, created_at, updated_at";

fn schedule(row: &impl Columns) -> Result<ScheduleRecord, StoreError> {
    let id = row.text("id")?;
    let overlap_text = row.text("overlap")?;
    let overlap = Overlap::parse(&overlap_text)
        .ok_or_else(|| StoreError::unknown_value("schedules", &id, "overlap", &overlap_text))?;
    let catch_up_text = row.text("catch_up")?;
    let catch_up = CatchUp::parse(&catch_up_text)
        .ok_or_else(|| StoreError::unknown_value("schedules", &id, "catch_up", &catch_up_text))?;
    Ok(ScheduleRecord {
        tenant_id: row.text("tenant_id")?,
        workflow_id: row.text("workflow_id")?,
        cron_expression: row.text("cron_expression")?,
        timezone: row.text("timezone")?,
        input: row.opt_text("input_data")?,
        enabled: row.int("enabled")? != 0,
        overlap,
        catch_up,
        version: u32::try_from(row.int("version")?).unwrap_or(0),
        user_id: row.text("user_id")?,
        next_fire_ms: row.opt_int("next_fire_at")?,
        buffered_ms: row.opt_int("buffered_at")?,
        last_fire_ms: row.opt_int("last_fire_at")?,
        last_run_id: row.opt_text("last_run_id")?,
        created_ms: row.int("created_at")?,
        updated_ms: row.int("updated_at")?,
        id,
    })
}

/// Rows decoded one by one: a damaged row is logged and left out, so it
/// never fails a listing.
fn decoded<R: Columns>(rows: &[R]) -> Vec<ScheduleRecord> {
    rows.iter()
        .filter_map(|row| match schedule(row) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::error!(error = %err, "a stored schedule was skipped");
                None
            }
        })
        .collect()
}

/// How the timer columns compare in a compare-and-set: NULL as -1 (no
/// tick is negative).
fn seen_arg(value: Option<i64>) -> i64 {
    value.unwrap_or(-1)
}

/// A fire's compare-and-set; the last run is kept when the fire started
/// none.
const RECORD_FIRE: &str = "UPDATE schedules SET next_fire_at = ?4, buffered_at = ?5, last_fire_at = ?6, \
     last_run_id = COALESCE(?7, last_run_id) \
     WHERE id = ?1 AND COALESCE(next_fire_at, -1) = ?2 AND COALESCE(buffered_at, -1) = ?3";

fn fire_args<'a>(
    id: &'a str,
    (next_seen, buffered_seen): (Option<i64>, Option<i64>),
    fire: &'a FireRecord,
) -> [Arg<'a>; 7] {
    [
        Arg::Text(id),
        Arg::Int(seen_arg(next_seen)),
        Arg::Int(seen_arg(buffered_seen)),
        Arg::OptInt(fire.next_fire_ms),
        Arg::OptInt(fire.buffered_ms),
        Arg::OptInt(fire.last_fire_ms),
        Arg::OptText(fire.last_run_id.as_deref()),
    ]
}

#[async_trait]
impl<D: Dialect> ScheduleStore for D {
    async fn insert_schedule(
        &self,
        s: &ScheduleRecord,
        max_per_workflow: u32,
        max_per_tenant: u32,
    ) -> Result<Result<(), InsertRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let count = "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN workflow_id = ?2 THEN 1 ELSE 0 END), 0) AS w \
             FROM schedules WHERE tenant_id = ?1";
        let (held, of_workflow) =
            match D::fetch_optional(&mut *tx, count, &[Arg::Text(&s.tenant_id), Arg::Text(&s.workflow_id)]).await? {
                Some(row) => (row.int("n")?, row.int("w")?),
                None => (0, 0),
            };
        if of_workflow >= i64::from(max_per_workflow) {
            return Ok(Err(InsertRefusal::WorkflowFull));
        }
        if held >= i64::from(max_per_tenant) {
            return Ok(Err(InsertRefusal::TenantFull));
        }
        let sql = format!(
            "INSERT INTO schedules ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        );
        let args = [
            Arg::Text(&s.id),
            Arg::Text(&s.tenant_id),
            Arg::Text(&s.workflow_id),
            Arg::Text(&s.cron_expression),
            Arg::Text(&s.timezone),
            Arg::OptText(s.input.as_deref()),
            Arg::Int(i64::from(s.enabled)),
            Arg::Text(s.overlap.as_str()),
            Arg::Text(s.catch_up.as_str()),
            Arg::Int(i64::from(s.version)),
            Arg::Text(&s.user_id),
            Arg::OptInt(s.next_fire_ms),
            Arg::OptInt(s.buffered_ms),
            Arg::OptInt(s.last_fire_ms),
            Arg::OptText(s.last_run_id.as_deref()),
            Arg::Int(s.created_ms),
            Arg::Int(s.updated_ms),
        ];
        D::execute(&mut *tx, &sql, &args).await?;
        D::commit(tx).await?;
        Ok(Ok(()))
    }

    async fn get_schedule(&self, tenant: &str, id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE tenant_id = ?1 AND id = ?2");
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(tenant), Arg::Text(id)]).await?;
        row.as_ref().map(schedule).transpose()
    }

    async fn schedule_by_id(&self, id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1");
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(id)]).await?;
        row.as_ref().map(schedule).transpose()
    }

    async fn schedules_by_ids(&self, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError> {
        let mut conn = self.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("?{n}")).collect();
            let sql = format!("SELECT {COLUMNS} FROM schedules WHERE id IN ({})", marks.join(", "));
            let args: Vec<Arg<'_>> = chunk.iter().map(|id| Arg::Text(id)).collect();
            out.extend(decoded(&D::fetch_all(&mut *conn, &sql, &args).await?));
        }
        Ok(out)
    }

    async fn list_schedules(
        &self,
        tenant: &str,
        workflow_id: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let (after_ms, after_id) = after.unwrap_or((i64::MIN, String::new()));
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules WHERE tenant_id = ?1 AND workflow_id = ?2 \
             AND (created_at > ?3 OR (created_at = ?3 AND id > ?4)) ORDER BY created_at, id LIMIT ?5"
        );
        let args = [
            Arg::Text(tenant),
            Arg::Text(workflow_id),
            Arg::Int(after_ms),
            Arg::Text(&after_id),
            Arg::Int(i64::from(limit)),
        ];
        let rows = D::fetch_all(&mut *self.acquire().await?, &sql, &args).await?;
        Ok(decoded(&rows))
    }

    async fn update_schedule(&self, s: &ScheduleRecord) -> Result<bool, StoreError> {
        let sql = "UPDATE schedules SET cron_expression = ?3, timezone = ?4, input_data = ?5, enabled = ?6, \
             overlap = ?7, catch_up = ?8, version = ?9, user_id = ?10, next_fire_at = ?11, buffered_at = ?12, \
             updated_at = ?13 WHERE tenant_id = ?1 AND id = ?2";
        let args = [
            Arg::Text(&s.tenant_id),
            Arg::Text(&s.id),
            Arg::Text(&s.cron_expression),
            Arg::Text(&s.timezone),
            Arg::OptText(s.input.as_deref()),
            Arg::Int(i64::from(s.enabled)),
            Arg::Text(s.overlap.as_str()),
            Arg::Text(s.catch_up.as_str()),
            Arg::Int(i64::from(s.version)),
            Arg::Text(&s.user_id),
            Arg::OptInt(s.next_fire_ms),
            Arg::OptInt(s.buffered_ms),
            Arg::Int(s.updated_ms),
        ];
        Ok(D::execute(&mut *self.acquire().await?, sql, &args).await? > 0)
    }

    async fn delete_schedule(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM schedules WHERE tenant_id = ?1 AND id = ?2";
        Ok(D::execute(&mut *self.acquire().await?, sql, &[Arg::Text(tenant), Arg::Text(id)]).await? > 0)
    }

    async fn due_schedules(&self, until_ms: i64, limit: u32) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.acquire().await?;
        let sql = "SELECT id, next_fire_at AS due FROM schedules WHERE next_fire_at IS NOT NULL \
             AND next_fire_at <= ?1 ORDER BY next_fire_at, id LIMIT ?2";
        let mut rows = D::fetch_all(&mut *conn, sql, &[Arg::Int(until_ms), Arg::Int(i64::from(limit))]).await?;
        let sql = "SELECT id, buffered_at AS due FROM schedules WHERE buffered_at IS NOT NULL ORDER BY buffered_at, id \
             LIMIT ?1";
        rows.extend(D::fetch_all(&mut *conn, sql, &[Arg::Int(i64::from(limit))]).await?);
        rows.iter().map(|row| Ok((row.text("id")?, row.int("due")?))).collect()
    }

    async fn record_fire(
        &self,
        id: &str,
        seen: (Option<i64>, Option<i64>),
        fire: &FireRecord,
    ) -> Result<bool, StoreError> {
        Ok(D::execute(&mut *self.acquire().await?, RECORD_FIRE, &fire_args(id, seen, fire)).await? > 0)
    }

    async fn record_fires(&self, fires: &[FireBatchEntry]) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut recorded = Vec::with_capacity(fires.len());
        for (id, seen, fire) in fires {
            recorded.push(D::execute(&mut *tx, RECORD_FIRE, &fire_args(id, *seen, fire)).await? > 0);
        }
        D::commit(tx).await?;
        Ok(recorded)
    }
}
