/**
 * Walking token-paged lists: `listAll` of workflows, runs and approvals
 * fetches one page at a time as the loop asks, passing each page's next
 * token until the last page's empty one.
 */

/** Every item of every page `fetch(token)` answers, from the first page (token ""). */
export async function* everyItem<T>(fetch: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>): AsyncGenerator<T, void, undefined> {
  let pageToken = "";
  do {
    const page = await fetch(pageToken);
    yield* page.items;
    pageToken = page.nextPageToken;
  } while (pageToken);
}
