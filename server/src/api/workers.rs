//! `weft.v1.WorkerService`: checks each worker request, calls the task
//! queue, and shapes the answer. CheckToolUse applies the workflow policy
//! at the server (see `engine::tasks::policy`). Each lease call has one
//! checked path ([`heartbeat`], [`complete`], [`fail`],
//! [`check_tool_use`]) that the unary RPCs and the ConnectWorker stream's
//! reports (`worker_stream.rs`) both take.
//!
//! Refusals: NOT_FOUND for an unknown worker or task; ABORTED (LEASE_STALE)
//! for a lease token that is not current; FAILED_PRECONDITION for a task
//! already finished (TASK_ALREADY_FINISHED) or cancelled (TASK_CANCELLED);
//! INVALID_ARGUMENT for malformed input. None of them changes anything,
//! except an output over the cap or not JSON, which fails the step.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::worker_service_server::WorkerService;

use crate::api::auth;
use crate::api::convert_workers::{
    agent_queue_to_pb, cents, cost_hint_from_pb, output_from_pb, state_writes_from_pb, task_to_pb, tool_answer_to_pb,
    worker_to_pb,
};
use crate::api::request_checks::required_id;
use crate::api::{error, page_token};
use crate::engine::TaskQueue;
use crate::engine::scheduler::now_ms;
use crate::engine::tasks::ToolUse;
use crate::engine::workers::WorkerRegistration;

/// Default and longest PollTask wait, seconds (per the proto).
const DEFAULT_WAIT_SECONDS: u32 = 30;
const MAX_WAIT_SECONDS: u32 = 60;
/// Default and largest page of ListWorkers.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;
/// Most agents one worker registers, and the longest agent name.
const MAX_AGENTS: usize = 100;
const MAX_AGENT_CHARS: usize = 128;
/// Longest display name and failure text.
const MAX_NAME_CHARS: usize = 200;
const MAX_ERROR_CHARS: usize = 8192;
/// Most concurrency a worker may declare.
const MAX_CONCURRENCY: u32 = 10_000;

/// The WorkerService implementation.
pub struct WorkerApi {
    tasks: TaskQueue,
}

impl WorkerApi {
    /// A service over `tasks`.
    pub fn new(tasks: TaskQueue) -> Self {
        Self { tasks }
    }
}

/// A chosen worker id: 1-128 characters of `[A-Za-z0-9_.-]`.
fn check_worker_id(id: &str) -> Result<(), Status> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if id.len() > 128 || !id.chars().all(valid) {
        return Err(error::invalid_argument("worker_id", "must be 1-128 characters of A-Z, a-z, 0-9, '_', '.', '-'"));
    }
    Ok(())
}

/// Agent names: present, not blank, bounded; duplicates are dropped.
fn check_agents(agents: Vec<String>, field: &str, required: bool) -> Result<Vec<String>, Status> {
    if required && agents.is_empty() {
        return Err(error::invalid_argument(field, "must name at least one agent"));
    }
    if agents.len() > MAX_AGENTS {
        return Err(error::invalid_argument(field, format!("names more than {MAX_AGENTS} agents")));
    }
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(agents.len());
    for (i, agent) in agents.into_iter().enumerate() {
        if agent.trim().is_empty() {
            return Err(error::invalid_argument(&format!("{field}[{i}]"), "must not be empty"));
        }
        if agent.starts_with(crate::engine::run::BUILTIN_PREFIX) {
            return Err(error::invalid_argument(
                &format!("{field}[{i}]"),
                "names starting with 'weft:' are reserved for the server's built-in executors",
            ));
        }
        if agent.chars().count() > MAX_AGENT_CHARS {
            return Err(error::invalid_argument(
                &format!("{field}[{i}]"),
                format!("is longer than {MAX_AGENT_CHARS} characters"),
            ));
        }
        if seen.insert(agent.clone()) {
            unique.push(agent);
        }
    }
    Ok(unique)
}

/// INVALID_ARGUMENT unless a lease token was given (tokens start at 1).
fn check_token(token: u64) -> Result<(), Status> {
    if token == 0 {
        Err(error::invalid_argument("lease_token", "is required (the Task's lease_token)"))
    } else {
        Ok(())
    }
}

