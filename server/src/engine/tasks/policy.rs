//! The workflow policy, enforced at the server when a worker asks to use a
//! tool (CheckToolUse), and the currency rule for the costs workers report.
//!
//! Rules, first match wins: a tool in `denyTools` is refused; a tool in
//! `requireApprovalFor` opens an approval and pauses the step (so such a
//! tool need not be in `allowTools` too, as the documented lead pipeline
//! assumes); a non-empty `allowTools` refuses every tool it does not list;
//! anything else is allowed.
//!
//! With an `approval_id` the worker asks for an approval's outcome instead:
//! "approved by …" allows, "rejected by …" refuses, and a pending one is
//! waited on for up to `wait`, then reported still pending.

use std::time::Duration;

use serde_json::Value;

use super::TaskQueue;
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::run::{Command, TransitionError};
use crate::engine::scheduler::CommandRefusal;
use crate::model::definition::Policy;
use crate::model::{ApprovalRecord, ApprovalStatus, json_limits};
use crate::store::TaskLease;

/// The only currency workers report costs in (see `api::convert_workers`).
const COST_CURRENCY: &str = "usd";

/// What the policy says about one tool, before any approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ToolRule {
    /// Allowed; the reason is empty when no list mentions the tool.
    Allow(String),
    /// Refused, with the rule that refuses it.
    Deny(String),
    /// Needs a person's approval first.
    RequireApproval,
}

/// The policy's verdict on `tool` (no policy allows everything).
pub(super) fn judge(policy: Option<&Policy>, tool: &str) -> ToolRule {
    let Some(policy) = policy else { return ToolRule::Allow(String::new()) };
    let listed = |list: &[String]| list.iter().any(|t| t == tool);
    if listed(&policy.deny_tools) {
        ToolRule::Deny(format!("tool '{tool}' is in the policy's denyTools"))
    } else if listed(&policy.require_approval_for) {
        ToolRule::RequireApproval
    } else if !policy.allow_tools.is_empty() && !listed(&policy.allow_tools) {
        ToolRule::Deny(format!("tool '{tool}' is not in the policy's allowTools"))
    } else if listed(&policy.allow_tools) {
        ToolRule::Allow(format!("tool '{tool}' is in the policy's allowTools"))
    } else {
        ToolRule::Allow(String::new())
    }
}

/// A cost in usd cents against ceilings in another currency cannot be
/// compared: InvalidArgument naming `field` and the ceiling. Zero costs
/// carry no currency worth checking.
pub(super) fn check_currency(policy: Option<&Policy>, cents: i64, field: &str) -> Result<(), EngineError> {
    let Some(policy) = policy.filter(|_| cents > 0) else { return Ok(()) };
    let caps = [("maxCostPerStep", &policy.max_cost_per_step), ("maxTotalCost", &policy.max_total_cost)];
    for (name, cap) in caps {
        if let Some(cap) = cap
            && !cap.currency.is_empty()
            && !cap.currency.eq_ignore_ascii_case(COST_CURRENCY)
        {
            return Err(EngineError::invalid(
                field,
                format!(
                    "the cost is in {COST_CURRENCY} but the policy's {name} is in {}; costs and ceilings must share \
                     a currency",
                    cap.currency
                ),
            ));
        }
    }
    Ok(())
}

/// What a worker asks CheckToolUse.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    /// The tool, as the policy lists it.
    pub tool: String,
    /// What the agent wants to call it with (shown to the approver).
    pub arguments: Value,
    /// An approval opened earlier for this tool use: report its outcome.
    pub approval_id: Option<String>,
    /// With `approval_id`: how long to wait for a decision.
    pub wait: Duration,
}

/// The answer to CheckToolUse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolAnswer {
    /// Use the tool.
    Allow {
        /// Why, in words; may be empty.
        reason: String,
        /// The approval that allowed it, if any.
        approval_id: Option<String>,
    },
    /// Do not use the tool.
    Deny {
        /// Why, in words.
        reason: String,
        /// The approval that refused it, if any.
        approval_id: Option<String>,
    },
    /// Ask again with this approval id; the step is paused until decided.
    Pending {
        /// Why, in words.
        reason: String,
        /// `appr_…`.
        approval_id: String,
    },
}

/// The answer an approval row gives.
fn answer_of(approval: &ApprovalRecord) -> ToolAnswer {
    let approval_id = Some(approval.id.clone());
    match approval.status {
        ApprovalStatus::Pending => ToolAnswer::Pending {
            reason: format!("tool '{}' waits for approval", approval.tool),
            approval_id: approval.id.clone(),
        },
        ApprovalStatus::Approved => {
            ToolAnswer::Allow { reason: format!("approved by {}", approval.decided_by), approval_id }
        }
        ApprovalStatus::Denied => {
            ToolAnswer::Deny { reason: format!("rejected by {}", approval.decided_by), approval_id }
        }
        ApprovalStatus::Escalated | ApprovalStatus::Expired => ToolAnswer::Deny {
            reason: format!("the approval ended without a decision ({})", approval.decided_by),
            approval_id,
        },
    }
}

impl TaskQueue {
    /// The policy of the workflow version a task's run executes.
    pub(super) async fn policy_of(&self, tenant: &str, lease: &TaskLease) -> Result<Option<Policy>, EngineError> {
        self.policy_at(tenant, &lease.workflow_id, lease.workflow_version).await
    }

    /// The policy of a workflow version (compiled versions are cached).
    pub(super) async fn policy_at(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: u32,
    ) -> Result<Option<Policy>, EngineError> {
        let workflow = self.runs.compiled(tenant, workflow_id, version).await?;
        Ok(workflow.definition().policy.clone())
    }

