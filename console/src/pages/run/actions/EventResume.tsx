/**
 * Delivers the event a wait step waits for, with a JSON payload that
 * becomes the step's output (ResumeRun's event form). The payload is
 * checked here first (valid JSON, at most 1 MiB, nesting within the
 * server's limit): an invalid one is explained and nothing is sent.
 */
import { useId, useState, type FormEvent } from "react";
import type { JsonValue, Run } from "weftflow";
import { useAction } from "../../../api/useAction";
import { useWeft } from "../../../api/weft";
import { ErrorNote } from "../../../ui/ErrorNote";
import { MAX_PAYLOAD_BYTES, parsePayload } from "./limits";

export function EventResume({ run, event, onChanged }: { run: Run; event: string; onChanged: () => void }) {
  const weft = useWeft();
  const id = useId();
  const [text, setText] = useState("{}");
  const [invalid, setInvalid] = useState("");
  const resume = useAction((payload: JsonValue) => weft.runs.resume(run.id, { event, payload }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parsePayload(text);
    if (!parsed.ok) {
      setInvalid(parsed.message);
      resume.clear();
      return;
    }
    setInvalid("");
    // JSON.parse yields JSON values only.
    if (await resume.run(parsed.value as JsonValue)) onChanged();
  };

  return (
    <form className="event-resume" aria-label={`Resume with event ${event}`} onSubmit={submit} noValidate>
      <label htmlFor={`${id}-payload`}>
        Event payload (JSON; becomes the wait step's output; empty sends null)
        <textarea
          id={`${id}-payload`}
          rows={6}
          spellCheck={false}
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-invalid={invalid !== ""}
          aria-describedby={`${id}-limit${invalid ? ` ${id}-invalid` : ""}`}
        />
      </label>
      <span id={`${id}-limit`} className="muted action-hint">
        At most {(MAX_PAYLOAD_BYTES / 1024 / 1024).toString()} MiB.
      </span>
      {invalid && (
        <div id={`${id}-invalid`} role="alert" className="error-note">
          {invalid} Nothing was sent.
        </div>
      )}
      <ErrorNote error={resume.error} title="Resume refused" />
      <div className="row">
        <button type="submit" className="primary" disabled={resume.pending}>
          {resume.pending ? "Sending…" : "Resume with event"}
        </button>
      </div>
    </form>
  );
}
