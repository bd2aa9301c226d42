//! Calls a worker makes under a lease: Heartbeat (extends it in the store,
//! and reports a cost over a ceiling to the run writer), CompleteTask and
//! FailTask (commands through the run writer).
//!
//! A completion or failure of a lease this process granted is checked
//! from memory and fenced by the writer (`granted.rs`); every other call
//! is checked against the task's row first: an unknown id is
//! NotFound; a token that is not the current lease's (an older lease, or a
//! lease that expired and whose task went back to the queue) is
//! StaleLease (ABORTED); a task already finished or cancelled is
//! FailedPrecondition. The writer then fences again by attempt, so a
//! completion racing an expiry or a second completion changes nothing.
//!
//! A step's `timeout` bounds each attempt from its claim: the store never
//! extends a lease past that deadline, and once it passes the lease's
//! calls are FailedPrecondition STEP_TIMEOUT (Heartbeat answers
//! `cancelled`), before and after the sweeper fails the attempt.

use super::TaskQueue;
use super::output::{self, TaskOutput};
use super::policy::check_currency;
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::run::{Command, TransitionError};
use crate::engine::scheduler::CommandRefusal;
use crate::model::StepKind;
use crate::model::StepStatus;
use crate::store::{TaskLease, TaskStatus};

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// New end of the lease, ms since the epoch; `None` when cancelled.
    pub lease_deadline_ms: Option<i64>,
    /// The run was cancelled (or the step withdrawn): stop, report nothing.
    pub cancelled: bool,
    /// The step is paused (a tool approval, a cost ceiling) or its run is
    /// held by PauseRun: hold, keep heartbeating.
    pub paused: bool,
}

/// The lease a completion or failure is about: what its command needs.
struct Reported {
    task_id: String,
    run_id: String,
    step_key: String,
    kind: StepKind,
    attempt: u32,
    token: u64,
    /// Taken from the leases granted here, without reading its row.
    from_memory: bool,
}

fn not_found(task_id: &str) -> EngineError {
    EngineError::NotFound { what: format!("task '{task_id}'"), reason: "TASK_NOT_FOUND" }
}

fn stale(task_id: &str, token: u64, lease: &TaskLease) -> EngineError {
    EngineError::StaleLease(format!(
        "lease token {token} of task '{task_id}' is not current (the current lease is {}, {}); \
         the attempt was given up",
        lease.lease_token,
        lease.status.as_str()
    ))
}

fn paused(step: &str) -> EngineError {
    EngineError::FailedPrecondition {
        message: format!(
            "step '{step}' is paused (a tool approval or a cost ceiling); hold until Heartbeat says paused=false"
        ),
        reason: "STEP_PAUSED",
    }
}

fn finished(task_id: &str) -> EngineError {
    EngineError::FailedPrecondition {
        message: format!("task '{task_id}' was already completed or failed; nothing changed"),
        reason: "TASK_ALREADY_FINISHED",
    }
}

fn timed_out(task_id: &str, lease: &TaskLease) -> EngineError {
    let timeout = lease.timeout_ms.map_or_else(String::new, |ms| {
        format!(" of {}", humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64)))
    });
    EngineError::FailedPrecondition {
        message: format!(
            "this lease's attempt of task '{task_id}' passed the step's timeout{timeout} and was given up; stop \
             work, nothing changed"
        ),
        reason: "STEP_TIMEOUT",
    }
}

/// Whether a live lease's attempt deadline has passed at `now`.
fn past_deadline(lease: &TaskLease, now: i64) -> bool {
    lease.attempt_deadline_ms.is_some_and(|deadline| deadline <= now)
}

fn cancelled(task_id: &str) -> EngineError {
    EngineError::FailedPrecondition {
        message: format!("task '{task_id}' was cancelled (its run was cancelled or failed); nothing changed"),
        reason: "TASK_CANCELLED",
    }
}

