/**
 * A workflow's graph, with the definition of the chosen step beside it
 * (its JSON exactly as stored).
 */
import { useMemo, useState } from "react";
import type { JsonObject } from "weftflow";
import { DagView } from "../../dag/DagView";
import { definitionGraph } from "../../dag/graph";
import { pretty } from "../../ui/format";
import { findStep } from "./document";

export function GraphTab({ document, name }: { document: JsonObject; name: string }) {
  const graph = useMemo(() => definitionGraph(document), [document]);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const step = selected ? findStep(document, selected) : undefined;
  if (graph.nodes.length === 0) return <p className="empty">This definition has no steps to draw.</p>;
  return (
    <div className="grid-2 wf-graph">
      <DagView graph={graph} selected={selected} onSelect={setSelected} label={`Graph of workflow ${name}`} height={520} />
      <aside className="panel step-panel" aria-labelledby="step-panel-heading" aria-live="polite">
        <h2 id="step-panel-heading">{step ? `Step ${selected}` : "Step definition"}</h2>
        {step ? (
          <pre tabIndex={0} aria-label={`Definition of step ${selected}`}>
            {pretty(step)}
          </pre>
        ) : (
          <p className="muted">Choose a step in the graph (click it, or Tab to it and press Enter) to see its definition here.</p>
        )}
      </aside>
    </div>
  );
}
