/**
 * From a workflow's `inputSchema` (JSON Schema) to form fields and back:
 * which properties get a plain input (string, number, integer, boolean,
 * enum), which a JSON box (objects, arrays, anything else), the values a
 * form starts with (defaults), and the run input the form's values make,
 * with the obvious mistakes (a required field left empty, a number that
 * does not parse) caught before the server sees them. No React here.
 */
import type { JsonObject, JsonValue } from "weftflow";

export type FieldKind = "string" | "number" | "integer" | "boolean" | "enum" | "json";

export interface Field {
  name: string;
  kind: FieldKind;
  required: boolean;
  /** The schema's title, else the property name. */
  label: string;
  description: string;
  /** For "enum": the allowed values. */
  options: JsonValue[];
  /** For strings: the schema's maxLength, when given. */
  maxLength: number | undefined;
}

/** What the user has typed: text per field, a flag per checkbox. */
export type FormValues = Record<string, string | boolean>;

/** The run input's size limit the server documents (256 KiB of JSON). */
export const MAX_INPUT_BYTES = 256 * 1024;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeOf(schema: JsonObject): string {
  const type = schema.type;
  if (typeof type === "string") return type;
  // ["string", "null"]: the non-null type.
  if (Array.isArray(type)) return String(type.find((t) => t !== "null") ?? "");
  return "";
}

function kindOf(schema: JsonObject): FieldKind {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return "enum";
  const type = typeOf(schema);
  return type === "string" || type === "number" || type === "integer" || type === "boolean" ? type : "json";
}

/**
 * The fields of an object schema; null when the schema is missing or does
 * not describe an object with properties (the whole input is then edited
 * as JSON). Required fields come first, in the order `required` lists
 * them, then the others. The server hands the schema back as a protobuf
 * Struct, whose keys come out sorted, so the author's property order is
 * lost, but `required` is a list and keeps it.
 */
export function fieldsOf(schema: JsonObject | null): Field[] | null {
  if (!schema || !isObject(schema.properties)) return null;
  const type = typeOf(schema);
  if (type !== "" && type !== "object") return null;
  const listed = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === "string") : [];
  const required = new Set(listed);
  const rank = (name: string) => (required.has(name) ? listed.indexOf(name) : listed.length);
  const entries = Object.entries(schema.properties).sort(([a], [b]) => rank(a) - rank(b));
  const fields = entries.map(([name, raw]): Field => {
    const property = isObject(raw) ? raw : {};
    return {
      name,
      kind: kindOf(property),
      required: required.has(name),
      label: typeof property.title === "string" && property.title ? property.title : name,
      description: typeof property.description === "string" ? property.description : "",
      options: Array.isArray(property.enum) ? property.enum : [],
      maxLength: typeof property.maxLength === "number" ? property.maxLength : undefined,
    };
  });
  return fields.length > 0 ? fields : null;
}

/** The form's starting values: each property's default, else empty. */
export function initialValues(schema: JsonObject | null, fields: Field[]): FormValues {
  const properties = schema && isObject(schema.properties) ? schema.properties : {};
  const values: FormValues = {};
  for (const field of fields) {
    const property = properties[field.name];
    const fallback = isObject(property) ? property.default : undefined;
    values[field.name] = valueText(field, fallback);
  }
  return values;
}

/** How `value` reads in `field`'s control (used for defaults and for leaving JSON mode). */
export function valueText(field: Field, value: JsonValue | undefined): string | boolean {
  if (field.kind === "boolean") return value === true;
  if (value === undefined || value === null) return "";
  if (field.kind === "enum") {
    const index = field.options.findIndex((option) => JSON.stringify(option) === JSON.stringify(value));
    return index < 0 ? "" : String(index);
  }
  if (field.kind === "json") return JSON.stringify(value, null, 2);
  return typeof value === "string" ? value : String(value);
}

export interface Built {
  input: JsonObject;
  /** Problems per field name; empty when the input can be sent. */
  problems: Record<string, string>;
}

/** The run input the values make, and what is wrong with them. */
export function buildInput(fields: Field[], values: FormValues): Built {
  const input: JsonObject = {};
  const problems: Record<string, string> = {};
  for (const field of fields) {
    const raw = values[field.name];
    if (field.kind === "boolean") {
      input[field.name] = raw === true;
      continue;
    }
    const text = typeof raw === "string" ? raw : "";
    if (text.trim() === "") {
      if (field.required) problems[field.name] = "Required.";
      continue;
    }
    switch (field.kind) {
      case "string":
        if (field.maxLength !== undefined && text.length > field.maxLength) problems[field.name] = `At most ${field.maxLength} characters.`;
        input[field.name] = text;
        break;
      case "number":
      case "integer": {
        const number = Number(text.trim());
        if (!Number.isFinite(number)) problems[field.name] = "Not a number.";
        else if (field.kind === "integer" && !Number.isInteger(number)) problems[field.name] = "Must be a whole number.";
        else input[field.name] = number;
        break;
      }
      case "enum": {
        const option = field.options[Number(text)];
        if (option === undefined) problems[field.name] = "Pick one of the options.";
        else input[field.name] = option;
        break;
      }
      case "json":
        try {
          input[field.name] = JSON.parse(text) as JsonValue;
        } catch (thrown) {
          problems[field.name] = `Not valid JSON: ${thrown instanceof Error ? thrown.message : String(thrown)}`;
        }
        break;
    }
  }
  return { input, problems };
}

/** Parses the JSON box; the value, or the problem. */
export function parseJsonInput(text: string): { input?: JsonValue; problem?: string } {
  if (text.trim() === "") return { input: {} };
  if (new TextEncoder().encode(text).length > MAX_INPUT_BYTES) return { problem: "The input is larger than 256 KiB." };
  try {
    return { input: JSON.parse(text) as JsonValue };
  } catch (thrown) {
    return { problem: `Not valid JSON: ${thrown instanceof Error ? thrown.message : String(thrown)}` };
  }
}
