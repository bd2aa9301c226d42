/**
 * Following a run's events live, surviving dropped connections.
 *
 * The SDK's `runs.stream` already resumes by itself, but silently: a page
 * must *say* it lost the server, re-read the run once it is back (the
 * events missed while away are replayed, but panel data such as outputs
 * and costs is read whole), and keep trying for as long as the page is
 * open, not five times. So the stream used here is the SDK's, over a
 * client whose StreamRunEvents turns a transport failure into a quiet end
 * of stream: the loop below then sees "ended before the run's terminal
 * event", shows the notice, waits with backoff, re-reads the run and
 * resumes after the last sequence it applied (never a duplicate).
 * Refusals that are not transient (unknown run, no permission) still
 * reject, with the SDK's typed error.
 */
import { Runs, type RunEvent, type Weft } from "weftflow";

/** Run events after which the server sends nothing more. */
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(["run.completed", "run.failed", "run.partial", "run.cancelled"]);

/** Waits between reconnection attempts: doubling from the first to the longest. */
const BACKOFF_FIRST_MS = 250;
const BACKOFF_LONGEST_MS = 4_000;

export interface FollowHandlers {
  /** Each new event, in sequence order, exactly once. */
  onEvent(event: RunEvent): void;
  /** The connection dropped; a reconnection is under way. */
  onDropped(): void;
  /**
   * The server answers again: re-read the run (rejects while it does not)
   * and say whether it is over. Called before the stream is reopened.
   */
  resync(): Promise<{ finished: boolean }>;
}

/**
 * gRPC codes of transport failures worth retrying (UNKNOWN, DEADLINE_EXCEEDED,
 * INTERNAL, UNAVAILABLE); any other code is the server's considered answer.
 * Both the SDK's typed errors and the raw client's carry the numeric `code`;
 * a failed `fetch` (a TypeError) has none and is retried too.
 */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([2, 4, 13, 14]);

function transient(thrown: unknown): boolean {
  const code = typeof thrown === "object" && thrown !== null && "code" in thrown ? thrown.code : undefined;
  return typeof code !== "number" || TRANSIENT_CODES.has(code);
}

/** `runs` over a client whose event stream ends quietly when the connection breaks. */
function quietRuns(weft: Weft): Runs {
  const raw = weft.raw.runs;
  const streamRunEvents: typeof raw.streamRunEvents = (request, options) => {
    const source = raw.streamRunEvents(request, options);
    return (async function* () {
      try {
        yield* source;
      } catch (thrown) {
        if (!transient(thrown)) throw thrown;
      }
    })();
  };
  return new Runs({ ...raw, streamRunEvents });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), done()), { once: true });
  });
}

/**
 * Applies the events of `runId` after `afterSequence` until its terminal
 * event, or until `signal` aborts. Resolves then; rejects only on a refusal.
 */
export async function followRun(weft: Weft, runId: string, afterSequence: number, signal: AbortSignal, handlers: FollowHandlers): Promise<void> {
  const runs = quietRuns(weft);
  let last = afterSequence;
  let failures = 0;
  /** The last re-read found the run over: one more pass collects its last events, then no reconnecting. */
  let finished = false;
  while (!signal.aborted) {
    for await (const event of runs.stream(runId, { afterSequence: last, signal })) {
      if (event.sequence <= last) continue;
      last = event.sequence;
      failures = 0;
      handlers.onEvent(event);
      if (TERMINAL_EVENTS.has(event.type)) return;
    }
    if (signal.aborted || finished) return;
    // The stream ended before the run did: the connection dropped.
    handlers.onDropped();
    for (;;) {
      await sleep(Math.min(BACKOFF_FIRST_MS << Math.min(failures, 8), BACKOFF_LONGEST_MS), signal);
      failures += 1;
      if (signal.aborted) return;
      try {
        ({ finished } = await handlers.resync());
        break;
      } catch (thrown) {
        if (!transient(thrown)) throw thrown;
      }
    }
  }
}
