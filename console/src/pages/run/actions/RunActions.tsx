//! Placeholder until the run actions are built (owned by the actions helper).
import type { Run } from "weftflow";

export interface RunActionsProps {
  run: Run;
  /** The step selected in the DAG, for "retry from this step". */
  selectedStep: string | undefined;
  /** Called after an action changed the run (or started a new one). */
  onChanged: () => void;
}

export function RunActions(_props: RunActionsProps) {
  return null;
}
