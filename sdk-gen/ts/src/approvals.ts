/**
 * `weft.approvals`: the decisions people make on approval steps and on
 * tools a workflow's policy gates (`requireApprovalFor`).
 */
import type { Client } from "@connectrpc/connect";
import {
  ApprovalDecision,
  ApprovalStatus,
  type Approval,
  type ApprovalService,
} from "./gen/weft/v1/approval_service_pb.js";
import { typed } from "./errors.js";
import { required } from "./runs.js";

export type ApprovalStatusName = "pending" | "approved" | "denied" | "expired" | "escalated";
export type ApprovalDecisionName = "approve" | "deny" | "escalate";

const STATUSES: Record<ApprovalStatusName, ApprovalStatus> = {
  pending: ApprovalStatus.PENDING,
  approved: ApprovalStatus.APPROVED,
  denied: ApprovalStatus.DENIED,
  expired: ApprovalStatus.EXPIRED,
  escalated: ApprovalStatus.ESCALATED,
};

const DECISIONS: Record<ApprovalDecisionName, ApprovalDecision> = {
  approve: ApprovalDecision.APPROVE,
  deny: ApprovalDecision.DENY,
  escalate: ApprovalDecision.ESCALATE,
};

/** Filters of {@link Approvals.list}. */
export interface ListApprovalsOptions {
  runId?: string;
  workflowId?: string;
  action?: string;
  status?: ApprovalStatusName;
}

/** Who decided, and with which words. */
export interface DecideOptions {
  /** One of the approval's options, when it offers some. */
  option?: string;
  comment?: string;
  decidedBy?: string;
}

export class Approvals {
  constructor(private readonly client: Client<typeof ApprovalService>) {}

  /** Approvals, filtered (e.g. `{ runId, status: "pending" }`). */
  async list(options: ListApprovalsOptions = {}): Promise<Approval[]> {
    const response = await typed(
      this.client.listApprovals({
        runId: options.runId ?? "",
        workflowId: options.workflowId ?? "",
        action: options.action ?? "",
        status: options.status ? STATUSES[options.status] : ApprovalStatus.UNSPECIFIED,
      }),
    );
    return response.approvals;
  }

  /** One approval. */
  async get(approvalId: string): Promise<Approval> {
    return required((await typed(this.client.getApproval({ approvalId }))).approval, "GetApproval");
  }

  /** Decides a pending approval; the run goes on accordingly. */
  async decide(approvalId: string, decision: ApprovalDecisionName, options: DecideOptions = {}): Promise<Approval> {
    const response = await typed(
      this.client.decideApproval({
        approvalId,
        decision: DECISIONS[decision],
        option: options.option ?? "",
        comment: options.comment ?? "",
        decidedBy: options.decidedBy ?? "",
      }),
    );
    return required(response.approval, "DecideApproval");
  }

  /** `decide(id, "approve", options)`. */
  approve(approvalId: string, options?: DecideOptions): Promise<Approval> {
    return this.decide(approvalId, "approve", options);
  }

  /** `decide(id, "deny", options)`. */
  deny(approvalId: string, options?: DecideOptions): Promise<Approval> {
    return this.decide(approvalId, "deny", options);
  }
}
