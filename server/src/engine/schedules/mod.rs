//! Cron schedules: what ScheduleService calls (create, read, change,
//! pause and resume, each checked and bounded here), and the fire loop
//! that starts their runs.
//!
//! # Layout
//!
//! - `cron.rs`: parsing an expression in a zone, and its ticks, with the
//!   daylight-saving rule.
//! - `fire.rs`: the one loop per process that fires due schedules,
//!   exactly once per tick across restarts and replicas.
//!
//! A schedule's durable timer is `next_fire_ms` on its row: set from now
//! on create, update and resume, cleared while paused, moved on by each
//! fire. Every change here wakes the fire loop, which re-reads what is due.

pub mod cron;
mod fire;

pub use fire::{FireStats, ScheduleFirer};

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

use crate::config::ScheduleSettings;
use crate::engine::clock::now_ms;
use crate::engine::runs::check_input;
use crate::engine::{EngineError, RunEngine};
use crate::store::Store;
use crate::store::schedules::{CatchUp, InsertRefusal, Overlap, ScheduleRecord};
use cron::CronSpec;

/// Largest run input a schedule keeps, bytes of JSON.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;
/// Longest `user_id`, characters.
pub const MAX_USER_ID_CHARS: usize = 256;
/// Most upcoming fire times one GetSchedule lists.
pub const MAX_NEXT_FIRE_COUNT: u32 = 100;
/// Upcoming fire times GetSchedule lists when not asked.
pub const DEFAULT_NEXT_FIRE_COUNT: u32 = 5;

/// What a client sets on a schedule.
#[derive(Debug, Clone, Default)]
pub struct ScheduleDraft {
    /// The cron expression.
    pub cron_expression: String,
    /// IANA zone; empty means UTC.
    pub timezone: String,
    /// The runs' input; `None` for no input.
    pub input: Option<Value>,
    /// Whether it fires; `None` keeps the default (true on create).
    pub enabled: Option<bool>,
    /// Overlap policy.
    pub overlap: Overlap,
    /// Catch-up policy.
    pub catch_up: CatchUp,
    /// Pinned workflow version; 0 for the latest at each fire.
    pub version: u32,
    /// End user of the runs.
    pub user_id: String,
}

/// A field of a schedule an update may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleField {
    /// `cron_expression`.
    CronExpression,
    /// `timezone`.
    Timezone,
    /// `input_data`.
    InputData,
    /// `enabled`.
    Enabled,
    /// `overlap_policy`.
    OverlapPolicy,
    /// `version`.
    Version,
    /// `user_id`.
    UserId,
    /// `catch_up`.
    CatchUp,
}

/// Schedules over one store and run engine.
#[derive(Clone)]
pub struct Schedules {
    store: Arc<dyn Store>,
    runs: RunEngine,
    settings: ScheduleSettings,
    /// Wakes the fire loop after a change.
    wake: Arc<Notify>,
}

fn invalid(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument { field: field.to_string(), message: message.into() }
}

fn not_found(id: &str) -> EngineError {
    EngineError::NotFound { what: format!("schedule '{id}'"), reason: "SCHEDULE_NOT_FOUND" }
}

/// The parsed expression of a draft, its problems named by field.
fn spec_of(draft: &ScheduleDraft) -> Result<CronSpec, EngineError> {
    CronSpec::parse(&draft.cron_expression, &draft.timezone).map_err(|p| invalid(p.field, p.message))
}

/// The zone's canonical name ("UTC" when none was given).
fn zone_name(spec: &CronSpec) -> String {
    spec.zone().name().to_string()
}

impl Schedules {
    /// Schedules of `store`, starting runs through `runs`; `wake` is the
    /// fire loop's.
    pub fn new(store: Arc<dyn Store>, runs: RunEngine, settings: ScheduleSettings, wake: Arc<Notify>) -> Self {
        Self { store, runs, settings, wake }
    }

