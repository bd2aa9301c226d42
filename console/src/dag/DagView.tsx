/**
 * Draws a workflow graph with @xyflow/react, laid out by dagre, with an
 * optional overlay per step: its status (glyph, word and colour), map/loop
 * progress, a "spliced" mark, and validation problems. Each node is a real
 * button (reachable by Tab, activated by Enter or Space) that selects its
 * step; `data-step-id` and `data-status` name it for tests. The view is
 * fitted to the drawing, and fitted again when steps are added unless the
 * user has moved it (FitOnGrowth).
 */
import { memo, useMemo, useRef } from "react";
import {
  Background,
  Controls,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  type Edge,
  type Node,
  type NodeProps,
  type Viewport,
} from "@xyflow/react";
import "@xyflow/react/dist/base.css";
import type { EdgeKind, Graph, GraphNode } from "./graph";
import { FitOnGrowth, rearm } from "./FitOnGrowth";
import { layout, NODE_HEIGHT, NODE_WIDTH } from "./layout";
import { glyph, tone } from "../ui/Status";

/** What a run (or the editor) knows about one step. */
export interface StepOverlay {
  status?: string;
  /** Map items or loop iterations finished, of `total`. */
  done?: number;
  total?: number;
  /** Added to the running DAG by a planner. */
  spliced?: boolean;
  /** Validation problems on this step (editor). */
  problems?: string[];
  /** Extra one-line note (duration, cost). */
  note?: string;
}

interface StepNodeData extends Record<string, unknown> {
  step: GraphNode;
  overlay: StepOverlay | undefined;
  selected: boolean;
  onSelect?: (id: string) => void;
}

type StepNodeType = Node<StepNodeData, "step">;

const StepNode = memo(function StepNode({ data }: NodeProps<StepNodeType>) {
  const { step, overlay, selected, onSelect } = data;
  const status = overlay?.status;
  const problems = overlay?.problems ?? [];
  const progress = overlay?.total !== undefined ? `${overlay.done ?? 0}/${overlay.total}` : "";
  // The button is named by its visible text (axe: label-in-name), plus
  // hidden words for what only shape or a glyph shows.
  const hidden = [
    overlay?.spliced ? "spliced in by a planner" : "",
    problems.length ? `${problems.length} problem${problems.length > 1 ? "s" : ""}: ${problems.join("; ")}` : "",
  ].filter(Boolean);
  const classes = [
    "dag-node",
    status ? `status-${tone(status)}` : "",
    status === "skipped" ? "dag-node-skipped" : "",
    problems.length ? "dag-node-problem" : "",
    overlay?.spliced ? "dag-node-spliced" : "",
    selected ? "dag-node-selected" : "",
  ].filter(Boolean);
  return (
    <>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <button
        type="button"
        className={classes.join(" ")}
        style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}
        aria-pressed={selected}
        data-step-id={step.id}
        data-status={status ?? ""}
        data-problems={problems.length}
        title={problems.join("\n") || undefined}
        onClick={() => onSelect?.(step.id)}
      >
        <span className="dag-node-title">
          {status && <span aria-hidden="true">{glyph(status)} </span>}
          <span className="sr-only">Step </span>
          {step.id}
        </span>
        <span className="dag-node-meta">
          {step.type}
          {step.detail ? ` · ${step.detail}` : ""}
        </span>
        <span className="dag-node-meta">
          {status && <span className="dag-node-status">{status}</span>}
          {progress && (
            <span className="dag-node-progress">
              {" "}
              {progress}
              <span className="sr-only"> done</span>
            </span>
          )}
          {overlay?.note && <span> · {overlay.note}</span>}
          {overlay?.spliced && (
            <span className="badge" aria-hidden="true">
              spliced
            </span>
          )}
          {problems.length > 0 && (
            <span className="badge badge-problem" aria-hidden="true">
              ⚠ {problems.length}
            </span>
          )}
        </span>
        {hidden.length > 0 && <span className="sr-only">, {hidden.join(", ")}</span>}
      </button>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </>
  );
});

const nodeTypes = { step: StepNode };

const FIT = { padding: 0.1, maxZoom: 1.2 };

const EDGE_LABELS: Partial<Record<EdgeKind, string>> = {
  true: "true",
  false: "false",
  timeout: "timeout",
  failure: "on failure",
  each: "each",
  spliced: "spliced",
};

export interface DagViewProps {
  graph: Graph;
  overlays?: ReadonlyMap<string, StepOverlay>;
  selected?: string | undefined;
  onSelect?: (id: string) => void;
  /** Accessible name of the drawing, e.g. "DAG of run wfrun_…". */
  label: string;
  height?: number;
}

export function DagView({ graph, overlays, selected, onSelect, label, height = 420 }: DagViewProps) {
  // Layout depends on the shape only, so status updates do not move nodes.
  const shape = useMemo(() => layout(graph), [graph]);
  const nodes: StepNodeType[] = useMemo(
    () =>
      graph.nodes.map((step) => ({
        id: step.id,
        type: "step" as const,
        position: shape.positions.get(step.id) ?? { x: 0, y: 0 },
        data: { step, overlay: overlays?.get(step.id), selected: selected === step.id, onSelect },
        draggable: false,
        selectable: false,
        focusable: false,
        // xyflow turns pointer events off on nodes that are neither
        // selectable nor draggable; the node's button needs them.
        style: { pointerEvents: "all" as const },
      })),
    [graph, shape, overlays, selected, onSelect],
  );
  // A new array only when the set of ids changes, not on every status update.
  const idKey = graph.nodes.map((n) => n.id).join("\n");
  const ids = useMemo(() => (idKey ? idKey.split("\n") : []), [idKey]);
  const fitted = useRef<Viewport | null>(null);
  const edges: Edge[] = useMemo(
    () =>
      graph.edges.map((edge) => ({
        id: edge.id,
        source: edge.source,
        target: edge.target,
        label: EDGE_LABELS[edge.kind],
        className: `dag-edge dag-edge-${edge.kind}`,
        animated: overlays?.get(edge.target)?.status === "running",
        markerEnd: { type: MarkerType.ArrowClosed },
        focusable: false,
        selectable: false,
      })),
    [graph, overlays],
  );
  return (
    <figure className="dag" style={{ height }} aria-label={label} role="group">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        fitViewOptions={FIT}
        minZoom={0.1}
        nodesDraggable={false}
        nodesConnectable={false}
        nodesFocusable={false}
        edgesFocusable={false}
        elementsSelectable={false}
      >
        <Background gap={24} />
        <Controls showInteractive={false} onFitView={() => rearm(fitted)} />
        <FitOnGrowth ids={ids} fitted={fitted} options={FIT} />
      </ReactFlow>
    </figure>
  );
}
