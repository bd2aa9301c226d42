/**
 * The server reports a cycle once, on one of its steps ("Cycle detected:
 * a → b → a"). The editor marks every step of it: the strongly connected
 * component, in the graph of what is typed, that holds the named step
 * (graphlib's Tarjan), plus any step the message names (in case the typed
 * graph and the server's differ, e.g. edges this console does not draw).
 */
import { Graph as GraphLib, alg } from "@dagrejs/graphlib";
import type { Graph } from "../../dag/graph";

/** The steps that are part of some cycle, grouped by component. */
export function cycleComponents(graph: Graph): string[][] {
  const g = new GraphLib({ directed: true });
  for (const node of graph.nodes) g.setNode(node.id);
  for (const edge of graph.edges) {
    if (edge.kind === "failure" || edge.kind === "spliced") continue; // Goto targets are not waits.
    // A parent completes after its children: the server's edge runs child → parent.
    if (edge.kind === "contains" || edge.kind === "each") g.setEdge(edge.target, edge.source);
    else g.setEdge(edge.source, edge.target);
  }
  return alg.tarjan(g).filter((component) => component.length > 1 || (component[0] !== undefined && g.hasEdge(component[0], component[0])));
}

/** The step ids a cycle message names: "Cycle detected: a → b → a". */
export function stepsInMessage(message: string): string[] {
  const list = message.split(":").slice(1).join(":");
  return list
    .split("→")
    .map((s) => s.trim())
    .filter((s) => s !== "" && !s.startsWith("…"));
}

/** Every step of the cycle a CYCLE problem on `stepId` reports. */
export function cycleSteps(components: string[][], stepId: string, message: string): string[] {
  const steps = new Set<string>([stepId, ...stepsInMessage(message)]);
  for (const component of components) if (component.includes(stepId)) for (const s of component) steps.add(s);
  steps.delete("");
  return [...steps];
}
