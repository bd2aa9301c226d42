//! `weft.v1.ScheduleService`: cron schedules of the caller's tenant's
//! workflows. The engine (`engine/schedules`) checks every field and
//! bound and wakes the fire loop; this module maps the wire types, the
//! update mask and pages.

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::schedule_service_server::ScheduleService;

use crate::api::auth;
use crate::api::convert::{timestamp, value_to_pb};
use crate::api::convert_runs::value_from_pb;
use crate::api::request_checks::{json_depth, required_id};
use crate::api::{error, page_token};
use crate::engine::WorkflowCatalog;
use crate::engine::schedules::{DEFAULT_NEXT_FIRE_COUNT, MAX_NEXT_FIRE_COUNT, ScheduleDraft, ScheduleField, Schedules};
use crate::store::schedules::{CatchUp, Overlap, ScheduleRecord};

/// Default and largest page of ListSchedules.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;
/// Most paths in an update mask.
const MAX_MASK_PATHS: usize = 16;

/// The ScheduleService implementation.
pub struct ScheduleApi {
    schedules: Schedules,
    /// Resolves a workflow named by id or by name.
    catalog: WorkflowCatalog,
}

impl ScheduleApi {
    /// A service over `schedules`.
    pub fn new(schedules: Schedules, catalog: WorkflowCatalog) -> Self {
        Self { schedules, catalog }
    }
}

fn overlap_to_pb(overlap: Overlap) -> pb::ScheduleOverlapPolicy {
    match overlap {
        Overlap::Skip => pb::ScheduleOverlapPolicy::Skip,
        Overlap::Allow => pb::ScheduleOverlapPolicy::Allow,
        Overlap::BufferOne => pb::ScheduleOverlapPolicy::BufferOne,
    }
}

fn overlap_from_pb(value: i32) -> Result<Overlap, Status> {
    match pb::ScheduleOverlapPolicy::try_from(value) {
        Ok(pb::ScheduleOverlapPolicy::Unspecified | pb::ScheduleOverlapPolicy::Skip) => Ok(Overlap::Skip),
        Ok(pb::ScheduleOverlapPolicy::Allow) => Ok(Overlap::Allow),
        Ok(pb::ScheduleOverlapPolicy::BufferOne) => Ok(Overlap::BufferOne),
        Err(_) => Err(error::invalid_argument("overlap_policy", "is not an overlap policy: skip, allow or buffer_one")),
    }
}

fn catch_up_to_pb(catch_up: CatchUp) -> pb::ScheduleCatchUp {
    match catch_up {
        CatchUp::Once => pb::ScheduleCatchUp::Once,
        CatchUp::Skip => pb::ScheduleCatchUp::None,
    }
}

fn catch_up_from_pb(value: i32) -> Result<CatchUp, Status> {
    match pb::ScheduleCatchUp::try_from(value) {
        Ok(pb::ScheduleCatchUp::Unspecified | pb::ScheduleCatchUp::Once) => Ok(CatchUp::Once),
        Ok(pb::ScheduleCatchUp::None) => Ok(CatchUp::Skip),
        Err(_) => Err(error::invalid_argument("catch_up", "is not a catch-up policy: once or none")),
    }
}

/// A schedule on the wire; `next_fire_times` as given.
fn schedule_to_pb(s: &ScheduleRecord, next_fire_times: &[i64]) -> pb::Schedule {
    // Stored input that no longer reads is shown as no input, never an
    // error: stored data does not break a read.
    let input_data = s.input.as_deref().and_then(|text| serde_json::from_str(text).ok()).map(|v| value_to_pb(&v));
    pb::Schedule {
        id: s.id.clone(),
        workflow_id: s.workflow_id.clone(),
        cron_expression: s.cron_expression.clone(),
        timezone: s.timezone.clone(),
        input_data,
        enabled: Some(s.enabled),
        overlap_policy: overlap_to_pb(s.overlap).into(),
        version: s.version,
        user_id: s.user_id.clone(),
        catch_up: catch_up_to_pb(s.catch_up).into(),
        next_run_time: s.next_fire_ms.filter(|_| s.enabled).map(timestamp),
        last_run_time: s.last_fire_ms.map(timestamp),
        last_run_id: s.last_run_id.clone().unwrap_or_default(),
        create_time: Some(timestamp(s.created_ms)),
        update_time: Some(timestamp(s.updated_ms)),
        next_fire_times: next_fire_times.iter().copied().map(timestamp).collect(),
    }
}

