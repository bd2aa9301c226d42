/**
 * A workflow's version history: each version's change summary and date,
 * a side-by-side diff of any two versions' definitions (CodeMirror's
 * MergeView, loaded on demand), the server's JSON Patch between them, and
 * "Roll back to this version" (after a confirmation) on older versions.
 */
import { lazy, Suspense, useState } from "react";
import { fromValue } from "weftflow";
import { useWeft } from "../../api/weft";
import { useAction } from "../../api/useAction";
import { useLoad } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { when } from "../../ui/format";
import { documentText } from "./document";

const MergeDiff = lazy(() => import("../editor/MergeDiff"));

export interface VersionsTabProps {
  workflowId: string;
  latest: number;
  /** Called after a rollback wrote a new version. */
  onRolledBack(): void;
}

export function VersionsTab({ workflowId, latest, onRolledBack }: VersionsTabProps) {
  const weft = useWeft();
  const versions = useLoad(() => weft.workflows.versions(workflowId), [workflowId, latest]);
  const [picked, setPicked] = useState<{ a: number; b: number } | undefined>(undefined);
  // Default: the previous version against the latest.
  const a = picked?.a ?? Math.max(1, latest - 1);
  const b = picked?.b ?? latest;
  const [confirming, setConfirming] = useState<number | undefined>(undefined);
  const rollback = useAction(async (version: number) => weft.workflows.rollback(workflowId, version, `Rolled back to version ${version}`));

  const doRollback = async (version: number) => {
    const done = await rollback.run(version);
    setConfirming(undefined);
    if (done) {
      setPicked(undefined);
      onRolledBack();
    }
  };

  if (versions.error) return <ErrorNote error={versions.error} title="Could not list the versions" />;
  if (!versions.data) return <p aria-busy="true">Loading versions…</p>;
  const numbers = versions.data.map((v) => v.version);

  return (
    <div>
      <table aria-label="Versions">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Change summary</th>
            <th scope="col">Written</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {versions.data.map((v) => (
            <tr key={v.version}>
              <td>v{v.version}{v.version === latest ? " (latest)" : ""}</td>
              <td>{v.changeSummary || <span className="muted">—</span>}</td>
              <td>{when(v.createdAt)}</td>
              <td>
                {v.version !== latest &&
                  (confirming === v.version ? (
                    <span className="confirm" role="group" aria-label={`Confirm rollback to version ${v.version}`}>
                      <span>Write version {latest + 1} with the definition of v{v.version}?</span>
                      <button type="button" className="danger" onClick={() => doRollback(v.version)} disabled={rollback.pending} autoFocus>
                        {rollback.pending ? "Rolling back…" : "Yes, roll back"}
                      </button>
                      <button type="button" onClick={() => setConfirming(undefined)}>
                        Cancel
                      </button>
                    </span>
                  ) : (
                    <button type="button" onClick={() => setConfirming(v.version)}>
                      Roll back to this version<span className="sr-only"> (version {v.version})</span>
                    </button>
                  ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorNote error={rollback.error} title="Rollback failed" />
      <h2>Compare versions</h2>
      {numbers.length < 2 ? (
        <p className="muted">There is only one version: nothing to compare yet.</p>
      ) : (
        <>
          <div className="versions-pick">
            <label>
              Older side
              <select value={a} onChange={(e) => setPicked({ a: Number(e.target.value), b })}>
                {numbers.map((n) => (
                  <option key={n} value={n}>
                    v{n}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Newer side
              <select value={b} onChange={(e) => setPicked({ a, b: Number(e.target.value) })}>
                {numbers.map((n) => (
                  <option key={n} value={n}>
                    v{n}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <VersionDiff workflowId={workflowId} a={a} b={b} />
        </>
      )}
    </div>
  );
}

function VersionDiff({ workflowId, a, b }: { workflowId: string; a: number; b: number }) {
  const weft = useWeft();
  const texts = useLoad(
    async () => {
      const [left, right] = await Promise.all([weft.workflows.getVersion(workflowId, a), weft.workflows.getVersion(workflowId, b)]);
      return { left: documentText(left.raw), right: documentText(right.raw) };
    },
    [workflowId, a, b],
  );
  const patch = useLoad(() => weft.workflows.diff(workflowId, a, b), [workflowId, a, b]);
  return (
    <section aria-label={`Differences from version ${a} to version ${b}`}>
      <ErrorNote error={texts.error} title="Could not load the versions" />
      {texts.data ? (
        <Suspense fallback={<p aria-busy="true">Loading the diff view…</p>}>
          <MergeDiff left={texts.data.left} right={texts.data.right} leftLabel={`Version ${a}`} rightLabel={`Version ${b}`} />
        </Suspense>
      ) : (
        !texts.error && <p aria-busy="true">Loading versions {a} and {b}…</p>
      )}
      <h3>Changes (JSON Patch from the server)</h3>
      <ErrorNote error={patch.error} title="Could not compare the versions" />
      {patch.data && (
        <>
          <p>{patch.data.summary || (patch.data.diff.length === 0 ? "No changes." : "")}</p>
          <ul className="patch-list" aria-label={`JSON Patch from version ${a} to version ${b}`}>
            {patch.data.diff.map((op, i) => (
              <li key={i}>
                <span className="patch-op">{op.op}</span> <code>{op.path}</code>
                {op.from && (
                  <>
                    {" "}
                    from <code>{op.from}</code>
                  </>
                )}
                {op.value && (
                  <>
                    {" = "}
                    <code>{JSON.stringify(fromValue(op.value))}</code>
                  </>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
