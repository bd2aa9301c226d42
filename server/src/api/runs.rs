//! `weft.v1.RunService`: checks each request, calls the run engine, and
//! shapes the response. DeleteRun refuses a live run (FAILED_PRECONDITION)
//! instead of cancelling it implicitly: deleting is not a way to stop work.
//! ExecuteWorkflowStream reports start failures (unknown workflow, input
//! failing the schema) as the call's status, before any event is sent.
//! Every run answered shows the steps whose task is queued as READY, with
//! what the long-waiting ones wait for (`engine::tasks::waiting`), and
//! the timeouts of ExecuteWorkflow and ExecuteWorkflowStream name the steps
//! still waiting.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::run_service_server::RunService;

use crate::api::auth;
use crate::api::convert_estimate::estimate_to_pb;
use crate::api::convert_runs::{event_to_pb, run_status_from_pb, run_to_pb, struct_from_pb, value_from_pb};
use crate::api::request_checks::{json_depth, required_id};
use crate::api::{error, page_token};
use crate::engine::runs::{RunDetail, StartRun};
use crate::engine::scheduler::now_ms;
use crate::engine::tasks::{StepAttempts, StepWaits};
use crate::engine::workflows::names::reference;
use crate::engine::{EngineError, ResumeForm, RunEngine, TaskQueue};
use crate::model::EventRecord;
use crate::store::RunQuery;

/// Default and largest page of ListRuns.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;
/// Default and largest page of ListRunEvents.
const DEFAULT_EVENT_PAGE: u32 = 100;
const MAX_EVENT_PAGE: u32 = 1000;
/// Default and longest wait of ExecuteWorkflow, seconds (per the proto).
const DEFAULT_EXECUTE_SECONDS: u32 = 120;
const MAX_EXECUTE_SECONDS: u32 = 900;
/// Longest settle wait of StartRun and ResumeRun, milliseconds (per the
/// proto).
const MAX_SETTLE_WAIT_MS: u32 = 10_000;
/// Longest idempotency key, user id or cancel reason.
const MAX_LABEL_CHARS: usize = 256;
/// Longest trigger label.
const MAX_TRIGGER_CHARS: usize = 64;

/// The RunService implementation.
pub struct RunApi {
    runs: RunEngine,
    /// The task queue: what queued steps wait for, and the registered
    /// workers, whose cost hints price EstimateRun.
    tasks: TaskQueue,
}

impl RunApi {
    /// A service over `runs`, showing what steps wait for in `tasks`.
    pub fn new(runs: RunEngine, tasks: TaskQueue) -> Self {
        Self { runs, tasks }
    }

    /// A run as answered: steps whose task is queued shown READY, with
    /// what the long-waiting ones wait for.
    async fn run_pb(&self, tenant: &str, mut detail: RunDetail) -> pb::Run {
        let waits = self.tasks.project_waits(tenant, &mut detail).await;
        run_to_pb(&detail.0, &detail.1, &waits, &StepAttempts::default(), now_ms())
    }

    /// `run_pb` plus each step's latest input and worker, read from the
    /// run's task rows. Only GetRun pays for that read: ExecuteWorkflow,
    /// StartRun and the run actions answer on the engine's hot path, where
    /// the worker-path bench measured it (bench/README.md, #23).
    async fn run_pb_with_attempts(&self, tenant: &str, mut detail: RunDetail) -> pb::Run {
        let waits = self.tasks.project_waits(tenant, &mut detail).await;
        let attempts = self.tasks.step_attempts(tenant, &detail.0.id).await;
        run_to_pb(&detail.0, &detail.1, &waits, &attempts, now_ms())
    }
}

fn trigger(value: String) -> Result<String, Status> {
    if value.chars().count() > MAX_TRIGGER_CHARS {
        return Err(error::invalid_argument("trigger", format!("is longer than {MAX_TRIGGER_CHARS} characters")));
    }
    Ok(value)
}

