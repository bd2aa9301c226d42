/**
 * Serving over one `WorkerService.ConnectWorker` stream: its hello
 * registers the worker; the worker grants one credit per free handler slot
 * (never more than the server's limit of 1,000), runs each task the server
 * pushes, and sends the reports its tasks ask for (heartbeats, completions,
 * failures, tool checks), gathered into one message with the credits freed
 * meanwhile. Each answer goes back to the task that asked, by report id; a
 * refused report becomes the error its unary call would have thrown.
 *
 * A stream that breaks is opened again with backoff and the same worker id
 * (its hello registers the worker again, which also answers a server that
 * forgot it); credits are granted afresh for the slots free then. Tasks in
 * flight keep their leases meanwhile: their reports wait for the new
 * stream, within the lease; reports sent but not answered on the lost
 * stream fail UNAVAILABLE, which the task's retries answer. On shutdown the
 * worker drains: no more tasks, the ones in flight finish and report, then
 * it half-closes and the server ends the stream.
 *
 * One stream, one AbortController and one lease sweep per worker: nothing
 * per report but the report and its promise.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Task } from "./gen/weft/v1/worker_pb.js";
import type {
  ConnectWorkerRequestSchema,
  ConnectWorkerResponse,
  RegisterWorkerResponse,
  ReportAnswer,
  WorkerReportSchema,
} from "./gen/weft/v1/worker_service_pb.js";
import type { Status } from "./gen/google/rpc/status_pb.js";
import { toWeftError, type WeftError } from "./errors.js";
import type { Setup } from "./worker-poll.js";
import { backoff, codeOf, execute, sleep, type Link, type Shared } from "./worker-task.js";

/** The most unused credits the server lets one stream hold. */
const MAX_CREDITS = 1_000;
/** The most reports the server takes in one message. */
const MAX_REPORTS_PER_MESSAGE = 256;
/** How long a stream may take to answer its hello before it counts as failed. */
const WELCOME_WITHIN_MS = 15_000;
/** How often asks are checked against their deadline (the task's lease). */
const SWEEP_EVERY_MS = 500;

/** After the promise jobs of this turn (the handlers answering together). */
const later: (run: () => void) => void = typeof setImmediate === "function" ? setImmediate : (run) => setTimeout(run, 0);

type RequestInit = MessageInitShape<typeof ConnectWorkerRequestSchema>;
type ReportInit = Exclude<MessageInitShape<typeof WorkerReportSchema>["report"], undefined | { case: undefined }>;
type AnswerCase = NonNullable<ReportAnswer["answer"]["case"]>;

/** One report waiting to be sent, or sent and waiting for its answer. */
interface Ask {
  report: ReportInit;
  /** No answer by then (`performance.now()` time): it fails UNAVAILABLE. */
  until: number;
  resolve(value: never): void;
  reject(error: unknown): void;
}

/**
 * The messages the worker sends on one stream, as the request iterable
 * Connect reads: pushed by the driver, ended by the half-close. Its own
 * iterator, since Connect asks the iterable for one again to end it.
 */
class Outbox implements AsyncIterableIterator<RequestInit> {
  #items: RequestInit[] = [];
  #waiter: ((result: IteratorResult<RequestInit>) => void) | undefined;
  #ended = false;

