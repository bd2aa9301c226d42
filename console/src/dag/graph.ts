/**
 * The graph of a workflow definition, read from its plain JSON (as the
 * server returns it, or as typed in the editor, so anything may be
 * missing or malformed): one node per step, including the children of
 * parallel, map and loop steps, and one edge per way control can flow.
 * Nothing here draws or lays out; `layout.ts` and `DagView.tsx` do.
 */

export type EdgeKind = "depends" | "true" | "false" | "timeout" | "failure" | "contains" | "each" | "spliced";

export interface GraphNode {
  id: string;
  /** Step type ("agent", "map", …); "agent" when unset, as the server reads it. */
  type: string;
  /** Agent name, event name or similar one-line detail; "" when none. */
  detail: string;
  /** The parallel, map, loop or planner step this one belongs to. */
  parentId?: string;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  kind: EdgeKind;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function detailOf(step: Json, type: string): string {
  switch (type) {
    case "agent":
    case "planner":
      return text(step.agent);
    case "wait":
      return text(step.event);
    case "approval":
      return text(step.action) || text(step.message);
    case "webhook":
    case "http_request":
      return text(step.url);
    case "map":
      return text(step.over);
    case "condition":
      return text(step.expression);
    default:
      return "";
  }
}

function branchTarget(value: unknown): string {
  return isObject(value) ? text(value.next) : "";
}

/** The graph of `definition` (an object with `steps`); empty when it has none. */
export function definitionGraph(definition: unknown): Graph {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const pending: { source: string; target: string; kind: EdgeKind }[] = [];

  const visit = (step: unknown, parentId: string | undefined, link: EdgeKind | undefined) => {
    if (!isObject(step)) return;
    const id = text(step.id);
    if (!id || nodes.has(id)) return;
    const type = text(step.type) || "agent";
    nodes.set(id, { id, type, detail: detailOf(step, type), ...(parentId ? { parentId } : {}) });
    if (parentId && link) pending.push({ source: parentId, target: id, kind: link });
    if (Array.isArray(step.dependsOn)) {
      for (const dep of step.dependsOn) if (typeof dep === "string") pending.push({ source: dep, target: id, kind: "depends" });
    }
    const routes: [unknown, EdgeKind][] = [
      [branchTarget(step.onTrue), "true"],
      [branchTarget(step.onFalse), "false"],
      [branchTarget(step.onTimeout), "timeout"],
      [isObject(step.onStepFailure) && step.onStepFailure.action === "goto" ? text(step.onStepFailure.target) : "", "failure"],
    ];
    for (const [target, kind] of routes) if (typeof target === "string" && target) pending.push({ source: id, target, kind });
    if (Array.isArray(step.steps)) for (const child of step.steps) visit(child, id, "contains");
    if (isObject(step.step)) visit(step.step, id, "each");
  };

  const steps = isObject(definition) && Array.isArray(definition.steps) ? definition.steps : [];
  for (const step of steps) visit(step, undefined, undefined);

  const seen = new Set<string>();
  for (const edge of pending) {
    // Edges to steps that do not exist are dropped: the validation marks
    // the step that names them.
    if (!nodes.has(edge.source) || !nodes.has(edge.target)) continue;
    const id = `${edge.kind}:${edge.source}->${edge.target}`;
    if (seen.has(id)) continue;
    seen.add(id);
    edges.push({ id, ...edge });
  }
  return { nodes: [...nodes.values()], edges };
}

/** `graph` with extra nodes hanging off `parentId` (steps a planner spliced in). */
export function withSpliced(graph: Graph, parentId: string, spliced: GraphNode[]): Graph {
  const known = new Set(graph.nodes.map((n) => n.id));
  const fresh = spliced.filter((n) => !known.has(n.id));
  if (fresh.length === 0) return graph;
  return {
    nodes: [...graph.nodes, ...fresh.map((n) => ({ ...n, parentId }))],
    edges: [
      ...graph.edges,
      ...fresh.map((n) => ({ id: `spliced:${parentId}->${n.id}`, source: parentId, target: n.id, kind: "spliced" as const })),
    ],
  };
}
