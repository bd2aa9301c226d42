/**
 * The side panel of the selected step: status, type, input, output,
 * error, attempts, cost against the per-step cap, timing, what it waits
 * for, and the worker that ran it (the server records input and worker
 * for steps handed to a worker or run as a task; steps the engine computes
 * itself, like transforms and maps, have neither).
 */
import type { JsonValue, Policy } from "weftflow";
import type { GraphNode } from "../../dag/graph";
import { StatusBadge } from "../../ui/Status";
import { pretty, when } from "../../ui/format";
import { CostMeter } from "./CostMeter";
import type { StepView } from "./liveState";
import { stepDuration } from "./runGraph";

/** Step types run as a task, whose input and worker the server records. */
const TASK_TYPES: ReadonlySet<string> = new Set(["agent", "planner", "webhook", "http_request", "script"]);

/** Step statuses after which no output will come. */
const FINISHED: ReadonlySet<string> = new Set(["completed", "failed", "skipped", "cancelled"]);

function Json({ value, empty }: { value: JsonValue; empty: string }) {
  if (value === null) return <p className="muted">{empty}</p>;
  return <pre>{pretty(value)}</pre>;
}

export interface StepPanelProps {
  /** The selected step's id; undefined: nothing selected. */
  id: string | undefined;
  step: StepView | undefined;
  node: GraphNode | undefined;
  /** Rows of the items or iterations of the selected map/loop (or its template step). */
  items: readonly StepView[];
  policy: Policy | null | undefined;
  now: number;
  onSelect(id: string): void;
}

export function StepPanel({ id, step, node, items, policy, now, onSelect }: StepPanelProps) {
  if (!id) {
    return (
      <aside className="panel run-panel" aria-label="Selected step">
        <h2>Step</h2>
        <p className="muted">Select a step in the graph, the table or the timeline to see its details.</p>
      </aside>
    );
  }
  const itemList = items.length > 0 && (
    <>
      <h3>Items ({items.length})</h3>
      <ul className="run-items">
        {items.map((item) => (
          <li key={item.id}>
            <button type="button" className="run-link-button" onClick={() => onSelect(item.id)}>
              {item.id}
            </button>{" "}
            <StatusBadge status={item.status} />
          </li>
        ))}
      </ul>
    </>
  );
  if (!step) {
    return (
      <aside className="panel run-panel" aria-label={`Step ${id}`}>
        <h2>
          Step <code>{id}</code>
        </h2>
        <p className="muted">
          {items.length > 0 ? "This step runs once per item; each item is a row of its own." : "This step has no result in this run yet."}
        </p>
        {node && <p>Type: {node.type}</p>}
        {itemList}
      </aside>
    );
  }
  return (
    <aside className="panel run-panel" aria-label={`Step ${id}`}>
      <h2>
        Step <code>{step.id}</code> <StatusBadge status={step.status} />
      </h2>
      <dl className="facts">
        <dt>Type</dt>
        <dd>{step.type || node?.type || "—"}</dd>
        <dt>Attempts</dt>
        <dd data-field="attempts">{step.attempts}</dd>
        <dt>Cost</dt>
        <dd>
          <CostMeter label={`Cost of step ${step.id} against the per-step cap`} cost={step.cost} cap={policy?.maxCostPerStep} capName="per-step cap" />
        </dd>
        <dt>Started</dt>
        <dd>{when(step.startedAt)}</dd>
        <dt>Completed</dt>
        <dd>{when(step.completedAt)}</dd>
        <dt>Duration</dt>
        <dd>{stepDuration(step, now)}</dd>
        {step.waitingFor && (
          <>
            <dt>Waiting for</dt>
            <dd>{step.waitingFor}</dd>
          </>
        )}
        <dt>Worker</dt>
        <dd data-field="worker">{step.workerId || <span className="muted">{TASK_TYPES.has(step.type) ? "not claimed yet" : "none (run by the engine)"}</span>}</dd>
        {step.parentId && (
          <>
            <dt>Part of</dt>
            <dd>
              <button type="button" className="run-link-button" onClick={() => onSelect(step.parentId)}>
                {step.parentId}
              </button>
              {step.itemIndex !== null && ` (item ${step.itemIndex})`}
            </dd>
          </>
        )}
      </dl>
      {step.error && (
        <>
          {/* A step that succeeded on a later attempt keeps the last failure's error. */}
          <h3>{step.status === "failed" ? "Error" : "Last attempt's error"}</h3>
          <pre className="run-step-error">{step.error}</pre>
        </>
      )}
      <section aria-label="Step input">
        <h3>Input</h3>
        <Json value={step.input} empty={TASK_TYPES.has(step.type) ? "not queued yet" : "none (computed by the engine)"} />
      </section>
      <section aria-label="Step output">
        <h3>Output</h3>
        <Json value={step.output} empty={FINISHED.has(step.status) ? "none" : "none yet"} />
      </section>
      {itemList}
    </aside>
  );
}
