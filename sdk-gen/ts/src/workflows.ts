/**
 * `weft.workflows`: definitions (create, list, get, update, delete,
 * validate, estimate, versions, diff, rollback) and, as the documents
 * write them, the run methods (`run`, `getRun`, `listRuns`, `cancelRun`,
 * `retryFrom`, `streamRun`), which delegate to `weft.runs`.
 */
import { create, type JsonValue } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Run } from "./gen/weft/v1/run_pb.js";
import type { EstimateRunResponse } from "./gen/weft/v1/run_service_pb.js";
import { WorkflowSchema, WorkflowStatus, type Workflow, type WorkflowVersion } from "./gen/weft/v1/workflow_pb.js";
import type {
  DiffWorkflowVersionsResponse,
  ValidateWorkflowResponse,
  WorkflowService,
} from "./gen/weft/v1/workflow_service_pb.js";
import { WorkflowBuilder } from "./builder.js";
import { typed } from "./errors.js";
import { required, type ListRunsOptions, type RunOptions, type Runs, type StreamEvent, type StreamOptions } from "./runs.js";

/** A workflow from the server, with `.run()` bound to it. */
export type WorkflowHandle = Workflow & {
  /** Starts a run of this workflow (latest version unless `version`). */
  run(options?: RunOptions): Promise<Run>;
};

/** A definition: a builder, or the `Workflow` message it builds. */
export type WorkflowDefinition = Workflow | WorkflowBuilder;

/** Workflow statuses, as the documents write them. */
export type WorkflowStatusName = "draft" | "active" | "paused" | "archived";

const WORKFLOW_STATUSES: Record<WorkflowStatusName, WorkflowStatus> = {
  draft: WorkflowStatus.DRAFT,
  active: WorkflowStatus.ACTIVE,
  paused: WorkflowStatus.PAUSED,
  archived: WorkflowStatus.ARCHIVED,
};

/** Filters of {@link Workflows.list}. */
export interface ListWorkflowsOptions {
  status?: WorkflowStatusName;
  tag?: string;
  limit?: number;
  offset?: number;
}

/** Options of {@link Workflows.update}. */
export interface UpdateOptions {
  /** Fields to replace (`name`, `steps`, `policy`…); default: every field set. */
  updateMask?: string[];
  /** Update only if this is still the latest version (else AbortedError). */
  expectedVersion?: number;
}

export function toWorkflow(definition: WorkflowDefinition | Partial<Omit<Workflow, "$typeName">>): Workflow {
  if (definition instanceof WorkflowBuilder) return definition.build();
  return "$typeName" in definition ? (definition as Workflow) : create(WorkflowSchema, definition);
}

export class Workflows {
  constructor(
    private readonly client: Client<typeof WorkflowService>,
    private readonly runs: Runs,
  ) {}

  private bind(workflow: Workflow): WorkflowHandle {
    const runs = this.runs;
    return Object.assign(workflow, { run: (options?: RunOptions) => runs.start(workflow.id, options) });
  }

  /** Creates a workflow definition; returns it at version 1. */
  async create(definition: WorkflowDefinition): Promise<WorkflowHandle> {
    const response = await typed(this.client.createWorkflow({ workflow: toWorkflow(definition) }));
    return this.bind(required(response.workflow, "CreateWorkflow"));
  }

  /**
   * Creates the workflow named in `definition`, or makes it the next version
   * of the tenant's workflow with that name; when nothing changed, writes
   * nothing and returns the latest version. Names are unique per tenant, so
   * a script can apply its workflow on every start.
   */
  async apply(definition: WorkflowDefinition): Promise<WorkflowHandle> {
    const response = await typed(this.client.applyWorkflow({ workflow: toWorkflow(definition) }));
    return this.bind(required(response.workflow, "ApplyWorkflow"));
  }

