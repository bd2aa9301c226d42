/**
 * The statuses and other enums of the API as the documents write them:
 * lower-case strings (`"completed"`, `"ready"`), each a string union type
 * with a constant object of the same name, so `run.status === "completed"`
 * and `run.status === RunStatus.COMPLETED` both read naturally. The
 * generated numeric enums stay under `weftflow/gen/weft/v1/*_pb`; this
 * module owns the two-way mapping between them, which is the protobuf
 * enum's value name without its prefix, lower-cased.
 */
import { ApprovalDecision as PbApprovalDecision, ApprovalKind as PbApprovalKind, ApprovalStatus as PbApprovalStatus } from "./gen/weft/v1/approval_service_pb.js";
import { RunStatus as PbRunStatus, StepStatus as PbStepStatus } from "./gen/weft/v1/run_pb.js";
import { ApplyOutcome as PbApplyOutcome } from "./gen/weft/v1/workflow_service_pb.js";
import { WorkflowStatus as PbWorkflowStatus } from "./gen/weft/v1/workflow_pb.js";

/** Lifecycle of a run. */
export const RunStatus = {
  QUEUED: "queued",
  PENDING: "pending",
  RUNNING: "running",
  PAUSED: "paused",
  COMPLETED: "completed",
  FAILED: "failed",
  PARTIAL: "partial",
  CANCELLED: "cancelled",
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/**
 * Status of one step in a run. `"ready"`: its dependencies finished and it
 * waits for a worker to claim its task (see `StepRun.waitingFor`).
 */
export const StepStatus = {
  PENDING: "pending",
  READY: "ready",
  RUNNING: "running",
  PAUSED: "paused",
  WAITING: "waiting",
  COMPLETED: "completed",
  FAILED: "failed",
  SKIPPED: "skipped",
  CANCELLED: "cancelled",
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** Lifecycle of a workflow definition. */
export const WorkflowStatus = {
  DRAFT: "draft",
  ACTIVE: "active",
  PAUSED: "paused",
  ARCHIVED: "archived",
} as const;
export type WorkflowStatus = (typeof WorkflowStatus)[keyof typeof WorkflowStatus];

/** State of a human approval. */
export const ApprovalStatus = {
  PENDING: "pending",
  APPROVED: "approved",
  DENIED: "denied",
  EXPIRED: "expired",
  ESCALATED: "escalated",
} as const;
export type ApprovalStatus = (typeof ApprovalStatus)[keyof typeof ApprovalStatus];

/** A decision on an approval. */
export type ApprovalDecision = "approve" | "deny" | "escalate";
/** What an approval gates: an approval step, or an agent's tool use. */
export type ApprovalKind = "step" | "tool_use";
/** What {@link Workflows.apply} did. */
export type ApplyOutcome = "created" | "updated" | "unchanged";

/**
 * The two directions between a generated enum and its names. Values the
 * SDK does not know yet (a newer server) read as "unspecified" rather than
 * throwing, so an old client keeps working.
 */
class EnumNames<Name extends string> {
  readonly #byNumber = new Map<number, Name>();
  readonly #byName = new Map<string, number>();

  constructor(pbEnum: Record<string, string | number>) {
    for (const [key, value] of Object.entries(pbEnum)) {
      if (typeof value !== "number" || value === 0) continue;
      const name = key.toLowerCase() as Name;
      this.#byNumber.set(value, name);
      this.#byName.set(name, value);
    }
  }

  name(value: number): Name {
    return this.#byNumber.get(value) ?? ("unspecified" as Name);
  }

  /** The enum value of `name`; 0 (unspecified, "any" in filters) when absent. */
  value(name: Name | undefined): number {
    return name === undefined ? 0 : (this.#byName.get(name) ?? 0);
  }
}

export const runStatuses = new EnumNames<RunStatus>(PbRunStatus);
export const stepStatuses = new EnumNames<StepStatus>(PbStepStatus);
export const workflowStatuses = new EnumNames<WorkflowStatus>(PbWorkflowStatus);
export const approvalStatuses = new EnumNames<ApprovalStatus>(PbApprovalStatus);
export const approvalDecisions = new EnumNames<ApprovalDecision>(PbApprovalDecision);
export const approvalKinds = new EnumNames<ApprovalKind>(PbApprovalKind);
export const applyOutcomes = new EnumNames<ApplyOutcome>(PbApplyOutcome);
