/**
 * The run page's action bar: cancel, pause / resume, and retry from a
 * step, each shown only in the run statuses the server accepts it in
 * (rules.ts). Every action reports the server's refusal where it was
 * taken, and calls `onChanged` after it succeeded so the page reloads.
 */
import type { Run } from "weftflow";
import { CancelRun } from "./CancelRun";
import { PauseResume } from "./PauseResume";
import { RetryFrom } from "./RetryFrom";
import { canCancel, canPause, canResume, canRetry } from "./rules";
import "./actions.css";

export interface RunActionsProps {
  run: Run;
  /** The step selected in the DAG, for "retry from this step". */
  selectedStep: string | undefined;
  /** Called after an action changed the run (or started a new one). */
  onChanged: () => void;
}

export function RunActions({ run, selectedStep, onChanged }: RunActionsProps) {
  const any = canCancel(run) || canPause(run) || canResume(run) || canRetry(run);
  if (!any) return null;
  return (
    <div className="run-actions" role="group" aria-label="Run actions">
      {(canPause(run) || canResume(run)) && <PauseResume run={run} onChanged={onChanged} />}
      {canRetry(run) && <RetryFrom run={run} selectedStep={selectedStep} onChanged={onChanged} />}
      {canCancel(run) && <CancelRun run={run} onChanged={onChanged} />}
    </div>
  );
}
