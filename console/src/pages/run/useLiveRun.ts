/**
 * `useLiveRun(runId)`: the page's view of one run, kept live by a
 * `RunFollower` that lives as long as the page shows that run (stopped on
 * unmount or when the id changes), plus a clock that ticks while the run
 * is live so running steps' durations and timeline bars grow.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useConnection } from "../../api/weft";
import { RunFollower, type FollowerState } from "./RunFollower";
import { EMPTY, isFinished, view, type RunView } from "./liveState";

export interface LiveRun extends FollowerState {
  view: RunView | undefined;
  /** Now, in ms, ticking once a second while the run is live. */
  now: number;
  /** Re-read the run at once (after an action changed it). */
  refresh(): void;
}

const TICK_MS = 1000;

export function useLiveRun(runId: string): LiveRun {
  const { weft, report } = useConnection();
  const [state, setState] = useState<FollowerState | undefined>(undefined);
  const follower = useRef<RunFollower | undefined>(undefined);

  useEffect(() => {
    const mine = new RunFollower(weft, runId, setState);
    follower.current = mine;
    setState(undefined);
    void mine.start();
    return () => mine.stop();
  }, [weft, runId]);

  // Auth refusals open the key prompt, as every other read does.
  useEffect(() => {
    if (state?.loadError) report(state.loadError);
    if (state?.streamError) report(state.streamError);
  }, [state?.loadError, state?.streamError, report]);

  const shown = useMemo(() => (state ? view(state.live) : undefined), [state]);
  const live = shown !== undefined && !isFinished(shown.status);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    setNow(Date.now());
    if (!live) return;
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, [live]);

  const refresh = useCallback(() => follower.current?.refresh(), []);
  return {
    live: state?.live ?? EMPTY,
    workflow: state?.workflow,
    loadError: state?.loadError,
    workflowError: state?.workflowError,
    streamError: state?.streamError,
    connection: state?.connection ?? "connecting",
    view: shown,
    now,
    refresh,
  };
}
