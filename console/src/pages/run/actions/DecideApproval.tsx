/**
 * Approve or deny (or escalate, when offered) one pending approval, with a
 * comment (and, when the approval offers its own choices beyond those
 * words, which one), through ApprovalService.DecideApproval. Shared by the
 * run page's pending-action panel and the approvals page. The decider is
 * whoever the server authenticates (the API key), so the console does not
 * ask for a name.
 */
import { useId, useState, type FormEvent } from "react";
import type { Approval, ApprovalDecision } from "weftflow";
import { useAction } from "../../../api/useAction";
import { useWeft } from "../../../api/weft";
import { ErrorNote } from "../../../ui/ErrorNote";
import { MAX_COMMENT_CHARS } from "./limits";
import "./actions.css";

/** Options that are the decision itself rather than a choice to record. */
const DECISION_WORDS = new Set(["approve", "deny", "reject", "escalate"]);

export interface DecideApprovalProps {
  approvalId: string;
  /** The approval's options, as offered. */
  options: string[];
  /** Names the form for assistive technology, e.g. "Decide approval send_email". */
  label: string;
  onDecided: (approval: Approval) => void;
}

export function DecideApproval({ approvalId, options, label, onDecided }: DecideApprovalProps) {
  const weft = useWeft();
  const id = useId();
  const choices = options.filter((option) => !DECISION_WORDS.has(option.toLowerCase()));
  const canEscalate = options.some((option) => option.toLowerCase() === "escalate");
  const [comment, setComment] = useState("");
  const [choice, setChoice] = useState(choices[0] ?? "");
  const decide = useAction((decision: ApprovalDecision) =>
    weft.approvals.decide(approvalId, decision, {
      comment: comment.trim(),
      // A chosen option is recorded (and counts as approval); a denial carries none.
      ...(decision === "approve" && choice ? { option: choice } : {}),
    }),
  );

  const submit = async (decision: ApprovalDecision, event?: FormEvent) => {
    event?.preventDefault();
    const decided = await decide.run(decision);
    if (decided) {
      setComment("");
      onDecided(decided);
    }
  };

  return (
    <form className="decide-approval" aria-label={label} onSubmit={(event) => submit("approve", event)}>
      {choices.length > 0 && (
        <label htmlFor={`${id}-choice`}>
          Option to approve with
          <select id={`${id}-choice`} value={choice} onChange={(e) => setChoice(e.target.value)}>
            {choices.map((option) => (
              <option key={option} value={option}>
                {option}
              </option>
            ))}
          </select>
        </label>
      )}
      <label htmlFor={`${id}-comment`}>
        Comment (optional)
        <textarea
          id={`${id}-comment`}
          rows={2}
          maxLength={MAX_COMMENT_CHARS}
          value={comment}
          onChange={(e) => setComment(e.target.value)}
          aria-describedby={`${id}-count`}
        />
      </label>
      <span id={`${id}-count`} className="muted action-hint">
        {comment.length.toLocaleString()} / {MAX_COMMENT_CHARS.toLocaleString()} characters
      </span>
      <div className="row">
        <button type="submit" className="primary" disabled={decide.pending}>
          {choices.length > 0 && choice ? `Approve (${choice})` : "Approve"}
        </button>
        <button type="button" className="danger" disabled={decide.pending} onClick={() => submit("deny")}>
          Deny
        </button>
        {canEscalate && (
          <button type="button" disabled={decide.pending} onClick={() => submit("escalate")}>
            Escalate
          </button>
        )}
        {decide.pending && <span aria-live="polite">Sending…</span>}
      </div>
      <ErrorNote error={decide.error} title="Decision refused" />
    </form>
  );
}