/// RegisterWorker (and a ConnectWorker stream's `hello`): checks the request,
/// then registers or refreshes the worker.
pub(super) async fn register(
    tasks: &TaskQueue,
    tenant: &str,
    r: pb::RegisterWorkerRequest,
) -> Result<(pb::RegisterWorkerResponse, u32), Status> {
    if !r.worker_id.is_empty() {
        check_worker_id(&r.worker_id)?;
    }
    if r.name.chars().count() > MAX_NAME_CHARS {
        return Err(error::invalid_argument("name", format!("is longer than {MAX_NAME_CHARS} characters")));
    }
    let agents = check_agents(r.agents, "agents", true)?;
    if r.concurrency > MAX_CONCURRENCY {
        return Err(error::invalid_argument("concurrency", format!("must be at most {MAX_CONCURRENCY}")));
    }
    let mut cost_hints = Vec::with_capacity(r.cost_hints.len());
    for (i, hint) in r.cost_hints.iter().enumerate() {
        let field = format!("cost_hints[{i}]");
        if !agents.contains(&hint.agent) {
            return Err(error::invalid_argument(&format!("{field}.agent"), "must be one of the worker's agents"));
        }
        let min = cents(hint.min_cost.as_ref(), &format!("{field}.min_cost"))?;
        let max = cents(hint.max_cost.as_ref(), &format!("{field}.max_cost"))?;
        if max < min {
            return Err(error::invalid_argument(&format!("{field}.max_cost"), "must not be below min_cost"));
        }
        cost_hints.push(cost_hint_from_pb(hint));
    }
    let concurrency = r.concurrency.max(1);
    let registration = WorkerRegistration { worker_id: r.worker_id, name: r.name, agents, concurrency, cost_hints };
    let worker_id = tasks.workers().register(tenant, registration, now_ms()).await?;
    let lease_seconds = u32::try_from((tasks.lease_ms() + 999) / 1000).unwrap_or(u32::MAX).max(1);
    Ok((pb::RegisterWorkerResponse { worker_id, lease_seconds }, concurrency))
}

/// Heartbeat, unary or on a stream: checks the request, then extends the
/// lease.
pub(super) async fn heartbeat(
    tasks: &TaskQueue,
    tenant: &str,
    r: pb::HeartbeatRequest,
) -> Result<pb::HeartbeatResponse, Status> {
    required_id(&r.task_id, "task_id")?;
    check_token(r.lease_token)?;
    let cost = cents(r.cost_so_far.as_ref(), "cost_so_far")?;
    let reply = tasks.heartbeat(tenant, &r.task_id, r.lease_token, cost).await?;
    Ok(pb::HeartbeatResponse {
        lease_expire_time: reply.lease_deadline_ms.map(crate::api::convert::timestamp),
        cancelled: reply.cancelled,
        paused: reply.paused,
    })
}

/// CompleteTask, unary or on a stream: checks the request, then completes
/// the attempt through the run writer.
pub(super) async fn complete(
    tasks: &TaskQueue,
    tenant: &str,
    r: pb::CompleteTaskRequest,
) -> Result<pb::CompleteTaskResponse, Status> {
    required_id(&r.task_id, "task_id")?;
    check_token(r.lease_token)?;
    let cost = cents(r.cost.as_ref(), "cost")?;
    let state_writes = match r.state_writes.as_ref().filter(|s| !s.fields.is_empty()) {
        None => None,
        Some(writes) => Some(state_writes_from_pb(writes)?),
    };
    let output = output_from_pb(r.output.as_ref());
    tasks.complete_with_state(tenant, &r.task_id, r.lease_token, output, cost, state_writes).await?;
    Ok(pb::CompleteTaskResponse {})
}

/// FailTask, unary or on a stream: checks the request, then fails the
/// attempt through the run writer.
pub(super) async fn fail(
    tasks: &TaskQueue,
    tenant: &str,
    r: pb::FailTaskRequest,
) -> Result<pb::FailTaskResponse, Status> {
    required_id(&r.task_id, "task_id")?;
    check_token(r.lease_token)?;
    let cost = cents(r.cost.as_ref(), "cost")?;
    if r.error.trim().is_empty() {
        return Err(error::invalid_argument("error", "is required: say what went wrong"));
    }
    if r.error.chars().count() > MAX_ERROR_CHARS {
        return Err(error::invalid_argument("error", format!("is longer than {MAX_ERROR_CHARS} characters")));
    }
    let upper_snake = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    if r.error_code.len() > 64 || !r.error_code.chars().all(upper_snake) {
        return Err(error::invalid_argument("error_code", "must be at most 64 characters of UPPER_SNAKE_CASE"));
    }
    // The worker's code leads the step's error text, where people and
    // clients read it.
    let message = if r.error_code.is_empty() { r.error } else { format!("{}: {}", r.error_code, r.error) };
    let will_retry = tasks.fail(tenant, &r.task_id, r.lease_token, message, r.retryable, cost).await?;
    Ok(pb::FailTaskResponse { will_retry })
}

