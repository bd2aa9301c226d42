//! ResumeRun and PauseRun. Which form applies depends on what was sent
//! and on the run:
//!
//! - Step form (`input.resume: {step, input}`, 001): answers the paused
//!   step. An approval takes one of its options, e.g.
//!   `{"input": {"resume": {"step": "approval", "input": "approve"}}}`, or
//!   an object `{"option": "reject", "decidedBy": "alice", "comment": …}`
//!   to name who decided (default "anonymous"); a tool approval takes
//!   "approve" or "reject"; a cost ceiling "continue" (the ceiling no
//!   longer applies to that step) or "cancel" (the run is cancelled). An
//!   input that is not one of the options is INVALID_ARGUMENT naming them.
//! - Event form (`event`, `payload`, 000): completes the wait step paused
//!   for that event with the payload as its output.
//! - Nothing, or `from_step` (003), on a paused run: continues it where
//!   PauseRun stopped it, or first runs `from_step` and everything it
//!   leads to again in the same run (see `run/rewind.rs`).
//! - Nothing, or `from_step`, on a failed, partial or cancelled run:
//!   resumes from the last checkpoint, or from `from_step`, as a new run
//!   that reuses every completed output upstream (RetryRunFrom; the answer
//!   is the new run). The last checkpoint is the run's `canRetryFrom` (its
//!   first unrecovered failed step) or, for a cancelled run, the first
//!   step in dependency order that the cancel stopped.
//!
//! Refused, changing nothing: a run that is running or completed, a form
//! the run does not wait for (another event, another step, nothing sent to
//! a run held by a step gate) — FAILED_PRECONDITION (RUN_NOT_PAUSED); an
//! unknown `from_step` — INVALID_ARGUMENT.

use serde_json::Value;

use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::run::{Command, TransitionError};
use crate::engine::runs::{RunDetail, RunEngine};
use crate::engine::scheduler::CommandRefusal;
use crate::model::{RunRecord, RunStatus, StepRecord, StepStatus};

/// Who decided when the answer does not say.
const ANONYMOUS: &str = "anonymous";
/// Longest `decidedBy`.
const MAX_DECIDED_BY_CHARS: usize = 256;

/// What a ResumeRun request carries, in domain terms.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumeForm {
    /// A named event for a wait step, with its payload (the step's output).
    Event {
        /// The event's name.
        event: String,
        /// The payload; null when none was sent.
        payload: Value,
    },
    /// An answer to a paused step.
    Answer {
        /// The paused step's key.
        step: String,
        /// A string option, or `{"option"|"decision": …, "decidedBy": …}`.
        input: Value,
    },
    /// Continue a paused run, or resume a finished one, optionally from a
    /// step.
    Continue {
        /// The step to run again from; `None`: from where it stopped.
        from_step: Option<String>,
    },
}

/// The option and the decider an answer carries.
fn read_answer(input: &Value) -> Result<(String, String), EngineError> {
    let field = "input.resume.input";
    let (option, by) = match input {
        Value::String(option) => (option.clone(), None),
        Value::Object(map) => {
            let option = map.get("option").or_else(|| map.get("decision")).and_then(Value::as_str);
            let Some(option) = option else {
                return Err(EngineError::invalid(field, "an object answer needs \"option\" (e.g. \"approve\")"));
            };
            (option.to_owned(), map.get("decidedBy").and_then(Value::as_str).map(str::to_owned))
        }
        _ => return Err(EngineError::invalid(field, "must be an option string or an object with \"option\"")),
    };
    let by = by.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()).unwrap_or_else(|| ANONYMOUS.to_owned());
    if by.chars().count() > MAX_DECIDED_BY_CHARS {
        return Err(EngineError::invalid(field, format!("decidedBy is longer than {MAX_DECIDED_BY_CHARS} characters")));
    }
    Ok((option, by))
}

fn not_paused(message: String) -> EngineError {
    EngineError::FailedPrecondition { message, reason: "RUN_NOT_PAUSED" }
}

