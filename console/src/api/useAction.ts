/**
 * `useAction`: a button's call to the server, with its pending flag and its
 * error kept for display; resolves to the answer or undefined on failure.
 */
import { useCallback, useState } from "react";
import { useConnection } from "./weft";

export interface Action<A extends unknown[], T> {
  run(...args: A): Promise<T | undefined>;
  pending: boolean;
  error: unknown;
  clear(): void;
}

export function useAction<A extends unknown[], T>(call: (...args: A) => Promise<T>): Action<A, T> {
  const { report } = useConnection();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = useCallback(
    async (...args: A) => {
      setPending(true);
      setError(undefined);
      try {
        return await call(...args);
      } catch (thrown) {
        setError(thrown);
        report(thrown);
        return undefined;
      } finally {
        setPending(false);
      }
    },
    [call, report],
  );
  return { run, pending, error, clear: () => setError(undefined) };
}
