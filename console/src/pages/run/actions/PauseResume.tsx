/**
 * "Pause" (a running run: nothing new starts, work in flight finishes) and
 * "Resume" (a run paused that way), through the raw PauseRun / ResumeRun
 * calls the SDK does not wrap. Pausing asks first, with an optional reason
 * that becomes the pending action's message; resuming does not (it only
 * lets the run go on).
 */
import { useState } from "react";
import type { Run } from "weftflow";
import { useAction } from "../../../api/useAction";
import { useWeft } from "../../../api/weft";
import { ErrorNote } from "../../../ui/ErrorNote";
import { ConfirmDialog } from "./ConfirmDialog";
import { MAX_REASON_CHARS } from "./limits";
import { canPause, canResume } from "./rules";

export function PauseResume({ run, onChanged }: { run: Run; onChanged: () => void }) {
  const weft = useWeft();
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState("");
  const pause = useAction((why: string) => weft.raw.runs.pauseRun({ runId: run.id, reason: why }));
  const resume = useAction(() => weft.raw.runs.resumeRun({ runId: run.id }));

  const confirmPause = async () => {
    if (await pause.run(reason.trim())) {
      setAsking(false);
      setReason("");
      onChanged();
    }
  };

  return (
    <>
      {canPause(run) && (
        <button type="button" onClick={() => setAsking(true)}>
          Pause run
        </button>
      )}
      {canResume(run) && (
        <button type="button" className="primary" disabled={resume.pending} onClick={async () => (await resume.run()) && onChanged()}>
          {resume.pending ? "Resuming…" : "Resume run"}
        </button>
      )}
      <ErrorNote error={resume.error} title="Resume refused" />
      {asking && (
        <ConfirmDialog
          title="Pause this run?"
          description={<p>No new step starts until the run is resumed; work already in flight finishes and is recorded. The run's own timeout still applies.</p>}
          confirmLabel="Pause run"
          pending={pause.pending}
          error={pause.error}
          onConfirm={confirmPause}
          onClose={() => (setAsking(false), pause.clear())}
        >
          <label>
            Reason (optional, at most {MAX_REASON_CHARS} characters)
            <textarea rows={2} maxLength={MAX_REASON_CHARS} value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
        </ConfirmDialog>
      )}
    </>
  );
}
