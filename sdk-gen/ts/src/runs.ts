/**
 * `weft.runs`: one run at a time (read, list, cancel, retry, resume,
 * delete, events) and {@link Runs.stream}, a run's events as an
 * `AsyncIterable` that survives a dropped connection: it remembers the last
 * sequence it handed out and asks again from there, with no gap and no
 * duplicate (as the Rust SDK's `stream_run`).
 *
 * Everything comes back native (native.ts): `run.status === "completed"`,
 * `run.output` a JSON value; the generated message is at `.raw`.
 */
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { EstimateRunResponse, RunService } from "./gen/weft/v1/run_service_pb.js";
import { toWeftError, typed } from "./errors.js";
import { toValue } from "./json.js";
import { toRun, toRunEvent, type Run, type RunEvent } from "./native.js";
import { everyItem } from "./paging.js";
import { runStatuses, type RunStatus } from "./statuses.js";

/** One event of a run's stream; the same as {@link RunEvent}. */
export type StreamEvent = RunEvent;

/** Options of a new run. */
export interface RunOptions {
  /** End user the run acts for. */
  userId?: string;
  /** Run input, checked against the workflow's inputSchema. */
  input?: JsonValue;
  /** Same key within 24 hours: the existing run is returned. */
  idempotencyKey?: string;
  /** Pin the run to this version (default: the latest). */
  version?: number;
  /** Initial shared state bag. */
  sharedState?: JsonObject;
  /** What started the run (default "manual"). */
  trigger?: string;
}

/** Options of {@link Runs.execute}: a new run's, and how long to wait for its end. */
export interface ExecuteOptions extends RunOptions {
  /**
   * Longest wait, in seconds (0: the server's default). Past it the call
   * rejects with `DeadlineExceededError` (reason `EXECUTION_TIMEOUT`, the
   * run id in `metadata.runId`).
   */
  timeoutSeconds?: number;
  /** Cancel the run when the wait times out (default: it goes on). */
  cancelOnTimeout?: boolean;
}

/** Filters of {@link Runs.list}. */
export interface ListRunsOptions {
  status?: RunStatus;
  userId?: string;
  /** Only runs with this trigger ("manual", "schedule", "webhook", "retry", …). */
  trigger?: string;
  /** Only runs started by this schedule. */
  scheduleId?: string;
  limit?: number;
  offset?: number;
}

/** Filters and paging of {@link Runs.listPage} and {@link Runs.listAll}. */
export interface RunPageOptions extends Omit<ListRunsOptions, "limit" | "offset"> {
  /** Only runs of this workflow (id or name); omitted: every run of the tenant. */
  workflowId?: string;
  /** Runs per page: default 50, at most 200. */
  pageSize?: number;
  /** A previous page's `nextPageToken`; omitted: the first page. */
  pageToken?: string;
}

/** One page of runs, newest first. */
export interface RunPage {
  runs: Run[];
  /** Pass it as `pageToken` for the next page; "" on the last page. */
  nextPageToken: string;
  /** Runs matching the filters, across all pages. */
  total: number;
}

/** What to deliver to a paused run: a wait step's event, or a step's decision. */
export type ResumeOptions =
  | { event: string; payload?: JsonValue }
  | { step: string; input?: JsonValue };

/** Options of {@link Runs.stream}. */
export interface StreamOptions {
  /** Only events after this sequence (default 0: from the start). */
  afterSequence?: bigint | number;
  /** Stops the stream (the iterator then ends quietly). */
  signal?: AbortSignal;
}

/** Reconnections tried in a row before the error is thrown. */
const MAX_RECONNECTS = 5;

export class Runs {
  constructor(private readonly client: Client<typeof RunService>) {}

  /**
   * Starts a run of a workflow, given by id (`wf_…`) or by name; returns at
   * once (the run goes on).
   */
  async start(workflow: string, options: RunOptions = {}): Promise<Run> {
    const response = await typed(
      this.client.startRun({
        workflowId: workflow,
        userId: options.userId ?? "",
        ...(options.input !== undefined && { input: toValue(options.input) }),
        idempotencyKey: options.idempotencyKey ?? "",
        version: options.version ?? 0,
        ...(options.sharedState && { sharedState: options.sharedState }),
        trigger: options.trigger ?? "",
      }),
    );
    return toRun(required(response.run, "StartRun"));
  }

  /**
   * Starts a run and waits until it ends, then resolves to it: a failed,
   * partial or cancelled run is an answer too (see `run.status` and
   * `run.error`). Only the wait timing out rejects.
   */
  async execute(workflow: string, options: ExecuteOptions = {}): Promise<Run> {
    const response = await typed(
      this.client.executeWorkflow({
        workflowId: workflow,
        userId: options.userId ?? "",
        ...(options.input !== undefined && { input: toValue(options.input) }),
        idempotencyKey: options.idempotencyKey ?? "",
        version: options.version ?? 0,
        ...(options.sharedState && { sharedState: options.sharedState }),
        trigger: options.trigger ?? "",
        timeoutSeconds: options.timeoutSeconds ?? 0,
        cancelOnTimeout: options.cancelOnTimeout ?? false,
      }),
    );
    return toRun(required(response.run, "ExecuteWorkflow"));
  }

