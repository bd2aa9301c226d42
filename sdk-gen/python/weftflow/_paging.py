"""Walking token-paged lists: ``list_all`` of workflows, runs and
approvals, sync and asyncio, fetch one page at a time as the loop asks,
passing each page's next token until the last page's empty one."""

from __future__ import annotations

from typing import AsyncIterator, Awaitable, Callable, Iterator, Sequence, Tuple, TypeVar

T = TypeVar("T")

#: One page: its items and the token of the next ("" on the last page).
Page = Tuple[Sequence[T], str]


def every_item(fetch: Callable[[str], Page[T]]) -> Iterator[T]:
    """Every item of every page ``fetch(token)`` answers, from the first page (token "")."""
    token = ""
    while True:
        items, token = fetch(token)
        yield from items
        if not token:
            return


async def every_item_async(fetch: Callable[[str], Awaitable[Page[T]]]) -> AsyncIterator[T]:
    """As :func:`every_item`, for the asyncio client."""
    token = ""
    while True:
        items, token = await fetch(token)
        for item in items:
            yield item
        if not token:
            return