    /// The input as stored, after the checks of its size and of the
    /// workflow's inputSchema (the version the runs will start on).
    async fn checked_input(
        &self,
        tenant: &str,
        workflow_id: &str,
        draft: &ScheduleDraft,
    ) -> Result<Option<String>, EngineError> {
        if draft.user_id.chars().count() > MAX_USER_ID_CHARS {
            return Err(invalid("user_id", format!("is longer than {MAX_USER_ID_CHARS} characters")));
        }
        let catalog = self.runs.catalog();
        let workflow = match draft.version {
            0 => catalog.get(tenant, workflow_id).await?,
            version => catalog.get_version(tenant, workflow_id, version).await?,
        };
        let text = draft.input.as_ref().map(Value::to_string);
        if let Some(text) = &text
            && text.len() > MAX_INPUT_BYTES
        {
            return Err(invalid("input_data", format!("is {} bytes of JSON; at most {MAX_INPUT_BYTES}", text.len())));
        }
        let compiled = self.runs.compiled(tenant, &workflow.id, workflow.version).await?;
        let empty = Value::Object(Default::default());
        check_input(&compiled, draft.input.as_ref().filter(|v| !v.is_null()).unwrap_or(&empty))?;
        Ok(text)
    }

    /// Creates a schedule of `workflow_id`.
    pub async fn create(
        &self,
        tenant: &str,
        workflow_id: &str,
        draft: ScheduleDraft,
    ) -> Result<ScheduleRecord, EngineError> {
        let spec = spec_of(&draft)?;
        let input = self.checked_input(tenant, workflow_id, &draft).await?;
        let now = now_ms();
        let enabled = draft.enabled.unwrap_or(true);
        let record = ScheduleRecord {
            id: crate::ids::new_schedule_id(),
            tenant_id: tenant.to_string(),
            workflow_id: workflow_id.to_string(),
            cron_expression: draft.cron_expression.trim().to_string(),
            timezone: zone_name(&spec),
            input,
            enabled,
            overlap: draft.overlap,
            catch_up: draft.catch_up,
            version: draft.version,
            user_id: draft.user_id,
            next_fire_ms: if enabled { spec.next_after(now) } else { None },
            buffered_ms: None,
            last_fire_ms: None,
            last_run_id: None,
            created_ms: now,
            updated_ms: now,
        };
        let (per_workflow, per_tenant) = (self.settings.max_per_workflow, self.settings.max_per_tenant);
        match self.store.insert_schedule(&record, per_workflow, per_tenant).await? {
            Ok(()) => {}
            Err(InsertRefusal::WorkflowFull) => return Err(full("max_per_workflow", per_workflow, "workflow")),
            Err(InsertRefusal::TenantFull) => return Err(full("max_per_tenant", per_tenant, "tenant")),
        }
        self.wake.notify_one();
        Ok(record)
    }

