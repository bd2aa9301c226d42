/**
 * "Cancel run": asks first (it cannot be undone), with an optional reason
 * the server stores as the run's cancelReason.
 */
import { useState } from "react";
import type { Run } from "weftflow";
import { useAction } from "../../../api/useAction";
import { useWeft } from "../../../api/weft";
import { ConfirmDialog } from "./ConfirmDialog";
import { MAX_REASON_CHARS } from "./limits";

export function CancelRun({ run, onChanged }: { run: Run; onChanged: () => void }) {
  const weft = useWeft();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const cancel = useAction((why: string) => weft.runs.cancel(run.id, why));

  const close = () => {
    setOpen(false);
    cancel.clear();
  };
  const confirm = async () => {
    if (await cancel.run(reason.trim())) {
      setOpen(false);
      setReason("");
      onChanged();
    }
  };

  return (
    <>
      <button type="button" className="danger" onClick={() => setOpen(true)}>
        Cancel run
      </button>
      {open && (
        <ConfirmDialog
          title="Cancel this run?"
          description={
            <p>
              Steps in flight are told to stop; completed outputs are kept. A cancelled run cannot continue, but it can be retried from a
              step as a new run.
            </p>
          }
          confirmLabel="Cancel run"
          dismissLabel="Keep it running"
          danger
          pending={cancel.pending}
          error={cancel.error}
          onConfirm={confirm}
          onClose={close}
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
