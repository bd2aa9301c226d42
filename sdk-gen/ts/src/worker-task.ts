/**
 * One task's life in the worker, whichever way it reached the worker (a
 * ConnectWorker stream or a long poll): its handler, heartbeats beside it
 * (cancellation and pauses come back with them), and the answer, tried
 * again while the server is unreachable and the lease holds. Every call
 * goes through a {@link Link}: the stream (worker-stream.ts) or the unary
 * RPCs (worker-poll.ts). Either way a refusal is the error the unary call
 * would have thrown, so the code here treats both alike.
 *
 * The success path builds no error object and no AbortSignal: a task's
 * AbortController is made only when its handler reads `signal` or the task
 * is stopped.
 */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Money } from "./gen/weft/v1/common_pb.js";
import type { Task } from "./gen/weft/v1/worker_pb.js";
import { ToolDecision } from "./gen/weft/v1/worker_pb.js";
import type {
  CheckToolUseRequestSchema,
  CheckToolUseResponse,
  CompleteTaskRequestSchema,
  FailTaskRequestSchema,
  HeartbeatRequestSchema,
  HeartbeatResponse,
} from "./gen/weft/v1/worker_service_pb.js";
import { WeftError, toWeftError } from "./errors.js";
import { asJson, toMoney, toValue } from "./json.js";
import { NonRetryableError, Outcome, TaskError, type CostInit, type HandlerResult } from "./outcome.js";
import { startTaskSpan } from "./tracing.js";
import type { Handler, TaskContext, ToolVerdict } from "./worker.js";

/** How long one CheckToolUse waits on the server for an approval decision. */
const APPROVAL_WAIT_SECONDS = 30;
/** Pauses between tries of an answer the server did not take because it was unreachable: doubling, within the lease. */
const ANSWER_RETRY_FIRST_MS = 100;
const ANSWER_RETRY_LONGEST_MS = 2_000;
/** Codes of a call that may not have reached the server, or that it could not take: unreachable, restarting, failing over. */
const TRANSIENT: readonly Code[] = [Code.Unavailable, Code.Unknown, Code.DeadlineExceeded];

export type HeartbeatInit = MessageInitShape<typeof HeartbeatRequestSchema>;
export type CompleteInit = MessageInitShape<typeof CompleteTaskRequestSchema>;
export type FailInit = MessageInitShape<typeof FailTaskRequestSchema>;
export type CheckToolInit = MessageInitShape<typeof CheckToolUseRequestSchema>;

/**
 * How a task's calls reach the server. `until` is when the task's lease
 * runs out (`performance.now()` time): a call not answered by then fails
 * UNAVAILABLE, so the caller's retries apply.
 */
export interface Link {
  heartbeat(request: HeartbeatInit, until: number): Promise<HeartbeatResponse>;
  complete(request: CompleteInit, until: number): Promise<unknown>;
  fail(request: FailInit, until: number): Promise<unknown>;
  checkToolUse(request: CheckToolInit, until: number, running: Running): Promise<CheckToolUseResponse>;
}

/** What every task of a running worker shares. */
export interface Shared {
  readonly handlers: ReadonlyMap<string, Handler>;
  readonly heartbeatMs: number;
  /** The lease length the server gave at registration. */
  readonly leaseMs: number;
  readonly link: Link;
}

/** The gRPC code of anything a call threw (a WeftError, a ConnectError, …). */
export function codeOf(thrown: unknown): Code {
  if (thrown instanceof WeftError || thrown instanceof ConnectError) return thrown.code;
  return ConnectError.from(thrown).code;
}

/** A task being worked on: its lease, pause flag, cost, and stop. */
export class Running {
  /** Until when the lease holds (`performance.now()` time). */
  leaseUntil: number;
  paused = false;
  costCents = 0;
  /** True once the run was cancelled or the lease was lost. */
  stopped = false;
  #controller: AbortController | undefined;
  #onStop: (() => void) | undefined;
  #whenStopped: Promise<void> | undefined;

  constructor(leaseUntil: number) {
    this.leaseUntil = leaseUntil;
  }

  /** The handler's signal, made on first use. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** Resolves once the task is stopped (made on first use). */
  get whenStopped(): Promise<void> {
    this.#whenStopped ??= this.stopped
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const before = this.#onStop;
          this.#onStop = () => {
            before?.();
            resolve();
          };
        });
    return this.#whenStopped;
  }

  /** Stops the task: aborts the handler's signal; its answer no longer counts. */
  stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.#controller ??= new AbortController();
    this.#controller.abort(new Error(reason));
    this.#onStop?.();
  }

  /** Calls `then` when the task is stopped (replacing nothing set before). */
  onStop(then: () => void): void {
    const before = this.#onStop;
    this.#onStop = before ? () => (before(), then()) : then;
  }
}

