/**
 * The workflow's webhook trigger: deployed or not, armed until when, its
 * URL; "Deploy" (showing the secret the one time the server gives it) and
 * "Arm webhook" for a window of seconds (1 to 86,400, as the server caps
 * it). A server without the trigger service says so instead of failing.
 */
import { useState, type FormEvent } from "react";
import { useWeft } from "../../api/weft";
import { useAction } from "../../api/useAction";
import { useLoad } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { StatusBadge } from "../../ui/Status";
import { when } from "../../ui/format";
import { Link } from "wouter";
import { pbDate } from "../../api/pb";
import { notAvailable } from "./unavailable";

const MAX_WINDOW = 86_400;

export function TriggerPanel({ workflowId }: { workflowId: string }) {
  const weft = useWeft();
  const status = useLoad(() => weft.triggers.status(workflowId), [weft, workflowId]);
  const [secret, setSecret] = useState("");
  const [windowText, setWindowText] = useState("600");
  const [armed, setArmed] = useState<{ armedUntil: Date; webhookUrl: string } | null>(null);
  const deploy = useAction(async () => {
    const answer = await weft.triggers.deploy(workflowId);
    setSecret(answer.webhookSecret);
    status.reload();
  });
  const arm = useAction(async (seconds: number) => {
    setArmed(await weft.triggers.arm(workflowId, { windowSeconds: seconds }));
    status.reload();
  });
  const windowSeconds = Number(windowText);
  const windowOk = Number.isInteger(windowSeconds) && windowSeconds >= 1 && windowSeconds <= MAX_WINDOW;
  const submitArm = (event: FormEvent) => {
    event.preventDefault();
    if (windowOk) void arm.run(windowSeconds);
  };

  if (notAvailable(status.error)) return <p className="notice">Triggers are not available on this server.</p>;
  const trigger = status.data;
  const armedUntil = armed?.armedUntil ?? pbDate(trigger?.armedUntil);
  const url = armed?.webhookUrl || trigger?.webhookUrl || "";
  return (
    <div className="panel trigger-panel">
      <ErrorNote error={status.error} title="Cannot read the trigger" />
      {trigger === undefined ? (
        status.loading && <p aria-busy="true">Loading trigger…</p>
      ) : (
        <dl className="facts" aria-label="Trigger status">
          <dt>Deployed</dt>
          <dd>
            <StatusBadge status={trigger.deployed ? "active" : "draft"} label={trigger.deployed ? "deployed" : "not deployed"} />
          </dd>
          <dt>Webhook</dt>
          <dd>
            {trigger.armed ? <StatusBadge status="running" label="armed" /> : <StatusBadge status="pending" label="not armed" />}
            {trigger.armed && armedUntil && <span> until {when(armedUntil)}</span>}
          </dd>
          <dt>Webhook URL</dt>
          <dd>{url ? <code data-testid="webhook-url">{url}</code> : <span className="muted">none before the first deploy</span>}</dd>
          {trigger.lastRunId && (
            <>
              <dt>Last started</dt>
              <dd>
                <Link href={`/runs/${trigger.lastRunId}`}>{trigger.lastRunId}</Link> at {when(pbDate(trigger.lastFireTime))}
              </dd>
            </>
          )}
        </dl>
      )}
      <div className="row">
        <button type="button" onClick={() => deploy.run()} disabled={deploy.pending}>
          {trigger?.deployed ? "Deploy again" : "Deploy"}
        </button>
      </div>
      {secret && (
        <div className="notice" role="status">
          Webhook secret (shown once, store it now): <code>{secret}</code>
        </div>
      )}
      <ErrorNote error={deploy.error} title="Not deployed" />
      <form className="row" onSubmit={submitArm} aria-label="Arm the webhook">
        <label>
          Window (seconds)
          <input
            type="number"
            min={1}
            max={MAX_WINDOW}
            value={windowText}
            aria-invalid={windowOk ? undefined : true}
            aria-describedby="arm-window-hint"
            onChange={(e) => setWindowText(e.target.value)}
          />
        </label>
        <button type="submit" disabled={arm.pending || !windowOk}>
          Arm webhook
        </button>
      </form>
      <small id="arm-window-hint" className={windowOk ? "muted" : "field-problem"}>
        The webhook accepts one call within the window: 1 to 86,400 seconds.
      </small>
      {armed && (
        <p role="status">
          Armed until {when(armed.armedUntil)}: <code>{armed.webhookUrl}</code>
        </p>
      )}
      <ErrorNote error={arm.error} title="Not armed" />
    </div>
  );
}
