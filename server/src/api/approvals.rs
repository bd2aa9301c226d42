//! `weft.v1.ApprovalService`: lists, reads and decides approvals. The
//! engine checks the decision; this module maps the wire enums to the
//! stored words and back.

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::approval_service_server::ApprovalService;

use crate::api::auth;
use crate::api::convert::timestamp;
use crate::api::convert_runs::stored_struct_to_pb;
use crate::api::request_checks::required_id;
use crate::api::{error, page_token};
use crate::engine::RunEngine;
use crate::engine::approvals::Decision;
use crate::model::{ApprovalKind, ApprovalQuery, ApprovalRecord, ApprovalStatus};

/// Default and largest page of ListApprovals.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;

/// The ApprovalService implementation.
pub struct ApprovalApi {
    runs: RunEngine,
}

impl ApprovalApi {
    /// A service over the approvals of `runs`.
    pub fn new(runs: RunEngine) -> Self {
        Self { runs }
    }
}

fn decision_to_pb(decision: &str) -> pb::ApprovalDecision {
    match decision {
        "approve" => pb::ApprovalDecision::Approve,
        "deny" => pb::ApprovalDecision::Deny,
        "escalate" => pb::ApprovalDecision::Escalate,
        _ => pb::ApprovalDecision::Unspecified,
    }
}

fn status_to_pb(status: ApprovalStatus) -> pb::ApprovalStatus {
    match status {
        ApprovalStatus::Pending => pb::ApprovalStatus::Pending,
        ApprovalStatus::Approved => pb::ApprovalStatus::Approved,
        ApprovalStatus::Denied => pb::ApprovalStatus::Denied,
        ApprovalStatus::Expired => pb::ApprovalStatus::Expired,
        ApprovalStatus::Escalated => pb::ApprovalStatus::Escalated,
    }
}

/// The approval as the API shows it.
pub fn approval_to_pb(a: &ApprovalRecord) -> pb::Approval {
    let kind = match a.kind {
        ApprovalKind::Step => pb::ApprovalKind::Step,
        ApprovalKind::ToolUse => pb::ApprovalKind::ToolUse,
    };
    // A tool approval has no default action stored: its wait ends as deny.
    let default_action = if a.default_action == "approve" { "approve" } else { "deny" };
    pb::Approval {
        id: a.id.clone(),
        run_id: a.run_id.clone(),
        workflow_id: a.workflow_id.clone(),
        step_id: a.step_key.clone(),
        kind: kind.into(),
        action: a.action.clone(),
        tool: a.tool.clone(),
        tool_arguments: if a.kind == ApprovalKind::Step {
            None
        } else {
            stored_struct_to_pb(&a.arguments, &a.run_id, "tool_arguments")
        },
        message: a.message.clone(),
        options: a.options.clone(),
        status: status_to_pb(a.status).into(),
        default_action: decision_to_pb(default_action).into(),
        decision: decision_to_pb(&a.decision).into(),
        option: a.option.clone(),
        comment: a.comment.clone(),
        decided_by: a.decided_by.clone(),
        expire_time: a.expires_ms.map(timestamp),
        decide_time: a.decided_ms.map(timestamp),
        create_time: Some(timestamp(a.created_ms)),
    }
}

fn enum_word<E, T>(value: i32, field: &str, word: impl Fn(E) -> Option<T>) -> Result<Option<T>, Status>
where
    E: TryFrom<i32>,
{
    let parsed = E::try_from(value).map_err(|_| error::invalid_argument(field, format!("unknown value {value}")))?;
    Ok(word(parsed))
}

#[tonic::async_trait]
impl ApprovalService for ApprovalApi {
    async fn list_approvals(
        &self,
        request: Request<pb::ListApprovalsRequest>,
    ) -> Result<Response<pb::ListApprovalsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let status = enum_word(r.status, "status", |s: pb::ApprovalStatus| match s {
            pb::ApprovalStatus::Unspecified => None,
            pb::ApprovalStatus::Pending => Some(ApprovalStatus::Pending),
            pb::ApprovalStatus::Approved => Some(ApprovalStatus::Approved),
            pb::ApprovalStatus::Denied => Some(ApprovalStatus::Denied),
            pb::ApprovalStatus::Expired => Some(ApprovalStatus::Expired),
            pb::ApprovalStatus::Escalated => Some(ApprovalStatus::Escalated),
        })?;
        let kind = enum_word(r.kind, "kind", |k: pb::ApprovalKind| match k {
            pb::ApprovalKind::Unspecified => None,
            pb::ApprovalKind::Step => Some(ApprovalKind::Step),
            pb::ApprovalKind::ToolUse => Some(ApprovalKind::ToolUse),
        })?;
        let limit = if r.page_size == 0 { DEFAULT_PAGE_SIZE } else { r.page_size.min(MAX_PAGE_SIZE) };
        let fingerprint = format!("{}|{}|{}|{}|{}", r.run_id, r.workflow_id, r.action, r.status, r.kind);
        let after = if r.page_token.is_empty() { None } else { Some(page_token::decode(&r.page_token, &fingerprint)?) };
        let some = |s: String| Some(s).filter(|s| !s.is_empty());
        let workflow_id = self.runs.catalog().resolve_filter(&tenant, "workflow_id", &r.workflow_id).await?;
        let query =
            ApprovalQuery { run_id: some(r.run_id), workflow_id, action: some(r.action), status, kind, after, limit };
        let page = self.runs.approvals(&tenant, &query).await?;
        let next_page_token = match page.approvals.last() {
            Some(last) if page.has_more => page_token::encode(&(last.created_ms, last.id.clone()), &fingerprint),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListApprovalsResponse {
            approvals: page.approvals.iter().map(approval_to_pb).collect(),
            next_page_token,
            total: page.total,
        }))
    }

    async fn get_approval(
        &self,
        request: Request<pb::GetApprovalRequest>,
    ) -> Result<Response<pb::GetApprovalResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.approval_id, "approval_id")?;
        let approval = self.runs.approval(&tenant, &r.approval_id).await?;
        Ok(Response::new(pb::GetApprovalResponse { approval: Some(approval_to_pb(&approval)) }))
    }

    async fn decide_approval(
        &self,
        request: Request<pb::DecideApprovalRequest>,
    ) -> Result<Response<pb::DecideApprovalResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.approval_id, "approval_id")?;
        let decision = enum_word(r.decision, "decision", |d: pb::ApprovalDecision| match d {
            pb::ApprovalDecision::Unspecified => None,
            pb::ApprovalDecision::Approve => Some("approve"),
            pb::ApprovalDecision::Deny => Some("deny"),
            pb::ApprovalDecision::Escalate => Some("escalate"),
        })?;
        let decision = Decision {
            decision: decision.unwrap_or_default().to_owned(),
            option: r.option,
            comment: r.comment,
            decided_by: r.decided_by,
        };
        let approval = self.runs.decide_approval(&tenant, &r.approval_id, decision).await?;
        Ok(Response::new(pb::DecideApprovalResponse { approval: Some(approval_to_pb(&approval)) }))
    }
}
