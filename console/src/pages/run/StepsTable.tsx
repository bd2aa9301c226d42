/**
 * Every step of the run as a table row (id, type, status, attempts,
 * duration, cost): what the graph shows, readable by keyboard and screen
 * reader. The step id is a button that selects the step; map items and
 * loop iterations are indented under their step.
 */
import type { GraphNode } from "../../dag/graph";
import { StatusBadge } from "../../ui/Status";
import { money } from "../../ui/format";
import type { StepView } from "./liveState";
import { baseId, stepDuration } from "./runGraph";

export interface StepsTableProps {
  steps: readonly StepView[];
  /** Graph nodes by id, for the type of steps only known from events. */
  nodes: ReadonlyMap<string, GraphNode>;
  selected: string | undefined;
  onSelect(id: string): void;
  now: number;
}

export function StepsTable({ steps, nodes, selected, onSelect, now }: StepsTableProps) {
  if (steps.length === 0) return <p className="muted">No steps have run yet.</p>;
  return (
    <table className="run-steps">
      <caption className="sr-only">Steps of this run</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Type</th>
          <th scope="col">Status</th>
          <th scope="col">Attempts</th>
          <th scope="col">Duration</th>
          <th scope="col">Cost</th>
        </tr>
      </thead>
      <tbody>
        {steps.map((step) => (
          <tr key={step.id} data-step-id={step.id} className={step.id === selected ? "run-step-selected" : undefined}>
            <th scope="row" className={step.parentId || step.itemIndex !== null ? "run-step-child" : undefined}>
              <button type="button" className="run-link-button" aria-pressed={step.id === selected} onClick={() => onSelect(step.id)}>
                {step.id}
              </button>
            </th>
            <td>{step.type || nodes.get(baseId(step.id))?.type || "—"}</td>
            <td>
              <StatusBadge status={step.status} />
            </td>
            <td>{step.attempts}</td>
            <td>{stepDuration(step, now)}</td>
            <td>{money(step.cost)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
