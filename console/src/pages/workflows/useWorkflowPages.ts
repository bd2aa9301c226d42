/**
 * Loading the workflows list in pages of `pageSize` through the SDK's
 * token paging (`weft.workflows.listPage`): one page at first, one more
 * per `more()`. Each poll re-reads every page loaded (see `firstPages`), so
 * statuses stay live and "Load more" is never undone by a poll. Tokens
 * carry the position, so a workflow created meanwhile shifts nothing. A
 * change of the server-side filters or of the page size starts again from
 * one page.
 */
import { useState } from "react";
import type { WorkflowHandle, WorkflowPageOptions } from "weftflow";
import { firstPages } from "../../api/firstPages";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";

export interface WorkflowPages {
  /** Every workflow loaded, newest first; `undefined` before the first answer. */
  workflows: WorkflowHandle[] | undefined;
  /** Workflows matching the filters, loaded or not. */
  total: number;
  /** Whether another page follows the last one loaded. */
  hasMore: boolean;
  more(): void;
  error: unknown;
  loading: boolean;
}

export function useWorkflowPages(filters: Pick<WorkflowPageOptions, "status" | "tag">, pageSize: number, pollMs: number): WorkflowPages {
  const weft = useWeft();
  const query = JSON.stringify([filters.status ?? "", filters.tag ?? "", pageSize]);
  // The page count belongs to one query; another query reads as one page,
  // without an effect to reset it (and a render with the old count).
  const [pages, setPages] = useState({ query, count: 1 });
  const count = pages.query === query ? pages.count : 1;

  const list = useLoad(
    () =>
      firstPages(count, async (pageToken) => {
        const page = await weft.workflows.listPage({ ...filters, pageSize, pageToken });
        return { items: page.workflows, nextPageToken: page.nextPageToken, total: page.total };
      }),
    [query, count],
    { pollMs },
  );

  return {
    workflows: list.data?.items,
    total: list.data?.total ?? 0,
    hasMore: list.data?.more ?? false,
    more: () => setPages({ query, count: count + 1 }),
    error: list.error,
    loading: list.loading,
  };
}