impl TaskQueue {
    /// Refuses a call about `task_id` unless `token` names its live lease
    /// (NotFound, stale or finished), changing nothing: the API asks this
    /// first, so a bad task id is told so before a field not built yet.
    pub async fn check_lease(&self, tenant: &str, task_id: &str, token: u64) -> Result<(), EngineError> {
        self.live_lease(tenant, task_id, token).await.map(|_| ())
    }

    /// The task's row, refused unless `token` names its live lease.
    pub(super) async fn live_lease(&self, tenant: &str, task_id: &str, token: u64) -> Result<TaskLease, EngineError> {
        let lease = self.runs.store().get_task(tenant, task_id).await?.ok_or_else(|| not_found(task_id))?;
        if lease.timed_out_token == Some(token) {
            return Err(timed_out(task_id, &lease));
        }
        if lease.lease_token != token {
            return Err(stale(task_id, token, &lease));
        }
        match lease.status {
            // The sweeper fails it at its deadline; no call counts after.
            TaskStatus::Leased if past_deadline(&lease, now_ms()) => Err(timed_out(task_id, &lease)),
            TaskStatus::Leased => Ok(lease),
            TaskStatus::Queued => Err(stale(task_id, token, &lease)),
            TaskStatus::Done => Err(finished(task_id)),
            TaskStatus::Cancelled => Err(cancelled(task_id)),
        }
    }

    /// Extends a live lease by the lease length (never past its attempt's
    /// deadline) and records the cost so far. A cancelled task, or an
    /// attempt past the step's timeout, answers `cancelled` rather than an
    /// error, so the worker learns to stop.
    pub async fn heartbeat(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        cost_so_far_cents: i64,
    ) -> Result<HeartbeatReply, EngineError> {
        let cancelled = HeartbeatReply { lease_deadline_ms: None, cancelled: true, paused: false };
        let lease = match self.live_lease(tenant, task_id, token).await {
            Ok(lease) => lease,
            Err(EngineError::FailedPrecondition { reason: "TASK_CANCELLED" | "STEP_TIMEOUT", .. }) => {
                return Ok(cancelled);
            }
            Err(err) => return Err(err),
        };
        let policy = self.policy_of(tenant, &lease).await?;
        check_currency(policy.as_ref(), cost_so_far_cents, "cost_so_far")?;
        let now = now_ms();
        if let Some(owner) = &lease.lease_owner {
            // Only a sighting: a worker forgotten meanwhile learns so on its next poll.
            let _ = self.workers.touch(tenant, owner, now).await;
        }
        let deadline = now.saturating_add(self.lease_ms);
        let Some(deadline) =
            self.runs.store().extend_lease(tenant, task_id, token, deadline, cost_so_far_cents, now).await?
        else {
            if past_deadline(&lease, now) {
                return Ok(cancelled);
            }
            // The deadline passed before this heartbeat: the sweeper owns
            // the attempt now, whatever the row says this instant.
            return Err(EngineError::StaleLease(format!(
                "the lease of task '{task_id}' expired before this heartbeat; the attempt was given up"
            )));
        };
        let mut reply = HeartbeatReply { lease_deadline_ms: Some(deadline), cancelled: false, paused: false };
        // PauseRun holds every task of the run; a step gate holds its own.
        if lease.step_status == Some(StepStatus::Paused) || lease.run_held {
            reply.paused = true;
            return Ok(reply);
        }
        // Only a cost that may pass a ceiling goes to the writer; the core
        // decides (and refuses a report that passes none, changing nothing).
        let caps = policy.as_ref().map(|p| (p.max_cost_per_step.as_ref(), p.max_total_cost.as_ref()));
        let may_pass = match caps {
            Some((per_step, total)) => {
                cost_so_far_cents > 0
                    && (total.is_some()
                        || per_step.is_some_and(|c| lease.step_cost_cents.saturating_add(cost_so_far_cents) > c.amount))
            }
            None => false,
        };
        if !may_pass {
            return Ok(reply);
        }
        let command = Command::CostReported {
            step: lease.step_key.clone(),
            attempt: lease.attempt,
            cost_cents: cost_so_far_cents,
            now_ms: now,
        };
        match self.runs.command(tenant, &lease.run_id, command).await {
            Ok(()) => {
                // Committed: the step paused, or the run was cancelled (and
                // the task with it).
                let row = self.runs.store().get_task(tenant, task_id).await?;
                if row.is_some_and(|r| r.status == TaskStatus::Cancelled) {
                    return Ok(cancelled);
                }
                reply.paused = true;
                Ok(reply)
            }
            Err(CommandRefusal::Refused(TransitionError::WithinCaps { .. })) => Ok(reply),
            Err(CommandRefusal::Refused(TransitionError::NotInFlight { status: StepStatus::Paused, .. })) => {
                reply.paused = true;
                Ok(reply)
            }
            Err(refusal) => Err(self.refusal(task_id, refusal)),
        }
    }

