/**
 * One approval on the approvals page: what it gates (workflow, run, step,
 * action or tool), the message, when it was requested and when it
 * expires, and, while pending, the approve/deny form; once decided, who
 * decided what and why.
 */
import { useId } from "react";
import { Link } from "wouter";
import type { Approval } from "weftflow";
import { StatusBadge } from "../../ui/Status";
import { pretty, when } from "../../ui/format";
import { DecideApproval } from "../run/actions/DecideApproval";

export interface ApprovalCardProps {
  approval: Approval;
  workflowName: string | undefined;
  onDecided: (approval: Approval) => void;
}

export function ApprovalCard({ approval, workflowName, onDecided }: ApprovalCardProps) {
  const titleId = useId();
  const what = approval.kind === "tool_use" ? `tool ${approval.tool}` : approval.action || approval.stepId;
  return (
    <article className="panel approval-card" aria-labelledby={titleId} data-approval-id={approval.id}>
      <h2 id={titleId}>
        <StatusBadge status={approval.status} /> {what}
      </h2>
      {approval.message && <p className="approval-message">{approval.message}</p>}
      <dl className="facts">
        <dt>Workflow</dt>
        <dd>
          <Link href={`/workflows/${encodeURIComponent(approval.workflowId)}`}>{workflowName ?? approval.workflowId}</Link>
        </dd>
        <dt>Run</dt>
        <dd>
          <Link href={`/runs/${encodeURIComponent(approval.runId)}`}>
            <code>{approval.runId}</code>
          </Link>
        </dd>
        <dt>Step</dt>
        <dd>
          <code>{approval.stepId}</code>
        </dd>
        {approval.kind === "tool_use" && Object.keys(approval.toolArguments).length > 0 && (
          <>
            <dt>Tool arguments</dt>
            <dd>
              <pre>{pretty(approval.toolArguments)}</pre>
            </dd>
          </>
        )}
        <dt>Requested</dt>
        <dd>{when(approval.createdAt)}</dd>
        <dt>Expires</dt>
        <dd>
          {approval.expiresAt ? `${when(approval.expiresAt)} (then: ${approval.defaultAction})` : "never"}
        </dd>
        {approval.decision && (
          <>
            <dt>Decision</dt>
            <dd>
              {approval.decision}
              {approval.option ? ` (${approval.option})` : ""} by {approval.decidedBy || "—"} at {when(approval.decidedAt)}
            </dd>
            {approval.comment && (
              <>
                <dt>Comment</dt>
                <dd className="approval-message">{approval.comment}</dd>
              </>
            )}
          </>
        )}
      </dl>
      {approval.status === "pending" && (
        <DecideApproval approvalId={approval.id} options={approval.options} label={`Decide ${what} on run ${approval.runId}`} onDecided={onDecided} />
      )}
    </article>
  );
}
