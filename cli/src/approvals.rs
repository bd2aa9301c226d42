//! `weft approvals …`: list the approvals waiting for a person, approve or
//! deny one (DecideApproval).

use weft_sdk::{Weft, pb};

use crate::args::ApprovalsCommand;
use crate::errors::{CliError, CliResult};
use crate::output::{Out, details_table, list_table};
use crate::protojson::{answer, enum_number};

/// Runs one `weft approvals` command.
pub async fn run(weft: &Weft, out: Out, command: ApprovalsCommand) -> CliResult {
    let mut client = weft.approvals();
    match command {
        ApprovalsCommand::List { status, run } => {
            let status = match status.as_str() {
                "all" => 0,
                text => enum_number("weft.v1.ApprovalStatus", text).filter(|n| *n != 0).ok_or_else(|| {
                    CliError::input(format!(
                        "unknown status '{text}': use pending, approved, denied, expired, escalated or all"
                    ))
                })?,
            };
            let request = pb::ListApprovalsRequest {
                status,
                run_id: run.unwrap_or_default(),
                page_size: 100,
                ..Default::default()
            };
            let reply = client.list_approvals(request).await?.into_inner();
            crate::output::note_more(&reply.next_page_token, reply.approvals.len(), reply.total);
            let json = answer("weft.v1.ApprovalService.ListApprovals", &reply);
            out.show(&json, |json| {
                list_table(
                    json,
                    "approvals",
                    &[
                        ("ID", "id"),
                        ("RUN", "runId"),
                        ("STEP", "stepId"),
                        ("KIND", "kind"),
                        ("ACTION", "action"),
                        ("STATUS", "status"),
                        ("MESSAGE", "message"),
                    ],
                )
            });
        }
        ApprovalsCommand::Approve { id, comment, option } => {
            decide(&mut client, out, id, pb::ApprovalDecision::Approve, comment, option.unwrap_or_default()).await?;
        }
        ApprovalsCommand::Deny { id, comment } => {
            decide(&mut client, out, id, pb::ApprovalDecision::Deny, comment, String::new()).await?;
        }
    }
    Ok(())
}

async fn decide(
    client: &mut pb::approval_service_client::ApprovalServiceClient<weft_sdk::Transport>,
    out: Out,
    approval_id: String,
    decision: pb::ApprovalDecision,
    comment: String,
    option: String,
) -> CliResult {
    let request = pb::DecideApprovalRequest {
        approval_id,
        decision: decision as i32,
        option,
        comment,
        decided_by: String::new(),
    };
    let reply = client.decide_approval(request).await?.into_inner();
    let json = answer("weft.v1.ApprovalService.DecideApproval", &reply);
    out.show(&json, |json| details_table(json.get("approval").unwrap_or(json)));
    Ok(())
}
