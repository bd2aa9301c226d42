//! Approvals as the store keeps them: a request for a person's decision
//! (an approval step, or a tool use under `requireApprovalFor`), written by the run writer
//! from the approval.pending and approval.decided events of the same commit.

use serde_json::Value;

use super::{ApprovalKind, ApprovalStatus};

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
    /// Workflow of the run, read with the run; empty when writing.
    pub workflow_id: String,
    /// A step's or a tool use's.
    pub kind: ApprovalKind,
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
    /// Where the approval stands.
    pub status: ApprovalStatus,
    /// "approve", "deny", "escalate" or "expired"; empty while pending.
    pub decision: String,
    /// The option chosen, as answered; empty while pending.
    pub option: String,
    /// Who decided; empty while pending.
    pub decided_by: String,
    /// The approver's comment; empty when none.
    pub comment: String,
    /// For a step: "approve" or "deny", applied on timeout; empty otherwise.
    pub default_action: String,
    /// When the timeout applies, ms since the epoch; `None` without one.
    pub expires_ms: Option<i64>,
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
    /// The status it takes: approved, denied, escalated or expired.
    pub status: ApprovalStatus,
    /// "approve", "deny", "escalate" or "expired".
    pub decision: String,
    /// The option chosen.
    pub option: String,
    /// Who decided.
    pub decided_by: String,
    /// The approver's comment; empty when none.
    pub comment: String,
    /// Decided, ms since the epoch.
    pub decided_ms: i64,
}

/// Which approvals ListApprovals wants, newest first.
#[derive(Debug, Clone, Default)]
pub struct ApprovalQuery {
    /// Only approvals of this run.
    pub run_id: Option<String>,
    /// Only approvals of runs of this workflow.
    pub workflow_id: Option<String>,
    /// Only approvals for this action (or tool).
    pub action: Option<String>,
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Only this kind.
    pub kind: Option<ApprovalKind>,
    /// Resume after this (created ms, id) position.
    pub after: Option<(i64, String)>,
    /// Most rows to return.
    pub limit: u32,
}

/// One page of approvals.
#[derive(Debug, Clone)]
pub struct ApprovalPage {
    /// The rows, newest first.
    pub approvals: Vec<ApprovalRecord>,
    /// Rows matching the filters, across pages.
    pub total: u32,
    /// Whether rows follow this page.
    pub has_more: bool,
}
