/**
 * Which run actions the server accepts in which run status (see
 * proto/weft/v1/run_service.proto): offering only those keeps the buttons
 * honest, and the server's refusal is still shown if the run moved on.
 */
import type { Run } from "weftflow";

const TERMINAL = new Set(["completed", "failed", "partial", "cancelled"]);

/** CancelRun: any run that has not finished. */
export function canCancel(run: Run): boolean {
  return !TERMINAL.has(run.status);
}

/** PauseRun: only a RUNNING run (RUN_NOT_RUNNING otherwise). */
export function canPause(run: Run): boolean {
  return run.status === "running";
}

/**
 * A plain ResumeRun continues a run paused by PauseRun (pending action
 * "manual"); a run paused on a gate is answered through its pending action.
 */
export function canResume(run: Run): boolean {
  return run.status === "paused" && (run.pendingAction === null || run.pendingAction.type === "manual");
}

/** RetryRunFrom: the source run must be FAILED, PARTIAL or CANCELLED. */
export function canRetry(run: Run): boolean {
  return run.status === "failed" || run.status === "partial" || run.status === "cancelled";
}

/**
 * The step a retry starts from: the selection, except that a map item or
 * loop iteration cannot be retried on its own (the server refuses), so its
 * map or loop is; with no selection, the run's own checkpoint.
 */
export function retryTarget(run: Run, selectedStep: string | undefined): string {
  if (!selectedStep) return run.canRetryFrom;
  const step = run.steps.find((s) => s.id === selectedStep);
  return step && step.itemIndex !== null && step.parentId ? step.parentId : selectedStep;
}
