/**
 * A read-only, side-by-side diff of two texts (CodeMirror's MergeView),
 * loaded on demand by the workflow page's Versions tab so CodeMirror stays
 * out of that page's own chunk. Changed lines are marked by CodeMirror on
 * both sides (a gutter bar and a background), and each side is named.
 */
import { useEffect, useRef } from "react";
import { MergeView } from "@codemirror/merge";
import { jsonExtensions } from "./codemirror";
import "./merge.css";

export interface MergeDiffProps {
  left: string;
  right: string;
  leftLabel: string;
  rightLabel: string;
}

export default function MergeDiff({ left, right, leftLabel, rightLabel }: MergeDiffProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!host.current) return;
    const view = new MergeView({
      a: { doc: left, extensions: jsonExtensions(leftLabel, { readOnly: true }) },
      b: { doc: right, extensions: jsonExtensions(rightLabel, { readOnly: true }) },
      parent: host.current,
      gutter: true,
      highlightChanges: true,
      collapseUnchanged: { margin: 3, minSize: 8 },
    });
    return () => view.destroy();
  }, [left, right, leftLabel, rightLabel]);
  return (
    <div className="merge-diff">
      <div className="merge-diff-heads" aria-hidden="true">
        <span>{leftLabel}</span>
        <span>{rightLabel}</span>
      </div>
      <div ref={host} />
    </div>
  );
}
