"""Auto-paging over ``page``/``pageSize`` list endpoints, as ``async for`` iterators.

Exactly once, by arithmetic: the first reply's ``total`` fixes a snapshot, and every later
reply's ``total`` says how many calls arrived at the head since, i.e. how far the list has slid.
The pager keeps ``position``, the index (in the snapshot) of the next item to yield, and reads
each reply as covering snapshot indices ``[(page - 1) * size - shift, page * size - shift)``.
Items before ``position`` were yielded already and are dropped; a reply that starts after
``position`` was read before the list slid, so it is read again. Pages ahead are fetched
concurrently but used strictly in order, so memory is bounded by the pages in flight. A window of
recent ids drops any repeat the arithmetic cannot see (deletions).

A server that does not page as it says is caught, not followed: a full page the arithmetic
promised as new whose ids were all handed out (and no deletion explains it), or a page equal to
one read before (a fingerprint per page: its first and last id and its length) that would hand
out records again, raises :class:`~calleague_async.errors.InvalidResponseError`; and whatever
the server does, at most ``_MAX_IDLE`` replies in a row may add nothing new. Only an empty or
short page ends a listing early. So a server that ignores ``page`` or cycles through its pages
costs a few requests, never an endless loop, repeated ids or a silently short listing.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from calleague_async._wire import ListPayload
from calleague_async.errors import InvalidResponseError, ValidationError
from calleague_async.models import Page

T = TypeVar("T")

log = logging.getLogger("calleague_async")

FetchPage = Callable[[int, int], Awaitable[ListPayload]]
"""Fetch one page: ``(page, page_size) -> ListPayload``."""

_MAX_REREADS = 8  # re-reads of one position before the listing is declared inconsistent
# Replies in a row that hand out nothing new (re-reads, pages behind a list that grows faster
# than it is read, repeats after deletions) before the listing is declared stuck. A hard bound:
# a server that stops progressing costs at most this many requests (times `concurrency`), never
# an endless loop. Lists that change heavily while read need up to ~60 in our tests.
_MAX_IDLE = 64


def _canonical_id(value: Any) -> str | None:
    """An id as hashable text, or None for "no id" (never deduplicated).

    Ids are compared as text, so ``5`` and ``"5"`` are one id (a saved cursor keeps ids as text
    too); ``true`` and ``1``, or ``1.0`` and ``1``, stay apart. Null, the empty string, objects
    and arrays carry no identity.
    """
    if isinstance(value, str):
        return str(value) or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # past Python's int -> str digit limit: not an id anyone sends
            return None
    if isinstance(value, float):
        return repr(value)
    return None


def _record_text(record: dict[str, Any]) -> str:
    """A record's canonical JSON, to fingerprint pages of records without ids."""
    try:
        return json.dumps(record, sort_keys=True, default=repr)
    except (ValueError, TypeError, RecursionError):
        return "?"


