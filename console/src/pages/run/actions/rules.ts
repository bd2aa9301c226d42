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