impl RunEngine {
    /// Pauses a running run (PauseRun) and returns it after the hold is
    /// committed. NotFound for an unknown run; FailedPrecondition
    /// (RUN_NOT_RUNNING) for a run already paused or finished.
    pub async fn pause(&self, tenant: &str, run_id: &str, reason: String) -> Result<RunDetail, EngineError> {
        self.get(tenant, run_id).await?;
        let refused = |status: String| EngineError::FailedPrecondition {
            message: format!("run '{run_id}' is {status}; only a running run can be paused"),
            reason: "RUN_NOT_RUNNING",
        };
        match self.command(tenant, run_id, Command::Pause { reason, now_ms: now_ms() }).await {
            Ok(()) => self.get(tenant, run_id).await,
            Err(CommandRefusal::Refused(
                TransitionError::NotRunning { status } | TransitionError::Finished { status },
            )) => Err(refused(status.to_string())),
            Err(CommandRefusal::Refused(err)) => Err(err.into()),
            Err(CommandRefusal::NotLive) => Err(refused(self.get(tenant, run_id).await?.0.status.to_string())),
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
            Err(CommandRefusal::Internal) => Err(crate::engine::scheduler::internal()),
        }
    }

    /// Answers, continues or resumes a run (see the module docs) and
    /// returns the run after the change is committed: for a finished run,
    /// the new run. NotFound for an unknown run; FailedPrecondition when the
    /// run does not wait for what was sent; InvalidArgument for an answer
    /// that is not one of the pending action's options or an unknown
    /// `from_step`.
    pub async fn resume(&self, tenant: &str, run_id: &str, form: ResumeForm) -> Result<RunDetail, EngineError> {
        let (run, steps) = self.get(tenant, run_id).await?;
        if let ResumeForm::Continue { from_step } = &form
            && run.status.is_retryable()
        {
            let from = match from_step {
                Some(step) => step.clone(),
                None => self.checkpoint(tenant, &run, &steps).await?,
            };
            return self.retry_from(tenant, run_id, &from).await.map_err(|err| match err {
                EngineError::InvalidArgument { message, .. } => EngineError::invalid("from_step", message),
                other => other,
            });
        }
        if run.status != RunStatus::Paused {
            return Err(not_paused(format!("run '{run_id}' is {}, not paused", run.status)));
        }
        let waits_for = run.pending_action.as_ref().and_then(|a| a.get("step")).and_then(Value::as_str);
        let waits_for = waits_for.unwrap_or_default().to_owned();
        let (step, input) = match form {
            ResumeForm::Answer { step, input } => (step, input),
            ResumeForm::Event { event, payload } => return self.deliver_event(tenant, run_id, event, payload).await,
            ResumeForm::Continue { from_step } => {
                return self.continue_run(tenant, run_id, from_step, &waits_for).await;
            }
        };
        let (option, decided_by) = read_answer(&input)?;
        let comment = input.get("comment").and_then(Value::as_str).unwrap_or_default().to_owned();
        let command =
            Command::Answer { step: step.clone(), option, decided_by, comment, approval_id: None, now_ms: now_ms() };
        match self.command(tenant, run_id, command).await {
            Ok(()) => self.get(tenant, run_id).await,
            Err(CommandRefusal::Refused(err @ TransitionError::BadAnswer { .. })) => {
                Err(EngineError::invalid("input.resume.input", err.to_string()))
            }
            Err(CommandRefusal::Refused(TransitionError::NotPaused { .. } | TransitionError::UnknownStep(_))) => {
                let waits = if waits_for.is_empty() {
                    "a plain ResumeRun (it was paused by PauseRun)".to_owned()
                } else {
                    format!("'{waits_for}'")
                };
                Err(not_paused(format!("step '{step}' of run '{run_id}' is not paused; it waits for {waits}")))
            }
            Err(CommandRefusal::Refused(err)) => Err(err.into()),
            Err(CommandRefusal::NotLive) => Err(not_paused(format!("run '{run_id}' is no longer paused"))),
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
            Err(CommandRefusal::Internal) => Err(crate::engine::scheduler::internal()),
        }
    }

