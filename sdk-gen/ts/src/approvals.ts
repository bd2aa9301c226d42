/**
 * `weft.approvals`: the decisions people make on approval steps and on
 * tools a workflow's policy gates (`requireApprovalFor`). Approvals come
 * back native (native.ts), the generated message at `.raw`.
 */
import type { Client } from "@connectrpc/connect";
import type { ApprovalService } from "./gen/weft/v1/approval_service_pb.js";
import { typed } from "./errors.js";
import { toApproval, type Approval } from "./native.js";
import { everyItem } from "./paging.js";
import { required } from "./runs.js";
import { approvalDecisions, approvalKinds, approvalStatuses, type ApprovalDecision, type ApprovalKind, type ApprovalStatus } from "./statuses.js";

/** Filters of {@link Approvals.list}. */
export interface ListApprovalsOptions {
  runId?: string;
  workflowId?: string;
  action?: string;
  status?: ApprovalStatus;
}

/** Filters and paging of {@link Approvals.listPage} and {@link Approvals.listAll}. */
export interface ApprovalPageOptions extends ListApprovalsOptions {
  /** Only approvals of this kind: an approval step, or a gated tool use. */
  kind?: ApprovalKind;
  /** Approvals per page: default 50, at most 200. */
  pageSize?: number;
  /** A previous page's `nextPageToken`; omitted: the first page. */
  pageToken?: string;
}

/** One page of approvals, newest first. */
export interface ApprovalPage {
  approvals: Approval[];
  /** Pass it as `pageToken` for the next page; "" on the last page. */
  nextPageToken: string;
  /** Approvals matching the filters, across all pages. */
  total: number;
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
        status: approvalStatuses.value(options.status),
      }),
    );
    return response.approvals.map(toApproval);
  }

  /**
   * One page of approvals, newest first. A token is tied to its filters;
   * reusing it with others is refused (InvalidArgumentError).
   */
  async listPage(options: ApprovalPageOptions = {}): Promise<ApprovalPage> {
    const response = await typed(
      this.client.listApprovals({
        runId: options.runId ?? "",
        workflowId: options.workflowId ?? "",
        action: options.action ?? "",
        status: approvalStatuses.value(options.status),
        kind: approvalKinds.value(options.kind),
        pageSize: options.pageSize ?? 0,
        pageToken: options.pageToken ?? "",
      }),
    );
    return { approvals: response.approvals.map(toApproval), nextPageToken: response.nextPageToken, total: response.total };
  }

  /** Every approval matching the filters, newest first, a page at a time as the loop asks. */
  listAll(options: Omit<ApprovalPageOptions, "pageToken"> = {}): AsyncGenerator<Approval, void, undefined> {
    return everyItem(async (pageToken) => {
      const page = await this.listPage({ ...options, pageToken });
      return { items: page.approvals, nextPageToken: page.nextPageToken };
    });
  }

  /** One approval. */
  async get(approvalId: string): Promise<Approval> {
    return toApproval(required((await typed(this.client.getApproval({ approvalId }))).approval, "GetApproval"));
  }

  /** Decides a pending approval; the run goes on accordingly. */
  async decide(approvalId: string, decision: ApprovalDecision, options: DecideOptions = {}): Promise<Approval> {
    const response = await typed(
      this.client.decideApproval({
        approvalId,
        decision: approvalDecisions.value(decision),
        option: options.option ?? "",
        comment: options.comment ?? "",
        decidedBy: options.decidedBy ?? "",
      }),
    );
    return toApproval(required(response.approval, "DecideApproval"));
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
