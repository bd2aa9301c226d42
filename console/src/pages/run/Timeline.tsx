/**
 * The run's timeline (a Gantt chart): one row per step, its bar from when
 * it started to when it ended (or to now while it runs), placed by time
 * since the run started, over a time axis. Each bar carries its status in
 * words; each row is a button that selects the step. Plain DOM and CSS:
 * bars on a line need no layout library.
 */
import { StatusBadge, tone } from "../../ui/Status";
import type { StepView } from "./liveState";
import { span, stepDuration } from "./runGraph";

const TICKS = 4;

/**
 * Where a bar's status word goes so it stays inside the track and off the
 * bar's edges: after a bar that ends early, before one that starts late,
 * else inside (the bar is then at least half the track wide).
 */
function wordPlace(start: number, end: number, width: number): "after" | "before" | "inside" {
  if (end / width < 0.75) return "after";
  if (start / width > 0.25) return "before";
  return "inside";
}

export interface TimelineProps {
  steps: readonly StepView[];
  /** When the run started (ms); the axis starts there. */
  start: number | undefined;
  /** When the run ended (ms), or undefined while it runs. */
  end: number | undefined;
  now: number;
  selected: string | undefined;
  onSelect(id: string): void;
}

export function Timeline({ steps, start, end, now, selected, onSelect }: TimelineProps) {
  const started = steps.filter((s) => s.startedAt);
  const origin = start ?? Math.min(...started.map((s) => s.startedAt?.getTime() ?? now), now);
  const last = Math.max(end ?? now, ...started.map((s) => s.completedAt?.getTime() ?? now));
  // At least a second wide, so a run of instant steps is not one sliver.
  const width = Math.max(1000, last - origin);
  const at = (ms: number) => `${Math.min(100, Math.max(0, ((ms - origin) / width) * 100))}%`;
  if (steps.length === 0) return <p className="muted">No steps to show yet.</p>;
  return (
    <div className="gantt" role="group" aria-label="Timeline of the run's steps">
      <div className="gantt-axis" aria-hidden="true">
        <span className="gantt-label" />
        <span className="gantt-track">
          {Array.from({ length: TICKS + 1 }, (_, i) => (
            <span key={i} className="gantt-tick" style={{ left: `${(i / TICKS) * 100}%` }}>
              {span((width * i) / TICKS)}
            </span>
          ))}
        </span>
      </div>
      {steps.map((step) => {
        const from = step.startedAt?.getTime();
        const to = step.completedAt?.getTime() ?? now;
        const when = from === undefined ? "not started" : `from ${span(from - origin)}, took ${stepDuration(step, now)}`;
        return (
          <button
            type="button"
            key={step.id}
            className={`gantt-row${step.id === selected ? " gantt-row-selected" : ""}`}
            aria-pressed={step.id === selected}
            data-step-id={step.id}
            onClick={() => onSelect(step.id)}
          >
            {/* The name read out is the text shown, plus the timing said in words (hidden from sight). */}
            <span className="gantt-label">{step.id}</span>
            <span className="sr-only">{`, ${step.status}, ${when}`}</span>
            <span className="gantt-track">
              {from === undefined ? (
                <span className="gantt-idle" aria-hidden="true">
                  <StatusBadge status={step.status} />
                </span>
              ) : (
                <span className={`gantt-bar status-${tone(step.status)}`} style={{ left: at(from), width: `max(3px, calc(${at(to)} - ${at(from)}))` }}>
                  <span aria-hidden="true" className={`gantt-bar-text gantt-bar-text-${wordPlace(from - origin, to - origin, width)}`}>
                    {step.status}
                  </span>
                </span>
              )}
            </span>
          </button>
        );
      })}
    </div>
  );
}
