/**
 * /runs: every run of the tenant, newest first, filtered by workflow,
 * status and trigger (kept in the URL, so a filtered list can be shared
 * and survives reload), polled every 2 s while the tab is visible so
 * statuses change in place, and paged with "More".
 */
import { useMemo, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { StatusBadge } from "../../ui/Status";
import { money, seconds, when } from "../../ui/format";
import { filtersFrom, filtersQuery, listRuns, type RunFilters } from "./listRuns";
import { RunsFilterBar } from "./RunsFilterBar";
import "./runs.css";

const POLL_MS = 2000;

export default function RunsPage() {
  const weft = useWeft();
  const search = useSearch();
  const [, navigate] = useLocation();
  const filters = useMemo(() => filtersFrom(search), [search]);
  const [pages, setPages] = useState(1);
  const workflows = useLoad(() => weft.workflows.list({ limit: 200 }), [weft]);
  const runs = useLoad(() => listRuns(weft, filters, pages), [weft, filters, pages], { pollMs: POLL_MS });
  const names = useMemo(() => new Map((workflows.data ?? []).map((w) => [w.id, w.name])), [workflows.data]);

  const setFilters = (next: RunFilters) => {
    setPages(1);
    navigate(`/runs${filtersQuery(next)}`, { replace: true });
  };

  const list = runs.data?.items ?? [];
  return (
    <>
      <h1>Runs</h1>
      <RunsFilterBar filters={filters} workflows={workflows.data ?? []} onChange={setFilters} />
      <ErrorNote error={runs.error} title="Cannot list runs" />
      <p className="muted" aria-live="polite">
        {runs.data === undefined
          ? runs.loading
            ? "Loading runs…"
            : ""
          : `${runs.data.total} run${runs.data.total === 1 ? "" : "s"} match; showing ${list.length}. Updated every 2 s.`}
      </p>
      {runs.data !== undefined && list.length === 0 ? (
        <p>{filters.workflow || filters.status || filters.trigger ? "No runs match these filters." : "No runs yet."}</p>
      ) : list.length > 0 ? (
        <table className="runs-table">
          <caption className="visually-hidden">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Trigger</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Cost</th>
            </tr>
          </thead>
          <tbody>
            {list.map((run) => (
              <tr key={run.id} data-run-id={run.id}>
                <td>
                  <Link href={`/runs/${run.id}`}>
                    <code>{run.id}</code>
                  </Link>
                </td>
                <td>
                  <Link href={`/workflows/${run.workflowId}`}>{names.get(run.workflowId) ?? run.workflowId}</Link>
                  {run.workflowVersion > 0 && <span className="muted"> v{run.workflowVersion}</span>}
                </td>
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>{run.trigger || "manual"}</td>
                <td>{when(run.startedAt ?? run.createdAt)}</td>
                <td>{seconds(run.duration)}</td>
                <td>{money(run.cost)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {runs.data?.more && (
        <div className="row">
          <button type="button" onClick={() => setPages((n) => n + 1)} disabled={runs.loading}>
            More
          </button>
        </div>
      )}
    </>
  );
}