    /// Ends PauseRun's hold, or runs `from_step` again, in a paused run.
    async fn continue_run(
        &self,
        tenant: &str,
        run_id: &str,
        from_step: Option<String>,
        waits_for: &str,
    ) -> Result<RunDetail, EngineError> {
        let command = Command::Continue { from_step: from_step.clone(), now_ms: now_ms() };
        match self.command(tenant, run_id, command).await {
            Ok(()) => self.get(tenant, run_id).await,
            Err(CommandRefusal::Refused(TransitionError::NotHeld { .. })) => Err(not_paused(format!(
                "run '{run_id}' waits for step '{waits_for}', not for a plain resume; \
                 send input.resume with that step (or its event), or from_step"
            ))),
            Err(CommandRefusal::Refused(TransitionError::UnknownStep(step))) => {
                Err(EngineError::invalid("from_step", format!("run '{run_id}' has no step '{step}'")))
            }
            Err(CommandRefusal::Refused(err @ TransitionError::BadRewind { .. })) => {
                Err(EngineError::FailedPrecondition { message: err.to_string(), reason: "RESUME_FROM_STEP_REFUSED" })
            }
            Err(CommandRefusal::Refused(err)) => Err(err.into()),
            Err(CommandRefusal::NotLive) => Err(not_paused(format!("run '{run_id}' is no longer paused"))),
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
            Err(CommandRefusal::Internal) => Err(crate::engine::scheduler::internal()),
        }
    }

    /// The last checkpoint of a finished run: its canRetryFrom, else the
    /// first step in dependency order that was cancelled or failed.
    async fn checkpoint(&self, tenant: &str, run: &RunRecord, steps: &[StepRecord]) -> Result<String, EngineError> {
        if let Some(from) = &run.can_retry_from {
            return Ok(from.clone());
        }
        let workflow = self.compiled(tenant, &run.workflow_id, run.workflow_version).await?;
        let stopped = workflow.topological_order().iter().filter_map(|&v| workflow.step(v)).find(|s| {
            steps.iter().any(|r| {
                r.key == s.id()
                    && r.item_index.is_none()
                    && matches!(r.status, StepStatus::Cancelled | StepStatus::Failed)
            })
        });
        match stopped {
            Some(step) => Ok(step.id().to_owned()),
            None => Err(not_paused(format!("run '{}' is {} with no step left to resume from", run.id, run.status))),
        }
    }

    /// Delivers `event` to the run's wait step paused for it; refused,
    /// changing nothing, when no step waits for that event.
    async fn deliver_event(
        &self,
        tenant: &str,
        run_id: &str,
        event: String,
        payload: Value,
    ) -> Result<RunDetail, EngineError> {
        let command = Command::Event { event: event.clone(), payload, now_ms: now_ms() };
        match self.command(tenant, run_id, command).await {
            Ok(()) => self.get(tenant, run_id).await,
            Err(CommandRefusal::Refused(TransitionError::NoWait { .. })) => {
                Err(not_paused(format!("run '{run_id}' has no step waiting for event '{event}'")))
            }
            Err(CommandRefusal::Refused(err)) => Err(err.into()),
            Err(CommandRefusal::NotLive) => Err(not_paused(format!("run '{run_id}' is no longer paused"))),
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
            Err(CommandRefusal::Internal) => Err(crate::engine::scheduler::internal()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_are_a_string_or_an_object_naming_the_decider() {
        assert_eq!(read_answer(&json!("approve")).unwrap(), ("approve".into(), "anonymous".into()));
        let object = json!({"option": "reject", "decidedBy": "alice"});
        assert_eq!(read_answer(&object).unwrap(), ("reject".into(), "alice".into()));
        assert!(read_answer(&json!({"decidedBy": "alice"})).is_err());
        assert!(read_answer(&json!(3)).is_err());
    }
}
