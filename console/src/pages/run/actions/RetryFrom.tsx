/**
 * "Retry from <step>": a new run of the same version and input that reuses
 * every completed output upstream of the step and runs it and what follows
 * again (RetryRunFrom). The step is the one selected in the DAG (for a
 * map item, its map), else the run's canRetryFrom; with neither (a run
 * cancelled before any step failed), a plain ResumeRun retries from the
 * last checkpoint the server knows. The new run opens. Not destructive
 * (the source run is untouched), so it does not ask first.
 */
import { useId } from "react";
import { useLocation } from "wouter";
import type { Run } from "weftflow";
import { useAction } from "../../../api/useAction";
import { useWeft } from "../../../api/weft";
import { ErrorNote } from "../../../ui/ErrorNote";
import { retryTarget } from "./rules";

export function RetryFrom({ run, selectedStep, onChanged }: { run: Run; selectedStep: string | undefined; onChanged: () => void }) {
  const weft = useWeft();
  const [, navigate] = useLocation();
  const hintId = useId();
  const step = retryTarget(run, selectedStep);
  const retry = useAction(async (from: string): Promise<string> => {
    if (from) return (await weft.runs.retryFrom(run.id, from)).id;
    const answer = await weft.raw.runs.resumeRun({ runId: run.id });
    return answer.run?.id ?? "";
  });

  const start = async () => {
    const id = await retry.run(step);
    if (id === undefined) return;
    onChanged();
    if (id && id !== run.id) navigate(`/runs/${encodeURIComponent(id)}`);
  };

  return (
    <>
      <button type="button" className="primary" onClick={start} disabled={retry.pending} aria-describedby={hintId}>
        {retry.pending ? "Starting retry…" : step ? `Retry from ${step}` : "Retry from last checkpoint"}
      </button>
      <span id={hintId} className="muted action-hint">
        {selectedStep
          ? "Steps upstream of it keep their outputs; it and what follows run again, as a new run."
          : "Select a step in the graph to retry from it instead."}
      </span>
      <ErrorNote error={retry.error} title="Retry refused" />
    </>
  );
}