fn label(value: String, field: &str) -> Result<String, Status> {
    if value.chars().count() > MAX_LABEL_CHARS {
        return Err(error::invalid_argument(field, format!("is longer than {MAX_LABEL_CHARS} characters")));
    }
    Ok(value)
}

/// A run start names its workflow by `wf_…` id or by name, checked here
/// before anything else so a bad value is refused first (the engine
/// resolves it when the run starts).
fn workflow_reference(value: &str) -> Result<(), Status> {
    reference("workflow_id", value)?;
    Ok(())
}

/// The fields StartRun and ExecuteWorkflow share.
pub(crate) struct StartFields {
    pub workflow_id: String,
    pub user_id: String,
    pub input: Option<prost_types::Value>,
    pub input_data: Option<prost_types::Value>,
    pub variables: Option<prost_types::Value>,
    pub idempotency_key: String,
    pub version: u32,
    pub shared_state: Option<prost_types::Struct>,
    pub trigger: String,
}

/// Checks a start request: the input comes from exactly one of `input`,
/// `input_data` and `variables` (documented aliases of one another).
pub(crate) fn start_request(fields: StartFields) -> Result<StartRun, Status> {
    workflow_reference(&fields.workflow_id)?;
    let given: Vec<(&str, &prost_types::Value)> = [
        ("input", fields.input.as_ref()),
        ("input_data", fields.input_data.as_ref()),
        ("variables", fields.variables.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect();
    let input = match given.as_slice() {
        [] => Value::Null,
        [(name, value)] => {
            let input = value_from_pb(value);
            json_depth(&input, name)?;
            input
        }
        [_, (second, _), ..] => {
            return Err(error::invalid_argument(second, "give the input once: input, input_data or variables"));
        }
    };
    // The `/v1/agents` body carries the initial state inside the input
    // (`{"input": {"task": …, "state": {…}}}`); an explicit shared_state
    // wins, and a `state` that is not an object is ordinary input.
    let shared_state = match (fields.shared_state.as_ref(), input.get("state")) {
        (Some(given), _) => struct_from_pb(given),
        (None, Some(state @ Value::Object(_))) => state.clone(),
        (None, _) => Value::Null,
    };
    json_depth(&shared_state, "shared_state")?;
    Ok(StartRun {
        workflow_id: fields.workflow_id,
        version: Some(fields.version).filter(|v| *v > 0),
        input,
        shared_state,
        user_id: label(fields.user_id, "user_id")?,
        trigger: trigger(fields.trigger)?,
        idempotency_key: label(fields.idempotency_key, "idempotency_key")?,
        ..StartRun::default()
    })
}

/// The run-start fields that StartRunRequest and ExecuteWorkflowRequest
/// share, moved out of either request (two generated types, one shape).
macro_rules! start_fields {
    ($request:ident) => {
        StartFields {
            workflow_id: $request.workflow_id,
            user_id: $request.user_id,
            input: $request.input,
            input_data: $request.input_data,
            variables: $request.variables,
            idempotency_key: $request.idempotency_key,
            version: $request.version,
            shared_state: $request.shared_state,
            trigger: $request.trigger,
        }
    };
}

/// StartRun's and ResumeRun's `settle_wait_ms`, checked before anything
/// starts or resumes.
fn settle_wait(ms: u32) -> Result<Duration, Status> {
    if ms > MAX_SETTLE_WAIT_MS {
        return Err(error::invalid_argument(
            "settle_wait_ms",
            format!("is {ms}; at most {MAX_SETTLE_WAIT_MS} milliseconds are allowed"),
        ));
    }
    Ok(Duration::from_millis(u64::from(ms)))
}

/// The wait of ExecuteWorkflow and ExecuteWorkflowStream: 0 means the
/// default, and longer waits are lowered to the most allowed.
fn execute_timeout(seconds: u32) -> Duration {
    let seconds = match seconds {
        0 => DEFAULT_EXECUTE_SECONDS,
        seconds => seconds.min(MAX_EXECUTE_SECONDS),
    };
    Duration::from_secs(u64::from(seconds))
}

/// A timeout's `message`, with the steps of run `run_id` still waiting and
/// why (nothing is added once the run was cancelled or ended).
async fn with_waits(tasks: &TaskQueue, tenant: &str, message: String, run_id: &str) -> String {
    match tasks.waiting_summary(tenant, run_id).await {
        Some(waiting) => format!("{message}; {waiting}"),
        None => message,
    }
}

/// ExecuteWorkflowStream's items, its timeout naming the waiting steps as
/// ExecuteWorkflow's does. Ends when either side goes.
fn name_waits_on_timeout(
    tasks: TaskQueue,
    tenant: String,
    mut events: mpsc::Receiver<Result<EventRecord, EngineError>>,
) -> mpsc::Receiver<Result<EventRecord, EngineError>> {
    let (out, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(item) = events.recv().await {
            let item = match item {
                Err(EngineError::Timeout { message, run_id }) => {
                    let message = with_waits(&tasks, &tenant, message, &run_id).await;
                    Err(EngineError::Timeout { message, run_id })
                }
                other => other,
            };
            if out.send(item).await.is_err() {
                return;
            }
        }
    });
    receiver
}

#[tonic::async_trait]
impl RunService for RunApi {
    async fn start_run(&self, request: Request<pb::StartRunRequest>) -> Result<Response<pb::StartRunResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let settle_wait = settle_wait(r.settle_wait_ms)?;
        let start = start_request(start_fields!(r))?;
        let mut detail = self.runs.start(&tenant, start).await?;
        if !settle_wait.is_zero() {
            detail = self.runs.settle(&tenant, &detail.0.id, settle_wait).await?;
        }
        let run = self.run_pb(&tenant, detail).await;
        Ok(Response::new(pb::StartRunResponse { run_id: run.id.clone(), run: Some(run) }))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn get_run(&self, request: Request<pb::GetRunRequest>) -> Result<Response<pb::GetRunResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_id(&request.run_id, "run_id")?;
        let detail = self.runs.get(&tenant, &request.run_id).await?;
        Ok(Response::new(pb::GetRunResponse { run: Some(self.run_pb_with_attempts(&tenant, detail).await) }))
    }

    async fn list_runs(&self, request: Request<pb::ListRunsRequest>) -> Result<Response<pb::ListRunsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        let status = run_status_from_pb(request.status)?;
        let size = match (request.page_size, request.limit) {
            (0, 0) => DEFAULT_PAGE_SIZE,
            (0, limit) => limit,
            (size, _) => size,
        }
        .min(MAX_PAGE_SIZE);
        if request.trigger.chars().count() > MAX_TRIGGER_CHARS {
            return Err(error::invalid_argument("trigger", format!("is longer than {MAX_TRIGGER_CHARS} characters")));
        }
        if request.schedule_id.chars().count() > 128 {
            return Err(error::invalid_argument("schedule_id", "is longer than 128 characters"));
        }
        let fingerprint = format!(
            "{}|{}|{}|{}|{}",
            request.workflow_id, request.status, request.user_id, request.trigger, request.schedule_id
        );
        let after = if request.page_token.is_empty() {
            None
        } else {
            Some(page_token::decode(&request.page_token, &fingerprint)?)
        };
        let workflow_id = self.runs.catalog().resolve_filter(&tenant, "workflow_id", &request.workflow_id).await?;
        let query = RunQuery {
            workflow_id,
            status,
            user_id: Some(request.user_id).filter(|u| !u.is_empty()),
            trigger: Some(request.trigger).filter(|t| !t.is_empty()),
            schedule_id: Some(request.schedule_id).filter(|s| !s.is_empty()),
            after,
            offset: request.offset,
            limit: size,
        };
        let page = self.runs.list(&tenant, &query).await?;
        let next_page_token = match page.runs.last() {
            Some(last) if page.has_more => page_token::encode(&(last.created_ms, last.id.clone()), &fingerprint),
            _ => String::new(),
        };
        let now = now_ms();
        Ok(Response::new(pb::ListRunsResponse {
            runs: page
                .runs
                .iter()
                .map(|run| run_to_pb(run, &[], &StepWaits::default(), &StepAttempts::default(), now))
                .collect(),
            next_page_token,
            total: page.total,
        }))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn cancel_run(
        &self,
        request: Request<pb::CancelRunRequest>,
    ) -> Result<Response<pb::CancelRunResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_id(&request.run_id, "run_id")?;
        let reason = label(request.reason, "reason")?;
        let detail = self.runs.cancel(&tenant, &request.run_id, reason).await?;
        Ok(Response::new(pb::CancelRunResponse { run: Some(self.run_pb(&tenant, detail).await) }))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn delete_run(
        &self,
        request: Request<pb::DeleteRunRequest>,
    ) -> Result<Response<pb::DeleteRunResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_id(&request.run_id, "run_id")?;
        self.runs.delete(&tenant, &request.run_id).await?;
        Ok(Response::new(pb::DeleteRunResponse { success: true, message: format!("run '{}' deleted", request.run_id) }))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn pause_run(&self, request: Request<pb::PauseRunRequest>) -> Result<Response<pb::PauseRunResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_id(&request.run_id, "run_id")?;
        let reason = label(request.reason, "reason")?;
        let detail = self.runs.pause(&tenant, &request.run_id, reason.trim().to_owned()).await?;
        Ok(Response::new(pb::PauseRunResponse { run: Some(self.run_pb(&tenant, detail).await) }))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn resume_run(
        &self,
        request: Request<pb::ResumeRunRequest>,
    ) -> Result<Response<pb::ResumeRunResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.run_id, "run_id")?;
        let settle_wait = settle_wait(r.settle_wait_ms)?;
        let target = r.input.and_then(|i| i.resume);
        let forms = [!r.event.is_empty(), target.is_some(), !r.from_step.is_empty()];
        if forms.iter().filter(|&&given| given).count() > 1 {
            return Err(error::invalid_argument("event", "give at most one of event, input.resume and from_step"));
        }
        let form = match target {
            Some(target) => {
                required_id(&target.step, "input.resume.step")?;
                let Some(input) = target.input.as_ref() else {
                    return Err(error::invalid_argument("input.resume.input", "is required: the answer"));
                };
                let input = value_from_pb(input);
                json_depth(&input, "input.resume.input")?;
                ResumeForm::Answer { step: target.step, input }
            }
            None if !r.event.is_empty() => {
                let payload = r.payload.as_ref().map_or(serde_json::Value::Null, value_from_pb);
                json_depth(&payload, "payload")?;
                ResumeForm::Event { event: r.event, payload }
            }
            None => {
                let from_step = label(r.from_step, "from_step")?.trim().to_owned();
                ResumeForm::Continue { from_step: Some(from_step).filter(|s| !s.is_empty()) }
            }
        };
        let mut detail = self.runs.resume(&tenant, &r.run_id, form).await?;
        if !settle_wait.is_zero() {
            detail = self.runs.settle(&tenant, &detail.0.id, settle_wait).await?;
        }
        Ok(Response::new(pb::ResumeRunResponse { run: Some(self.run_pb(&tenant, detail).await) }))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn retry_run_from(
        &self,
        request: Request<pb::RetryRunFromRequest>,
    ) -> Result<Response<pb::RetryRunFromResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_id(&request.run_id, "run_id")?;
        let step_id = label(request.step_id, "step_id")?;
        let detail = self.runs.retry_from(&tenant, &request.run_id, step_id.trim()).await?;
        Ok(Response::new(pb::RetryRunFromResponse { run: Some(self.run_pb(&tenant, detail).await) }))
    }

    async fn estimate_run(
        &self,
        request: Request<pb::EstimateRunRequest>,
    ) -> Result<Response<pb::EstimateRunResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        let input = request.input.as_ref().map(value_from_pb).unwrap_or(Value::Null);
        json_depth(&input, "input")?;
        let version = Some(request.version).filter(|v| *v > 0);
        let workflow_id = self.runs.catalog().resolve(&tenant, "workflow_id", &request.workflow_id).await?;
        let hints = self.tasks.workers().cost_hints(&tenant, now_ms()).await?;
        let estimate = self.runs.estimate(&tenant, &workflow_id, version, input, &hints).await?;
        Ok(Response::new(estimate_to_pb(&estimate)))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn stream_run_events(
        &self,
        request: Request<pb::StreamRunEventsRequest>,
    ) -> Result<Response<BoxStream<pb::StreamRunEventsResponse>>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_id(&request.run_id, "run_id")?;
        let events = self.runs.stream_events(&tenant, &request.run_id, request.after_sequence).await?;
        let stream = ReceiverStream::new(events).map(|item| {
            item.map(|event| pb::StreamRunEventsResponse { event: Some(event_to_pb(&event)) }).map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(name = "rpc", skip_all, fields(run_id = %request.get_ref().run_id))]
    async fn list_run_events(
        &self,
        request: Request<pb::ListRunEventsRequest>,
    ) -> Result<Response<pb::ListRunEventsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let request = request.into_inner();
        required_id(&request.run_id, "run_id")?;
        let size = match request.page_size {
            0 => DEFAULT_EVENT_PAGE,
            size => size.min(MAX_EVENT_PAGE),
        };
        // The token holds the last sequence served, bound to the run.
        let after = if request.page_token.is_empty() {
            request.after_sequence
        } else {
            let (sequence, _) = page_token::decode(&request.page_token, &request.run_id)?;
            u64::try_from(sequence).map_err(|_| error::invalid_argument("page_token", "is malformed"))?
        };
        let workflow_id = self.runs.catalog().resolve_filter(&tenant, "workflow_id", &request.workflow_id).await?;
        self.runs.check_run_of(&tenant, &request.run_id, workflow_id.as_deref()).await?;
        let mut events = self.runs.events(&tenant, &request.run_id, after, size + 1).await?;
        let has_more = events.len() > size as usize;
        events.truncate(size as usize);
        let next_page_token = match events.last() {
            Some(last) if has_more => page_token::encode(&(last.sequence as i64, String::new()), &request.run_id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListRunEventsResponse {
            events: events.iter().map(event_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn execute_workflow(
        &self,
        request: Request<pb::ExecuteWorkflowRequest>,
    ) -> Result<Response<pb::ExecuteWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let timeout = execute_timeout(r.timeout_seconds);
        let start = start_request(start_fields!(r))?;
        let detail = match self.runs.execute(&tenant, start, timeout, r.cancel_on_timeout).await {
            Err(EngineError::Timeout { message, run_id }) => {
                let message = with_waits(&self.tasks, &tenant, message, &run_id).await;
                return Err(EngineError::Timeout { message, run_id }.into());
            }
            result => result?,
        };
        let run = self.run_pb(&tenant, detail).await;
        Ok(Response::new(pb::ExecuteWorkflowResponse { output: run.output.clone(), run: Some(run) }))
    }

    async fn execute_workflow_stream(
        &self,
        request: Request<pb::ExecuteWorkflowStreamRequest>,
    ) -> Result<Response<BoxStream<pb::ExecuteWorkflowStreamResponse>>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let timeout = execute_timeout(r.timeout_seconds);
        let start = start_request(start_fields!(r))?;
        let events = self.runs.execute_stream(&tenant, start, timeout, r.cancel_on_timeout).await?;
        let events = name_waits_on_timeout(self.tasks.clone(), tenant, events);
        let stream = ReceiverStream::new(events).map(|item| {
            item.map(|event| pb::ExecuteWorkflowStreamResponse { event: Some(event_to_pb(&event)) })
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