/// CheckToolUse, unary or on a stream: checks the request, then applies
/// the workflow's policy.
pub(super) async fn check_tool_use(
    tasks: &TaskQueue,
    tenant: &str,
    r: pb::CheckToolUseRequest,
) -> Result<pb::CheckToolUseResponse, Status> {
    required_id(&r.task_id, "task_id")?;
    check_token(r.lease_token)?;
    if r.tool.trim().is_empty() {
        return Err(error::invalid_argument("tool", "is required: name the tool as the policy lists it"));
    }
    if r.tool.chars().count() > MAX_AGENT_CHARS {
        return Err(error::invalid_argument("tool", format!("is longer than {MAX_AGENT_CHARS} characters")));
    }
    if !r.approval_id.is_empty() {
        required_id(&r.approval_id, "approval_id")?;
    }
    let ask = ToolUse {
        arguments: r.arguments.as_ref().map_or(serde_json::Value::Null, crate::api::convert_runs::struct_from_pb),
        approval_id: (!r.approval_id.is_empty()).then_some(r.approval_id),
        wait: Duration::from_secs(u64::from(r.wait_seconds.min(MAX_WAIT_SECONDS))),
        tool: r.tool,
    };
    let answer = tasks.check_tool_use(tenant, &r.task_id, r.lease_token, ask).await?;
    Ok(tool_answer_to_pb(answer))
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    async fn register_worker(
        &self,
        request: Request<pb::RegisterWorkerRequest>,
    ) -> Result<Response<pb::RegisterWorkerResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let (welcome, _) = register(&self.tasks, &tenant, request.into_inner()).await?;
        Ok(Response::new(welcome))
    }

    async fn poll_task(&self, request: Request<pb::PollTaskRequest>) -> Result<Response<pb::PollTaskResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.worker_id, "worker_id")?;
        let agents = check_agents(r.agents, "agents", false)?;
        let seconds = match r.wait_seconds {
            0 => DEFAULT_WAIT_SECONDS,
            s => s.min(MAX_WAIT_SECONDS),
        };
        let polled = self.tasks.poll(&tenant, &r.worker_id, agents, Duration::from_secs(u64::from(seconds))).await?;
        Ok(Response::new(pb::PollTaskResponse { task: polled.as_ref().map(task_to_pb) }))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        heartbeat(&self.tasks, &tenant, request.into_inner()).await.map(Response::new)
    }

    async fn complete_task(
        &self,
        request: Request<pb::CompleteTaskRequest>,
    ) -> Result<Response<pb::CompleteTaskResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        complete(&self.tasks, &tenant, request.into_inner()).await.map(Response::new)
    }

    async fn fail_task(&self, request: Request<pb::FailTaskRequest>) -> Result<Response<pb::FailTaskResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        fail(&self.tasks, &tenant, request.into_inner()).await.map(Response::new)
    }

    async fn check_tool_use(
        &self,
        request: Request<pb::CheckToolUseRequest>,
    ) -> Result<Response<pb::CheckToolUseResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        check_tool_use(&self.tasks, &tenant, request.into_inner()).await.map(Response::new)
    }

    async fn connect_worker(
        &self,
        request: Request<tonic::Streaming<pb::ConnectWorkerRequest>>,
    ) -> Result<Response<tonic::codegen::BoxStream<pb::ConnectWorkerResponse>>, Status> {
        let tenant = auth::tenant(&request)?;
        crate::api::worker_stream::connect(self.tasks.clone(), tenant, request.into_inner()).await.map(Response::new)
    }

    async fn list_workers(
        &self,
        request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let size = match r.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        } as usize;
        let fingerprint = format!("agent={}", r.agent);
        let after = if r.page_token.is_empty() { None } else { Some(page_token::decode(&r.page_token, &fingerprint)?) };
        if r.agent.chars().count() > MAX_AGENT_CHARS {
            return Err(error::invalid_argument("agent", format!("is longer than {MAX_AGENT_CHARS} characters")));
        }
        let agent = (!r.agent.is_empty()).then_some(r.agent.as_str());
        let listed = self.tasks.workers().list(&tenant, agent, now_ms()).await?;
        // Most recently seen first: a row follows the token's position when
        // it was seen earlier, or at the same time with a greater id.
        let rest: Vec<_> = listed
            .into_iter()
            .filter(|entry| match &after {
                None => true,
                Some((ms, id)) => {
                    entry.last_seen_ms < *ms || (entry.last_seen_ms == *ms && entry.registration.worker_id > *id)
                }
            })
            .collect();
        let in_flight: HashMap<String, u32> =
            self.tasks.in_flight(&tenant).await.map_err(Status::from)?.into_iter().collect();
        let page: Vec<_> = rest.iter().take(size).collect();
        let next_page_token = match page.last() {
            Some(last) if rest.len() > size => {
                page_token::encode(&(last.last_seen_ms, last.registration.worker_id.clone()), &fingerprint)
            }
            _ => String::new(),
        };
        let workers = page
            .iter()
            .map(|entry| worker_to_pb(entry, in_flight.get(&entry.registration.worker_id).copied().unwrap_or_default()))
            .collect();
        let agent_queues = self.tasks.agent_queues(&tenant, agent).await?.iter().map(agent_queue_to_pb).collect();
        Ok(Response::new(pb::ListWorkersResponse { workers, next_page_token, agent_queues }))
    }
}