  push(message: RequestInit): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter({ value: message, done: false });
    } else this.#items.push(message);
  }

  /** The half-close, once the messages pushed so far are sent. */
  end(): void {
    this.#ended = true;
    if (this.#items.length === 0) this.#finish();
  }

  #finish(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<RequestInit>> {
    const item = this.#items.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  return(): Promise<IteratorResult<RequestInit>> {
    this.#ended = true;
    this.#items = [];
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Connect's pipe passes a failure of the call upstream: the stream is over. */
  throw(): Promise<IteratorResult<RequestInit>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** An open stream: where to send, what comes back, and its first message. */
export interface Connected {
  outbox: Outbox;
  responses: AsyncIterator<ConnectWorkerResponse>;
  abort: AbortController;
  first: ConnectWorkerResponse;
  welcome: RegisterWorkerResponse;
  /** Credits its hello granted. */
  credits: number;
  /** Its hello said drain. */
  drain: boolean;
}

/**
 * Opens a stream whose hello registers the worker and grants `credits`
 * (`drain` for a worker that is stopping), and waits for its welcome.
 */
export async function openStream(setup: Setup, credits: number, drain: boolean): Promise<Connected> {
  const outbox = new Outbox();
  outbox.push({ hello: setup.registration, credits, drain });
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new ConnectError("the worker stream did not answer its hello in time", Code.DeadlineExceeded)),
    WELCOME_WITHIN_MS,
  );
  try {
    const responses = setup.weft.raw.workers.connectWorker(outbox, { signal: abort.signal })[Symbol.asyncIterator]();
    const first = await responses.next();
    if (first.done) throw new ConnectError("the worker stream ended before its welcome", Code.Unavailable);
    const welcome = first.value.welcome;
    if (!welcome) throw new ConnectError("the worker stream's first message has no welcome", Code.Internal);
    return { outbox, responses, abort, first: first.value, welcome, credits, drain };
  } catch (thrown) {
    outbox.return();
    abort.abort();
    throw thrown;
  } finally {
    clearTimeout(timer);
  }
}

/** The credits a new stream's hello grants: one per slot, within the server's limit. */
export function firstCredits(setup: Setup): number {
  return Math.min(setup.concurrency, MAX_CREDITS);
}

/**
 * The error a unary call would have thrown for a report refused with
 * `status`: the same {@link WeftError} class, message, reason and field
 * violations, with a ConnectError carrying the details as its cause.
 */
export function statusError(status: Status): WeftError {
  const code = status.code in Code ? (status.code as Code) : Code.Unknown;
  const error = new ConnectError(status.message, code);
  for (const detail of status.details) {
    // As in a unary call's trailer: the type name, without the URL prefix.
    error.details.push({ type: detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1), value: detail.value });
  }
  return toWeftError(error);
}

/** The worker's side of its streams, one after another; the tasks' {@link Link}. */
class Driver implements Link {
  readonly #setup: Setup;
  readonly #signal: AbortSignal;
  readonly #capacity: number;
  #shared!: Shared;
  /** Reports not sent yet (no stream, or not flushed yet). */
  #queue: Ask[] = [];
  /** Reports sent on the current stream, by report id. */
  #waiting = new Map<bigint, Ask>();
  #nextId = 1n;
  /** The current stream, while open. */
  #stream: Connected | undefined;
  #halfClosed = false;
  #flushing = false;
  /** Handlers running. */
  #running = 0;
  /** Tasks not done yet (handler or report). */
  #inFlight = 0;
  /** Credits the current stream holds unused, as far as the worker knows. */
  #outstanding = 0;
  #draining = false;
  #idle: (() => void) | undefined;

  constructor(setup: Setup, signal: AbortSignal) {
    this.#setup = setup;
    this.#signal = signal;
    this.#capacity = firstCredits(setup);
  }

  // ---- Link: each call is a report, answered on the stream.

  heartbeat(request: Parameters<Link["heartbeat"]>[0], until: number) {
    return this.#ask({ case: "heartbeat", value: request }, until) as ReturnType<Link["heartbeat"]>;
  }

  complete(request: Parameters<Link["complete"]>[0], until: number) {
    return this.#ask({ case: "complete", value: request }, until);
  }

  fail(request: Parameters<Link["fail"]>[0], until: number) {
    return this.#ask({ case: "fail", value: request }, until);
  }