    /// A tenant's schedule.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<ScheduleRecord, EngineError> {
        self.store.get_schedule(tenant, id).await?.ok_or_else(|| not_found(id))
    }

    /// A page of a workflow's schedules, oldest first; NotFound for a
    /// workflow the tenant does not have.
    pub async fn list(
        &self,
        tenant: &str,
        workflow_id: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<ScheduleRecord>, EngineError> {
        let page = self.store.list_schedules(tenant, workflow_id, after, limit).await?;
        if page.is_empty() {
            // Schedules of a deleted workflow still list; an unknown one
            // with none is NotFound.
            self.runs.catalog().get(tenant, workflow_id).await?;
        }
        Ok(page)
    }

    /// The next `count` fire times of `schedule` after now; none while it
    /// is disabled.
    pub fn next_fire_times(&self, schedule: &ScheduleRecord, count: u32) -> Vec<i64> {
        if !schedule.enabled {
            return Vec::new();
        }
        match CronSpec::parse(&schedule.cron_expression, &schedule.timezone) {
            Ok(spec) => spec.upcoming(now_ms(), count.min(MAX_NEXT_FIRE_COUNT) as usize),
            Err(_) => Vec::new(),
        }
    }

    /// Replaces `fields` of a tenant's schedule with the draft's values;
    /// the next fire time is recomputed from now.
    pub async fn update(
        &self,
        tenant: &str,
        id: &str,
        draft: ScheduleDraft,
        fields: &[ScheduleField],
    ) -> Result<ScheduleRecord, EngineError> {
        let mut record = self.get(tenant, id).await?;
        let mut merged = ScheduleDraft {
            cron_expression: record.cron_expression.clone(),
            timezone: record.timezone.clone(),
            input: record.input.as_ref().map(|text| serde_json::from_str(text).unwrap_or(Value::Null)),
            enabled: Some(record.enabled),
            overlap: record.overlap,
            catch_up: record.catch_up,
            version: record.version,
            user_id: record.user_id.clone(),
        };
        for field in fields {
            match field {
                ScheduleField::CronExpression => merged.cron_expression = draft.cron_expression.clone(),
                ScheduleField::Timezone => merged.timezone = draft.timezone.clone(),
                ScheduleField::InputData => merged.input = draft.input.clone(),
                ScheduleField::Enabled => merged.enabled = Some(draft.enabled.unwrap_or(true)),
                ScheduleField::OverlapPolicy => merged.overlap = draft.overlap,
                ScheduleField::Version => merged.version = draft.version,
                ScheduleField::UserId => merged.user_id = draft.user_id.clone(),
                ScheduleField::CatchUp => merged.catch_up = draft.catch_up,
            }
        }
        let spec = spec_of(&merged)?;
        let input = self.checked_input(tenant, &record.workflow_id, &merged).await?;
        let now = now_ms();
        let enabled = merged.enabled.unwrap_or(true);
        record.cron_expression = merged.cron_expression.trim().to_string();
        record.timezone = zone_name(&spec);
        record.input = input;
        record.enabled = enabled;
        record.overlap = merged.overlap;
        record.catch_up = merged.catch_up;
        record.version = merged.version;
        record.user_id = merged.user_id;
        record.next_fire_ms = if enabled { spec.next_after(now) } else { None };
        if !enabled || record.overlap != Overlap::BufferOne {
            record.buffered_ms = None;
        }
        record.updated_ms = now;
        self.save(record).await
    }

    /// Deletes a tenant's schedule; runs it started go on.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<(), EngineError> {
        if !self.store.delete_schedule(tenant, id).await? {
            return Err(not_found(id));
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Pauses (`false`) or resumes (`true`) a schedule. Asking for the
    /// state it is in changes nothing; resuming fires next at the first
    /// tick after now (missed ticks are not caught up).
    pub async fn set_enabled(&self, tenant: &str, id: &str, enabled: bool) -> Result<ScheduleRecord, EngineError> {
        let mut record = self.get(tenant, id).await?;
        if record.enabled == enabled {
            return Ok(record);
        }
        let now = now_ms();
        record.enabled = enabled;
        record.next_fire_ms = if enabled {
            let spec = CronSpec::parse(&record.cron_expression, &record.timezone)
                .map_err(|p| invalid(p.field, format!("(stored) {}", p.message)))?;
            spec.next_after(now)
        } else {
            None
        };
        record.buffered_ms = None;
        record.updated_ms = now;
        self.save(record).await
    }

    /// Writes a changed schedule and wakes the fire loop to its new timer.
    async fn save(&self, record: ScheduleRecord) -> Result<ScheduleRecord, EngineError> {
        if !self.store.update_schedule(&record).await? {
            return Err(not_found(&record.id));
        }
        self.wake.notify_one();
        Ok(record)
    }
}

fn full(setting: &'static str, max: u32, holder: &str) -> EngineError {
    EngineError::ResourceExhausted {
        message: format!("the {holder} already holds {max} schedules (schedules.{setting}); delete one first"),
        reason: "SCHEDULE_LIMIT_REACHED",
        limit: (setting, u64::from(max)),
        retry_after: std::time::Duration::from_secs(60),
    }
}

#[cfg(test)]
mod tests;
