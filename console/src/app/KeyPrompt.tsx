/**
 * The API key dialog: opened when the server refuses a call for want of a
 * key, or from the header's "API key" button. The key goes to session
 * storage only (api/session.ts).
 */
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { useConnection } from "../api/weft";

export function KeyPrompt({ onClose }: { onClose: () => void }) {
  const { setKey, hasKey, needsKey } = useConnection();
  const [value, setValue] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const titleId = useId();
  useEffect(() => input.current?.focus(), []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setKey(value.trim());
    onClose();
  };
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        onSubmit={submit}
        onKeyDown={(e) => e.key === "Escape" && !needsKey && onClose()}
      >
        <h2 id={titleId}>API key</h2>
        <p>
          {needsKey
            ? "This server requires an API key. It is kept in this tab's session storage and sent with every call."
            : "The key is kept in this tab's session storage and sent with every call."}
        </p>
        <label>
          Key
          <input ref={input} type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} required={!hasKey} />
        </label>
        <div className="row">
          <button type="submit" className="primary">
            Use key
          </button>
          {hasKey && (
            <button type="button" onClick={() => (setKey(""), onClose())}>
              Forget key
            </button>
          )}
          {!needsKey && (
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </div>
  );
}
