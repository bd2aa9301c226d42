/**
 * The workflows list (/workflows): name, status, version, tags, last
 * change. Status and tag filter on the server (ListWorkflows has both);
 * the name search has no server filter, so it narrows the workflows loaded
 * so far in the browser, and the page says so. The list loads a page at a
 * time (useWorkflowPages), with "Load more" while another page follows.
 * Filters, and the page size (`?pageSize=`, see filters.ts), live in the
 * address.
 */
import { useMemo } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { WorkflowStatus } from "weftflow";
import { ErrorNote } from "../../ui/ErrorNote";
import { StatusBadge } from "../../ui/Status";
import { when } from "../../ui/format";
import { NAME_MAX, readFilters, readPageSize, TAG_MAX, writeFilters, type ListFilters } from "./filters";
import { Tags } from "./Tags";
import { useWorkflowPages } from "./useWorkflowPages";
import "./workflows.css";

export default function WorkflowsPage() {
  const search = useSearch();
  const [, navigate] = useLocation();
  const filters = readFilters(search);
  const pageSize = readPageSize(search);
  const setFilters = (change: Partial<ListFilters>) =>
    navigate(`/workflows${writeFilters({ ...filters, ...change }, pageSize)}`, { replace: true });

  const tag = filters.tag.trim();
  const list = useWorkflowPages({ ...(filters.status ? { status: filters.status } : {}), ...(tag ? { tag } : {}) }, pageSize, 15000);
  const shown = useMemo(() => {
    const needle = filters.q.trim().toLowerCase();
    return (list.workflows ?? []).filter((w) => !needle || w.name.toLowerCase().includes(needle));
  }, [list.workflows, filters.q]);
  const loaded = list.workflows?.length ?? 0;

  return (
    <div>
      <div className="page-head">
        <h1>Workflows</h1>
        <Link href="/workflows/new" className="button primary">
          New workflow
        </Link>
      </div>
      <form className="toolbar" role="search" aria-label="Filter workflows" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={filters.status} onChange={(e) => setFilters({ status: e.target.value as ListFilters["status"] })}>
            <option value="">Any but archived</option>
            {Object.values(WorkflowStatus).map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <input type="text" value={filters.tag} maxLength={TAG_MAX} onChange={(e) => setFilters({ tag: e.target.value })} placeholder="any tag" />
        </label>
        <label>
          Name contains
          <input type="search" value={filters.q} maxLength={NAME_MAX} onChange={(e) => setFilters({ q: e.target.value })} placeholder="search by name" />
        </label>
        {(filters.status || filters.tag || filters.q) && (
          <button type="button" onClick={() => navigate(`/workflows${writeFilters({ status: "", tag: "", q: "" }, pageSize)}`, { replace: true })}>
            Clear filters
          </button>
        )}
      </form>
      {filters.q && (
        <p className="muted">
          The name search filters the {loaded} workflow{loaded === 1 ? "" : "s"} loaded so far in the browser; the server has no name filter.
          {list.hasMore && " Load more to search further."}
        </p>
      )}
      <ErrorNote error={list.error} title="Could not list workflows" />
      {list.workflows === undefined && list.loading && <p aria-busy="true">Loading workflows…</p>}
      {list.workflows !== undefined && shown.length === 0 && (
        <p className="empty">
          {filters.status || filters.tag || filters.q ? "No workflow matches these filters." : "No workflows yet. "}
          {!(filters.status || filters.tag || filters.q) && <Link href="/workflows/new">Create the first one</Link>}
        </p>
      )}
      {shown.length > 0 && (
        <table aria-label="Workflows" aria-busy={list.loading}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col">Tags</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((w) => (
              <tr key={w.id} data-workflow-id={w.id}>
                <td>
                  <Link href={`/workflows/${w.id}`}>{w.name}</Link>
                  {w.description && <div className="muted row-note">{w.description}</div>}
                </td>
                <td>
                  <StatusBadge status={w.status} />
                </td>
                <td>v{w.version}</td>
                <td>
                  <Tags tags={w.tags} onPick={(tag) => setFilters({ tag })} />
                </td>
                <td>{when(w.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.hasMore && (
        <p className="toolbar">
          {/* Never disabled: a poll's brief loading would take the keyboard focus off it. */}
          <button type="button" onClick={list.more} aria-busy={list.loading}>
            Load more
          </button>
          <span className="muted">
            {loaded} of {list.total} workflows loaded, {pageSize} at a time.
          </span>
        </p>
      )}
    </div>
  );
}
