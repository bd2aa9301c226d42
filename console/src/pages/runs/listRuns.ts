/**
 * The tenant's runs through the raw ListRuns call, which the SDK's
 * `runs.list` does not page by token: the filters as the URL writes them,
 * and the first `pages` pages chained by next_page_token, so a poll after
 * "More" refreshes every row shown (old rows can still change status).
 */
import { toWeftError, type Weft } from "weftflow";
import { RunStatus as PbRunStatus, type Run as PbRun } from "weftflow/gen/weft/v1/run_pb";

/** Runs per page; the server allows 200 at most. */
export const PAGE_SIZE = 50;

/** The filters of the runs list, as kept in the URL (`?workflow=&status=&trigger=`). */
export interface RunFilters {
  /** Workflow id or name; "" for all. */
  workflow: string;
  /** Run status name ("running"); "" for all. */
  status: string;
  /** Trigger ("manual", "schedule", "webhook", "retry"); "" for all. */
  trigger: string;
}

export function filtersFrom(search: string): RunFilters {
  const params = new URLSearchParams(search);
  return { workflow: params.get("workflow") ?? "", status: params.get("status") ?? "", trigger: params.get("trigger") ?? "" };
}

export function filtersQuery(filters: RunFilters): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  const query = params.toString();
  return query ? `?${query}` : "";
}

export interface RunsPage {
  runs: PbRun[];
  /** Whether another page follows the last one loaded. */
  more: boolean;
  /** Runs matching the filters, across all pages. */
  total: number;
}

function statusNumber(name: string): PbRunStatus {
  const value = (PbRunStatus as unknown as Record<string, number>)[name.toUpperCase()];
  return typeof value === "number" ? value : PbRunStatus.UNSPECIFIED;
}

export async function listRuns(weft: Weft, filters: RunFilters, pages: number): Promise<RunsPage> {
  const runs: PbRun[] = [];
  let token = "";
  let total = 0;
  for (let page = 0; page < pages; page++) {
    const answer = await weft.raw.runs
      .listRuns({ workflowId: filters.workflow, status: statusNumber(filters.status), trigger: filters.trigger, pageSize: PAGE_SIZE, pageToken: token })
      .catch((thrown: unknown) => Promise.reject(toWeftError(thrown)));
    runs.push(...answer.runs);
    total = answer.total;
    token = answer.nextPageToken;
    if (!token) break;
  }
  return { runs, more: token !== "", total };
}
