/**
 * The problems of a typed definition, found in three passes that stop at
 * the first that finds any: JSON syntax (jsonc-parser), fields that cannot
 * be read as a workflow (wrong types, unknown names), then the server's
 * ValidateWorkflow. Each problem is placed on the text (see locate.ts);
 * a cycle is placed on every step of it (see cycles.ts).
 */
import { parseTree, printParseErrorCode, type Node, type ParseError } from "jsonc-parser";
import type { Weft } from "weftflow";
import { typed } from "weftflow";
import { definitionGraph, type Graph } from "../../dag/graph";
import { formatPath, fromDocument } from "../workflows/document";
import { cycleComponents, cycleSteps } from "./cycles";
import { dependsOnRange, locate, type Range } from "./locate";

/** One problem as the editor lists it. */
export interface Problem {
  key: string;
  /** "" for workflow-level problems. */
  stepId: string;
  field: string;
  code: string;
  message: string;
  /** Where the cursor goes when the problem is chosen. */
  at: Range;
  /** Every place it is marked (a cycle: one per step of it), with the step there. */
  marks: { stepId: string; range: Range }[];
}

export interface Checked {
  /** The typed document, as far as it parses (for the graph). */
  value: unknown;
  graph: Graph;
  problems: Problem[];
  /** Which pass found the problems. */
  source: "syntax" | "fields" | "server" | "none";
}

const SYNTAX_MESSAGES: Record<string, string> = {
  InvalidSymbol: "Invalid symbol",
  InvalidNumberFormat: "Invalid number",
  PropertyNameExpected: "Property name expected",
  ValueExpected: "Value expected",
  ColonExpected: "Colon expected",
  CommaExpected: "Comma expected",
  CloseBraceExpected: "Closing brace } expected",
  CloseBracketExpected: "Closing bracket ] expected",
  EndOfFileExpected: "End of text expected",
  UnexpectedEndOfString: "Unterminated string",
  InvalidCharacter: "Invalid character",
};

function syntaxProblems(errors: ParseError[], text: string): Problem[] {
  return errors.map((e, i) => {
    const code = printParseErrorCode(e.error);
    const from = Math.min(e.offset, text.length);
    const range = { from, to: Math.min(text.length, from + Math.max(1, e.length)) };
    const message = `${SYNTAX_MESSAGES[code] ?? code} (JSON syntax)`;
    return { key: `syntax-${i}`, stepId: "", field: "", code: "JSON_SYNTAX", message, at: range, marks: [{ stepId: "", range }] };
  });
}

/** The step a path into the document is inside (`steps[1].retries` → the id of steps[1]). */
function stepAt(value: unknown, path: (string | number)[]): string {
  let node: unknown = value;
  let id = "";
  for (const segment of path) {
    if (typeof node !== "object" || node === null) break;
    node = (node as Record<string | number, unknown>)[segment];
    const maybe = typeof node === "object" && node !== null && !Array.isArray(node) ? (node as Record<string, unknown>).id : undefined;
    if (typeof maybe === "string" && (segment === "step" || typeof segment === "number")) id = maybe;
  }
  return id;
}

/** Parses `text` and finds its syntax or field problems; `workflow` is set when it can go to the server. */
export function checkLocally(text: string): Checked & { root: Node | undefined; workflow: ReturnType<typeof fromDocument>["workflow"] } {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  const value: unknown = root ? nodeValue(root) : undefined;
  const graph = definitionGraph(value);
  if (errors.length > 0) return { value, graph, root, workflow: undefined, problems: syntaxProblems(errors, text), source: "syntax" };
  const read = fromDocument(value);
  const problems = read.errors.map((e, i): Problem => {
    const stepId = stepAt(value, e.path);
    const range = locate(root, text, stepId, e.path);
    const field = formatPath(e.path);
    return { key: `field-${i}`, stepId, field, code: "INVALID_FIELD", message: `${field || "The definition"} ${e.message}`, at: range, marks: [{ stepId, range }] };
  });
  return { value, graph, root, workflow: read.workflow, problems, source: problems.length ? "fields" : "none" };
}

function nodeValue(node: Node): unknown {
  switch (node.type) {
    case "object":
      return Object.fromEntries(
        (node.children ?? []).flatMap((p) => {
          const [key, val] = p.children ?? [];
          return key && typeof key.value === "string" ? [[key.value, val ? nodeValue(val) : undefined]] : [];
        }),
      );
    case "array":
      return (node.children ?? []).map(nodeValue);
    default:
      return node.value;
  }
}

/** All passes: local ones, then the server's validation when the text reads as a workflow. */
export async function check(weft: Weft, text: string): Promise<Checked> {
  const local = checkLocally(text);
  const { root, workflow, value, graph } = local;
  if (!workflow) return { value, graph, problems: local.problems, source: local.source };
  const answer = await typed(weft.raw.workflows.validateWorkflow({ workflow }));
  const components = cycleComponents(graph);
  const problems = answer.problems.map((p, i): Problem => {
    const at = locate(root, text, p.stepId, p.field);
    const marks =
      p.code === "CYCLE"
        ? cycleSteps(components, p.stepId, p.message).map((stepId) => ({
            stepId,
            range: stepId === p.stepId ? at : dependsOnRange(root, text, stepId),
          }))
        : [{ stepId: p.stepId, range: at }];
    return { key: `server-${i}`, stepId: p.stepId, field: p.field, code: p.code, message: p.message, at, marks };
  });
  return { value, graph, problems, source: problems.length ? "server" : "none" };
}
