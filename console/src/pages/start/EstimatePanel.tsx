/**
 * The cost estimate of the run about to start (EstimateRun, a dry pass:
 * no agent runs), asked again a moment after the input stops changing, so
 * the user sees what a run would cost before starting it. Nothing is
 * asked while the input has problems; the last answer stays greyed until
 * a fresh one arrives.
 */
import { useEffect, useRef, useState } from "react";
import type { JsonValue } from "weftflow";
import type { EstimateRunResponse } from "weftflow/gen/weft/v1/run_service_pb";
import { useConnection } from "../../api/weft";
import { ErrorNote } from "../../ui/ErrorNote";
import { money } from "../../ui/format";
import { pbMoney } from "../../api/pb";

const DEBOUNCE_MS = 400;

function range(low: string, high: string): string {
  return low === high ? low : `${low} – ${high}`;
}

export function EstimatePanel({ workflowId, input }: { workflowId: string; input: JsonValue | undefined }) {
  const { weft, report } = useConnection();
  const [estimate, setEstimate] = useState<EstimateRunResponse | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [pending, setPending] = useState(false);
  const generation = useRef(0);
  const key = input === undefined ? "" : JSON.stringify(input);

  useEffect(() => {
    if (input === undefined) return;
    const mine = ++generation.current;
    setPending(true);
    const timer = setTimeout(() => {
      weft.runs.estimate(workflowId, { input }).then(
        (answer) => {
          if (mine !== generation.current) return;
          setEstimate(answer);
          setError(undefined);
          setPending(false);
        },
        (thrown: unknown) => {
          if (mine !== generation.current) return;
          setError(thrown);
          setPending(false);
          report(thrown);
        },
      );
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
    // `key` stands for `input` (a new object on every render).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [weft, workflowId, key, report]);

  return (
    <section className="panel estimate" aria-labelledby="estimate-title" aria-busy={pending}>
      <h2 id="estimate-title">Estimate</h2>
      {input === undefined && <p className="muted">Fix the input to see an estimate.</p>}
      <ErrorNote error={error} title="Cannot estimate" />
      {estimate === undefined && input !== undefined && !error && <p className="muted">Estimating…</p>}
      {estimate && (
        <div className={pending ? "muted" : undefined} data-testid="estimate">
          <dl className="facts">
            <dt>Cost</dt>
            <dd>{range(money(pbMoney(estimate.minCost)), money(pbMoney(estimate.maxCost)))}</dd>
            <dt>Agent calls</dt>
            <dd>{range(String(estimate.agentCallsMin), String(estimate.agentCallsMax))}</dd>
            <dt>Steps</dt>
            <dd>{estimate.stepCount}</dd>
            {estimate.unpricedAgents.length > 0 && (
              <>
                <dt>Not priced</dt>
                <dd>{estimate.unpricedAgents.join(", ")} (no worker gave a cost hint)</dd>
              </>
            )}
          </dl>
          {pending && <p className="muted">Updating…</p>}
          {estimate.steps.length > 0 && (
            <table>
              <caption className="muted">Per step</caption>
              <thead>
                <tr>
                  <th scope="col">Step</th>
                  <th scope="col">Calls</th>
                  <th scope="col">Cost</th>
                  <th scope="col">Note</th>
                </tr>
              </thead>
              <tbody>
                {estimate.steps.map((step) => (
                  <tr key={step.stepId}>
                    <td>
                      <code>{step.stepId}</code> <span className="muted">{step.type}</span>
                    </td>
                    <td>{range(String(step.callsMin), String(step.callsMax))}</td>
                    <td>{range(money(pbMoney(step.minCost)), money(pbMoney(step.maxCost)))}</td>
                    <td>{step.note}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
