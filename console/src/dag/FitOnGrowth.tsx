/**
 * Keeps a DagView's drawing in view as its graph grows: a planner splices
 * steps into a running DAG, and the editor's graph gains a step as one is
 * typed, and either can land outside the view fitted before. Rendered
 * inside <ReactFlow> (it needs its instance); draws nothing.
 *
 * It refits when new node ids appear, but only if the viewport is still
 * where the last automatic fit left it. A user who panned or zoomed by
 * hand is reading something there, and pulling the view away on every
 * splice would fight them; the Fit view control (which re-arms following,
 * see `rearm`) is one click away. An unmoved view is refitted with a short
 * animation, so the growth is seen rather than jumped to.
 */
import { useEffect, useRef, type RefObject } from "react";
import { useReactFlow, type FitViewOptions, type Viewport } from "@xyflow/react";

/** Long enough to follow, short enough not to hold up reading. */
const GROWTH_MS = 250;

/** The viewport the last automatic fit left, or `null`: follow the graph (no fit yet, or Fit view pressed). */
export type FittedRef = RefObject<Viewport | null>;

/** For the Fit view control: after it the view follows growth again. */
export function rearm(fitted: FittedRef): void {
  fitted.current = null;
}

// Pan in pixels, zoom as a ratio: within rounding, the same view.
const same = (a: Viewport, b: Viewport) => Math.abs(a.x - b.x) < 1 && Math.abs(a.y - b.y) < 1 && Math.abs(a.zoom - b.zoom) < 1e-3;

export function FitOnGrowth({ ids, fitted, options }: { ids: readonly string[]; fitted: FittedRef; options: FitViewOptions }) {
  const { fitView, getViewport } = useReactFlow();
  const seen = useRef<ReadonlySet<string>>(new Set());
  // A fit under way: growth meanwhile fits again rather than reading the
  // half-animated view as a move by the user.
  const fitting = useRef(false);

  useEffect(() => {
    const grew = ids.some((id) => !seen.current.has(id));
    seen.current = new Set(ids);
    if (!grew) return;
    const last = fitted.current;
    if (last && !fitting.current && !same(last, getViewport())) return;
    fitting.current = true;
    // fitView waits until the new nodes are measured before fitting.
    void fitView({ ...options, duration: last ? GROWTH_MS : 0 }).then(() => {
      fitting.current = false;
      fitted.current = getViewport();
    });
  }, [ids, fitted, options, fitView, getViewport]);

  return null;
}
