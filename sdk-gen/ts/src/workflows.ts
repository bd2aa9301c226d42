/**
 * `weft.workflows`: definitions (create, apply, list, get, update, delete,
 * validate, estimate, versions, diff, rollback) and, as the documents
 * write them, the run methods (`run`, `execute`, `getRun`, `listRuns`,
 * `cancelRun`, `retryFrom`, `streamRun`), which delegate to `weft.runs`.
 *
 * Workflows come back native (native-workflow.ts) with `.run()` and
 * `.execute()` bound;
 * `apply` is the create-or-update a script runs every time it starts.
 */
import { create, type JsonValue } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { EstimateRunResponse } from "./gen/weft/v1/run_service_pb.js";
import { WorkflowSchema, type Workflow as PbWorkflow } from "./gen/weft/v1/workflow_pb.js";
import type {
  DiffWorkflowVersionsResponse,
  ValidateWorkflowResponse,
  WorkflowService,
} from "./gen/weft/v1/workflow_service_pb.js";
import { WorkflowBuilder } from "./builder.js";
import { typed } from "./errors.js";
import { everyItem } from "./paging.js";
import type { Run, RunEvent } from "./native.js";
import { toNativeVersion, toNativeWorkflow, type Workflow, type WorkflowVersion } from "./native-workflow.js";
import { required, type ExecuteOptions, type ListRunsOptions, type RunOptions, type Runs, type StreamOptions } from "./runs.js";
import { applyOutcomes, workflowStatuses, type ApplyOutcome, type WorkflowStatus } from "./statuses.js";

/** A workflow from the server, with `.run()` and `.execute()` bound to it (not enumerable: logs show the data). */
export type WorkflowHandle = Workflow & {
  /** Starts a run of this workflow (latest version unless `version`). */
  run(options?: RunOptions): Promise<Run>;
  /** Starts a run of this workflow and waits for its end. */
  execute(options?: ExecuteOptions): Promise<Run>;
};

/** What {@link Workflows.apply} answers: the stored workflow and what the call did. */
export interface Applied {
  workflow: WorkflowHandle;
  /** "created" (version 1), "updated" (a new version) or "unchanged" (same version). */
  outcome: ApplyOutcome;
}

/** A definition: a builder, or the generated `Workflow` message. */
export type WorkflowDefinition = PbWorkflow | WorkflowBuilder;

/** Filters of {@link Workflows.list}. */
export interface ListWorkflowsOptions {
  status?: WorkflowStatus;
  tag?: string;
  limit?: number;
  offset?: number;
}

/** Filters, order and paging of {@link Workflows.listPage} and {@link Workflows.listAll}. */
export interface WorkflowPageOptions {
  /** Only workflows in this status; omitted: every status but archived. */
  status?: WorkflowStatus;
  tag?: string;
  triggerType?: string;
  /** "createdAt" (default), "updatedAt" or "name". */
  sort?: "createdAt" | "updatedAt" | "name";
  /** "desc" (default: newest, or Z, first) or "asc". */
  order?: "desc" | "asc";
  /** Workflows per page: default 50, at most 200. */
  pageSize?: number;
  /** A previous page's `nextPageToken`; omitted: the first page. */
  pageToken?: string;
}

/** One page of workflows. */
export interface WorkflowPage {
  workflows: WorkflowHandle[];
  /** Pass it as `pageToken` for the next page; "" on the last page. */
  nextPageToken: string;
  /** Workflows matching the filters, across all pages. */
  total: number;
}

/** Options of {@link Workflows.update}. */
export interface UpdateOptions {
  /** Fields to replace (`name`, `steps`, `policy`…); default: every field set. */
  updateMask?: string[];
  /** Update only if this is still the latest version (else AbortedError). */
  expectedVersion?: number;
}

/** The message for a definition: built, given as a message, or (for updates) some of its fields. */
export function toWorkflow(definition: WorkflowDefinition | Partial<Omit<PbWorkflow, "$typeName">>): PbWorkflow {
  if (definition instanceof WorkflowBuilder) return definition.build();
  return "$typeName" in definition ? (definition as PbWorkflow) : create(WorkflowSchema, definition);
}

export class Workflows {
  constructor(
    private readonly client: Client<typeof WorkflowService>,
    private readonly runs: Runs,
  ) {}

