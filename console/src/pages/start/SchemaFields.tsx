/**
 * The labelled controls of a generated input form: one per schema
 * property, the required ones marked in words (not only by an asterisk),
 * descriptions as hints tied to their control, and each problem shown
 * under its field and announced with it (aria-invalid, aria-describedby).
 */
import { useId } from "react";
import type { Field, FormValues } from "./schemaForm";

interface Props {
  fields: Field[];
  values: FormValues;
  problems: Record<string, string>;
  /** Whether problems are shown yet (after the first start attempt or edit of the field). */
  shown: ReadonlySet<string>;
  onChange(name: string, value: string | boolean): void;
}

export function SchemaFields({ fields, values, problems, shown, onChange }: Props) {
  return (
    <div className="schema-fields">
      {fields.map((field) => (
        <FieldControl
          key={field.name}
          field={field}
          value={values[field.name] ?? (field.kind === "boolean" ? false : "")}
          problem={shown.has(field.name) ? problems[field.name] : undefined}
          onChange={(value) => onChange(field.name, value)}
        />
      ))}
    </div>
  );
}

function FieldControl({ field, value, problem, onChange }: { field: Field; value: string | boolean; problem: string | undefined; onChange(value: string | boolean): void }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const problemId = `${id}-problem`;
  const describedBy = [field.description ? hintId : "", problem ? problemId : ""].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: field.name,
    "aria-describedby": describedBy,
    "aria-invalid": problem ? true : undefined,
    required: field.required,
  };
  const text = typeof value === "string" ? value : "";
  let control;
  switch (field.kind) {
    case "boolean":
      control = <input {...common} required={false} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />;
      break;
    case "enum":
      control = (
        <select {...common} value={text} onChange={(e) => onChange(e.target.value)}>
          <option value="">{field.required ? "Choose…" : "(none)"}</option>
          {field.options.map((option, index) => (
            <option key={index} value={String(index)}>
              {typeof option === "string" ? option : JSON.stringify(option)}
            </option>
          ))}
        </select>
      );
      break;
    case "number":
    case "integer":
      control = (
        <input {...common} type="text" inputMode={field.kind === "integer" ? "numeric" : "decimal"} value={text} onChange={(e) => onChange(e.target.value)} />
      );
      break;
    case "json":
      control = <textarea {...common} rows={4} cols={50} spellCheck={false} value={text} onChange={(e) => onChange(e.target.value)} />;
      break;
    default:
      control = <input {...common} type="text" maxLength={field.maxLength} value={text} onChange={(e) => onChange(e.target.value)} />;
  }
  return (
    <div className={`schema-field schema-field-${field.kind}`}>
      <label htmlFor={id} className="schema-field-label">
        {field.label}
        {field.required && <span className="required"> (required)</span>}
        {field.kind === "json" && <span className="muted"> (JSON)</span>}
      </label>
      {control}
      {field.description && (
        <small id={hintId} className="muted">
          {field.description}
        </small>
      )}
      {problem && (
        <small id={problemId} className="field-problem">
          <span aria-hidden="true">⚠ </span>
          {problem}
        </small>
      )}
    </div>
  );
}
