/**
 * A modal confirmation for run actions, on the native `<dialog>`: the
 * browser keeps focus inside it and turns Escape into "close"; focus goes
 * back to the button that opened it. Extra fields (a reason) go in `children`;
 * the server's refusal is shown inside, so the person can read it and try
 * again or close.
 */
import { useId, useLayoutEffect, useRef, type FormEvent, type ReactNode } from "react";
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

  // A layout effect, so the cleanup runs while the dialog is still in the
  // document: focus then goes back to the control that opened it, even
  // though React removes the dialog rather than the browser closing it.
  useLayoutEffect(() => {
    const element = dialog.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (element && !element.open) element.showModal();
    return () => {
      element?.close();
      if (opener?.isConnected) opener.focus();
    };
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
