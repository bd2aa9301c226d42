/**
 * The run's DAG and what is drawn on each node: the definition's graph of
 * the exact version the run uses, grown by the steps planners spliced in,
 * and per node its status, map/loop progress (`done/total`), the spliced
 * mark and a one-line note (duration, cost). Pure functions, no React.
 */
import type { JsonValue } from "weftflow";
import { definitionGraph, withSpliced, type Graph, type GraphNode } from "../../dag/graph";
import type { StepOverlay } from "../../dag/DagView";
import { millis, money } from "../../ui/format";
import type { StepView } from "./liveState";

/** Statuses after which a map item or loop iteration counts as done. */
const DONE: ReadonlySet<string> = new Set(["completed", "failed", "skipped"]);

/** `id[3]` → `id`; other ids unchanged. */
export function baseId(id: string): string {
  const item = /^(.*)\[\d+\]$/.exec(id);
  return item?.[1] ?? id;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The graph of the run: `definition` (an object with `steps`) plus, per
 * planner, the steps it spliced in (ids from `plan.spliced` events and
 * from rows whose parent is a planner), drawn from the planner's output
 * (the plan) when it is there, so their own dependencies show too.
 */
export function runGraph(definition: { steps: unknown } | undefined, steps: readonly StepView[], splicedByEvents: ReadonlyMap<string, readonly string[]>): Graph {
  let graph = definitionGraph(definition ?? { steps: [] });
  const planners = new Map<string, Set<string>>();
  for (const [planner, ids] of splicedByEvents) planners.set(planner, new Set(ids));
  const types = new Map(graph.nodes.map((n) => [n.id, n.type]));
  for (const step of steps) {
    if (step.parentId && types.get(step.parentId) === "planner" && !types.has(step.id)) {
      const ids = planners.get(step.parentId) ?? new Set<string>();
      ids.add(step.id);
      planners.set(step.parentId, ids);
    }
  }
  for (const [planner, ids] of planners) {
    if (!types.has(planner)) continue;
    const output: JsonValue | undefined = steps.find((s) => s.id === planner)?.output;
    const plan = isObject(output) ? definitionGraph(output) : { nodes: [], edges: [] };
    const byId = new Map(plan.nodes.map((n) => [n.id, n]));
    const rows = new Map(steps.map((s) => [s.id, s]));
    const nodes: GraphNode[] = [...ids].map((id) => byId.get(id) ?? { id, type: rows.get(id)?.type || "agent", detail: "" });
    const before = new Set(graph.nodes.map((n) => n.id));
    graph = withSpliced(graph, planner, nodes);
    // The plan's own edges between its steps (withSpliced draws only planner → step).
    const known = new Set(graph.edges.map((e) => e.id));
    const extra = plan.edges.filter((e) => ids.has(e.source) && ids.has(e.target) && !before.has(e.target) && !known.has(e.id));
    if (extra.length) graph = { nodes: graph.nodes, edges: [...graph.edges, ...extra] };
  }
  return graph;
}

/** The set of node ids a planner added. */
export function splicedIds(graph: Graph, definition: { steps: unknown } | undefined): Set<string> {
  const own = new Set(definitionGraph(definition ?? { steps: [] }).nodes.map((n) => n.id));
  return new Set(graph.nodes.filter((n) => !own.has(n.id)).map((n) => n.id));
}

/** A span of time: tenths of a second below ten seconds (steps are often that short), else as `millis`. */
export function span(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return millis(ms);
}

/** How long a step took (or has taken so far), for display. */
export function stepDuration(step: StepView, now: number): string {
  if (!step.startedAt) return "—";
  const end = step.completedAt ? step.completedAt.getTime() : now;
  return span(Math.max(0, end - step.startedAt.getTime()));
}

/** The status of many items together: the most pressing one wins. */
function aggregate(statuses: readonly string[]): string {
  for (const status of ["running", "failed", "paused", "waiting", "ready"]) if (statuses.includes(status)) return status;
  if (statuses.length > 0 && statuses.every((s) => DONE.has(s))) {
    return statuses.every((s) => s === "skipped") ? "skipped" : "completed";
  }
  if (statuses.includes("cancelled")) return "cancelled";
  return "pending";
}

/** Per node of `graph`: status, progress, spliced mark and note, from the run's rows. */
export function overlays(graph: Graph, steps: readonly StepView[], spliced: ReadonlySet<string>, now: number): Map<string, StepOverlay> {
  const parentOf = new Map(graph.nodes.map((n) => [n.id, n.parentId ?? ""]));
  const rows = new Map(steps.map((s) => [s.id, s]));
  // Map items and loop iterations (`id[i]`), by the map/loop they belong to and by their template step.
  const byOwner = new Map<string, StepView[]>();
  const byTemplate = new Map<string, StepView[]>();
  for (const step of steps) {
    if (step.itemIndex === null && baseId(step.id) === step.id) continue;
    const template = baseId(step.id);
    const owner = step.parentId || parentOf.get(template) || template;
    byOwner.set(owner, [...(byOwner.get(owner) ?? []), step]);
    if (template !== step.id) byTemplate.set(template, [...(byTemplate.get(template) ?? []), step]);
  }
  const result = new Map<string, StepOverlay>();
  for (const node of graph.nodes) {
    const overlay: StepOverlay = {};
    const row = rows.get(node.id);
    const items = byOwner.get(node.id) ?? byTemplate.get(node.id);
    if (row) overlay.status = row.status;
    else if (items) overlay.status = aggregate(items.map((i) => i.status));
    if (items) {
      overlay.total = items.length;
      overlay.done = items.filter((i) => DONE.has(i.status)).length;
    }
    if (spliced.has(node.id)) overlay.spliced = true;
    if (row) {
      const parts = [row.startedAt ? stepDuration(row, now) : "", row.cost && row.cost.amount > 0 ? money(row.cost) : ""].filter(Boolean);
      if (parts.length) overlay.note = parts.join(" · ");
    }
    result.set(node.id, overlay);
  }
  return result;
}
