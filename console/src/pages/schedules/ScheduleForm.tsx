/**
 * A new schedule for the chosen workflow: cron expression, IANA time zone
 * (suggested from the browser's list) and the runs' input as JSON, bounded
 * as the server documents (256 characters, 64, 256 KiB). The server checks
 * the expression and the input against the schema; its refusal is shown.
 */
import { useMemo, useState, type FormEvent } from "react";
import type { JsonValue } from "weftflow";
import { useWeft } from "../../api/weft";
import { useAction } from "../../api/useAction";
import { ErrorNote } from "../../ui/ErrorNote";
import { parseJsonInput } from "../start/schemaForm";

const MAX_CRON = 256;
const MAX_TIMEZONE = 64;

function timeZones(): string[] {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

export function ScheduleForm({ workflowId, created }: { workflowId: string; created(): void }) {
  const weft = useWeft();
  const [cron, setCron] = useState("");
  const [timezone, setTimezone] = useState("UTC");
  const [inputText, setInputText] = useState("");
  const [problem, setProblem] = useState("");
  const zones = useMemo(timeZones, []);
  const create = useAction((input: JsonValue | undefined) =>
    weft.schedules.create(workflowId, { cron: cron.trim(), timezone: timezone.trim() || "UTC", ...(input !== undefined && { input }) }),
  );
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!cron.trim()) return setProblem("Write a cron expression, e.g. 0 9 * * 1-5.");
    const parsed = inputText.trim() ? parseJsonInput(inputText) : { input: undefined };
    if (parsed.problem) return setProblem(parsed.problem);
    setProblem("");
    if (await create.run(parsed.input)) {
      setCron("");
      setInputText("");
      created();
    }
  };
  return (
    <form className="panel schedule-form" onSubmit={submit} aria-labelledby="new-schedule-title" noValidate>
      <h3 id="new-schedule-title">New schedule</h3>
      <div className="row">
        <label>
          Cron expression
          <input value={cron} maxLength={MAX_CRON} required placeholder="0 9 * * 1-5" aria-describedby="cron-hint" onChange={(e) => setCron(e.target.value)} />
        </label>
        <label>
          Time zone
          <input value={timezone} maxLength={MAX_TIMEZONE} list="time-zones" onChange={(e) => setTimezone(e.target.value)} />
        </label>
        <datalist id="time-zones">
          {zones.map((zone) => (
            <option key={zone} value={zone} />
          ))}
        </datalist>
      </div>
      <small id="cron-hint" className="muted">
        Five fields (minute hour day-of-month month day-of-week), six with leading seconds, or @daily, @hourly…
      </small>
      <div className="row">
        <label className="wide">
          Input of each run (JSON, optional)
          <textarea rows={4} spellCheck={false} value={inputText} onChange={(e) => setInputText(e.target.value)} />
        </label>
      </div>
      {problem && (
        <p role="alert" className="field-problem">
          <span aria-hidden="true">⚠ </span>
          {problem}
        </p>
      )}
      <ErrorNote error={create.error} title="The schedule was not created" />
      <button type="submit" className="primary" disabled={create.pending}>
        {create.pending ? "Creating…" : "Create schedule"}
      </button>
    </form>
  );
}
