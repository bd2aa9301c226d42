/**
 * The top of a run's page: its id and status, the workflow (linked) and
 * version it runs, what started it, its timing and total cost against the
 * workflow's cap, the run it retries, and its input, output and error.
 */
import { Link } from "wouter";
import type { JsonValue, Run, Workflow } from "weftflow";
import { StatusBadge } from "../../ui/Status";
import { pretty, when } from "../../ui/format";
import { CostMeter } from "./CostMeter";
import type { RunView } from "./liveState";
import { span } from "./runGraph";

/** Values longer than this start folded, so the graph stays near the top. */
const OPEN_UP_TO = 400;

function JsonBlock({ title, value }: { title: string; value: JsonValue }) {
  const text = value === null ? "" : pretty(value);
  return (
    <details className="run-json" open={value !== null && text.length <= OPEN_UP_TO}>
      <summary>{title}</summary>
      {value === null ? <p className="muted">none</p> : <pre>{text}</pre>}
    </details>
  );
}

export interface RunHeaderProps {
  run: Run;
  view: RunView;
  workflow: Workflow | undefined;
  now: number;
}

export function RunHeader({ run, view, workflow, now }: RunHeaderProps) {
  const end = view.completedAt?.getTime() ?? now;
  const took = run.startedAt ? span(Math.max(0, end - run.startedAt.getTime())) : "not started";
  return (
    <header className="run-header">
      <h1>
        Run <code>{run.id}</code> <StatusBadge status={view.status} />
      </h1>
      <dl className="facts run-facts">
        <dt>Workflow</dt>
        <dd>
          <Link href={`/workflows/${run.workflowId}`}>{workflow?.name || run.workflowId}</Link>
        </dd>
        <dt>Version</dt>
        <dd>{run.workflowVersion}</dd>
        <dt>Trigger</dt>
        <dd>{run.trigger || "manual"}</dd>
        {run.userId && (
          <>
            <dt>User</dt>
            <dd>{run.userId}</dd>
          </>
        )}
        <dt>Started</dt>
        <dd>{when(run.startedAt ?? run.createdAt)}</dd>
        <dt>Duration</dt>
        <dd>{took}</dd>
        <dt>Total cost</dt>
        <dd>
          <CostMeter label="Run cost against its cap" cost={view.cost} cap={workflow?.policy?.maxTotalCost} />
        </dd>
        {run.retryOfRunId && (
          <>
            <dt>Retry of</dt>
            <dd>
              <Link href={`/runs/${run.retryOfRunId}`}>{run.retryOfRunId}</Link>
            </dd>
          </>
        )}
        {run.cancelReason && (
          <>
            <dt>Cancelled because</dt>
            <dd>{run.cancelReason}</dd>
          </>
        )}
      </dl>
      {run.error && (
        <div className="run-error" role="note" aria-label="Why the run failed">
          <strong>{run.error.code}</strong>: {run.error.message}
          {run.error.stepId && (
            <>
              {" "}
              (step <code>{run.error.stepId}</code>)
            </>
          )}
        </div>
      )}
      <div className="run-io">
        <JsonBlock title="Run input" value={run.input} />
        <JsonBlock title="Run output" value={view.output} />
      </div>
    </header>
  );
}
