/**
 * Answers a paused step that has no approval record to decide (a
 * confirmation, a cost ceiling, a tool approval on an older server) with
 * one of its options, through ResumeRun's step-answer form.
 */
import type { Run } from "weftflow";
import { useAction } from "../../../api/useAction";
import { useWeft } from "../../../api/weft";
import { ErrorNote } from "../../../ui/ErrorNote";

export function StepAnswer({ run, step, options, onChanged }: { run: Run; step: string; options: string[]; onChanged: () => void }) {
  const weft = useWeft();
  const answer = useAction((option: string) => weft.runs.resume(run.id, { step, input: option }));
  if (options.length === 0) return <p className="muted">This step offers no answer the console can send; see its message.</p>;
  return (
    <div role="group" aria-label={`Answer step ${step}`}>
      <div className="row">
        {options.map((option) => (
          <button key={option} type="button" disabled={answer.pending} onClick={async () => (await answer.run(option)) && onChanged()}>
            {option}
          </button>
        ))}
      </div>
      <ErrorNote error={answer.error} title="Answer refused" />
    </div>
  );
}
