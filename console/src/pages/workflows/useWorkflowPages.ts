/**
 * Loading the workflows list in pages of `pageSize` through ListWorkflows'
 * limit/offset: one page at first, one more per `more()`. Each poll
 * re-reads every page loaded (in parallel), so statuses stay live and
 * "Load more" is never undone by a poll. A change of the server-side
 * filters or of the page size starts again from one page.
 */
import { useState } from "react";
import type { ListWorkflowsOptions, WorkflowHandle } from "weftflow";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";

export interface WorkflowPages {
  /** Every workflow loaded, newest first; `undefined` before the first answer. */
  workflows: WorkflowHandle[] | undefined;
  /** The last page came back full, so the server may have more. */
  hasMore: boolean;
  more(): void;
  error: unknown;
  loading: boolean;
}

export function useWorkflowPages(filters: Pick<ListWorkflowsOptions, "status" | "tag">, pageSize: number, pollMs: number): WorkflowPages {
  const weft = useWeft();
  const query = JSON.stringify([filters.status ?? "", filters.tag ?? "", pageSize]);
  // The page count belongs to one query; another query reads as one page,
  // without an effect to reset it (and a render with the old count).
  const [pages, setPages] = useState({ query, count: 1 });
  const count = pages.query === query ? pages.count : 1;

  const list = useLoad(
    async () => {
      const read = await Promise.all(
        Array.from({ length: count }, (_, page) => weft.workflows.list({ ...filters, limit: pageSize, offset: page * pageSize })),
      );
      // A workflow created between two page reads shifts the rest by one,
      // so the same one can come back on two pages: keep its first.
      const seen = new Set<string>();
      const workflows = read.flat().filter((w) => !seen.has(w.id) && (seen.add(w.id), true));
      return { workflows, hasMore: (read[read.length - 1]?.length ?? 0) === pageSize };
    },
    [query, count],
    { pollMs },
  );

  return {
    workflows: list.data?.workflows,
    hasMore: list.data?.hasMore ?? false,
    more: () => setPages({ query, count: count + 1 }),
    error: list.error,
    loading: list.loading,
  };
}