  checkToolUse(...[request, until, running]: Parameters<Link["checkToolUse"]>): ReturnType<Link["checkToolUse"]> {
    // An approval wait can outlast the lease a little (heartbeats keep it).
    const asked = this.#ask({ case: "checkToolUse", value: request }, until + (request.waitSeconds ?? 0) * 1000) as ReturnType<Link["checkToolUse"]>;
    // A stopped task does not wait for the approval: its answer is dropped.
    return Promise.race([asked, running.whenStopped.then(() => Promise.reject(new ConnectError("the task was stopped", Code.Canceled)))]);
  }

  #ask(report: ReportInit, until: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ report, until, resolve: resolve as (value: never) => void, reject });
      this.#schedule();
    });
  }

  // ---- Sending.

  /** Flushes soon: after the handlers answering in this turn have asked too. */
  #schedule(): void {
    if (this.#flushing || !this.#stream) return;
    this.#flushing = true;
    later(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushing = false;
    const stream = this.#stream;
    if (!stream || this.#halfClosed) return;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_REPORTS_PER_MESSAGE);
      const reports = batch.map((ask) => {
        const reportId = this.#nextId++;
        this.#waiting.set(reportId, ask);
        return { reportId, report: ask.report };
      });
      stream.outbox.push({ credits: this.#grant(), reports });
    }
    const credits = this.#grant();
    if (credits > 0) stream.outbox.push({ credits });
    this.#maybeHalfClose();
  };

  /** Credits to grant now: one per free slot not yet granted. */
  #grant(): number {
    if (this.#draining) return 0;
    const more = this.#capacity - this.#running - this.#outstanding;
    if (more <= 0) return 0;
    this.#outstanding += more;
    return more;
  }

  /** Drained and everything reported: half-close; the server ends the stream. */
  #maybeHalfClose(): void {
    if (!this.#draining || this.#halfClosed || !this.#stream) return;
    if (this.#inFlight > 0 || this.#queue.length > 0 || this.#waiting.size > 0) return;
    this.#halfClosed = true;
    this.#stream.outbox.end();
  }

  // ---- Receiving.

  #take(message: ConnectWorkerResponse): void {
    for (const task of message.tasks) this.#start(task);
    for (const answer of message.answers) {
      const ask = this.#waiting.get(answer.reportId);
      if (!ask) continue;
      this.#waiting.delete(answer.reportId);
      if (answer.error) ask.reject(statusError(answer.error));
      else if (answer.answer.case === (ask.report.case as AnswerCase)) ask.resolve(answer.answer.value as never);
      else ask.reject(new ConnectError(`the server answered a ${ask.report.case} report with ${answer.answer.case ?? "nothing"}`, Code.Internal));
    }
    if (message.answers.length > 0) this.#maybeHalfClose();
  }

  /** Runs a task pushed on the stream, under the lease it came with. */
  #start(task: Task): void {
    if (this.#outstanding > 0) this.#outstanding -= 1;
    this.#running += 1;
    this.#inFlight += 1;
    const handlerDone = () => {
      this.#running -= 1;
      this.#schedule();
    };
    void execute(this.#shared, task, performance.now() + this.#shared.leaseMs, handlerDone).finally(() => {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) this.#idle?.();
      this.#maybeHalfClose();
    });
  }

  /** Drops the asks whose lease ran out unanswered: their callers' retries decide. */
  readonly #sweep = (): void => {
    const now = performance.now();
    const expired = (ask: Ask) => ask.until <= now;
    if (this.#queue.some(expired)) {
      const kept: Ask[] = [];
      for (const ask of this.#queue) {
        if (expired(ask)) ask.reject(new ConnectError("no worker stream to send the report on while the lease held", Code.Unavailable));
        else kept.push(ask);
      }
      this.#queue = kept;
    }
    for (const [id, ask] of this.#waiting) {
      if (!expired(ask)) continue;
      this.#waiting.delete(id);
      ask.reject(new ConnectError("no answer on the worker stream while the lease held", Code.Unavailable));
    }
    this.#maybeHalfClose();
  };

  // ---- Streams, one after another.

  /** Serves on `connected` and the streams after it until the signal, then drains. */
  async serve(connected: Connected): Promise<void> {
    const leaseMs = Math.max(1, connected.welcome.leaseSeconds) * 1000;
    this.#shared = { handlers: this.#setup.handlers, heartbeatMs: this.#setup.heartbeatMs ?? leaseMs / 3, leaseMs, link: this };
    // Opening again keeps the id, the server-assigned one included.
    this.#setup.registration.workerId = connected.welcome.workerId;
    this.#outstanding = connected.credits;
    const sweeper = setInterval(this.#sweep, SWEEP_EVERY_MS);
    const onStop = () => this.#drain();
    this.#signal.addEventListener("abort", onStop, { once: true });
    // Stopped while the first stream opened.
    if (this.#signal.aborted) this.#drain();
    try {
      let next: Connected | undefined = connected;
      let failures = 0;
      for (;;) {
        if (!next) {
          if (this.#draining && this.#inFlight === 0 && this.#queue.length === 0) break;
          const credits = this.#draining ? 0 : Math.max(0, this.#capacity - this.#running);
          try {
            next = await openStream(this.#setup, credits, this.#draining);
            this.#outstanding = credits;
          } catch (thrown) {
            failures += 1;
            console.warn(`weft worker: opening the worker stream failed: ${toWeftError(thrown).message}`);
            await this.#pause(failures);
            continue;
          }
        }
        const lost = await this.#run(next);
        next = undefined;
        if (lost === undefined) break;
        failures = codeOf(lost) === Code.NotFound ? 0 : failures + 1;
        console.warn(`weft worker: the worker stream broke; opening another: ${toWeftError(lost).message}`);
        await this.#pause(Math.max(failures, 1));
      }
      // Tasks a stream pushed after the drain was asked still run to the end.
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    } finally {
      clearInterval(sweeper);
      this.#signal.removeEventListener("abort", onStop);
    }
  }

  /** Waits before opening another stream; cut short by the stop (the drain). */
  async #pause(failures: number): Promise<void> {
    await sleep(backoff(failures, this.#setup.backoffFirstMs, this.#setup.backoffLongestMs), this.#signal);
  }

  /** Stops taking tasks: the stream's drain, then the half-close once all is reported. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#outstanding = 0;
    if (this.#stream && !this.#halfClosed) this.#stream.outbox.push({ drain: true });
    this.#maybeHalfClose();
  }

  /** Serves one stream until it ends: undefined when drained and closed, else why it broke. */
  async #run(connected: Connected): Promise<unknown> {
    this.#stream = connected;
    this.#halfClosed = false;
    // Stopped since the hello went out without drain.
    if (this.#draining && !connected.drain) connected.outbox.push({ drain: true });
    let lost: unknown;
    try {
      this.#take(connected.first);
      this.#schedule();
      this.#maybeHalfClose();
      for (;;) {
        const next = await connected.responses.next();
        if (next.done) break;
        this.#take(next.value);
      }
      if (!this.#halfClosed) lost = new ConnectError("the server ended the worker stream", Code.Unavailable);
    } catch (thrown) {
      lost = thrown;
    }
    this.#stream = undefined;
    connected.outbox.return();
    connected.abort.abort();
    // Sent, never answered: the callers' retries send them again.
    if (this.#waiting.size > 0) {
      const unanswered = [...this.#waiting.values()];
      this.#waiting.clear();
      for (const ask of unanswered) ask.reject(new ConnectError("the worker stream was lost before the answer", Code.Unavailable));
    }
    if (lost === undefined && !this.#halfClosed) lost = new ConnectError("the worker stream ended", Code.Unavailable);
    return lost;
  }
}

/** Serves on `connected` and the streams after it until `signal`, then drains. */
export function serveStream(setup: Setup, connected: Connected, signal: AbortSignal): Promise<void> {
  return new Driver(setup, signal).serve(connected);
}