  private bind(message: PbWorkflow): WorkflowHandle {
    const runs = this.runs;
    const workflow = toNativeWorkflow(message);
    return Object.defineProperties(workflow, {
      run: { value: (options?: RunOptions) => runs.start(workflow.id, options), enumerable: false },
      execute: { value: (options?: ExecuteOptions) => runs.execute(workflow.id, options), enumerable: false },
    }) as WorkflowHandle;
  }

  /**
   * Creates a workflow definition; returns it at version 1. A name already
   * taken is refused (`AlreadyExistsError`): use {@link apply} to create or
   * update by name.
   */
  async create(definition: WorkflowDefinition): Promise<WorkflowHandle> {
    const response = await typed(this.client.createWorkflow({ workflow: toWorkflow(definition) }));
    return this.bind(required(response.workflow, "CreateWorkflow"));
  }

  /**
   * Creates the workflow named as `definition` is, or updates it when its
   * definition changed (a new version); nothing is written when it did not
   * (`"unchanged"`, same version). Safe to call every time a program starts.
   */
  async apply(definition: WorkflowDefinition, options: { changeSummary?: string } = {}): Promise<Applied> {
    const response = await typed(
      this.client.applyWorkflow({ workflow: toWorkflow(definition), changeSummary: options.changeSummary ?? "" }),
    );
    return { workflow: this.bind(required(response.workflow, "ApplyWorkflow")), outcome: applyOutcomes.name(response.outcome) };
  }

  /** Workflow definitions, newest first. */
  async list(options: ListWorkflowsOptions = {}): Promise<WorkflowHandle[]> {
    const response = await typed(
      this.client.listWorkflows({
        status: workflowStatuses.value(options.status),
        tag: options.tag ?? "",
        limit: options.limit ?? 0,
        offset: options.offset ?? 0,
      }),
    );
    return response.workflows.map((w) => this.bind(w));
  }

  /**
   * One page of workflows, in the order asked (newest first by default). A
   * token is tied to its filters and order; reusing it with others is
   * refused (InvalidArgumentError).
   */
  async listPage(options: WorkflowPageOptions = {}): Promise<WorkflowPage> {
    const response = await typed(
      this.client.listWorkflows({
        status: workflowStatuses.value(options.status),
        tag: options.tag ?? "",
        triggerType: options.triggerType ?? "",
        sort: options.sort ?? "",
        order: options.order ?? "",
        pageSize: options.pageSize ?? 0,
        pageToken: options.pageToken ?? "",
      }),
    );
    return { workflows: response.workflows.map((w) => this.bind(w)), nextPageToken: response.nextPageToken, total: response.total };
  }

  /** Every workflow matching the filters, a page at a time as the loop asks. */
  listAll(options: Omit<WorkflowPageOptions, "pageToken"> = {}): AsyncGenerator<WorkflowHandle, void, undefined> {
    return everyItem(async (pageToken) => {
      const page = await this.listPage({ ...options, pageToken });
      return { items: page.workflows, nextPageToken: page.nextPageToken };
    });
  }

  /** One workflow definition (its latest version), by id or name. */
  async get(workflowId: string): Promise<WorkflowHandle> {
    return this.bind(required((await typed(this.client.getWorkflow({ id: workflowId }))).workflow, "GetWorkflow"));
  }

  /** Replaces fields of a workflow; the version goes up by one. */
  async update(
    workflowId: string,
    changes: WorkflowDefinition | Partial<Omit<PbWorkflow, "$typeName">>,
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
    return (await typed(this.client.listWorkflowVersions({ id: workflowId }))).versions.map(toNativeVersion);
  }

  /** One past version of a workflow. */
  async getVersion(workflowId: string, version: number): Promise<Workflow> {
    return toNativeWorkflow(required((await typed(this.client.getWorkflowVersion({ id: workflowId, version }))).workflow, "GetWorkflowVersion"));
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

  /** Starts a run of a workflow, by id (`wf_…`) or name. */
  run(workflowId: string, options?: RunOptions): Promise<Run> {
    return this.runs.start(workflowId, options);
  }

  /** Starts a run and waits for its end (see {@link Runs.execute}). */
  execute(workflowId: string, options?: ExecuteOptions): Promise<Run> {
    return this.runs.execute(workflowId, options);
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
  streamRun(runId: string, options?: StreamOptions): AsyncIterable<RunEvent> {
    return this.runs.stream(runId, options);
  }
}
