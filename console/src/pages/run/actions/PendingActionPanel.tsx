//! Placeholder until the pending-action panel is built (owned by the actions helper).
import type { Run } from "weftflow";

export interface PendingActionPanelProps {
  run: Run;
  onChanged: () => void;
}

export function PendingActionPanel(_props: PendingActionPanelProps) {
  return null;
}
