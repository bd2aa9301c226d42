/**
 * A workflow definition as the JSON document people read and type (the
 * server's documented JSON: camelCase names, `while`/`until`, enums by
 * name), and back. The console cannot import protobuf-es's `toJson` and
 * `fromJson` (the package is the SDK's dependency, not the console's), so
 * both directions walk the generated descriptor (`WorkflowSchema`) instead,
 * which also lets a wrongly typed field be reported at its JSON path
 * rather than as one opaque parse error.
 */
import { fromValue, toValue, type JsonObject, type JsonValue, type Weft } from "weftflow";
import { WorkflowSchema } from "weftflow/gen/weft/v1/workflow_pb";

type DescField = (typeof WorkflowSchema)["fields"][number];
type DescMessage = NonNullable<DescField["message"]>;
type DescEnum = NonNullable<DescField["enum"]>;

/** The message `weft.raw.workflows.*` takes as `workflow` (an init shape; the client creates the message). */
export type WorkflowInit = NonNullable<Parameters<Weft["raw"]["workflows"]["validateWorkflow"]>[0]["workflow"]>;

/** A segment of a path into the document: a property name or an array index. */
export type PathSegment = string | number;

/** A field of the typed document that cannot become a `Workflow` message. */
export interface DocumentError {
  path: PathSegment[];
  message: string;
}

/** Fields the server writes; left out of the document and ignored when typed. */
const OUTPUT_ONLY = new Set(["id", "status", "version", "changeSummary", "createdAt", "updatedAt", "triggerType", "definition"]);

/** The fields an update replaces: every definition field, so one removed from the text is cleared. */
export const DEFINITION_FIELDS = [
  "name",
  "description",
  "tags",
  "steps",
  "inputSchema",
  "outputSchema",
  "policy",
  "onFailure",
  "retries",
  "timeout",
  "maxConcurrentRuns",
];

// protobuf-es ScalarType values (the enum itself lives in the SDK's dependency).
const DOUBLE = 1,
  FLOAT = 2,
  BOOL = 8,
  STRING = 9,
  BYTES = 12;
const LONG = new Set([3, 4, 6, 16, 18]);
const UNSIGNED = new Set([4, 6, 7, 13]);
const EXPLICIT_PRESENCE = 1;

type Kind = { kind: "scalar"; scalar: number } | { kind: "enum"; desc: DescEnum } | { kind: "message"; desc: DescMessage };

function elementKind(field: DescField): Kind {
  if (field.message) return { kind: "message", desc: field.message };
  if (field.enum) return { kind: "enum", desc: field.enum };
  return { kind: "scalar", scalar: field.scalar ?? STRING };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// ---- message → document -------------------------------------------------

function valueToJson(kind: Kind, value: unknown): JsonValue | undefined {
  switch (kind.kind) {
    case "scalar":
      if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
      if (value instanceof Uint8Array) return btoa(String.fromCharCode(...value));
      return value as JsonValue;
    case "enum":
      return kind.desc.values.find((v) => v.number === value)?.name ?? (value as number);
    case "message":
      switch (kind.desc.typeName) {
        case "google.protobuf.Struct":
          return value as JsonObject;
        case "google.protobuf.Value":
          return fromValue(value as Parameters<typeof fromValue>[0]);
        case "google.protobuf.Timestamp":
          return undefined;
        default:
          return messageToJson(kind.desc, value as Record<string, unknown>);
      }
  }
}

function messageToJson(desc: DescMessage, message: Record<string, unknown>, skip?: Set<string>): JsonObject {
  const out: JsonObject = {};
  for (const field of desc.fields) {
    if (skip?.has(field.jsonName)) continue;
    const value = message[field.localName];
    if (value === undefined || value === null) continue;
    const kind = elementKind(field);
    let json: JsonValue | undefined;
    if (field.fieldKind === "list") {
      const list = value as unknown[];
      if (list.length === 0) continue;
      json = list.map((item) => valueToJson(kind, item) ?? null);
    } else if (field.fieldKind === "map") {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) continue;
      json = Object.fromEntries(entries.map(([k, v]) => [k, valueToJson(kind, v) ?? null]));
    } else {
      // Implicit-presence defaults are left out, as the server's JSON does.
      const isDefault = value === "" || value === 0 || value === false || value === BigInt(0);
      if (isDefault && field.presence !== EXPLICIT_PRESENCE) continue;
      json = valueToJson(kind, value);
    }
    if (json !== undefined) out[field.jsonName] = json;
  }
  return out;
}

/** The editable document of a stored workflow (its `raw` message): definition fields only. */
export function toDocument(raw: unknown): JsonObject {
  return messageToJson(WorkflowSchema, raw as Record<string, unknown>, OUTPUT_ONLY);
}

/** Pretty JSON of a stored workflow's definition. */
export function documentText(raw: unknown): string {
  return JSON.stringify(toDocument(raw), null, 2);
}

// ---- document → message -------------------------------------------------

class Reader {
  errors: DocumentError[] = [];

  fail(path: PathSegment[], message: string): undefined {
    this.errors.push({ path, message });
    return undefined;
  }

