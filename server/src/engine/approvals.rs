//! The approval API's engine side: reading approvals from the store and
//! deciding one by answering the paused step through the run's writer.
//!
//! A decision is the same `Answer` command ResumeRun's step form sends,
//! naming the approval, so the transition is the single place that says
//! whether it still waits: two concurrent decisions meet in the writer, and
//! the second finds the step no longer paused (FAILED_PRECONDITION).

use crate::engine::EngineError;
use crate::engine::run::{Command, TransitionError};
use crate::engine::runs::RunEngine;
use crate::engine::scheduler::{CommandRefusal, now_ms};
use crate::model::{ApprovalPage, ApprovalQuery, ApprovalRecord, ApprovalStatus};

/// Who decided when the request does not say (there is no authentication yet).
const ANONYMOUS: &str = "anonymous";
/// Longest `decided_by`.
const MAX_DECIDED_BY_CHARS: usize = 256;
/// Longest comment.
const MAX_COMMENT_CHARS: usize = 10_000;

/// A decision as DecideApproval carries it.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// "approve", "deny" or "escalate"; empty: follows from `option`.
    pub decision: String,
    /// The option chosen; empty: follows from `decision`.
    pub option: String,
    /// Free text, kept for audit.
    pub comment: String,
    /// Who decided; empty: anonymous.
    pub decided_by: String,
}

fn not_found(id: &str) -> EngineError {
    EngineError::NotFound { what: format!("approval '{id}'"), reason: "APPROVAL_NOT_FOUND" }
}

fn not_pending(id: &str, status: &str) -> EngineError {
    EngineError::FailedPrecondition {
        message: format!("approval '{id}' is {status}, not pending; it was already decided"),
        reason: "APPROVAL_NOT_PENDING",
    }
}

/// The option to answer with: the one given, checked against the
/// decision when both are, or the offered option that means the decision.
fn option_of(decision: &Decision, offered: &[String]) -> Result<String, EngineError> {
    let option = decision.option.trim().to_ascii_lowercase();
    let wanted = decision.decision.trim().to_ascii_lowercase();
    let means = |o: &str| match o {
        "reject" | "deny" => "deny",
        "escalate" => "escalate",
        _ => "approve",
    };
    if !option.is_empty() {
        if !offered.iter().any(|o| *o == option || (means(o) == "deny" && means(&option) == "deny")) {
            let message = format!("'{option}' is not offered; expected one of {}", offered.join(", "));
            return Err(EngineError::invalid("option", message));
        }
        if !wanted.is_empty() && means(&option) != wanted {
            return Err(EngineError::invalid("decision", format!("'{wanted}' does not agree with option '{option}'")));
        }
        return Ok(option);
    }
    if wanted.is_empty() {
        return Err(EngineError::invalid("decision", "give a decision or an option"));
    }
    // Prefer the offered option spelled like the decision, then any that
    // means it ("reject" for deny).
    let exact = offered.iter().find(|o| **o == wanted);
    let found =
        exact.or_else(|| offered.iter().find(|o| means(o) == wanted && (wanted != "approve" || *o == "approve")));
    match found {
        Some(option) => Ok(option.clone()),
        None => Err(EngineError::invalid("decision", format!("'{wanted}' is not among the offered options"))),
    }
}

impl RunEngine {
    /// One approval. NotFound for an unknown id.
    pub async fn approval(&self, tenant: &str, id: &str) -> Result<ApprovalRecord, EngineError> {
        self.store().get_approval(tenant, id).await?.ok_or_else(|| not_found(id))
    }

    /// A page of approvals, newest first.
    pub async fn approvals(&self, tenant: &str, query: &ApprovalQuery) -> Result<ApprovalPage, EngineError> {
        Ok(self.store().list_approvals(tenant, query).await?)
    }

    /// Decides a pending approval and returns it as committed. NotFound for
    /// an unknown id; FailedPrecondition when it is no longer pending;
    /// InvalidArgument for an option it does not offer.
    pub async fn decide_approval(&self, tenant: &str, id: &str, d: Decision) -> Result<ApprovalRecord, EngineError> {
        let approval = self.approval(tenant, id).await?;
        if d.comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(EngineError::invalid("comment", format!("is longer than {MAX_COMMENT_CHARS} characters")));
        }
        let by = d.decided_by.trim();
        if by.chars().count() > MAX_DECIDED_BY_CHARS {
            let message = format!("is longer than {MAX_DECIDED_BY_CHARS} characters");
            return Err(EngineError::invalid("decided_by", message));
        }
        if approval.status != ApprovalStatus::Pending {
            return Err(not_pending(id, approval.status.as_str()));
        }
        let option = option_of(&d, &approval.options)?;
        let command = Command::Answer {
            step: approval.step_key.clone(),
            option,
            decided_by: if by.is_empty() { ANONYMOUS.to_owned() } else { by.to_owned() },
            comment: d.comment,
            approval_id: Some(id.to_owned()),
            now_ms: now_ms(),
        };
        match self.command(tenant, &approval.run_id, command).await {
            Ok(()) => self.approval(tenant, id).await,
            Err(CommandRefusal::Refused(err @ TransitionError::BadAnswer { .. })) => {
                Err(EngineError::invalid("option", err.to_string()))
            }
            Err(CommandRefusal::Refused(_) | CommandRefusal::NotLive) => {
                // Decided meanwhile, or its run ended: report what it is now.
                let now = self.approval(tenant, id).await?;
                Err(not_pending(id, if now.status == ApprovalStatus::Pending { "closed" } else { now.status.as_str() }))
            }
            Err(CommandRefusal::Unavailable) => Err(EngineError::Unavailable("the run scheduler is busy; retry later")),
            Err(CommandRefusal::Internal) => Err(crate::engine::scheduler::internal()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_option_follows_from_the_decision_and_must_be_offered() {
        let o = offered(&["approve", "reject", "escalate"]);
        let d = |decision: &str, option: &str| Decision {
            decision: decision.into(),
            option: option.into(),
            ..Default::default()
        };
        assert_eq!(option_of(&d("deny", ""), &o).unwrap(), "reject");
        assert_eq!(option_of(&d("", "deny"), &o).unwrap(), "deny");
        assert_eq!(option_of(&d("escalate", ""), &o).unwrap(), "escalate");
        assert!(option_of(&d("", "maybe"), &o).is_err());
        assert!(option_of(&d("approve", "reject"), &o).is_err());
        assert!(option_of(&d("", ""), &o).is_err());
        assert!(option_of(&d("escalate", ""), &offered(&["approve", "reject"])).is_err());
    }
}
