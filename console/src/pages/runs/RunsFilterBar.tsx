/**
 * The filters of the runs list: workflow (a known workflow, or whatever
 * id or name the URL carries), status and trigger. Each change replaces
 * the URL's query; the list reads its filters from there.
 */
import type { Workflow } from "weftflow";
import { RunStatus } from "weftflow";
import type { RunFilters } from "./listRuns";

const TRIGGERS = ["manual", "schedule", "webhook", "retry"];

export function RunsFilterBar({ filters, workflows, onChange }: { filters: RunFilters; workflows: Workflow[]; onChange(next: RunFilters): void }) {
  const known = workflows.some((w) => w.id === filters.workflow || w.name === filters.workflow);
  const set = (key: keyof RunFilters) => (event: { target: { value: string } }) => onChange({ ...filters, [key]: event.target.value });
  return (
    <form className="toolbar" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
      <label>
        Workflow
        <select value={filters.workflow} onChange={set("workflow")}>
          <option value="">All workflows</option>
          {!known && filters.workflow && <option value={filters.workflow}>{filters.workflow}</option>}
          {workflows.map((w) => (
            // The URL may name the workflow; select it either way.
            <option key={w.id} value={filters.workflow === w.name ? w.name : w.id}>
              {w.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Status
        <select value={filters.status} onChange={set("status")}>
          <option value="">Any status</option>
          {Object.values(RunStatus).map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </label>
      <label>
        Trigger
        <select value={filters.trigger} onChange={set("trigger")}>
          <option value="">Any trigger</option>
          {TRIGGERS.map((trigger) => (
            <option key={trigger} value={trigger}>
              {trigger}
            </option>
          ))}
          {filters.trigger && !TRIGGERS.includes(filters.trigger) && <option value={filters.trigger}>{filters.trigger}</option>}
        </select>
      </label>
      {(filters.workflow || filters.status || filters.trigger) && (
        <button type="button" onClick={() => onChange({ workflow: "", status: "", trigger: "" })}>
          Clear filters
        </button>
      )}
    </form>
  );
}
