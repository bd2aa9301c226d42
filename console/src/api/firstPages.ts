/**
 * A list's first `pages` pages, chained by their tokens and loaded again
 * together on every poll, so rows already shown keep their status fresh
 * (an older run can still end, an older approval be decided). Shared by
 * the runs and approvals lists, whose "More" asks for one more page.
 */

/** The rows of the pages loaded, whether another follows, and the total. */
export interface Loaded<T> {
  items: T[];
  more: boolean;
  total: number;
}

/** One page as the SDK's `listPage` answers it, reduced to what chaining needs. */
export interface OnePage<T> {
  items: T[];
  nextPageToken: string;
  total: number;
}

export async function firstPages<T>(pages: number, fetch: (pageToken: string) => Promise<OnePage<T>>): Promise<Loaded<T>> {
  const items: T[] = [];
  let pageToken = "";
  let total = 0;
  for (let page = 0; page < pages; page++) {
    const answer = await fetch(pageToken);
    items.push(...answer.items);
    total = answer.total;
    pageToken = answer.nextPageToken;
    if (!pageToken) break;
  }
  return { items, more: pageToken !== "", total };
}
