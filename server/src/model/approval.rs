//! Approvals as the store keeps them: a request for a person's decision
//! (today a tool use under `requireApprovalFor`), written by the run writer
//! from the approval.pending and approval.decided events of the same commit.

use serde_json::Value;

/// One approval, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    /// `appr_…`.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// The run that waits.
    pub run_id: String,
    /// Instance key of the paused step.
    pub step_key: String,
    /// "tool_use" (or "step" once approval steps exist).
    pub kind: String,
    /// What is to be approved: the tool name for a tool use.
    pub action: String,
    /// For a tool use: the tool.
    pub tool: String,
    /// For a tool use: the arguments the agent wants to use.
    pub arguments: Value,
    /// Text for the approver.
    pub message: String,
    /// Choices offered.
    pub options: Vec<String>,
    /// "pending", "approved", "denied" or "expired".
    pub status: String,
    /// "approve", "deny" or "expired"; empty while pending.
    pub decision: String,
    /// The option chosen, as answered; empty while pending.
    pub option: String,
    /// Who decided; empty while pending.
    pub decided_by: String,
    /// Opened, ms since the epoch.
    pub created_ms: i64,
    /// Decided, ms since the epoch.
    pub decided_ms: Option<i64>,
}

/// A decision on an open approval.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalDecision {
    /// `appr_…`.
    pub id: String,
    /// "approved", "denied" or "expired".
    pub status: String,
    /// "approve", "deny" or "expired".
    pub decision: String,
    /// The option chosen.
    pub option: String,
    /// Who decided.
    pub decided_by: String,
    /// Decided, ms since the epoch.
    pub decided_ms: i64,
}
