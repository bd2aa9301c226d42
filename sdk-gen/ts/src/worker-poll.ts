/**
 * Serving by long polls (the unary PollTask), for servers without the
 * ConnectWorker stream (UNIMPLEMENTED) and for transports that cannot
 * stream requests (gRPC-web: browsers): up to 8 pollers, each claiming one
 * task at a time while a slot is free, registering again by itself when a
 * poll is told NOT_FOUND. Every call of a task is a unary RPC.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { RegisterWorkerRequestSchema } from "./gen/weft/v1/worker_service_pb.js";
import type { Weft } from "./client.js";
import { toWeftError } from "./errors.js";
import type { Handler } from "./worker.js";
import { backoff, execute, sleep, type Link, type Shared } from "./worker-task.js";

/** How long one poll waits on the server for a task. */
const POLL_WAIT_SECONDS = 20;
/** Most concurrent long polls of one worker. */
const MAX_POLLERS = 8;
/** Least time between two registrations of one worker. */
const MIN_REGISTRATION_GAP_MS = 1_000;

export type Registration = MessageInitShape<typeof RegisterWorkerRequestSchema> & { workerId: string };

/** What a worker starts serving with, by stream or by polls. */
export interface Setup {
  readonly weft: Weft;
  readonly handlers: ReadonlyMap<string, Handler>;
  readonly heartbeatMs: number | undefined;
  readonly concurrency: number;
  readonly registration: Registration;
  /** The first backoff pause and the longest, ms. */
  readonly backoffFirstMs: number;
  readonly backoffLongestMs: number;
}

/** The unary RPCs, as a task's {@link Link}. */
export function unaryLink(weft: Weft): Link {
  const workers = weft.raw.workers;
  return {
    heartbeat: (request) => workers.heartbeat(request),
    complete: (request) => workers.completeTask(request),
    fail: (request) => workers.failTask(request),
    // An approval wait ends early when the task is stopped.
    checkToolUse: (request, _until, running) => workers.checkToolUse(request, { signal: running.signal }),
  };
}

/**
 * Registers, then polls until `signal` aborts; then lets the tasks in
 * flight finish. Rejects only if the registration does.
 */
export async function servePolling(setup: Setup, signal: AbortSignal): Promise<void> {
  const workers = setup.weft.raw.workers;
  const { registration, concurrency } = setup;
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
  const shared: Shared = { handlers: setup.handlers, heartbeatMs: setup.heartbeatMs ?? leaseMs / 3, leaseMs, link: unaryLink(setup.weft) };

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
          await sleep(backoff(failures, setup.backoffFirstMs, setup.backoffLongestMs), signal);
        }
      }
    })().finally(() => {
      registering = undefined;
    });
    return registering;
  };
  const inFlight = new Set<Promise<void>>();
  const pollers = Math.min(concurrency, MAX_POLLERS);

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
        const running: Promise<void> = execute(shared, task, sent + leaseMs).finally(() => {
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
        await sleep(backoff(failures, setup.backoffFirstMs, setup.backoffLongestMs), signal);
      }
    }
  };
  await Promise.all(Array.from({ length: pollers }, pollLoop));
  await Promise.allSettled(inFlight);
}