    /// Completes the leased attempt with `output` and its cost. An output
    /// that is over [`output::MAX_OUTPUT_BYTES`] or not JSON fails the step
    /// (OUTPUT_INVALID), one nested too deep (or with too deep a state
    /// write) fails it with OUTPUT_TOO_DEEP, and the call answers
    /// InvalidArgument saying so; the output is not stored.
    pub async fn complete(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        output: TaskOutput,
        cost_cents: i64,
    ) -> Result<(), EngineError> {
        self.complete_with_state(tenant, task_id, token, output, cost_cents, None).await
    }

    /// [`Self::complete`] with explicit shared-state writes, which must name
    /// keys the step declares in `stateWrites` (InvalidArgument otherwise,
    /// nothing changed) and win over values taken from the output.
    pub async fn complete_with_state(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        output: TaskOutput,
        cost_cents: i64,
        state_writes: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(), EngineError> {
        let lease = self.reported(tenant, task_id, token, cost_cents).await?;
        let (step, attempt, now_ms) = (lease.step_key.clone(), lease.attempt, now_ms());
        match output::check(output, state_writes.as_ref()) {
            Ok(output) => {
                let command = Command::StepSucceeded { step, attempt, output, cost_cents, now_ms, state_writes };
                self.apply(tenant, &lease, command).await?;
                if lease.kind == StepKind::Planner { self.plan_verdict(tenant, &lease).await } else { Ok(()) }
            }
            Err(output::Rejection { fault, message }) => {
                let error = message.clone();
                let command = Command::OutputRejected { step, attempt, error, fault, cost_cents, now_ms };
                self.apply(tenant, &lease, command).await?;
                Err(EngineError::invalid("output", format!("{message}; the step failed with {}", fault.code())))
            }
        }
    }

    /// After a planner's completion was committed: InvalidArgument with
    /// the plan's problems when the plan was refused (the step failed, or
    /// its next attempt was queued), so the worker learns why.
    async fn plan_verdict(&self, tenant: &str, lease: &Reported) -> Result<(), EngineError> {
        let (_, steps) = self.runs.store().get_run(tenant, &lease.run_id).await?;
        let Some(step) = steps.iter().find(|s| s.key == lease.step_key) else { return Ok(()) };
        if step.status == StepStatus::Completed {
            return Ok(());
        }
        let error = step.error.clone().unwrap_or_else(|| "the plan was refused".to_owned());
        let after = if step.status == StepStatus::Failed {
            "the step failed with PLAN_INVALID".to_owned()
        } else {
            format!("attempt {} of the step was queued", lease.attempt + 1)
        };
        Err(EngineError::invalid("output", format!("{error}; {after}")))
    }

    /// Fails the leased attempt. True when another attempt was queued.
    pub async fn fail(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        error: String,
        retryable: bool,
        cost_cents: i64,
    ) -> Result<bool, EngineError> {
        let lease = self.reported(tenant, task_id, token, cost_cents).await?;
        let command = Command::StepFailed {
            step: lease.step_key.clone(),
            attempt: lease.attempt,
            error,
            retryable,
            cost_cents,
            now_ms: now_ms(),
        };
        self.apply(tenant, &lease, command).await?;
        // Committed before the answer, so the row says whether a next
        // attempt exists (it may already be leased again).
        let after = self.runs.store().get_task(tenant, task_id).await?;
        Ok(after.is_some_and(|row| row.attempt > lease.attempt))
    }

    /// A live lease whose step may take an outcome with `cost_cents`: not
    /// paused, and the cost in the ceilings' currency.
    async fn reportable_lease(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        cost_cents: i64,
    ) -> Result<TaskLease, EngineError> {
        let lease = self.live_lease(tenant, task_id, token).await?;
        if lease.step_status == Some(StepStatus::Paused) {
            return Err(paused(&lease.step_key));
        }
        let policy = self.policy_of(tenant, &lease).await?;
        check_currency(policy.as_ref(), cost_cents, "cost")?;
        Ok(lease)
    }

    /// The lease a completion or failure is about, with its cost in the
    /// ceilings' currency: from memory when this process granted it and
    /// the call matches (`granted.rs`), else read and checked as
    /// [`Self::reportable_lease`] does.
    async fn reported(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        cost_cents: i64,
    ) -> Result<Reported, EngineError> {
        if let Some(grant) = self.grants.matching(tenant, task_id, token, now_ms()) {
            let policy = self.policy_at(tenant, &grant.workflow_id, grant.workflow_version).await?;
            check_currency(policy.as_ref(), cost_cents, "cost")?;
            return Ok(Reported {
                task_id: grant.task_id,
                run_id: grant.run_id,
                step_key: grant.step_key,
                kind: grant.kind,
                attempt: grant.attempt,
                token,
                from_memory: true,
            });
        }
        let lease = self.reportable_lease(tenant, task_id, token, cost_cents).await?;
        Ok(Reported {
            task_id: lease.task_id,
            run_id: lease.run_id,
            step_key: lease.step_key,
            kind: lease.kind,
            attempt: lease.attempt,
            token,
            from_memory: false,
        })
    }

    /// Sends a lease's command to the writer and explains a refusal. The
    /// lease is forgotten either way: its outcome landed, or the writer's
    /// fence (the command's attempt) says the lease moved, and then a lease
    /// taken from memory is read, so the caller hears exactly why, as a
    /// call that read the row first would have.
    async fn apply(&self, tenant: &str, lease: &Reported, command: Command) -> Result<(), EngineError> {
        let refusal = match self.runs.command(tenant, &lease.run_id, command).await {
            Ok(()) => {
                self.grants.forget(&lease.task_id, lease.token);
                return Ok(());
            }
            Err(refusal) => refusal,
        };
        if matches!(refusal, CommandRefusal::Refused(_) | CommandRefusal::NotLive) {
            self.grants.forget(&lease.task_id, lease.token);
            if lease.from_memory {
                self.reportable_lease(tenant, &lease.task_id, lease.token, 0).await?;
            }
        }
        Err(self.refusal(&lease.task_id, refusal))
    }

    /// What a refused command about a task means to its worker.
    pub(super) fn refusal(&self, task_id: &str, refusal: CommandRefusal) -> EngineError {
        match refusal {
            CommandRefusal::Refused(TransitionError::StaleAttempt { .. }) => EngineError::StaleLease(format!(
                "the lease of task '{task_id}' was given up before this call; nothing changed"
            )),
            CommandRefusal::Refused(TransitionError::NotInFlight { status: StepStatus::Paused, step, .. }) => {
                paused(&step)
            }
            CommandRefusal::Refused(TransitionError::NotInFlight { .. }) => finished(task_id),
            CommandRefusal::Refused(refused @ TransitionError::UndeclaredStateWrites { .. }) => {
                EngineError::invalid("state_writes", format!("{refused}; nothing changed"))
            }
            CommandRefusal::Refused(_) | CommandRefusal::NotLive => cancelled(task_id),
            CommandRefusal::Unavailable => EngineError::Unavailable("the run scheduler is busy; retry later"),
            CommandRefusal::Internal => crate::engine::scheduler::internal(),
        }
    }
}
