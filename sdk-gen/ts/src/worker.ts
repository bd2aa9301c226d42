/**
 * The worker runtime: serve agents with plain async functions.
 *
 * ```ts
 * const worker = new Worker(weft, { name: "box-1", concurrency: 8 })
 *   .agent("web-researcher", async (task) => ({ site: task.input.website }))      // the output
 *   .agent("scorer", async (task) => outcome({ output: { score: 82 }, cost: 3 })); // output + cost
 * const stop = new AbortController();
 * await worker.run(stop.signal); // until stop.abort()
 * ```
 *
 * Like the Rust runtime it connects one `WorkerService.ConnectWorker`
 * stream (its hello registers the worker), grants the server one credit per
 * free handler slot, and runs each task the server pushes; heartbeats,
 * completions, failures and tool checks travel back on the same stream,
 * batched (worker-stream.ts). A server without the stream (UNIMPLEMENTED),
 * or a transport that cannot stream requests (gRPC-web, as in browsers), is
 * served by long polls and the unary calls instead (worker-poll.ts).
 *
 * Either way it heartbeats every task (a third of the lease) so the lease
 * holds, aborts `task.signal` when the run is cancelled or the lease is
 * lost (the handler's answer then no longer counts), completes or fails the
 * task with the handler's answer (trying again while the server is
 * unreachable, for as long as the lease would hold, so a restart costs
 * neither the result nor a re-execution: worker-task.ts), reconnects or
 * registers again by itself with backoff and the same worker id when the
 * stream breaks or the server forgot the worker (a server on a fresh
 * database, or one that forgot a worker silent too long), and on shutdown
 * stops taking tasks (the stream's drain), lets the tasks in flight finish
 * and report, and resolves.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Task } from "./gen/weft/v1/worker_pb.js";
import { transportStreams, type Weft } from "./client.js";
import { toWeftError } from "./errors.js";
import { toMoney, type MoneyInit } from "./json.js";
import { loadTracing } from "./tracing.js";
import { servePolling, type Setup } from "./worker-poll.js";
import { firstCredits, openStream, serveStream, type Connected } from "./worker-stream.js";
import { codeOf } from "./worker-task.js";

import type { HandlerResult } from "./outcome.js";

/** Pauses after failed polls, connections or registrations, so a down server is not hammered: doubling from the first to the longest. */
const BACKOFF_FIRST_MS = 200;
const BACKOFF_LONGEST_MS = 5_000;

/** The server's answer to {@link TaskContext.checkTool}. */
export interface ToolVerdict {
  allowed: boolean;
  reason: string;
}

/** One claimed task, as a handler sees it. */
export interface TaskContext {
  /** The task as the server sent it (ids, attempt, policy, lease, …). */
  readonly task: Task;
  /** The rendered task text. */
  readonly text: string;
  /** The step's inputMap values. */
  readonly input: JsonObject;
  /** Aborted when the run is cancelled or the lease is lost. */
  readonly signal: AbortSignal;
  /** True while the last heartbeat said the step is paused. */
  readonly paused: boolean;
  /** Cost so far (cents, usd), carried by the next heartbeat. */
  reportCost(cents: number): void;
  /** Asks whether the agent may use `tool` now; waits out an approval. */
  checkTool(tool: string, args?: JsonObject): Promise<ToolVerdict>;
}

/**
 * A handler: return the output (any JSON value) or an `Outcome`, or throw
 * (`RetryableError`, `NonRetryableError`; anything else is retryable).
 * See outcome.ts.
 */
export type Handler = (task: TaskContext) => HandlerResult | Promise<HandlerResult>;

/** Options of a {@link Worker}. */
export interface WorkerOptions {
  /** A stable id, so a restarted process keeps its identity. */
  id?: string;
  /** A display name, shown by ListWorkers. */
  name?: string;
  /** Most tasks in flight at once (default 1). */
  concurrency?: number;
  /** Heartbeat interval; default a third of the server's lease. */
  heartbeatMs?: number;
}

export class Worker {
  readonly #weft: Weft;
  readonly #options: WorkerOptions;
  readonly #handlers = new Map<string, Handler>();
  readonly #hints: { agent: string; minCost: MoneyInit; maxCost: MoneyInit }[] = [];

  constructor(weft: Weft, options: WorkerOptions = {}) {
    this.#weft = weft;
    this.#options = options;
  }

  /** Serves `agent` with `handler`. */
  agent(agent: string, handler: Handler): this {
    this.#handlers.set(agent, handler);
    return this;
  }

  /** Expected cost of one call of `agent` (cents), for estimates. */
  costHint(agent: string, minCents: number, maxCents: number, currency = "usd"): this {
    this.#hints.push({ agent, minCost: { amount: minCents, currency }, maxCost: { amount: maxCents, currency } });
    return this;
  }

  /**
   * Registers, then serves tasks until `signal` aborts; then lets the tasks
   * in flight finish and resolves. Rejects only if registration fails.
   */
  async run(signal: AbortSignal): Promise<void> {
    // Handlers' spans join their runs' traces when the application has
    // @opentelemetry/api (tracing.ts); without it this resolves false.
    await loadTracing();
    const concurrency = Math.max(1, this.#options.concurrency ?? 1);
    const setup: Setup = {
      weft: this.#weft,
      handlers: this.#handlers,
      heartbeatMs: this.#options.heartbeatMs,
      concurrency,
      registration: {
        workerId: this.#options.id ?? "",
        name: this.#options.name ?? "",
        agents: [...this.#handlers.keys()],
        concurrency,
        costHints: this.#hints.map((h) => ({ agent: h.agent, minCost: toMoney(h.minCost), maxCost: toMoney(h.maxCost) })),
      },
      backoffFirstMs: BACKOFF_FIRST_MS,
      backoffLongestMs: BACKOFF_LONGEST_MS,
    };
    // true: gRPC over HTTP/2; false: gRPC-web; undefined: a transport given
    // ready-made, tried.
    const streams = transportStreams.get(this.#weft);
    if (streams !== false) {
      let connected: Connected | undefined;
      try {
        connected = await openStream(setup, firstCredits(setup), false);
      } catch (thrown) {
        const code = codeOf(thrown);
        // A server from before ConnectWorker; or a ready-made transport that
        // cannot stream requests (the fetch API cannot), which fails on the
        // client's side. Polling registers, and reports what is really wrong.
        const polls = code === Code.Unimplemented || (streams === undefined && (code === Code.Unknown || code === Code.Internal || code === Code.DeadlineExceeded));
        if (!polls) throw toWeftError(thrown);
      }
      if (connected) return serveStream(setup, connected, signal);
    }
    return servePolling(setup, signal);
  }
}