def _string_dict(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


@attrs.frozen(kw_only=True)
class ListCursor:
    """Where a listing stands: resume it later without repeating what was yielded.

    ``position`` counts the items of the snapshot yielded so far; ``snapshot_total`` is the
    ``total`` when the listing began (calls that arrived since are not part of it);
    ``recent_ids`` are the last ids yielded, to drop repeats across the resume; ``filters`` are
    the list's filters, which a resumed listing must repeat. Save it with :meth:`to_json`.

    >>> cursor = ListCursor(position=200, snapshot_total=1000)
    >>> ListCursor.from_json(cursor.to_json()) == cursor
    True
    """

    position: int
    snapshot_total: int | None
    recent_ids: tuple[str, ...] = ()
    filters: Mapping[str, str] = attrs.field(factory=dict, converter=_string_dict)
    server_page_size: int | None = None
    """The page size the server turned out to use (it may cap ``pageSize``), if it differs."""

    def to_json(self) -> str:
        """The cursor as a JSON string."""
        return json.dumps(
            {
                "version": 1,
                "position": self.position,
                "snapshot_total": self.snapshot_total,
                "recent_ids": list(self.recent_ids),
                "filters": dict(self.filters),
                "server_page_size": self.server_page_size,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ListCursor:
        """Read a cursor saved with :meth:`to_json`; ``ValidationError`` if it is not one."""
        try:
            data = json.loads(text)
            if data.get("version") != 1:
                raise ValueError(f"unknown cursor version {data.get('version')!r}")
            position, total = data["position"], data["snapshot_total"]
            if not isinstance(position, int) or position < 0:
                raise ValueError("position must be an int >= 0")
            if total is not None and not isinstance(total, int):
                raise ValueError("snapshot_total must be an int or null")
            capped = data.get("server_page_size")
            if capped is not None and (not isinstance(capped, int) or capped < 1):
                raise ValueError("server_page_size must be an int >= 1 or null")
            return cls(
                position=position,
                snapshot_total=total,
                recent_ids=tuple(str(i) for i in data.get("recent_ids", [])),
                filters={str(k): str(v) for k, v in data.get("filters", {}).items()},
                server_page_size=capped,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValidationError("cursor", f"not a saved list cursor: {exc}") from None


class _RecentIds:
    """The ids of the most recent items, at most ``capacity`` of them."""

    def __init__(self, capacity: int, seed: tuple[str, ...] = ()) -> None:
        self.capacity = capacity
        self._ids: dict[Any, None] = dict.fromkeys(seed[-capacity:])

    def add(self, key: Any) -> bool:
        """Remember ``key``; False if it was already among the recent ids."""
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]
        return True

    def last(self, n: int) -> tuple[str, ...]:
        """The ``n`` most recent ids."""
        return tuple(str(k) for k in list(self._ids)[-n:])

    def __contains__(self, key: Any) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class _Fingerprints:
    """A set of 64-bit page fingerprints in one flat array (open addressing).

    16 to 32 bytes a page, where a ``set`` of ints costs about 90: a million-call export at
    100 a page remembers every page in a fraction of a megabyte.
    """

    def __init__(self) -> None:
        self._slots = array.array("Q", [0]) * 64  # 0 marks an empty slot
        self._count = 0

    def add(self, mark: int) -> bool:
        """Remember ``mark``; False if it was there already."""
        mark = (mark & 0xFFFF_FFFF_FFFF_FFFF) or 1
        slots = self._slots
        mask = len(slots) - 1
        i = mark & mask
        while (found := slots[i]) != 0:
            if found == mark:
                return False
            i = (i + 1) & mask
        slots[i] = mark
        self._count += 1
        if self._count * 2 > len(slots):
            old, self._slots = slots, array.array("Q", [0]) * (2 * len(slots))
            self._count = 0
            for value in old:
                if value:
                    self.add(value)
        return True

    def __len__(self) -> int:
        return self._count


class AsyncPager(Generic[T]):
    """Items of a list endpoint across pages: ``async for item in pager``, or ``.pages()``.

    A server that repeats or cycles its pages, or stops progressing while ``total`` says more
    remain, raises :class:`~calleague_async.errors.InvalidResponseError` (see the module notes).

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
    ) -> None:
        self._fetch = fetch
        self._decode = decode
        self._key = key
        self.page_size = page_size
        self.max_items = max_items
        self.concurrency = concurrency
        self._filters = dict(filters or {})
        if cursor is not None and dict(cursor.filters) != self._filters:
            raise ValidationError(
                "cursor",
                f"was saved for filters {dict(cursor.filters)}, not {self._filters}",
            )
        self._start = cursor or ListCursor(
            position=(start_page - 1) * page_size, snapshot_total=None, filters=self._filters
        )
        self._position = self._start.position
        self._snapshot = self._start.snapshot_total
        self._recent = _RecentIds(page_size, self._start.recent_ids)
        self._server_size = self._start.server_page_size

    @property
    def cursor(self) -> ListCursor:
        """Where the listing stands after the last item handed out; save it to resume."""
        return ListCursor(
            position=self._position,
            snapshot_total=self._snapshot,
            recent_ids=self._recent.last(self.page_size),
            filters=self._filters,
            server_page_size=self._server_size,
        )

    def _hand_out(self, index: int, key: str | None) -> None:
        self._position = index + 1
        if key is not None:
            self._recent.add(key)

    def _ident(self, record: dict[str, Any]) -> str | None:
        key = self._key(record)
        return key if key.__class__ is str and key else _canonical_id(key)

    def _mark(self, items: list[dict[str, Any]]) -> int:
        """A page's fingerprint: its first and last id (or record) and its length."""
        head, tail = items[0], items[-1]
        return hash(
            (
                self._ident(head) or _record_text(head),
                self._ident(tail) or _record_text(tail),
                len(items),
            )
        )

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    def _resize(self, size: int) -> int:
        """Count in the server's page size from here on (it caps ``pageSize``, or ignores it)."""
        log.info("calleague_async: the server pages in pages of %d items", size)
        self._server_size = size  # kept in the cursor: a resumed listing counts alike
        # The id window covers the pages in flight, in the server's size.
        self._recent.capacity = max(self._recent.capacity, size * (self.concurrency + 2))
        return size

    async def _items(self) -> AsyncGenerator[T, None]:
        # aclosing: leaving this loop (break, error) stops the pages in flight at once.
        async with contextlib.aclosing(self._walk()) as walk:
            async for _, _, entries in walk:
                models = self._decode([record for _, _, record in entries])
                for (index, key, _), model in zip(entries, models, strict=True):
                    self._hand_out(index, key)
                    yield model

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield each page in turn; ``page.items`` holds only items not yielded before."""
        first = True
        async with contextlib.aclosing(self._walk()) as walk:
            async for page_no, total, entries in walk:
                if entries or first:
                    items = self._decode([record for _, _, record in entries])
                    for index, key, _ in entries:
                        self._hand_out(index, key)
                    yield Page(items=items, total=total, page=page_no, page_size=self.page_size)
                first = False

    async def raw(self) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the records exactly as the API sent them (wire names, nothing converted)."""
        async with contextlib.aclosing(self._walk()) as walk:
            async for _, _, entries in walk:
                for index, key, record in entries:
                    self._hand_out(index, key)
                    yield record

    async def _walk(
        self,
    ) -> AsyncGenerator[tuple[int, int | None, list[tuple[int, str | None, dict[str, Any]]]], None]:
        """Read pages in order; yield each page's new records with their snapshot index and id."""
        size, limit = self._server_size or self.page_size, self.max_items
        position, snapshot = self._start.position, self._start.snapshot_total
        self._position, self._snapshot = position, snapshot
        recent = self._recent = _RecentIds(size * (self.concurrency + 2), self._start.recent_ids)
        key = self._key
        yielded = 0
        latest_total: int | None = None  # total of the most recently *sent* reply in hand
        latest_seq = -1
        sent = 0
        inflight: dict[int, asyncio.Task[tuple[int, ListPayload]]] = {}
        rereads = 0
        shrank = False
        high = position  # the furthest position reached: the id window vouches below it
        # A fingerprint of every page read (a few bytes a page): a page seen again that would
        # hand out records again is a server repeating or cycling its pages.
        marks = _Fingerprints()
        # ... and of the last pages handled, the span the id window covers: after deletions, a
        # page read again there may hold a record the arithmetic skipped, to hand out now.
        near: collections.deque[int] = collections.deque(maxlen=self.concurrency + 2)
        first_mark: int | None = None
        idle = 0  # replies since one last handed out records of a page not seen before
        stepped = False  # stepped back since the last page handled: repeats are expected

        async def fetch(page: int, size: int, seq: int) -> tuple[int, ListPayload]:
            return seq, await self._fetch(page, size)

        try:
            while True:
                if idle > _MAX_IDLE:
                    raise InvalidResponseError(
                        f"{idle} replies in a row added nothing new (at item {position}): the "
                        "list changes faster than it can be read, or the server's pages do not "
                        "progress",
                        status_code=200,
                    )
                shift = 0 if snapshot is None or latest_total is None else latest_total - snapshot
                need = max(1, (position + shift) // size + 1)
                last = -(-latest_total // size) if latest_total is not None else need
                # After rereads the list is sliding under concurrent reads: read one page at a
                # time (a page read now is never older than the pages before it) until it holds.
                ahead_pages = 1 if rereads >= 2 else self.concurrency
                if limit is not None:  # no pages beyond what max_items still needs
                    ahead_pages = max(1, min(ahead_pages, -(-(limit - yielded) // size)))
                window = range(need, need + ahead_pages)
                stale = [inflight.pop(page) for page in list(inflight) if page not in window]
                if stale:  # read at an older shift: no longer where we are
                    for task in stale:
                        task.cancel()
                    # Let them finish cancelling, so no more than `concurrency` are ever open.
                    await asyncio.gather(*stale, return_exceptions=True)
                for page in window:
                    if page > need and page > last:
                        break
                    if page not in inflight:
                        inflight[page] = asyncio.ensure_future(fetch(page, size, sent))
                        sent += 1
                seq, payload = await inflight.pop(need)
                idle += 1
                items, total = payload.items, payload.total
                if total is not None and (total.__class__ is not int or total < 0):
                    total = None  # as the wire reads it: a total that is no count says nothing
                if len(items) > size:
                    # More than asked: the server pages in its own size (or sent everything).
                    if self._server_size is not None:
                        raise InvalidResponseError(
                            f"page {need} has {len(items)} items, more than the server's "
                            f"page size {size}",
                            status_code=200,
                        )
                    if need > 1:  # numbered in the server's pages, not ours: count in those
                        size = self._resize(len(items))
                        await _cancel_all(inflight)
                        continue
                if total is None:
                    first, skip = position, 0  # no total, no arithmetic: page after page
                else:
                    if latest_total is not None and (
                        (seq > latest_seq and total < latest_total)
                        or (seq < latest_seq and total > latest_total)
                    ):
                        shrank = True  # totals went down over time: calls were deleted
                    if seq > latest_seq:
                        latest_seq, latest_total = seq, total
                    if snapshot is None:
                        snapshot = self._snapshot = total
                    elif total < snapshot:
                        shrank = True  # fewer than when the listing began: calls were deleted
                    first = (need - 1) * size - (total - snapshot)
                    gap = first > position
                    early = first + size <= position - size
                    if gap or (items and early):
                        # Read before the list slid as far as we now know it has (or, resuming,
                        # before any total was known): read the right page again.
                        rereads += 1
                        if rereads > _MAX_REREADS:
                            raise InvalidResponseError(
                                f"page {need} keeps missing item {position}: the list changes "
                                "faster than it can be read",
                                status_code=200,
                            )
                        continue
                    capped = 0 < len(items) < size and (need - 1) * size + len(items) < total
                    if capped and need > 1 and self._server_size is None:
                        # Fewer than asked while more exist: the server caps pageSize, and this
                        # page was numbered in its pages, not ours. Count in its pages and read
                        # again (positions do not depend on the size). Once the server's size is
                        # known, a short page is the end (a `total` that over-counts).
                        size = self._resize(len(items))
                        await _cancel_all(inflight)
                        continue
                    skip = min(len(items), max(0, position - first))
                    # Anchor on ids: never skip a record that was not handed out. A deletion
                    # further down makes `total` overstate how far the list slid, so the
                    # arithmetic can run ahead by a few records: step back to the earliest
                    # record of the last page's worth that was not handed out.
                    planned = skip
                    # Only as far back as ids are known (a resumed cursor knows one page's worth).
                    floor = max(0, position - first - min(size, len(recent)), -first)
                    skip = next(
                        (j for j in range(floor, skip) if self._ident(items[j]) not in recent),
                        skip,
                    )
                    # Never step back below what the id window can vouch for.
                    back_to = max(first - 1, high - len(recent))
                    if skip == 0 < planned and back_to < position and rereads < _MAX_REREADS:
                        # Stepped back to this page's first record: more may be missing before
                        # it, so read the page before (repeats are dropped by id).
                        rereads += 1
                        position = back_to
                        stepped = True
                        continue
                rereads = 0
                entries: list[tuple[int, str | None, dict[str, Any]]] = []
                seen_here: set[str | None] = set()
                consumed = 0
                for record in items[skip:]:
                    if limit is not None and yielded + len(entries) >= limit:
                        break
                    consumed += 1
                    k = key(record)
                    if k.__class__ is not str or not k:
                        k = _canonical_id(k)
                    if k is None or (k not in recent and k not in seen_here):
                        seen_here.add(k)
                        entries.append((first + skip + consumed - 1, k, record))
                stalled = repeat = False
                if items:
                    mark = self._mark(items)
                    repeat = not marks.add(mark)
                    if entries and repeat and not (shrank and mark in near):
                        raise InvalidResponseError(
                            f"page {need} repeats a page read before: the server ignores "
                            "`page` or cycles through its pages",
                            status_code=200,
                        )
                    near.append(mark)
                    if need == 1:
                        first_mark = mark
                    if not entries:
                        if total is None and need == 2 and mark == first_mark:
                            # Page 2 is page 1 again and there is no total to say otherwise:
                            # the server does not page, so its one page was the whole list.
                            log.info("calleague_async: the server does not page; one page")
                            return
                        stalled = len(items) >= size  # a short page is the end (see below)
                if stalled and 2 * consumed > size and not shrank and not stepped:
                    # A full page with nothing new is never the end of the listing. If the
                    # arithmetic put it (mostly) behind us, the list grew faster than we read,
                    # or a deletion hid among arrivals: counted as idle. If it promised most of
                    # the page as new and the ids say it was all handed out, only deletions
                    # explain it (they make the arithmetic overstate positions), or a step
                    # back; else the server repeats itself.
                    raise InvalidResponseError(
                        f"page {need} holds only items handed out before although "
                        + ("more may remain" if total is None else f"total says {total}")
                        + ": the server ignores `page` or its pages repeat",
                        status_code=200,
                    )
                if entries and not repeat:
                    idle = 0
                stepped = False
                position = max(position, first + skip + consumed)
                high = max(high, position)
                yielded += len(entries)
                yield need, total, entries
                if limit is not None and yielded >= limit:
                    return
                if (
                    need == 1
                    and self._server_size is None
                    and 0 < len(items) != size
                    and (total is None or len(items) < total)
                ):
                    # Page 1 holds fewer than asked while more may exist (the server caps
                    # pageSize), or more than asked (it pages in its own size). Page 1 is
                    # page 1 in any size, so its records stand; count in the server's pages
                    # from here. Without a total this costs one request to settle the end.
                    size = self._resize(len(items))
                    await _cancel_all(inflight)
                    continue
                if len(items) < size:
                    # An empty or short page is the end, even if `total` says more (it
                    # over-counts): a short page that could be a capped pageSize was read
                    # again in the server's size above.
                    if total is not None and (need - 1) * size + len(items) < total:
                        log.info(
                            "calleague_async: page %d ends the list; total said %d", need, total
                        )
                    return
                if not stalled and snapshot is not None and position >= snapshot and not shrank:
                    # Every item of the snapshot has been yielded. (After deletions positions
                    # may be overstated, so then only a short or empty page ends the list.)
                    return
        finally:
            for task in inflight.values():
                task.cancel()
            if inflight:
                await asyncio.gather(*inflight.values(), return_exceptions=True)


async def _cancel_all(inflight: dict[int, asyncio.Task[Any]]) -> None:
    for task in inflight.values():
        task.cancel()
    await asyncio.gather(*inflight.values(), return_exceptions=True)
    inflight.clear()
