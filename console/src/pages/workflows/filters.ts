/**
 * The list's filters as they live in the address (`?status=active&tag=x&q=…`),
 * so a filtered view can be bookmarked and shared: read from and written
 * to the query string, nothing kept elsewhere. `?pageSize=` (1..200,
 * default 200) sets how many workflows one request loads; it exists so the
 * browser tests can page through a handful of workflows instead of
 * creating hundreds, and a filter change keeps it.
 */
import { WorkflowStatus } from "weftflow";

export interface ListFilters {
  /** "" : every status but archived (the server's default). */
  status: WorkflowStatus | "";
  tag: string;
  /** Part of the name, matched in the browser. */
  q: string;
}

const STATUSES = new Set<string>(Object.values(WorkflowStatus));

/** Tags are 1-64 characters (Workflow.tags); longer input is cut. */
export const TAG_MAX = 64;
/** Names are at most 200 characters; a longer search cannot match. */
export const NAME_MAX = 200;

export function readFilters(search: string): ListFilters {
  const params = new URLSearchParams(search);
  const status = params.get("status") ?? "";
  return {
    status: STATUSES.has(status) ? (status as WorkflowStatus) : "",
    tag: (params.get("tag") ?? "").slice(0, TAG_MAX),
    q: (params.get("q") ?? "").slice(0, NAME_MAX),
  };
}

/** The most ListWorkflows returns in one page, and the list's page size. */
export const PAGE_MAX = 200;

/** `?pageSize=`, a whole number bounded to 1..PAGE_MAX; PAGE_MAX when absent or not a number. */
export function readPageSize(search: string): number {
  const asked = Number.parseInt(new URLSearchParams(search).get("pageSize") ?? "", 10);
  return Number.isFinite(asked) ? Math.min(PAGE_MAX, Math.max(1, asked)) : PAGE_MAX;
}

export function writeFilters(filters: ListFilters, pageSize = PAGE_MAX): string {
  const params = new URLSearchParams();
  if (filters.status) params.set("status", filters.status);
  if (filters.tag) params.set("tag", filters.tag);
  if (filters.q) params.set("q", filters.q);
  if (pageSize !== PAGE_MAX) params.set("pageSize", String(pageSize));
  const query = params.toString();
  return query ? `?${query}` : "";
}
