"""Auto-paging over ``page``/``pageSize`` list endpoints, as ``async for`` iterators.

Stops when the items collected reach ``total``, on an empty page, or on a page that repeats the
last one; never yields an id twice, remembering ids only as far back as pages can overlap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from calleague_async._wire import ListPayload
from calleague_async.models import Page

T = TypeVar("T")

FetchPage = Callable[[int, int], Awaitable[ListPayload]]
"""Fetch one page: ``(page, page_size) -> ListPayload``."""


class _RecentIds:
    """The ids of the most recent items, as many as pages can overlap by.

    New items inserted at the head push older ones onto the next page, so the overlap between
    two consecutive pages is at most the growth of ``total`` since the first page (capped by
    the page size): remembering ``page_size + growth`` ids is enough, never every id seen.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: dict[Any, None] = {}

    def add(self, key: Any) -> bool:
        """Remember ``key``; False if it was already among the recent ids."""
        if key in self._ids:
            return False
        self._ids[key] = None
        while len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]
        return True

    def __len__(self) -> int:
        return len(self._ids)


class AsyncPager(Generic[T]):
    """Items of a list endpoint across pages: ``async for item in pager``, or ``.pages()``.

    >>> async for call in s.calls.list(status="completed", page_size=100):
    ...     print(call.call_id)
    >>> async for page in s.calls.list(page_size=100).pages():
    ...     print(page.page, page.total, len(page.items))
    """

    def __init__(
        self,
        fetch: FetchPage,
        decode: Callable[[list[dict[str, Any]]], list[T]],
        key: Callable[[T], Any],
        *,
        page_size: int,
        start_page: int = 1,
        max_items: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._decode = decode
        self._key = key
        self.page_size = page_size
        self.start_page = start_page
        self.max_items = max_items

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield each page in turn; ``page.items`` holds only items not yielded before."""
        size, page_no, limit = self.page_size, self.start_page, self.max_items
        recent = _RecentIds(size)
        # Items before the starting page count as collected when comparing with total.
        collected = (page_no - 1) * size
        yielded = 0
        first_total: int | None = None
        while True:
            payload = await self._fetch(page_no, size)
            total = payload.total
            if first_total is None:
                first_total = total
            growth = max(0, (total or 0) - (first_total or 0))
            recent.capacity = size + growth
            records = self._decode(payload.items)
            fresh = [r for r in records if (k := self._key(r)) in ("", None) or recent.add(k)]
            if limit is not None:
                fresh = fresh[: limit - yielded]
            collected += len(fresh)
            yielded += len(fresh)
            if fresh or page_no == self.start_page:
                yield Page(items=fresh, total=total, page=page_no, page_size=size)
            if not payload.items or (limit is not None and yielded >= limit):
                return
            if total is not None:
                if collected >= total:
                    return
            elif len(payload.items) < size:
                return
            if not fresh and growth < size:
                # Nothing new and no insertions to explain it: the server ignores `page`.
                return
            page_no += 1
