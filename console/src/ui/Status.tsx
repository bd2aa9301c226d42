/**
 * Status badges. Every status is shown as a glyph *and* a word, with the
 * colour as a third cue only (never the sole signal), and the whole badge
 * carries `data-status` for tests and styling.
 */
import type { RunStatus, StepStatus, WorkflowStatus, ApprovalStatus } from "weftflow";

export type AnyStatus = RunStatus | StepStatus | WorkflowStatus | ApprovalStatus;

const GLYPHS: Record<AnyStatus, string> = {
  queued: "◌",
  pending: "○",
  ready: "◔",
  running: "◐",
  paused: "‖",
  waiting: "⧗",
  completed: "✓",
  failed: "✗",
  partial: "◑",
  cancelled: "⊘",
  skipped: "↷",
  draft: "✎",
  active: "●",
  archived: "▣",
  approved: "✓",
  denied: "✗",
  expired: "⌛",
  escalated: "⇑",
};

/** The tone a status is drawn in (a CSS class), grouped by meaning. */
export function tone(status: string): "ok" | "bad" | "live" | "wait" | "idle" | "warn" {
  switch (status) {
    case "completed":
    case "approved":
    case "active":
      return "ok";
    case "failed":
    case "denied":
      return "bad";
    case "running":
    case "ready":
      return "live";
    case "paused":
    case "waiting":
    case "queued":
    case "escalated":
      return "wait";
    case "partial":
    case "expired":
      return "warn";
    default:
      return "idle";
  }
}

export function glyph(status: string): string {
  return GLYPHS[status as AnyStatus] ?? "•";
}

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`status status-${tone(status)}`} data-status={status}>
      <span aria-hidden="true">{glyph(status)}</span> {label ?? status}
    </span>
  );
}