/// The settable fields of a request's schedule.
fn draft_from_pb(s: &pb::Schedule) -> Result<ScheduleDraft, Status> {
    let input = match &s.input_data {
        Some(value) => {
            let input = value_from_pb(value);
            json_depth(&input, "input_data")?;
            Some(input).filter(|v| !v.is_null())
        }
        None => None,
    };
    Ok(ScheduleDraft {
        cron_expression: s.cron_expression.clone(),
        timezone: s.timezone.clone(),
        input,
        enabled: s.enabled,
        overlap: overlap_from_pb(s.overlap_policy)?,
        catch_up: catch_up_from_pb(s.catch_up)?,
        version: s.version,
        user_id: s.user_id.clone(),
    })
}

/// The field an update-mask path names (snake_case or camelCase).
fn mask_field(path: &str, index: usize) -> Result<Option<ScheduleField>, Status> {
    let field = match path {
        "cron_expression" | "cronExpression" => ScheduleField::CronExpression,
        "timezone" => ScheduleField::Timezone,
        "input_data" | "inputData" => ScheduleField::InputData,
        "enabled" => ScheduleField::Enabled,
        "overlap_policy" | "overlapPolicy" => ScheduleField::OverlapPolicy,
        "version" => ScheduleField::Version,
        "user_id" | "userId" => ScheduleField::UserId,
        "catch_up" | "catchUp" => ScheduleField::CatchUp,
        // Output-only fields are ignored, as the proto says.
        "id" | "workflow_id" | "workflowId" | "next_run_time" | "nextRunAt" | "last_run_time" | "lastRunAt"
        | "last_run_id" | "lastRunId" | "create_time" | "createdAt" | "update_time" | "updatedAt"
        | "next_fire_times" | "nextFireTimes" => return Ok(None),
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(error::invalid_argument(
                &format!("update_mask.paths[{index}]"),
                format!("'{shown}' is not a field of a schedule"),
            ));
        }
    };
    Ok(Some(field))
}

/// The fields an update replaces: the mask's, or every one set.
fn update_fields(s: &pb::Schedule, mask: Option<&prost_types::FieldMask>) -> Result<Vec<ScheduleField>, Status> {
    match mask.filter(|m| !m.paths.is_empty()) {
        Some(mask) => {
            if mask.paths.len() > MAX_MASK_PATHS {
                return Err(error::invalid_argument(
                    "update_mask.paths",
                    format!("has {} paths; at most {MAX_MASK_PATHS}", mask.paths.len()),
                ));
            }
            let mut fields = Vec::new();
            for (index, path) in mask.paths.iter().enumerate() {
                if let Some(field) = mask_field(path, index)? {
                    fields.push(field);
                }
            }
            Ok(fields)
        }
        None => {
            let set = [
                (!s.cron_expression.is_empty(), ScheduleField::CronExpression),
                (!s.timezone.is_empty(), ScheduleField::Timezone),
                (s.input_data.is_some(), ScheduleField::InputData),
                (s.enabled.is_some(), ScheduleField::Enabled),
                (s.overlap_policy != 0, ScheduleField::OverlapPolicy),
                (s.version != 0, ScheduleField::Version),
                (!s.user_id.is_empty(), ScheduleField::UserId),
                (s.catch_up != 0, ScheduleField::CatchUp),
            ];
            Ok(set.into_iter().filter(|(given, _)| *given).map(|(_, field)| field).collect())
        }
    }
}

