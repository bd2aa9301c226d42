/**
 * Where a problem sits in the typed text: the range of the step it names
 * (found by its `id` in the jsonc-parser tree, nested steps included),
 * narrowed to the offending field when the server's `field` path
 * (`steps[2].inputMap.company`) points inside that step; the field alone
 * for workflow-level problems; else the document's first line.
 */
import { findNodeAtLocation, type Node } from "jsonc-parser";
import { parseFieldPath, type PathSegment } from "../workflows/document";

export interface Range {
  from: number;
  to: number;
}

function contains(outer: Node, inner: Node): boolean {
  return inner.offset >= outer.offset && inner.offset + inner.length <= outer.offset + outer.length;
}

/** The range a property takes (`"key": value`), or a value's own range. */
function extent(node: Node): Range {
  const whole = node.parent?.type === "property" ? node.parent : node;
  return { from: whole.offset, to: whole.offset + whole.length };
}

/** The object node of the step with `id`, searched through `steps` and `step` children. */
export function stepNode(root: Node | undefined, id: string): Node | undefined {
  if (!root || !id) return undefined;
  const visit = (node: Node): Node | undefined => {
    if (node.type !== "object") return undefined;
    const idNode = findNodeAtLocation(node, ["id"]);
    if (idNode?.value === id) return node;
    for (const key of ["steps", "step"]) {
      const child = findNodeAtLocation(node, [key]);
      if (!child) continue;
      for (const item of child.type === "array" ? (child.children ?? []) : [child]) {
        const found = visit(item);
        if (found) return found;
      }
    }
    return undefined;
  };
  const steps = findNodeAtLocation(root, ["steps"]);
  for (const step of steps?.children ?? []) {
    const found = visit(step);
    if (found) return found;
  }
  return undefined;
}

/** The deepest node along `path` that exists in the text. */
function deepest(root: Node, path: PathSegment[]): Node | undefined {
  for (let n = path.length; n > 0; n--) {
    const found = findNodeAtLocation(root, path.slice(0, n));
    if (found) return found;
  }
  return undefined;
}

function firstLine(text: string): Range {
  const end = text.indexOf("\n");
  return { from: 0, to: Math.max(1, end < 0 ? text.length : end) };
}

/** The range to mark for a problem on `stepId` at `field` (either may be empty). */
export function locate(root: Node | undefined, text: string, stepId: string, field: string | PathSegment[]): Range {
  if (!root) return firstLine(text);
  const path = typeof field === "string" ? parseFieldPath(field) : field;
  const byField = path.length > 0 ? deepest(root, path) : undefined;
  const step = stepNode(root, stepId);
  if (step) {
    // The field narrows the mark only when it lies inside the named step
    // and is more than the step object itself.
    if (byField && byField !== step && contains(step, byField)) return extent(byField);
    return { from: step.offset, to: step.offset + step.length };
  }
  if (byField && byField !== root) return extent(byField);
  return firstLine(text);
}

/** The range of a step's `dependsOn` (where a cycle is written), else the step. */
export function dependsOnRange(root: Node | undefined, text: string, stepId: string): Range {
  const step = stepNode(root, stepId);
  const deps = step ? findNodeAtLocation(step, ["dependsOn"]) : undefined;
  return deps ? extent(deps) : locate(root, text, stepId, "");
}
