//! ResumeRun, as far as runs pause today: a step paused by an approval
//! (an approval step or a tool use) or a cost ceiling is answered with the
//! step form (`input.resume`).
//!
//! Besides ApprovalService, this is how an approval is decided:
//! `{"input": {"resume": {"step": "<step>", "input": "approve"}}}` (or
//! "reject"), or an object `{"option": "reject", "decidedBy": "alice"}` to
//! name who decided (default "anonymous": there is no authentication yet),
//! with an optional `"comment"` kept on the approval.
//! A cost ceiling takes "continue" (the ceiling no longer applies to that
//! step) or "cancel" (the run is cancelled).
//!
//! The event form (`event`, `payload`) completes the wait step paused for
//! that event with the payload as its output; no step waiting for it is
//! FAILED_PRECONDITION, and nothing changes. Continuing a PauseRun reaches
//! runs paused only by step gates, so it is FAILED_PRECONDITION too.

use serde_json::Value;

use crate::engine::EngineError;
use crate::engine::run::{Command, TransitionError};
use crate::engine::runs::{RunDetail, RunEngine};
use crate::engine::scheduler::{CommandRefusal, now_ms};

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
    /// Continue a manually paused run (optionally from a step).
    Continue,
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
    /// Answers a paused run and returns it after the answer is committed.
    /// NotFound for an unknown run; FailedPrecondition when the run is not
    /// paused or does not wait for what was sent; InvalidArgument for an
    /// answer that is not one of the pending action's options.
    pub async fn resume(&self, tenant: &str, run_id: &str, form: ResumeForm) -> Result<RunDetail, EngineError> {
        let (run, _) = self.get(tenant, run_id).await?;
        if run.status != "paused" {
            return Err(not_paused(format!("run '{run_id}' is {}, not paused", run.status)));
        }
        let waits_for = run.pending_action.as_ref().and_then(|a| a.get("step")).and_then(Value::as_str);
        let waits_for = waits_for.unwrap_or_default().to_owned();
        let (step, input) = match form {
            ResumeForm::Answer { step, input } => (step, input),
            ResumeForm::Event { event, payload } => return self.deliver_event(tenant, run_id, event, payload).await,
            ResumeForm::Continue => {
                return Err(not_paused(format!(
                    "run '{run_id}' waits for an answer to step '{waits_for}'; send input.resume with that step"
                )));
            }
        };
        let (option, decided_by) = read_answer(&input)?;
        let comment = input.get("comment").and_then(Value::as_str).unwrap_or_default().to_owned();
        let command =
            Command::Answer { step: step.clone(), option, decided_by, comment, approval_id: None, now_ms: now_ms() };
        match self.scheduler().command(tenant, run_id, command).await {
            Ok(()) => self.get(tenant, run_id).await,
            Err(CommandRefusal::Refused(err @ TransitionError::BadAnswer { .. })) => {
                Err(EngineError::invalid("input.resume.input", err.to_string()))
            }
            Err(CommandRefusal::Refused(TransitionError::NotPaused { .. } | TransitionError::UnknownStep(_))) => {
                Err(not_paused(format!("step '{step}' of run '{run_id}' is not paused; it waits for '{waits_for}'")))
            }
            Err(CommandRefusal::Refused(err)) => Err(err.into()),
            Err(CommandRefusal::NotLive) => Err(not_paused(format!("run '{run_id}' is no longer paused"))),
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
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
        match self.scheduler().command(tenant, run_id, command).await {
            Ok(()) => self.get(tenant, run_id).await,
            Err(CommandRefusal::Refused(TransitionError::NoWait { .. })) => {
                Err(not_paused(format!("run '{run_id}' has no step waiting for event '{event}'")))
            }
            Err(CommandRefusal::Refused(err)) => Err(err.into()),
            Err(CommandRefusal::NotLive) => Err(not_paused(format!("run '{run_id}' is no longer paused"))),
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
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
