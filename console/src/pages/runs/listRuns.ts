/**
 * The tenant's runs through the SDK's token paging (`weft.runs.listPage`):
 * the filters as the URL writes them, and the first `pages` pages (see
 * `firstPages`).
 */
import { RunStatus, type Run, type Weft } from "weftflow";
import { firstPages, type Loaded } from "../../api/firstPages";

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

/** The URL's status, if it names one; anything else filters nothing. */
function knownStatus(name: string): RunStatus | undefined {
  return (Object.values(RunStatus) as string[]).includes(name) ? (name as RunStatus) : undefined;
}

export function listRuns(weft: Weft, filters: RunFilters, pages: number): Promise<Loaded<Run>> {
  return firstPages(pages, async (pageToken) => {
    const page = await weft.runs.listPage({
      workflowId: filters.workflow,
      status: knownStatus(filters.status),
      trigger: filters.trigger,
      pageSize: PAGE_SIZE,
      pageToken,
    });
    return { items: page.runs, nextPageToken: page.nextPageToken, total: page.total };
  });
}
