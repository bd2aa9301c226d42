/**
 * The worker runtime: serve agents with plain async functions.
 *
 * ```ts
 * const worker = new Worker(weft, { name: "box-1", concurrency: 8 })
 *   .agent("web-researcher", async (task) => ({ output: { site: task.input.website }, cost: 3 }));
 * const stop = new AbortController();
 * await worker.run(stop.signal); // until stop.abort()
 * ```
 *
 * Like the Rust runtime it registers the worker, keeps up to `concurrency`
 * tasks in flight (each claimed by a long poll as a slot frees), heartbeats
 * every task (a third of the lease) so the lease holds, aborts
 * `task.signal` when the run is cancelled or the lease is lost (the
 * handler's answer then no longer counts), completes or fails the task with
 * the handler's answer (trying again while the server is unreachable, for
 * as long as the lease would hold, so a restart costs neither the result nor
 * a re-execution), registers again by itself with backoff when a poll is
 * told NOT_FOUND for this worker (a server on a fresh database, or one that
 * forgot a worker silent too long), and on shutdown stops claiming, lets the
 * tasks in flight finish, and resolves.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Task } from "./gen/weft/v1/worker_pb.js";
import { ToolDecision } from "./gen/weft/v1/worker_pb.js";
import type { Weft } from "./client.js";
import { toWeftError } from "./errors.js";
import { toMoney, toValue, type MoneyInit } from "./json.js";

/** How long one poll waits on the server for a task. */
const POLL_WAIT_SECONDS = 20;
/** How long one CheckToolUse waits on the server for an approval decision. */
const APPROVAL_WAIT_SECONDS = 30;
/** Pauses after failed polls or registrations, so a down server is not hammered: doubling from the first to the longest. */
const BACKOFF_FIRST_MS = 200;
const BACKOFF_LONGEST_MS = 5_000;
/** Least time between two registrations of one worker. */
const MIN_REGISTRATION_GAP_MS = 1_000;
/** Pauses between tries of an answer the server did not take because it was unreachable: doubling, within the lease. */
const ANSWER_RETRY_FIRST_MS = 100;
const ANSWER_RETRY_LONGEST_MS = 2_000;
/** Codes of a call that may not have reached the server, or that it could not take: unreachable, restarting, failing over. */
const TRANSIENT: readonly Code[] = [Code.Unavailable, Code.Unknown, Code.DeadlineExceeded];

/** What a handler answers for a task that worked. */
export interface TaskResult {
  /** The step's output, seen by later steps as `$.<step>.output`. */
  output: JsonValue;
  /** What the attempt cost: cents of usd, or an amount and currency. */
  cost?: number | MoneyInit;
  /** Shared-state keys the step writes (declared in `stateWrites`). */
  stateWrites?: JsonObject;
}

/** Throw this from a handler to fail the task with a code or without retry. */
export class TaskError extends Error {
  constructor(
    message: string,
    /** Whether another attempt might work (the step's retries apply). */
    readonly retryable = true,
    /** UPPER_SNAKE code leading the step's error (`TOOL_ERROR: …`). */
    readonly code = "",
  ) {
    super(message);
    this.name = "TaskError";
  }
}

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