  /** Current status, per-step results, cost of a run. */
  async get(runId: string): Promise<Run> {
    return toRun(required((await typed(this.client.getRun({ runId }))).run, "GetRun"));
  }

  /** Runs of a workflow (id or name), newest first. */
  async list(workflowId: string, options: ListRunsOptions = {}): Promise<Run[]> {
    const response = await typed(
      this.client.listRuns({
        workflowId,
        status: runStatuses.value(options.status),
        userId: options.userId ?? "",
        trigger: options.trigger ?? "",
        scheduleId: options.scheduleId ?? "",
        limit: options.limit ?? 0,
        offset: options.offset ?? 0,
      }),
    );
    return response.runs.map(toRun);
  }

  /**
   * One page of runs, newest first: of one workflow, or of the whole tenant
   * when `workflowId` is omitted. A token is tied to its filters; reusing
   * it with others is refused (InvalidArgumentError).
   */
  async listPage(options: RunPageOptions = {}): Promise<RunPage> {
    const response = await typed(
      this.client.listRuns({
        workflowId: options.workflowId ?? "",
        status: runStatuses.value(options.status),
        userId: options.userId ?? "",
        trigger: options.trigger ?? "",
        scheduleId: options.scheduleId ?? "",
        pageSize: options.pageSize ?? 0,
        pageToken: options.pageToken ?? "",
      }),
    );
    return { runs: response.runs.map(toRun), nextPageToken: response.nextPageToken, total: response.total };
  }

  /**
   * Every run matching the filters, newest first, fetched a page at a time
   * as the loop asks: `for await (const run of weft.runs.listAll({ status: "failed" }))`.
   */
  listAll(options: Omit<RunPageOptions, "pageToken"> = {}): AsyncGenerator<Run, void, undefined> {
    return everyItem(async (pageToken) => {
      const page = await this.listPage({ ...options, pageToken });
      return { items: page.runs, nextPageToken: page.nextPageToken };
    });
  }

  /** Cancels a live run (a finished one: FailedPreconditionError). */
  async cancel(runId: string, reason = ""): Promise<Run> {
    return toRun(required((await typed(this.client.cancelRun({ runId, reason }))).run, "CancelRun"));
  }

  /** A new run that reuses every completed output upstream of `stepId`. */
  async retryFrom(runId: string, stepId: string): Promise<Run> {
    return toRun(required((await typed(this.client.retryRunFrom({ runId, stepId }))).run, "RetryRunFrom"));
  }

  /** Delivers a wait step's event, or decides a paused step (approval). */
  async resume(runId: string, options: ResumeOptions): Promise<Run> {
    const request =
      "event" in options
        ? { runId, event: options.event, ...(options.payload !== undefined && { payload: toValue(options.payload) }) }
        : {
            runId,
            input: { resume: { step: options.step, ...(options.input !== undefined && { input: toValue(options.input) }) } },
          };
    return toRun(required((await typed(this.client.resumeRun(request))).run, "ResumeRun"));
  }

  /** Deletes a finished run. */
  async delete(runId: string): Promise<void> {
    await typed(this.client.deleteRun({ runId }));
  }

  /** The events recorded so far (one page), oldest first. */
  async events(runId: string, afterSequence: bigint | number = 0): Promise<RunEvent[]> {
    return (await typed(this.client.listRunEvents({ runId, afterSequence: BigInt(afterSequence) }))).events.map(toRunEvent);
  }

  /** Dry-pass cost estimate of a run of `workflowId` for `input`. */
  async estimate(workflow: string, options: { input?: JsonValue; version?: number } = {}): Promise<EstimateRunResponse> {
    return typed(
      this.client.estimateRun({
        workflowId: workflow,
        ...(options.input !== undefined && { input: toValue(options.input) }),
        version: options.version ?? 0,
      }),
    );
  }

  /**
   * The run's events after `afterSequence`, then live ones as they are
   * committed, ending after the run's terminal event. A dropped connection
   * is resumed from the last event received; a refusal (unknown run, …)
   * throws the typed error.
   */
  async *stream(runId: string, options: StreamOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    let after = BigInt(options.afterSequence ?? 0);
    let reconnects = 0;
    for (;;) {
      try {
        const events = this.client.streamRunEvents({ runId, afterSequence: after }, { signal: options.signal });
        for await (const message of events) {
          reconnects = 0;
          const event = message.event;
          if (!event) continue;
          if (event.sequence > after) after = event.sequence;
          yield toRunEvent(event);
        }
        return;
      } catch (thrown) {
        if (options.signal?.aborted) return;
        const error = ConnectError.from(thrown);
        const transient = error.code === Code.Unavailable || error.code === Code.Unknown;
        if (!transient || reconnects >= MAX_RECONNECTS) throw toWeftError(thrown);
        reconnects += 1;
        await new Promise((resolve) => setTimeout(resolve, 50 << reconnects));
      }
    }
  }
}

/** A response's required message (the server always sets it). */
export function required<T>(value: T | undefined, rpc: string): T {
  if (value === undefined) throw new Error(`weft: ${rpc} answered without its message`);
  return value;
}