/** How the handler ended: answered, threw, or (undefined) was stopped. */
type Ending = { ok: true; result: HandlerResult } | { ok: false; error: unknown } | undefined;

/**
 * Runs one task, whose lease holds until `leaseUntil` (`performance.now()`
 * time) unless heartbeats extend it: its handler, heartbeats beside it,
 * then the report. `handlerDone` is called once the handler answered or
 * the task was stopped (its slot is free), before the report goes out.
 */
export async function execute(shared: Shared, task: Task, leaseUntil: number, handlerDone?: () => void): Promise<void> {
  const running = new Running(leaseUntil);
  const handler = shared.handlers.get(task.agent);
  if (!handler) {
    handlerDone?.();
    await report(shared, task, running, { ok: false, error: new NonRetryableError(`this worker has no handler for agent '${task.agent}'`) });
    return;
  }
  const { link, leaseMs } = shared;
  const { taskId, leaseToken } = task;
  let beating = false;
  const beat = setInterval(() => {
    // One heartbeat at a time: while one waits (say, for a new stream) the
    // next would only queue behind it.
    if (beating) return;
    beating = true;
    const cents = running.costCents;
    const costSoFar = cents > 0 ? toMoney({ amount: Math.round(cents), currency: "usd" }) : undefined;
    const sent = performance.now();
    link.heartbeat({ taskId, leaseToken, ...(costSoFar && { costSoFar }) }, running.leaseUntil).then(
      (answer) => {
        beating = false;
        if (answer.cancelled) running.stop("the run was cancelled");
        running.paused = answer.paused;
        running.leaseUntil = Math.max(running.leaseUntil, sent + leaseMs);
      },
      (thrown: unknown) => {
        beating = false;
        const code = codeOf(thrown);
        // The lease moved on (expired, or the task finished elsewhere).
        if (code === Code.Aborted || code === Code.FailedPrecondition || code === Code.NotFound) {
          running.stop("the task's lease was lost");
        }
      },
    );
  }, shared.heartbeatMs);
  const context: TaskContext = {
    task,
    text: task.task,
    input: task.input ?? {},
    get signal() {
      return running.signal;
    },
    get paused() {
      return running.paused;
    },
    reportCost: (cents) => {
      running.costCents = cents;
    },
    checkTool: (tool, args) => checkTool(shared, task, running, tool, args ?? {}),
  };
  // The handler's span, in the run's trace (only with OpenTelemetry loaded).
  const span = startTaskSpan(task);
  try {
    const ending = await new Promise<Ending>((resolve) => {
      // Cancelled or lease lost: the answer no longer counts.
      running.onStop(() => resolve(undefined));
      // A handler that throws before its first await still fails the task.
      const call = () =>
        Promise.resolve()
          .then(() => handler(context))
          .then(
            (result) => resolve({ ok: true, result }),
            (error: unknown) => resolve({ ok: false, error }),
          );
      if (span) span.run(call);
      else void call();
    });
    span?.end(ending === undefined ? { stopped: true } : ending.ok ? {} : { error: ending.error });
    handlerDone?.();
    if (ending === undefined || running.stopped) return;
    await report(shared, task, running, ending);
  } finally {
    clearInterval(beat);
  }
}

async function checkTool(shared: Shared, task: Task, running: Running, tool: string, args: JsonObject): Promise<ToolVerdict> {
  let approvalId = "";
  let waitSeconds = 0;
  for (;;) {
    if (running.stopped) return { allowed: false, reason: "the run was cancelled" };
    let answer: CheckToolUseResponse;
    try {
      answer = await shared.link.checkToolUse(
        { taskId: task.taskId, leaseToken: task.leaseToken, tool, arguments: args, approvalId, waitSeconds },
        running.leaseUntil,
        running,
      );
    } catch (thrown) {
      if (running.stopped) return { allowed: false, reason: "the run was cancelled" };
      throw toWeftError(thrown);
    }
    if (answer.decision === ToolDecision.ALLOW) return { allowed: true, reason: answer.reason };
    if (answer.decision !== ToolDecision.REQUIRE_APPROVAL) return { allowed: false, reason: answer.reason };
    approvalId = answer.approvalId;
    waitSeconds = APPROVAL_WAIT_SECONDS;
  }
}

