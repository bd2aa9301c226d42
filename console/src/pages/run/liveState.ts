/**
 * The run as the page shows it: the last exact read of the run
 * (`runs.get`), with the events that arrived since laid over it.
 *
 * Events make the page instant (a step turns running the moment its
 * `step.started` arrives); re-reads make it exact (outputs, attempts,
 * costs). A re-read names the last sequence applied when it was asked
 * for; a step's event-made patch is kept over it only while it is newer
 * than that, so an answer that left the server just before an event
 * cannot turn a completed step back into a running one. Pure functions,
 * no React.
 */
import type { Cost, JsonValue, Run, RunEvent, StepRun } from "weftflow";

/** One step row of the page: the SDK's `StepRun` without `.raw`. */
export interface StepView extends Omit<StepRun, "raw"> {
  /** Known from events only, not read back yet. */
  provisional: boolean;
}

/** What events said about a step since the last read. */
interface StepPatch {
  /** Sequence of the newest event applied. */
  seq: number;
  status?: string;
  startedAt?: Date | null;
  completedAt?: Date | null;
  output?: JsonValue;
  error?: string;
  cost?: Cost | null;
  duration?: number;
  attempts?: number;
}

/** What events said about the run itself since the last read. */
interface RunPatch {
  seq: number;
  status?: string;
  cost?: Cost | null;
  output?: JsonValue;
  completedAt?: Date | null;
}

export interface LiveState {
  /** The last read of the run; undefined until the first answers. */
  snapshot: Run | undefined;
  /** Events up to this sequence are reflected in `snapshot`. */
  snapshotSeq: number;
  /** The newest event applied. */
  lastSeq: number;
  steps: ReadonlyMap<string, StepPatch>;
  run: RunPatch | undefined;
  /** Step ids each planner spliced in, by planner id (from `plan.spliced`). */
  spliced: ReadonlyMap<string, readonly string[]>;
}

export const EMPTY: LiveState = { snapshot: undefined, snapshotSeq: 0, lastSeq: 0, steps: new Map(), run: undefined, spliced: new Map() };

/** `state` with a fresh read of the run, asked for when `seq` was the newest event applied. */
export function withSnapshot(state: LiveState, run: Run, seq: number): LiveState {
  // An older read answering late changes nothing.
  if (state.snapshot && seq < state.snapshotSeq) return state;
  const steps = new Map([...state.steps].filter(([, patch]) => patch.seq > seq));
  const runPatch = state.run && state.run.seq > seq ? state.run : undefined;
  return { ...state, snapshot: run, snapshotSeq: seq, steps, run: runPatch };
}

function stepPatch(event: RunEvent): Omit<StepPatch, "seq"> {
  const patch: Omit<StepPatch, "seq"> = {};
  if (event.status) patch.status = event.status;
  switch (event.type) {
    case "step.started":
      patch.startedAt = event.timestamp;
      patch.completedAt = null;
      break;
    case "step.completed":
      patch.completedAt = event.timestamp;
      patch.output = event.output;
      patch.error = "";
      if (event.cost) patch.cost = event.cost;
      patch.duration = event.duration;
      break;
    case "step.failed":
      patch.completedAt = event.timestamp;
      patch.error = event.error;
      if (event.cost) patch.cost = event.cost;
      patch.duration = event.duration;
      break;
    case "step.retrying":
      patch.error = event.error;
      break;
    case "step.skipped":
    case "step.cancelled":
      patch.completedAt = event.timestamp;
      break;
    case "step.reset":
      patch.startedAt = null;
      patch.completedAt = null;
      patch.output = null;
      patch.error = "";
      break;
  }
  return patch;
}

/** `state` with one more event applied (an event not newer than the last is ignored). */
export function withEvent(state: LiveState, event: RunEvent): LiveState {
  if (event.sequence <= state.lastSeq) return state;
  const next: LiveState = { ...state, lastSeq: event.sequence };
  if (event.type === "plan.spliced" && event.stepId) {
    const ids = Array.isArray(event.data.steps) ? event.data.steps.filter((id): id is string => typeof id === "string") : [];
    next.spliced = new Map([...state.spliced, [event.stepId, ids]]);
  }
  if (event.type.startsWith("step.") && event.stepId) {
    const steps = new Map(state.steps);
    steps.set(event.stepId, { ...steps.get(event.stepId), ...stepPatch(event), seq: event.sequence });
    next.steps = steps;
  }
  if (event.type.startsWith("run.") || event.totalCost) {
    const patch: RunPatch = { ...state.run, seq: event.sequence };
    if (event.type.startsWith("run.") && event.status) patch.status = event.status;
    if (event.totalCost) patch.cost = event.totalCost;
    if (event.type === "run.completed") patch.output = event.output;
    if (["run.completed", "run.failed", "run.partial", "run.cancelled"].includes(event.type)) patch.completedAt = event.timestamp;
    next.run = patch;
  }
  return next;
}

function fromRow(step: StepRun): StepView {
  const { raw: _raw, ...fields } = step;
  return { ...fields, provisional: false };
}

/** A row for a step known only from events: items of a map, spliced steps. */
function provisional(id: string): StepView {
  const item = /^(.*)\[(\d+)\]$/.exec(id);
  return {
    id,
    type: "",
    status: "pending",
    attempts: 0,
    output: null,
    error: "",
    cost: null,
    duration: 0,
    parentId: "",
    itemIndex: item ? Number(item[2]) : null,
    waitingFor: "",
    startedAt: null,
    completedAt: null,
    input: null,
    workerId: "",
    provisional: true,
  };
}

function patched(step: StepView, patch: StepPatch | undefined): StepView {
  if (!patch) return step;
  const { seq: _seq, status, ...rest } = patch;
  const view: StepView = { ...step, ...rest };
  if (status) view.status = status as StepView["status"];
  // A start seen by event counts as an attempt until the read says how many.
  if (patch.startedAt && status === "running" && view.attempts === 0) view.attempts = 1;
  return view;
}

/** The run as shown: the read with newer events over it. */
export interface RunView {
  status: string;
  cost: Cost | null;
  output: JsonValue;
  completedAt: Date | null;
  steps: StepView[];
}

export function view(state: LiveState): RunView | undefined {
  const run = state.snapshot;
  if (!run) return undefined;
  const seen = new Set<string>();
  const steps = run.steps.map((row) => {
    seen.add(row.id);
    return patched(fromRow(row), state.steps.get(row.id));
  });
  for (const [id, patch] of state.steps) if (!seen.has(id)) steps.push(patched(provisional(id), patch));
  return {
    status: state.run?.status ?? run.status,
    cost: state.run?.cost !== undefined ? state.run.cost : run.cost,
    output: state.run?.output !== undefined ? state.run.output : run.output,
    completedAt: state.run?.completedAt !== undefined ? state.run.completedAt : run.completedAt,
    steps,
  };
}

/** Whether a run in this status is over (no more events will come). */
export function isFinished(status: string): boolean {
  return status === "completed" || status === "failed" || status === "partial" || status === "cancelled";
}