  /** Workflow definitions, newest first. */
  async list(options: ListWorkflowsOptions = {}): Promise<WorkflowHandle[]> {
    const response = await typed(
      this.client.listWorkflows({
        status: options.status ? WORKFLOW_STATUSES[options.status] : WorkflowStatus.UNSPECIFIED,
        tag: options.tag ?? "",
        limit: options.limit ?? 0,
        offset: options.offset ?? 0,
      }),
    );
    return response.workflows.map((w) => this.bind(w));
  }

  /** One workflow definition (its latest version). */
  async get(workflowId: string): Promise<WorkflowHandle> {
    return this.bind(required((await typed(this.client.getWorkflow({ id: workflowId }))).workflow, "GetWorkflow"));
  }

  /** Replaces fields of a workflow; the version goes up by one. */
  async update(
    workflowId: string,
    changes: WorkflowDefinition | Partial<Omit<Workflow, "$typeName">>,
    options: UpdateOptions = {},
  ): Promise<WorkflowHandle> {
    const workflow = { ...toWorkflow(changes), id: workflowId };
    const response = await typed(
      this.client.updateWorkflow({
        workflow,
        ...(options.updateMask && { updateMask: { paths: options.updateMask } }),
        expectedVersion: options.expectedVersion ?? 0,
      }),
    );
    return this.bind(required(response.workflow, "UpdateWorkflow"));
  }

  /** Deletes a workflow definition (runs in progress go on). */
  async delete(workflowId: string): Promise<void> {
    await typed(this.client.deleteWorkflow({ id: workflowId }));
  }

  /** Checks a definition without storing it; lists every problem. */
  async validate(definition: WorkflowDefinition): Promise<ValidateWorkflowResponse> {
    return typed(this.client.validateWorkflow({ workflow: toWorkflow(definition) }));
  }

  /** Dry-pass cost estimate for a sample input; no agent runs. */
  async estimate(workflowId: string, options: { input?: JsonValue; version?: number } = {}): Promise<EstimateRunResponse> {
    return this.runs.estimate(workflowId, options);
  }

  /** The version history, newest first. */
  async versions(workflowId: string): Promise<WorkflowVersion[]> {
    return (await typed(this.client.listWorkflowVersions({ id: workflowId }))).versions;
  }

  /** One past version of a workflow. */
  async getVersion(workflowId: string, version: number): Promise<Workflow> {
    return required((await typed(this.client.getWorkflowVersion({ id: workflowId, version }))).workflow, "GetWorkflowVersion");
  }

  /** A JSON Patch from version `v1` to `v2`. */
  async diff(workflowId: string, v1: number, v2: number): Promise<DiffWorkflowVersionsResponse> {
    return typed(this.client.diffWorkflowVersions({ id: workflowId, v1, v2 }));
  }

  /** A new version with the content of `version`. */
  async rollback(workflowId: string, version: number, changeSummary = ""): Promise<WorkflowHandle> {
    const response = await typed(this.client.rollbackWorkflow({ id: workflowId, version, changeSummary }));
    return this.bind(required(response.workflow, "RollbackWorkflow"));
  }

  /** Starts a run of `workflowId`. */
  run(workflowId: string, options?: RunOptions): Promise<Run> {
    return this.runs.start(workflowId, options);
  }

  /** Current status, per-step results, cost of a run. */
  getRun(runId: string): Promise<Run> {
    return this.runs.get(runId);
  }

  /** Runs of a workflow, newest first, filterable by status. */
  listRuns(workflowId: string, options?: ListRunsOptions): Promise<Run[]> {
    return this.runs.list(workflowId, options);
  }

  /** Cancels a live run. */
  cancelRun(runId: string, reason?: string): Promise<Run> {
    return this.runs.cancel(runId, reason);
  }

  /** Retries a run from a step, reusing completed upstream outputs. */
  retryFrom(runId: string, stepId: string): Promise<Run> {
    return this.runs.retryFrom(runId, stepId);
  }

  /** The run's events as they happen, ending after its terminal event. */
  streamRun(runId: string, options?: StreamOptions): AsyncIterable<StreamEvent> {
    return this.runs.stream(runId, options);
  }
}
