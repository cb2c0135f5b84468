"""Auto-paging as ``async for`` iterators: the one async driver over the sans-I/O core.

The arithmetic, the id window and the safeguards live in :mod:`calleague_async._pagecore`, and
how a route pages in :mod:`calleague_async._pagestyles`; here only tasks are managed: pages
ahead are fetched concurrently, stale ones cancelled, and pages used strictly in order, so
memory is bounded by the pages in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from calleague_async._pagecore import Decision, ListCursor, PageRequest, PagingCore
from calleague_async._pagestyles import PaginationStyle
from calleague_async._wire import ListPayload
from calleague_async.errors import ValidationError
from calleague_async.models import Page

__all__ = ["AsyncPager", "FetchPage", "ListCursor"]

T = TypeVar("T")

FetchPage = Callable[[int, int], Awaitable[ListPayload]]
"""Fetch one page: ``(page, page_size) -> ListPayload``."""


class AsyncPager(Generic[T]):
    """Items of a list endpoint across pages: ``async for item in pager``, or ``.pages()``.

    A server that repeats or cycles its pages, or stops progressing while ``total`` says more
    remain, raises :class:`~calleague_async.errors.InvalidResponseError` (see the README's
    "What is guaranteed").

    >>> async for call in s.calls.list(status="completed", page_size=100):
    ...     print(call.call_id)
    >>> async for page in s.calls.list(page_size=100, concurrency=8).pages():
    ...     print(page.page, page.total, len(page.items))
    """

    def __init__(
        self,
        fetch: FetchPage,
        decode: Callable[[list[dict[str, Any]]], list[T]],
        key: Callable[[dict[str, Any]], Any],
        *,
        page_size: int,
        start_page: int = 1,
        max_items: int | None = None,
        concurrency: int = 1,
        cursor: ListCursor | None = None,
        filters: Mapping[str, str] | None = None,
        style: PaginationStyle = "page",
        path: str | None = None,
        fetch_models: FetchPage | None = None,
    ) -> None:
        self._fetch = fetch
        # Typed iteration's fetch, when the route has one: its pages may come as models
        # already (``ListPayload.decoded``); ``raw()`` and the fallback read the records.
        self._fetch_models = fetch_models or fetch
        self._decode = decode
        self._key = key
        self.page_size = page_size
        self.max_items = max_items
        self.concurrency = concurrency
        filters = dict(filters or {})
        if cursor is not None:
            _check_cursor(cursor, filters, style, path)
        self._start = cursor or ListCursor(
            position=(start_page - 1) * page_size,
            snapshot_total=None,
            filters=filters,
            style=style,
            path=path,
        )
        self._core = self._new_core()

    def _new_core(self, server_size: int | None = None) -> PagingCore:
        return PagingCore(
            self._key,
            page_size=self.page_size,
            start=self._start,
            concurrency=self.concurrency,
            max_items=self.max_items,
            server_size=server_size,
        )

    @property
    def cursor(self) -> ListCursor:
        """Where the listing stands after the last item handed out; save it to resume."""
        return self._core.cursor()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        # aclosing: leaving this loop (break, error) stops the pages in flight at once.
        async with contextlib.aclosing(self._walk(self._fetch_models)) as walk:
            async for page in walk:
                new = page.new
                if not new:
                    continue
                models = new.records if new.decoded else self._decode(new.records)
                if len(models) != len(new):
                    raise TypeError(f"decoded {len(models)} items from {len(new)} records")
                # Each model is handed out as the core's iterator gives it (this runs per item).
                given = iter(models)
                self._core.handing(new, given)
                for model in given:
                    yield model

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield each page in turn; ``page.items`` holds only items not yielded before."""
        first = True
        async with contextlib.aclosing(self._walk(self._fetch_models)) as walk:
            async for page in walk:
                new = page.new
                if new or first:
                    items: list[Any] = []
                    if new:
                        items = new.records if new.decoded else self._decode(new.records)
                        self._core.handing(new)  # all of it, before it is shown
                    yield Page(
                        items=items, total=page.total, page=page.page, page_size=self.page_size
                    )
                first = False

    async def raw(self) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the records exactly as the API sent them (wire names, nothing converted)."""
        async with contextlib.aclosing(self._walk(self._fetch)) as walk:
            async for page in walk:
                new = page.new
                if not new:
                    continue
                # Each record is handed out as the core's iterator gives it (this runs per item).
                given = iter(new.records)
                self._core.handing(new, given)
                for record in given:
                    yield record

    async def _walk(self, fetch: FetchPage) -> AsyncGenerator[Decision, None]:
        """Drive the core: keep its pages in flight, feed it replies in order, yield its pages.

        Only task management lives here; every decision is the core's.
        """
        # Each iteration starts over from the start cursor, in the page size learned so far.
        core = self._core = self._new_core(self._core.server_size)
        inflight: dict[int, asyncio.Task[tuple[PageRequest, ListPayload]]] = {}

        async def read(request: PageRequest) -> tuple[PageRequest, ListPayload]:
            return request, await fetch(request.page, request.size)

        try:
            while True:
                plan = core.plan()
                stale = [inflight.pop(page) for page in list(inflight) if page not in plan.keep]
                if stale:  # read at an older shift: no longer where we are
                    await _cancel(stale)
                if not inflight and len(plan.fetch) == 1:
                    # One page at a time (concurrency 1, or the last page): awaited right here,
                    # with no task to create and schedule.
                    request = core.request(plan.need)
                    payload = await fetch(request.page, request.size)
                else:
                    for page in plan.fetch:
                        if page not in inflight:
                            inflight[page] = asyncio.ensure_future(read(core.request(page)))
                    request, payload = await inflight.pop(plan.need)
                decision = core.accept(request, payload)
                if decision.restart:  # the page size changed: every page in flight is stale
                    await _cancel(inflight.values())
                    inflight.clear()
                if decision.new is not None:
                    yield decision
                if decision.done:
                    return
        finally:
            await _cancel(inflight.values())


async def _cancel(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and let them finish cancelling: no more than ``concurrency`` stay open."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _check_cursor(
    cursor: ListCursor, filters: dict[str, str], style: PaginationStyle, path: str | None
) -> None:
    """Refuse a cursor saved for another listing: resuming it would skip or repeat records."""
    if dict(cursor.filters) != filters:
        raise ValidationError(
            "cursor", f"was saved for filters {dict(cursor.filters)}, not {filters}"
        )
    if cursor.style != style:
        raise ValidationError(
            "cursor", f"was saved for a {cursor.style!r} listing, not a {style!r} one"
        )
    if cursor.path != path:
        saved, here = (
            repr(p) if p is not None else "a named list method" for p in (cursor.path, path)
        )
        raise ValidationError("cursor", f"was saved for {saved}, not {here}")