  scalar(scalar: number, json: unknown, path: PathSegment[]): unknown {
    if (scalar === STRING) return typeof json === "string" ? json : this.fail(path, "must be a string");
    if (scalar === BOOL) return typeof json === "boolean" ? json : this.fail(path, "must be true or false");
    if (scalar === BYTES) return typeof json === "string" ? Uint8Array.from(atob(json), (c) => c.charCodeAt(0)) : this.fail(path, "must be base64 text");
    const number = typeof json === "string" && json.trim() !== "" ? Number(json) : json;
    if (typeof number !== "number" || Number.isNaN(number)) return this.fail(path, "must be a number");
    if (scalar === DOUBLE || scalar === FLOAT) return number;
    if (!Number.isInteger(number)) return this.fail(path, "must be a whole number");
    if (UNSIGNED.has(scalar) && number < 0) return this.fail(path, "must not be negative");
    return LONG.has(scalar) ? BigInt(number) : number;
  }

  enumValue(desc: DescEnum, json: unknown, path: PathSegment[]): unknown {
    if (typeof json === "number" && Number.isInteger(json)) return json;
    if (typeof json === "string") {
      const wanted = json.toUpperCase();
      const prefix = desc.sharedPrefix ?? "";
      const found = desc.values.find((v) => v.name === wanted || v.name === `${prefix}${wanted}`);
      if (found) return found.number;
    }
    const names = desc.values.filter((v) => v.number !== 0).map((v) => v.name);
    return this.fail(path, `must be one of ${names.join(", ")}`);
  }

  value(kind: Kind, json: unknown, path: PathSegment[]): unknown {
    switch (kind.kind) {
      case "scalar":
        return this.scalar(kind.scalar, json, path);
      case "enum":
        return this.enumValue(kind.desc, json, path);
      case "message":
        switch (kind.desc.typeName) {
          case "google.protobuf.Struct":
            return isObject(json) ? json : this.fail(path, "must be an object");
          case "google.protobuf.Value":
            return toValue(json as JsonValue);
          case "google.protobuf.Timestamp":
            return undefined;
          default:
            return this.message(kind.desc, json, path);
        }
    }
  }

  message(desc: DescMessage, json: unknown, path: PathSegment[], skip?: Set<string>): Record<string, unknown> | undefined {
    if (!isObject(json)) return this.fail(path, "must be an object");
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(json)) {
      if (skip?.has(key)) continue;
      const field = desc.fields.find((f) => f.jsonName === key || f.name === key || f.localName === key);
      const at = [...path, key];
      if (!field) {
        this.fail(at, `unknown field "${key}"`);
        continue;
      }
      if (value === null) continue;
      const kind = elementKind(field);
      if (field.fieldKind === "list") {
        if (!Array.isArray(value)) {
          this.fail(at, "must be an array");
          continue;
        }
        out[field.localName] = value.map((item, i) => this.value(kind, item, [...at, i]));
      } else if (field.fieldKind === "map") {
        if (!isObject(value)) {
          this.fail(at, "must be an object");
          continue;
        }
        out[field.localName] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.value(kind, v, [...at, k])]));
      } else {
        const converted = this.value(kind, value, at);
        if (converted !== undefined) out[field.localName] = converted;
      }
    }
    return out;
  }
}

/** What a typed document reads as: the message to send, or why it cannot be sent. */
export interface ReadDocument {
  workflow: WorkflowInit | undefined;
  errors: DocumentError[];
}

/** Reads a parsed document as a `Workflow`; output-only fields (id, version…) are ignored. */
export function fromDocument(json: unknown): ReadDocument {
  const reader = new Reader();
  const message = reader.message(WorkflowSchema, json, [], OUTPUT_ONLY);
  if (reader.errors.length > 0 || !message) return { workflow: undefined, errors: reader.errors };
  // The init shape is what `create(WorkflowSchema, …)` takes; the reader
  // built it from the same descriptor, field by field.
  return { workflow: message as WorkflowInit, errors: [] };
}

/** `steps[2].inputMap.company` as path segments. */
export function parseFieldPath(field: string): PathSegment[] {
  const out: PathSegment[] = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) out.push(Number(match[2]));
    else if (match[1] !== undefined) out.push(match[1]);
  }
  return out;
}

/** `["steps", 2, "agent"]` as `steps[2].agent`. */
export function formatPath(path: PathSegment[]): string {
  return path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

/** The object of the step with `id` anywhere in a document (nested steps included). */
export function findStep(document: unknown, id: string): JsonObject | undefined {
  const visit = (step: unknown): JsonObject | undefined => {
    if (!isObject(step)) return undefined;
    if (step.id === id) return step as JsonObject;
    const children = [...(Array.isArray(step.steps) ? step.steps : []), ...(isObject(step.step) ? [step.step] : [])];
    for (const child of children) {
      const found = visit(child);
      if (found) return found;
    }
    return undefined;
  };
  const steps = isObject(document) && Array.isArray(document.steps) ? document.steps : [];
  for (const step of steps) {
    const found = visit(step);
    if (found) return found;
  }
  return undefined;
}