    /// CheckToolUse: applies the policy to `tool` for a live lease, or,
    /// with `approval_id`, reports (waiting up to `wait`) that approval's
    /// outcome. Only an approval-required tool changes anything: the step
    /// pauses, committed before the answer.
    pub async fn check_tool_use(
        &self,
        tenant: &str,
        task_id: &str,
        token: u64,
        ask: ToolUse,
    ) -> Result<ToolAnswer, EngineError> {
        let ToolUse { tool, arguments, approval_id, wait } = ask;
        let tool = tool.as_str();
        let lease = self.live_lease(tenant, task_id, token).await?;
        // Kept on the approval and shown in its event: held to the JSON
        // nesting limit like any value, refused before anything is written.
        json_limits::check_depth(&arguments, "arguments")
            .map_err(|fault| EngineError::invalid(fault.path(), fault.description()))?;
        if let Some(id) = approval_id.as_deref() {
            return self.approval_outcome(tenant, &lease, tool, id, wait).await;
        }
        let policy = self.policy_of(tenant, &lease).await?;
        match judge(policy.as_ref(), tool) {
            ToolRule::Allow(reason) => Ok(ToolAnswer::Allow { reason, approval_id: None }),
            ToolRule::Deny(reason) => Ok(ToolAnswer::Deny { reason, approval_id: None }),
            ToolRule::RequireApproval => {
                let approval_id = crate::ids::new_approval_id();
                let command = Command::ToolApprovalRequested {
                    step: lease.step_key.clone(),
                    attempt: lease.attempt,
                    approval_id: approval_id.clone(),
                    tool: tool.to_string(),
                    arguments,
                    now_ms: now_ms(),
                };
                match self.runs.command(tenant, &lease.run_id, command).await {
                    Ok(()) => Ok(ToolAnswer::Pending {
                        reason: format!("tool '{tool}' is in the policy's requireApprovalFor; the step is paused"),
                        approval_id,
                    }),
                    Err(CommandRefusal::Refused(TransitionError::NotInFlight { status, .. })) => {
                        Err(EngineError::FailedPrecondition {
                            message: format!(
                                "step '{}' is {status}: it already waits for an answer; hold until Heartbeat \
                                 says paused=false",
                                lease.step_key
                            ),
                            reason: "STEP_PAUSED",
                        })
                    }
                    Err(refusal) => Err(self.refusal(task_id, refusal)),
                }
            }
        }
    }

    /// The outcome of an approval this task opened, waiting up to `wait`
    /// for a pending one to be decided.
    async fn approval_outcome(
        &self,
        tenant: &str,
        lease: &TaskLease,
        tool: &str,
        id: &str,
        wait: Duration,
    ) -> Result<ToolAnswer, EngineError> {
        // Subscribed before the first read, so a decision committed in
        // between still wakes the wait.
        let mut events = self.runs.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let approval = self.runs.store().get_approval(tenant, id).await?.ok_or_else(|| EngineError::NotFound {
                what: format!("approval '{id}'"),
                reason: "APPROVAL_NOT_FOUND",
            })?;
            if approval.run_id != lease.run_id || approval.step_key != lease.step_key {
                return Err(EngineError::invalid("approval_id", format!("approval '{id}' is not this task's")));
            }
            if approval.tool != tool {
                return Err(EngineError::invalid(
                    "tool",
                    format!("approval '{id}' is for tool '{}', not '{tool}'", approval.tool),
                ));
            }
            let answer = answer_of(&approval);
            if !matches!(answer, ToolAnswer::Pending { .. }) {
                return Ok(answer);
            }
            let decided = async {
                loop {
                    match events.recv().await {
                        Ok(event) if event.run_id == lease.run_id && event.event_type == "approval.decided" => {
                            return;
                        }
                        Ok(_) => {}
                        // Fell behind: read the row again.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
                    }
                }
            };
            tokio::select! {
                _ = decided => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(answer),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(value: Value) -> Policy {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn deny_wins_then_approval_then_the_allow_list() {
        let p = policy(json!({
            "allowTools": ["web_search", "shell_exec"],
            "denyTools": ["shell_exec"],
            "requireApprovalFor": ["update_crm"],
        }));
        assert_eq!(
            judge(Some(&p), "shell_exec"),
            ToolRule::Deny("tool 'shell_exec' is in the policy's denyTools".into())
        );
        assert_eq!(judge(Some(&p), "update_crm"), ToolRule::RequireApproval, "approval implies allowed");
        assert_eq!(
            judge(Some(&p), "write_file"),
            ToolRule::Deny("tool 'write_file' is not in the policy's allowTools".into())
        );
        assert_eq!(
            judge(Some(&p), "web_search"),
            ToolRule::Allow("tool 'web_search' is in the policy's allowTools".into())
        );
        assert_eq!(judge(Some(&policy(json!({}))), "anything"), ToolRule::Allow(String::new()));
        assert_eq!(judge(None, "anything"), ToolRule::Allow(String::new()));
    }

    #[test]
    fn a_cost_against_a_ceiling_in_another_currency_is_refused() {
        let eur = policy(json!({"maxCostPerStep": {"amount": 10, "currency": "eur"}}));
        assert!(check_currency(Some(&eur), 5, "cost").is_err());
        assert!(check_currency(Some(&eur), 0, "cost").is_ok(), "zero has no currency to compare");
        let usd = policy(json!({"maxTotalCost": {"amount": 10, "currency": "USD"}}));
        assert!(check_currency(Some(&usd), 5, "cost").is_ok());
        assert!(check_currency(None, 5, "cost").is_ok());
    }
}
