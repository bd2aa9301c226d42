/**
 * Checks the typed text ~300 ms after the last keystroke (see problems.ts),
 * keeping only the answer for the newest text: an answer that arrives
 * after the user typed on is dropped. A failed server call (not a bad
 * definition: ValidateWorkflow answers those normally) is kept apart, so
 * the page can say validation is unavailable rather than "no problems".
 */
import { useEffect, useRef, useState } from "react";
import { useConnection } from "../../api/weft";
import { check, checkLocally, type Checked } from "./problems";

export const CHECK_DELAY_MS = 300;

export interface Checks {
  checked: Checked | undefined;
  /** A check is waiting or in flight. */
  checking: boolean;
  error: unknown;
}

export function useChecks(text: string | undefined): Checks {
  const { weft, report } = useConnection();
  const [checked, setChecked] = useState<Checked | undefined>(undefined);
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const generation = useRef(0);

  useEffect(() => {
    if (text === undefined) return;
    const mine = ++generation.current;
    setChecking(true);
    const timer = setTimeout(() => {
      check(weft, text).then(
        (result) => {
          if (mine !== generation.current) return;
          setChecked(result);
          setError(undefined);
          setChecking(false);
        },
        (thrown: unknown) => {
          if (mine !== generation.current) return;
          // Keep the local findings (and the graph) even when the server is away.
          const local = checkLocally(text);
          setChecked({ value: local.value, graph: local.graph, problems: local.problems, source: local.source });
          setError(thrown);
          setChecking(false);
          report(thrown);
        },
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [text, weft, report]);

  return { checked, checking, error };
}