/** A handler's cost as the `Money` message. */
function money(cost: CostInit): Money {
  return toMoney(typeof cost === "number" ? { amount: cost, currency: "usd" } : cost);
}

/**
 * The report a handler's ending makes: a completion for a result (a bare
 * value is the output; only an {@link Outcome} carries cost and state
 * writes), a failure for a throw ({@link TaskError}s say whether to retry;
 * anything else is retryable). The output is what `JSON.stringify` makes of
 * it (asJson); one it cannot write (a bigint, a cycle) fails the step:
 * trying again would not help.
 */
function toReport(task: Task, ending: Exclude<Ending, undefined>): { complete: CompleteInit } | { fail: FailInit } {
  const { taskId, leaseToken } = task;
  let error: unknown;
  if (ending.ok) {
    const result = ending.result;
    const answer = Outcome.is(result) ? result : { output: result, cost: undefined, stateWrites: undefined };
    try {
      return {
        complete: {
          taskId,
          leaseToken,
          output: toValue(asJson(answer.output)),
          ...(answer.cost !== undefined && { cost: money(answer.cost) }),
          ...(answer.stateWrites && { stateWrites: asJson(answer.stateWrites) as JsonObject }),
        },
      };
    } catch (thrown) {
      error = new NonRetryableError(`the handler's output is not JSON: ${thrown instanceof Error ? thrown.message : String(thrown)}`, { code: "INVALID_OUTPUT" });
    }
  } else error = ending.error;
  const failure = error instanceof TaskError ? error : new TaskError(error instanceof Error ? error.message : String(error));
  return {
    fail: {
      taskId,
      leaseToken,
      error: failure.message,
      retryable: failure.retryable,
      errorCode: failure.code,
      ...(failure.cost !== undefined && { cost: money(failure.cost) }),
    },
  };
}

/**
 * Sends the handler's answer, trying again while the server is unreachable
 * and the lease holds; a refusal (lease lost) is only logged.
 */
async function report(shared: Shared, task: Task, running: Running, ending: Exclude<Ending, undefined>): Promise<void> {
  const { link } = shared;
  let made = toReport(task, ending);
  try {
    if ("complete" in made) {
      const completion = made.complete;
      try {
        await deliver(task.taskId, running, () => link.complete(completion, running.leaseUntil));
        return;
      } catch (thrown) {
        // A completion refused as invalid (a currency the server does not
        // take, a state write the step does not declare) leaves the attempt
        // open, which would only end when the lease expires: fail it now,
        // with the server's reason, since sending it again cannot help.
        if (codeOf(thrown) !== Code.InvalidArgument) throw thrown;
        const reason = toWeftError(thrown).rawMessage;
        console.warn(`weft worker: the server refused the answer to task ${task.taskId}; failing it: ${reason}`);
        made = toReport(task, { ok: false, error: new NonRetryableError(`the server refused the handler's answer: ${reason}`, { code: "INVALID_OUTPUT" }) });
      }
    }
    if ("fail" in made) {
      const failure = made.fail;
      await deliver(task.taskId, running, () => link.fail(failure, running.leaseUntil));
    }
  } catch (thrown) {
    console.warn(`weft worker: the answer to task ${task.taskId} was refused: ${toWeftError(thrown).message}`);
  }
}

/**
 * Makes a call with `send`, again after each transient failure (with
 * backoff) while the lease would still hold at the next try. Sending an
 * answer twice is harmless: the second is refused as already finished.
 */
async function deliver<T>(taskId: string, running: Running, send: () => Promise<T>): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await send();
    } catch (thrown) {
      const wait = backoff(failures, ANSWER_RETRY_FIRST_MS, ANSWER_RETRY_LONGEST_MS);
      if (!TRANSIENT.includes(codeOf(thrown)) || performance.now() + wait >= running.leaseUntil) throw thrown;
      console.warn(`weft worker: the server did not take the answer to task ${taskId}; trying again: ${toWeftError(thrown).message}`);
      await sleep(wait);
    }
  }
}

/** The `n`th pause (from 1), doubling from `first` up to `longest`, ms. */
export function backoff(n: number, first: number, longest: number): number {
  return Math.min(longest, first * 2 ** Math.min(Math.max(n - 1, 0), 16));
}

/** Sleeps `ms`, or less when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
