/**
 * Workflows as the client hands them back: plain objects whose steps and
 * policy have the very shapes the builder takes ({@link StepSpec},
 * {@link PolicySpec}), so what comes back can be read, logged, or edited
 * and applied again. The generated `Workflow` stays at `.raw`
 * (non-enumerable), with the other dialects' fields (`states`, `blocks`,
 * `edges`) that this layer does not lift.
 */
import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { StepSchema, type Step } from "./gen/weft/v1/step_pb.js";
import { FailureMode, type Workflow as PbWorkflow, type WorkflowPolicy, type WorkflowVersion as PbWorkflowVersion } from "./gen/weft/v1/workflow_pb.js";
import type { OnFailure, StepSpec } from "./builder.js";
import { cost, date, withRaw, type Cost } from "./native.js";
import { workflowStatuses, type WorkflowStatus } from "./statuses.js";

/** A workflow's tool lists, approval gates and cost caps. */
export interface Policy {
  allowTools: string[];
  denyTools: string[];
  requireApprovalFor: string[];
  maxCostPerStep: Cost | null;
  maxTotalCost: Cost | null;
  /** How long finished runs are kept ("30d"); "" for the server's default. */
  retention: string;
}

/** A workflow definition as stored (its latest version unless fetched by version). */
export interface Workflow {
  /** `wf_…` */
  id: string;
  /** Unique per tenant: `apply` and `run` find a workflow by it. */
  name: string;
  description: string;
  tags: string[];
  status: WorkflowStatus;
  /** 1, then +1 on every change. */
  version: number;
  changeSummary: string;
  /** The steps, in the shape `workflow(name).step(…)` takes. */
  steps: StepSpec[];
  inputSchema: JsonObject | null;
  outputSchema: JsonObject | null;
  policy: Policy | null;
  onFailure: OnFailure;
  retries: number;
  /** Longest a run may take, seconds; 0: no limit. */
  timeout: number;
  maxConcurrentRuns: number | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  readonly raw: PbWorkflow;
}

/** One entry of a workflow's version history. */
export interface WorkflowVersion {
  version: number;
  changeSummary: string;
  createdAt: Date | null;
  readonly raw: PbWorkflowVersion;
}

const FAILURE_NAMES: Record<FailureMode, OnFailure> = {
  // Unset means the documented default.
  [FailureMode.UNSPECIFIED]: "stop",
  [FailureMode.STOP]: "stop",
  [FailureMode.CONTINUE]: "continue",
  [FailureMode.RETRY]: "retry",
};

/** Loop conditions: JSON writes them `while`/`until`, the builder's spec `whileCondition`/`untilCondition`. */
const RENAMED: Readonly<Record<string, string>> = { while: "whileCondition", until: "untilCondition" };

/**
 * A `Step` message as the {@link StepSpec} that builds it: its protobuf
 * JSON (defaults left out, so a step reads as it was written), with the
 * loop conditions renamed, nested steps included.
 */
export function fromStep(step: Step): StepSpec {
  // toJson of a message is always an object.
  return renameDeep(toJson(StepSchema, step) as JsonObject) as unknown as StepSpec;
}

function renameDeep(json: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(json)) {
    const name = RENAMED[key] ?? key;
    if (key === "steps" && Array.isArray(value)) out[name] = value.map((s) => renameDeep(s as JsonObject));
    else if (key === "step" && value !== null && typeof value === "object" && !Array.isArray(value)) out[name] = renameDeep(value);
    else out[name] = value;
  }
  return out;
}

function policy(policy: WorkflowPolicy | undefined): Policy | null {
  if (!policy) return null;
  return {
    allowTools: [...policy.allowTools],
    denyTools: [...policy.denyTools],
    requireApprovalFor: [...policy.requireApprovalFor],
    maxCostPerStep: cost(policy.maxCostPerStep),
    maxTotalCost: cost(policy.maxTotalCost),
    retention: policy.retention,
  };
}

/** A `Workflow` message as a native {@link Workflow}. */
export function toNativeWorkflow(workflow: PbWorkflow): Workflow {
  return withRaw(
    {
      id: workflow.id,
      name: workflow.name,
      description: workflow.description,
      tags: [...workflow.tags],
      status: workflowStatuses.name(workflow.status),
      version: workflow.version,
      changeSummary: workflow.changeSummary,
      steps: workflow.steps.map(fromStep),
      inputSchema: workflow.inputSchema ?? null,
      outputSchema: workflow.outputSchema ?? null,
      policy: policy(workflow.policy),
      onFailure: FAILURE_NAMES[workflow.onFailure] ?? "stop",
      retries: workflow.retries,
      timeout: workflow.timeout,
      maxConcurrentRuns: workflow.maxConcurrentRuns ?? null,
      createdAt: date(workflow.createTime),
      updatedAt: date(workflow.updateTime),
    },
    workflow,
  );
}

/** A `WorkflowVersion` message as a native {@link WorkflowVersion}. */
export function toNativeVersion(version: PbWorkflowVersion): WorkflowVersion {
  return withRaw({ version: version.version, changeSummary: version.changeSummary, createdAt: date(version.createTime) }, version);
}
