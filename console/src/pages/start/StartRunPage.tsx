/**
 * /workflows/:id/run: start a run. The input form is generated from the
 * workflow's inputSchema (schemaForm.ts), with "Edit as JSON" always at
 * hand; the estimate follows the input as it changes; "Start run" sends
 * it (with an optional idempotency key) and opens the new run's page.
 * Obvious mistakes are caught here; the server's refusals (schema
 * violations per field) are shown as it words them.
 */
import { useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useLocation, useParams } from "wouter";
import type { JsonObject, JsonValue, Workflow } from "weftflow";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";
import { useAction } from "../../api/useAction";
import { ErrorNote } from "../../ui/ErrorNote";
import { pretty } from "../../ui/format";
import { buildInput, fieldsOf, initialValues, MAX_INPUT_BYTES, parseJsonInput, valueText, type Field, type FormValues } from "./schemaForm";
import { SchemaFields } from "./SchemaFields";
import { EstimatePanel } from "./EstimatePanel";
import "./start.css";

/** The server's limit on idempotency keys. */
const MAX_KEY_LENGTH = 256;

export default function StartRunPage() {
  const { id = "" } = useParams<{ id: string }>();
  const weft = useWeft();
  const workflow = useLoad(() => weft.workflows.get(id), [weft, id]);
  return (
    <>
      <p>
        <Link href={`/workflows/${id}`}>← Back to the workflow</Link>
      </p>
      <ErrorNote error={workflow.error} title="Cannot load the workflow" />
      {workflow.data === undefined ? (
        workflow.loading && <p aria-busy="true">Loading workflow…</p>
      ) : (
        <StartForm key={`${workflow.data.id}@${workflow.data.version}`} workflow={workflow.data} />
      )}
    </>
  );
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function StartForm({ workflow }: { workflow: Workflow }) {
  const weft = useWeft();
  const [, navigate] = useLocation();
  const fields = useMemo<Field[] | null>(() => fieldsOf(workflow.inputSchema), [workflow.inputSchema]);
  const [values, setValues] = useState<FormValues>(() => initialValues(workflow.inputSchema, fields ?? []));
  const [jsonMode, setJsonMode] = useState(fields === null);
  const [jsonText, setJsonText] = useState(() => (fields === null ? "{}" : ""));
  const [shown, setShown] = useState<Set<string>>(new Set());
  const [idempotencyKey, setIdempotencyKey] = useState("");
  const [jsonShown, setJsonShown] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  const start = useAction((input: JsonValue, key: string) => weft.runs.start(workflow.id, { input, ...(key && { idempotencyKey: key }) }));

  // What would be sent now, or why nothing can be.
  const built = useMemo(() => (fields && !jsonMode ? buildInput(fields, values) : null), [fields, jsonMode, values]);
  const parsed = useMemo(() => (jsonMode ? parseJsonInput(jsonText) : null), [jsonMode, jsonText]);
  const tooBig = built !== null && new TextEncoder().encode(JSON.stringify(built.input)).length > MAX_INPUT_BYTES;
  const input: JsonValue | undefined = built
    ? Object.keys(built.problems).length === 0 && !tooBig
      ? built.input
      : undefined
    : parsed?.problem
      ? undefined
      : parsed?.input;

  const change = (name: string, value: string | boolean) => {
    setValues((old) => ({ ...old, [name]: value }));
    setShown((old) => new Set(old).add(name));
  };

  const toggleJson = () => {
    if (!fields) return;
    if (!jsonMode) {
      setJsonText(pretty(buildInput(fields, values).input));
      setJsonMode(true);
      setJsonShown(false);
      return;
    }
    const next = parseJsonInput(jsonText);
    if (next.problem || !isObject(next.input)) {
      setJsonShown(true);
      return;
    }
    const back: FormValues = {};
    for (const field of fields) back[field.name] = valueText(field, next.input[field.name]);
    setValues(back);
    setJsonMode(false);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (input === undefined) {
      if (fields && !jsonMode) setShown(new Set(fields.map((f) => f.name)));
      setJsonShown(true);
      // Take the user to the first thing to fix.
      requestAnimationFrame(() => formRef.current?.querySelector<HTMLElement>("[aria-invalid='true']")?.focus());
      return;
    }
    const run = await start.run(input, idempotencyKey.trim());
    if (run) navigate(`/runs/${run.id}`);
  };

  // A JSON object is needed only to go back to the form.
  const notObject = jsonShown && fields !== null && parsed !== null && !parsed.problem && !isObject(parsed.input);
  const jsonProblem = parsed?.problem ?? (notObject ? "The input must be a JSON object to edit it in the form." : undefined);
  return (
    <>
      <h1>
        Start a run of {workflow.name} <span className="muted">v{workflow.version}</span>
      </h1>
      {workflow.description && <p className="muted">{workflow.description}</p>}
      <div className="grid-2">
        <form ref={formRef} className="panel" onSubmit={submit} noValidate aria-label={`Input of a run of ${workflow.name}`}>
          <h2>Input</h2>
          {fields && (
            <div className="row">
              <button type="button" aria-pressed={jsonMode} onClick={toggleJson}>
                Edit as JSON
              </button>
            </div>
          )}
          {!fields && <p className="muted">This workflow has no input form (no schema, or not a flat object); write its input as JSON.</p>}
          {jsonMode || !fields ? (
            <div className="schema-field">
              <label htmlFor="start-json" className="schema-field-label">
                Input (JSON)
              </label>
              <textarea
                id="start-json"
                className="start-json"
                rows={12}
                spellCheck={false}
                value={jsonText}
                aria-invalid={jsonProblem ? true : undefined}
                aria-describedby={jsonProblem ? "start-json-problem" : undefined}
                onChange={(e) => (setJsonText(e.target.value), setJsonShown(true))}
              />
              {jsonProblem && (
                <small id="start-json-problem" className="field-problem">
                  <span aria-hidden="true">⚠ </span>
                  {jsonProblem}
                </small>
              )}
            </div>
          ) : (
            <SchemaFields fields={fields} values={values} problems={built?.problems ?? {}} shown={shown} onChange={change} />
          )}
          {tooBig && <p className="field-problem">The input is larger than 256 KiB.</p>}
          <div className="schema-field">
            <label htmlFor="start-idempotency" className="schema-field-label">
              Idempotency key <span className="muted">(optional)</span>
            </label>
            <input
              id="start-idempotency"
              type="text"
              maxLength={MAX_KEY_LENGTH}
              value={idempotencyKey}
              aria-describedby="start-idempotency-hint"
              onChange={(e) => setIdempotencyKey(e.target.value)}
            />
            <small id="start-idempotency-hint" className="muted">
              A second start with the same key within 24 hours returns the first run instead of starting another.
            </small>
          </div>
          <ErrorNote error={start.error} title="The server refused to start the run" />
          <div className="row">
            <button type="submit" className="primary" disabled={start.pending}>
              {start.pending ? "Starting…" : "Start run"}
            </button>
          </div>
        </form>
        <EstimatePanel workflowId={workflow.id} input={input} />
      </div>
    </>
  );
}