#[tonic::async_trait]
impl ScheduleService for ScheduleApi {
    async fn create_schedule(
        &self,
        request: Request<pb::CreateScheduleRequest>,
    ) -> Result<Response<pb::CreateScheduleResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let creator = auth::caller(&request)?.key_id.clone().unwrap_or_default();
        let r = request.into_inner();
        let workflow_id = self.catalog.resolve(&tenant, "workflow_id", &r.workflow_id).await?;
        let Some(schedule) = r.schedule.as_ref() else {
            return Err(error::invalid_argument("schedule", "is required"));
        };
        let mut draft = draft_from_pb(schedule)?;
        // The runs act for the key that made the schedule, unless told.
        if draft.user_id.is_empty() {
            draft.user_id = creator;
        }
        let created = self.schedules.create(&tenant, &workflow_id, draft).await?;
        Ok(Response::new(pb::CreateScheduleResponse {
            schedule_id: created.id.clone(),
            schedule: Some(schedule_to_pb(&created, &[])),
        }))
    }

    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let workflow_id = self.catalog.resolve(&tenant, "workflow_id", &r.workflow_id).await?;
        let limit = if r.page_size == 0 { DEFAULT_PAGE_SIZE } else { r.page_size.min(MAX_PAGE_SIZE) };
        let fingerprint = format!("schedules|{}", r.workflow_id);
        let after = if r.page_token.is_empty() { None } else { Some(page_token::decode(&r.page_token, &fingerprint)?) };
        let mut page = self.schedules.list(&tenant, &workflow_id, after, limit + 1).await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let next_page_token = match page.last() {
            Some(last) if more => page_token::encode(&(last.created_ms, last.id.clone()), &fingerprint),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: page.iter().map(|s| schedule_to_pb(s, &[])).collect(),
            next_page_token,
        }))
    }

    async fn get_schedule(
        &self,
        request: Request<pb::GetScheduleRequest>,
    ) -> Result<Response<pb::GetScheduleResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.schedule_id, "schedule_id")?;
        if r.next_fire_count > MAX_NEXT_FIRE_COUNT {
            return Err(error::invalid_argument(
                "next_fire_count",
                format!("is {}; at most {MAX_NEXT_FIRE_COUNT}", r.next_fire_count),
            ));
        }
        let count = if r.next_fire_count == 0 { DEFAULT_NEXT_FIRE_COUNT } else { r.next_fire_count };
        let schedule = self.schedules.get(&tenant, &r.schedule_id).await?;
        let times = self.schedules.next_fire_times(&schedule, count);
        Ok(Response::new(pb::GetScheduleResponse { schedule: Some(schedule_to_pb(&schedule, &times)) }))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Result<Response<pb::UpdateScheduleResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let Some(schedule) = r.schedule.as_ref() else {
            return Err(error::invalid_argument("schedule", "is required"));
        };
        required_id(&schedule.id, "schedule.id")?;
        let fields = update_fields(schedule, r.update_mask.as_ref())?;
        let draft = draft_from_pb(schedule)?;
        let updated = self.schedules.update(&tenant, &schedule.id, draft, &fields).await?;
        Ok(Response::new(pb::UpdateScheduleResponse { schedule: Some(schedule_to_pb(&updated, &[])) }))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::DeleteScheduleResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.schedule_id, "schedule_id")?;
        self.schedules.delete(&tenant, &r.schedule_id).await?;
        Ok(Response::new(pb::DeleteScheduleResponse { success: true, message: "Schedule deleted successfully".into() }))
    }

    async fn pause_schedule(
        &self,
        request: Request<pb::PauseScheduleRequest>,
    ) -> Result<Response<pb::PauseScheduleResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.schedule_id, "schedule_id")?;
        let schedule = self.schedules.set_enabled(&tenant, &r.schedule_id, false).await?;
        Ok(Response::new(pb::PauseScheduleResponse { schedule: Some(schedule_to_pb(&schedule, &[])) }))
    }

    async fn resume_schedule(
        &self,
        request: Request<pb::ResumeScheduleRequest>,
    ) -> Result<Response<pb::ResumeScheduleResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.schedule_id, "schedule_id")?;
        let schedule = self.schedules.set_enabled(&tenant, &r.schedule_id, true).await?;
        Ok(Response::new(pb::ResumeScheduleResponse { schedule: Some(schedule_to_pb(&schedule, &[])) }))
    }
}
