/**
 * A modal confirmation for run actions, on the native `<dialog>`: the
 * browser traps focus inside it, closes it on Escape and hands focus back
 * to the button that opened it. Extra fields (a reason) go in `children`;
 * the server's refusal is shown inside, so the person can read it and try
 * again or close.
 */
import { useEffect, useId, useRef, type FormEvent, type ReactNode } from "react";
import { ErrorNote } from "../../../ui/ErrorNote";

export interface ConfirmDialogProps {
  title: string;
  /** What will happen, in a sentence. */
  description: ReactNode;
  confirmLabel: string;
  /** The button that closes without acting (default "Close"). */
  dismissLabel?: string;
  /** Draws the confirm button as destructive. */
  danger?: boolean;
  pending: boolean;
  error: unknown;
  onConfirm: () => void;
  onClose: () => void;
  children?: ReactNode;
}

export function ConfirmDialog({ title, description, confirmLabel, dismissLabel = "Close", danger, pending, error, onConfirm, onClose, children }: ConfirmDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!pending) onConfirm();
  };

  return (
    <dialog
      ref={dialog}
      className="modal action-dialog"
      aria-labelledby={titleId}
      aria-describedby={descriptionId}
      onCancel={(event) => {
        // Escape: let React own the open state rather than the browser.
        event.preventDefault();
        if (!pending) onClose();
      }}
    >
      <form onSubmit={submit} className="action-dialog-form">
        <h2 id={titleId}>{title}</h2>
        <div id={descriptionId}>{description}</div>
        {children}
        <ErrorNote error={error} title="The server refused" />
        <div className="row">
          <button type="submit" className={danger ? "danger" : "primary"} disabled={pending} aria-busy={pending}>
            {pending ? "Working…" : confirmLabel}
          </button>
          <button type="button" onClick={onClose} disabled={pending}>
            {dismissLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
