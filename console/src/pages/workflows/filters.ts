/**
 * The list's filters as they live in the address (`?status=active&tag=x&q=…`),
 * so a filtered view can be bookmarked and shared: read from and written
 * to the query string, nothing kept elsewhere.
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

export function writeFilters(filters: ListFilters): string {
  const params = new URLSearchParams();
  if (filters.status) params.set("status", filters.status);
  if (filters.tag) params.set("tag", filters.tag);
  if (filters.q) params.set("q", filters.q);
  const query = params.toString();
  return query ? `?${query}` : "";
}
