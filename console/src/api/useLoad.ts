/**
 * `useLoad`: one async read, re-run when its dependencies change, and every
 * `pollMs` while the page is visible (for lists that show live status).
 * Failures are kept for display and reported to the connection (so an auth
 * refusal opens the key prompt). A stale answer never overwrites a newer
 * one.
 */
import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";
import { useConnection } from "./weft";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

export function useLoad<T>(load: () => Promise<T>, deps: DependencyList, options: { pollMs?: number } = {}): Loaded<T> {
  const { report, weft } = useConnection();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (thrown: unknown) => {
        if (mine !== generation.current) return;
        setError(thrown);
        setLoading(false);
        report(thrown);
      },
    );
  }, [report]);

  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(run, [...deps, weft, run]);

  useEffect(() => {
    if (!options.pollMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") run();
    }, options.pollMs);
    return () => clearInterval(timer);
  }, [options.pollMs, run]);

  return { data, error, loading, reload: run };
}
