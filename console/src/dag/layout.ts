/**
 * Left-to-right layout of a graph with dagre: positions only, no drawing.
 */
import dagre from "@dagrejs/dagre";
import type { Graph } from "./graph";

export const NODE_WIDTH = 210;
export const NODE_HEIGHT = 76;

export interface Positioned {
  /** Top-left corner of each node, by id. */
  positions: Map<string, { x: number; y: number }>;
}

export function layout(graph: Graph): Positioned {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 64, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of graph.edges) g.setEdge(edge.source, edge.target, {}, edge.id);
  dagre.layout(g);
  const positions = new Map<string, { x: number; y: number }>();
  for (const node of graph.nodes) {
    const placed = g.node(node.id);
    // dagre gives centres; xyflow wants corners.
    positions.set(node.id, { x: (placed?.x ?? 0) - NODE_WIDTH / 2, y: (placed?.y ?? 0) - NODE_HEIGHT / 2 });
  }
  return { positions };
}
