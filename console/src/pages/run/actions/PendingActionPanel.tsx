/**
 * What a paused run waits for, and the control that answers it: an
 * approval (or gated tool use) to approve or deny with a comment, an event
 * to deliver with a JSON payload, a step to answer with one of its
 * options, or a manual pause (resumed from the action bar). Renders
 * nothing while the run waits for nothing.
 */
import type { PendingAction, Run } from "weftflow";
import { useLoad } from "../../../api/useLoad";
import { useWeft } from "../../../api/weft";
import { StatusBadge } from "../../../ui/Status";
import { when } from "../../../ui/format";
import { DecideApproval } from "./DecideApproval";
import { EventResume } from "./EventResume";
import { StepAnswer } from "./StepAnswer";
import "./actions.css";

export interface PendingActionPanelProps {
  run: Run;
  onChanged: () => void;
}

const TITLES: Record<string, string> = {
  approval: "Waiting for an approval",
  tool_approval: "Waiting for approval of a tool",
  confirmation: "Waiting for a confirmation",
  event: "Waiting for an event",
  cost_exceeded: "Paused: the step's cost ceiling was reached",
  manual: "Paused by hand",
};

function Answer({ run, action, onChanged }: { run: Run; action: PendingAction; onChanged: () => void }) {
  if (action.approvalId) {
    return (
      <DecideApproval
        approvalId={action.approvalId}
        options={action.options}
        label={`Decide the approval of step ${action.step}`}
        onDecided={onChanged}
      />
    );
  }
  if (action.type === "event") return <EventResume run={run} event={action.event} onChanged={onChanged} />;
  if (action.type === "manual") return <p className="muted">Use “Resume run” to let it go on.</p>;
  return <StepAnswer run={run} step={action.step} options={action.options} onChanged={onChanged} />;
}

/**
 * When the wait ends by itself and what happens then. An approval's
 * record knows its expiry and default action even when the pending action
 * carries no expiry, so it is read when there is one.
 */
function Expiry({ action }: { action: PendingAction }) {
  const weft = useWeft();
  const approval = useLoad(async () => (action.approvalId ? weft.approvals.get(action.approvalId) : null), [action.approvalId]);
  const expires = action.expiresAt ?? approval.data?.expiresAt ?? null;
  if (action.approvalId && approval.loading && !approval.data) return <>…</>;
  if (!expires) return <>never (waits until answered)</>;
  const then = approval.data?.defaultAction;
  return (
    <>
      {when(expires)}
      {then ? ` (then: ${then})` : ""}
    </>
  );
}

export function PendingActionPanel({ run, onChanged }: PendingActionPanelProps) {
  const action = run.pendingAction;
  if (!action) return null;
  const title = TITLES[action.type] ?? `Waiting: ${action.type}`;
  return (
    <section className="panel pending-action" aria-labelledby={`pending-${run.id}`}>
      <h2 id={`pending-${run.id}`}>
        <StatusBadge status={action.type === "event" ? "waiting" : "paused"} /> {title}
      </h2>
      <dl className="facts">
        {action.step && (
          <>
            <dt>Step</dt>
            <dd>
              <code>{action.step}</code>
            </dd>
          </>
        )}
        {action.message && (
          <>
            <dt>Message</dt>
            <dd className="pending-message">{action.message}</dd>
          </>
        )}
        {action.tool && (
          <>
            <dt>Tool</dt>
            <dd>
              <code>{action.tool}</code>
            </dd>
          </>
        )}
        {action.event && (
          <>
            <dt>Event</dt>
            <dd>
              <code>{action.event}</code>
            </dd>
          </>
        )}
        {action.options.length > 0 && (
          <>
            <dt>Options</dt>
            <dd>{action.options.join(", ")}</dd>
          </>
        )}
        <dt>Expires</dt>
        <dd>
          <Expiry action={action} />
        </dd>
      </dl>
      <Answer run={run} action={action} onChanged={onChanged} />
    </section>
  );
}