/** A handler: answer a task, or throw (a {@link TaskError} or anything). */
export type Handler = (task: TaskContext) => Promise<TaskResult>;

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
    const workers = this.#weft.raw.workers;
    const concurrency = Math.max(1, this.#options.concurrency ?? 1);
    const registration = {
      workerId: this.#options.id ?? "",
      name: this.#options.name ?? "",
      agents: [...this.#handlers.keys()],
      concurrency,
      costHints: this.#hints.map((h) => ({ agent: h.agent, minCost: toMoney(h.minCost), maxCost: toMoney(h.maxCost) })),
    };
    let registered;
    try {
      registered = await workers.registerWorker(registration);
    } catch (thrown) {
      throw toWeftError(thrown);
    }
    const workerId = registered.workerId;
    // Registering again keeps the id, the server-assigned one included.
    registration.workerId = workerId;
    const leaseMs = Math.max(1, registered.leaseSeconds) * 1000;
    const heartbeatMs = this.#options.heartbeatMs ?? leaseMs / 3;

    // How many registrations went through: a poller told NOT_FOUND registers
    // again only if none did since its poll went out, and pollers told
    // together share one registration.
    let registrations = 1;
    let registering: Promise<void> | undefined;
    let registeredAt = performance.now();
    const registerAgain = (seen: number): Promise<void> => {
      if (registrations !== seen) return Promise.resolve();
      registering ??= (async () => {
        console.warn(`weft worker: the server does not know worker ${workerId} (any more); registering again`);
        // A server that keeps forgetting the worker (say, a replica whose
        // clock is far off) must not turn this into a busy loop.
        await sleep(Math.max(0, registeredAt + MIN_REGISTRATION_GAP_MS - performance.now()), signal);
        for (let failures = 1; !signal.aborted; failures++) {
          try {
            await workers.registerWorker(registration, { signal });
            registeredAt = performance.now();
            registrations += 1;
            return;
          } catch (thrown) {
            if (signal.aborted) return;
            console.warn(`weft worker: registering again failed: ${toWeftError(thrown).message}`);
            await sleep(backoff(failures, BACKOFF_FIRST_MS, BACKOFF_LONGEST_MS), signal);
          }
        }
      })().finally(() => {
        registering = undefined;
      });
      return registering;
    };
    const inFlight = new Set<Promise<void>>();
    const pollers = Math.min(concurrency, 8);

    // A slot is taken before polling and given back when the poll brings
    // nothing or the task is done, so pollers never claim more than
    // `concurrency` tasks between them.
    let free = concurrency;
    const waiting: (() => void)[] = [];
    const wakeAll = () => waiting.splice(0).forEach((wake) => wake());
    signal.addEventListener("abort", wakeAll, { once: true });
    const acquire = async (): Promise<boolean> => {
      while (free === 0 && !signal.aborted) await new Promise<void>((wake) => waiting.push(wake));
      if (signal.aborted) return false;
      free -= 1;
      return true;
    };
    const release = () => {
      free += 1;
      waiting.shift()?.();
    };

    const pollLoop = async (): Promise<void> => {
      let failures = 0;
      while (await acquire()) {
        const seen = registrations;
        const sent = performance.now();
        try {
          const { task } = await workers.pollTask({ workerId, waitSeconds: POLL_WAIT_SECONDS }, { signal });
          failures = 0;
          if (!task) {
            release();
            continue;
          }
          const running: Promise<void> = this.#execute(task, heartbeatMs, sent + leaseMs, leaseMs).finally(() => {
            inFlight.delete(running);
            release();
          });
          inFlight.add(running);
        } catch (thrown) {
          release();
          if (signal.aborted) return;
          const error = toWeftError(thrown);
          // The only thing a poll can find missing is this worker.
          if (error.code === Code.NotFound) {
            await registerAgain(seen);
            continue;
          }
          failures += 1;
          console.warn(`weft worker: poll failed: ${error.message}`);
          await sleep(backoff(failures, BACKOFF_FIRST_MS, BACKOFF_LONGEST_MS), signal);
        }
      }
    };
    await Promise.all(Array.from({ length: pollers }, pollLoop));
    await Promise.allSettled(inFlight);
  }

  /**
   * Runs one task, whose lease holds until `leaseUntil` (`performance.now()`
   * time) unless heartbeats extend it by `leaseMs`: its handler, heartbeats
   * beside it, then the report.
   */
  async #execute(task: Task, heartbeatMs: number, leaseUntil: number, leaseMs: number): Promise<void> {
    const workers = this.#weft.raw.workers;
    const { taskId, leaseToken } = task;
    const handler = this.#handlers.get(task.agent);
    if (!handler) {
      await this.#report(task, Promise.reject(new TaskError(`this worker has no handler for agent '${task.agent}'`, false)), leaseUntil);
      return;
    }
    const lost = new AbortController();
    let costCents = 0;
    let paused = false;
    const beat = setInterval(() => {
      const costSoFar = costCents > 0 ? toMoney({ amount: Math.round(costCents), currency: "usd" }) : undefined;
      const sent = performance.now();
      workers.heartbeat({ taskId, leaseToken, ...(costSoFar && { costSoFar }) }).then(
        (answer) => {
          if (answer.cancelled) lost.abort(new Error("the run was cancelled"));
          paused = answer.paused;
          leaseUntil = Math.max(leaseUntil, sent + leaseMs);
        },
        (thrown: unknown) => {
          const code = ConnectError.from(thrown).code;
          if (code === Code.Aborted || code === Code.FailedPrecondition || code === Code.NotFound) {
            lost.abort(new Error("the task's lease was lost"));
          }
        },
      );
    }, heartbeatMs);
    const context: TaskContext = {
      task,
      text: task.task,
      input: task.input ?? {},
      signal: lost.signal,
      get paused() {
        return paused;
      },
      reportCost: (cents) => {
        costCents = cents;
      },
      checkTool: (tool, args) => this.#checkTool(task, tool, args ?? {}, lost.signal),
    };
    try {
      // A handler that throws before its first await still fails the task.
      const answer = Promise.resolve().then(() => handler(context));
      // Cancelled or lease lost: the answer no longer counts.
      const stopped = new Promise<"stopped">((resolve) => lost.signal.addEventListener("abort", () => resolve("stopped")));
      const first = await Promise.race([answer.then(() => "done" as const, () => "done" as const), stopped]);
      if (first === "stopped") return;
      await this.#report(task, answer, leaseUntil);
    } finally {
      clearInterval(beat);
    }
  }

  async #checkTool(task: Task, tool: string, args: JsonObject, signal: AbortSignal): Promise<ToolVerdict> {
    let approvalId = "";
    let waitSeconds = 0;
    for (;;) {
      let answer;
      try {
        answer = await this.#weft.raw.workers.checkToolUse(
          { taskId: task.taskId, leaseToken: task.leaseToken, tool, arguments: args, approvalId, waitSeconds },
          { signal },
        );
      } catch (thrown) {
        if (signal.aborted) return { allowed: false, reason: "the run was cancelled" };
        throw toWeftError(thrown);
      }
      if (answer.decision === ToolDecision.ALLOW) return { allowed: true, reason: answer.reason };
      if (answer.decision !== ToolDecision.REQUIRE_APPROVAL) return { allowed: false, reason: answer.reason };
      approvalId = answer.approvalId;
      waitSeconds = APPROVAL_WAIT_SECONDS;
    }
  }

  /**
   * Sends the handler's answer, trying again while the server is unreachable
   * and the lease (until `leaseUntil`) holds; a refusal (lease lost) is only
   * logged.
   */
  async #report(task: Task, answer: Promise<TaskResult>, leaseUntil: number): Promise<void> {
    const workers = this.#weft.raw.workers;
    const { taskId, leaseToken } = task;
    try {
      let result: TaskResult;
      try {
        result = await answer;
      } catch (thrown) {
        const error = thrown instanceof TaskError ? thrown : new TaskError(thrown instanceof Error ? thrown.message : String(thrown));
        const failure = { taskId, leaseToken, error: error.message, retryable: error.retryable, errorCode: error.code };
        await deliver(taskId, leaseUntil, () => workers.failTask(failure));
        return;
      }
      const cost = result.cost === undefined ? undefined : toMoney(typeof result.cost === "number" ? { amount: result.cost, currency: "usd" } : result.cost);
      const completion = {
        taskId,
        leaseToken,
        output: toValue(result.output),
        ...(cost && { cost }),
        ...(result.stateWrites && { stateWrites: result.stateWrites }),
      };
      await deliver(taskId, leaseUntil, () => workers.completeTask(completion));
    } catch (thrown) {
      console.warn(`weft worker: the answer to task ${taskId} was refused: ${toWeftError(thrown).message}`);
    }
  }
}

/**
 * Makes a call with `send`, again after each transient failure (with
 * backoff) while the lease would still hold at the next try. Sending an
 * answer twice is harmless: the second is refused as already finished.
 */
async function deliver<T>(taskId: string, leaseUntil: number, send: () => Promise<T>): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await send();
    } catch (thrown) {
      const code = ConnectError.from(thrown).code;
      const wait = backoff(failures, ANSWER_RETRY_FIRST_MS, ANSWER_RETRY_LONGEST_MS);
      if (!TRANSIENT.includes(code) || performance.now() + wait >= leaseUntil) throw thrown;
      console.warn(`weft worker: the server did not take the answer to task ${taskId}; trying again: ${toWeftError(thrown).message}`);
      await sleep(wait);
    }
  }
}

/** The `n`th pause (from 1), doubling from `first` up to `longest`, ms. */
function backoff(n: number, first: number, longest: number): number {
  return Math.min(longest, first * 2 ** Math.min(Math.max(n - 1, 0), 16));
}

/** Sleeps `ms`, or less when `signal` aborts first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
