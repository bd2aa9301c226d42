/**
 * Keeps one run's page state current: the first read of the run and its
 * exact workflow version, then its events live (follow.ts), with a
 * throttled re-read after the events that change panel data, and a
 * re-read on demand (after an action). Plain TypeScript: the page's hook
 * (useLiveRun.ts) owns one per run id and renders what it emits.
 */
import type { RunEvent, Weft, Workflow } from "weftflow";
import { followRun, TERMINAL_EVENTS } from "./follow";
import { EMPTY, isFinished, withEvent, withSnapshot, type LiveState } from "./liveState";

/** Re-reads of the run after events: at most one per this many ms. */
export const REREAD_MS = 300;

export type Connection = "connecting" | "live" | "reconnecting" | "ended";

export interface FollowerState {
  live: LiveState;
  workflow: Workflow | undefined;
  /** Reading the run failed before anything could be shown. */
  loadError: unknown;
  /** Reading the workflow version failed (the page shows the run without its graph). */
  workflowError: unknown;
  /** The event stream was refused (not a dropped connection). */
  streamError: unknown;
  connection: Connection;
}

/** Events after which the run's rows hold new data worth reading whole. */
function changesRows(event: RunEvent): boolean {
  return event.type.startsWith("step.") || event.type.startsWith("run.") || event.type.startsWith("approval.") || event.type === "plan.spliced";
}

export class RunFollower {
  private state: FollowerState = {
    live: EMPTY,
    workflow: undefined,
    loadError: undefined,
    workflowError: undefined,
    streamError: undefined,
    connection: "connecting",
  };
  private readonly abort = new AbortController();
  /** Whether the first read answered (reads may start following only after it). */
  private started = false;
  private following = false;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  private reading = false;
  private readAgain = false;
  private lastRead = 0;

  constructor(
    private readonly weft: Weft,
    private readonly runId: string,
    private readonly emit: (state: FollowerState) => void,
  ) {}

  private set(change: Partial<FollowerState>): void {
    if (this.abort.signal.aborted) return;
    this.state = { ...this.state, ...change };
    this.emit(this.state);
  }

  /** Reads the run (and its workflow version), then follows its events. */
  async start(): Promise<void> {
    try {
      await this.read();
    } catch (thrown) {
      this.set({ loadError: thrown, connection: "ended" });
      return;
    }
    const run = this.state.live.snapshot;
    if (!run) return;
    this.started = true;
    // Even a finished run's events are replayed once: they name the steps planners spliced in.
    if (!this.following) this.follow();
    try {
      const workflow = await this.weft.workflows.getVersion(run.workflowId, run.workflowVersion);
      this.set({ workflow, workflowError: undefined });
    } catch (thrown) {
      this.set({ workflowError: thrown });
    }
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.readTimer);
  }

  /** Re-reads the run now (after an action), and follows it again if it came back to life. */
  refresh(): void {
    this.read().catch(() => {
      // The stream's reconnection reports an unreachable server.
    });
  }

  /** One read of the run (the events applied so far are kept where newer); whether it is over. */
  private async read(): Promise<{ finished: boolean }> {
    const seq = this.state.live.lastSeq;
    const run = await this.weft.runs.get(this.runId);
    this.lastRead = Date.now();
    this.set({ live: withSnapshot(this.state.live, run, seq), loadError: undefined });
    // A run that ended and was brought back (resumed, reset) has new events.
    if (this.started && !this.following && !isFinished(run.status) && this.state.live.snapshot === run) this.follow();
    return { finished: isFinished(run.status) };
  }

  /** A read soon: at once if none for REREAD_MS, else when that is up; never two at a time. */
  private scheduleRead(): void {
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    if (this.readTimer !== undefined) return;
    const wait = Math.max(0, this.lastRead + REREAD_MS - Date.now());
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined;
      this.reading = true;
      this.read()
        .catch(() => undefined) // the stream's reconnection reports an unreachable server
        .finally(() => {
          this.reading = false;
          if (this.readAgain) {
            this.readAgain = false;
            this.scheduleRead();
          }
        });
    }, wait);
  }

  private follow(): void {
    this.following = true;
    this.set({ connection: "live", streamError: undefined });
    const signal = this.abort.signal;
    followRun(this.weft, this.runId, this.state.live.lastSeq, signal, {
      onEvent: (event) => {
        this.set({ live: withEvent(this.state.live, event), connection: "live" });
        if (changesRows(event)) this.scheduleRead();
        if (TERMINAL_EVENTS.has(event.type)) this.set({ connection: "ended" });
      },
      onDropped: () => this.set({ connection: "reconnecting" }),
      resync: async () => {
        const answer = await this.read();
        this.set({ connection: "live" });
        return answer;
      },
    }).then(
      () => {
        this.following = false;
        this.set({ connection: "ended" });
      },
      (thrown: unknown) => {
        this.following = false;
        this.set({ streamError: thrown, connection: "ended" });
      },
    );
  }
}
