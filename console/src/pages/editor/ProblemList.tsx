/**
 * The problems of the typed definition under the editor: a count in a
 * polite live region (announced as it changes), and one button per
 * problem that puts the editor's cursor on it.
 */
import type { Problem } from "./problems";

export interface ProblemListProps {
  problems: Problem[] | undefined;
  checking: boolean;
  onChoose(problem: Problem): void;
}

function summary(problems: Problem[] | undefined, checking: boolean): string {
  if (!problems) return "Checking the definition…";
  const count = problems.length === 0 ? "No problems" : `${problems.length} problem${problems.length === 1 ? "" : "s"}`;
  return checking ? `${count} (checking the latest edit…)` : count;
}

/** "step a", "steps a, b" (a cycle is marked on each of its steps) or "workflow". */
function where(problem: Problem): string {
  const steps = [...new Set(problem.marks.map((m) => m.stepId).filter(Boolean))];
  if (steps.length === 0) return "workflow";
  return `${steps.length === 1 ? "step" : "steps"} ${steps.join(", ")}`;
}

export function ProblemList({ problems, checking, onChoose }: ProblemListProps) {
  return (
    <section className="problem-list" aria-labelledby="problems-heading">
      <h2 id="problems-heading">Problems</h2>
      <p role="status" aria-live="polite" className={problems && problems.length > 0 ? "problem-count has-problems" : "problem-count"} data-count={problems?.length ?? ""}>
        {problems && problems.length > 0 && <span aria-hidden="true">⚠ </span>}
        {summary(problems, checking)}
      </p>
      {problems && problems.length > 0 && (
        <ul>
          {problems.map((problem) => (
            <li key={problem.key}>
              <button type="button" className="problem" onClick={() => onChoose(problem)}>
                <code className="problem-code">{problem.code}</code>
                <span className="problem-step">{where(problem)}</span>
                <span className="problem-message">{problem.message}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
