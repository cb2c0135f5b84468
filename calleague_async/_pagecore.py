"""The pager's sans-I/O core: which page to read next, and what a reply adds. No event loop.

Exactly once, by arithmetic: the first reply's ``total`` fixes a snapshot, and every later
reply's ``total`` says how many records arrived at the head since, i.e. how far the list has
slid. The core keeps ``position``, the index (in the snapshot) of the next record to hand out,
and reads each reply as covering snapshot indices ``[(page - 1) * size - shift, page * size -
shift)``. Records before ``position`` were handed out already and are dropped; a reply that
starts after ``position`` was read before the list slid, so it is read again. A window of
recent ids drops any repeat the arithmetic cannot see (deletions).

A server that does not page as it says is caught, not followed: a full page the arithmetic
promised as new whose ids were all handed out (and no deletion explains it), or a page equal to
one read before (a fingerprint per page: its first and last id and its length) that would hand
out records again, raises :class:`~calleague_async.errors.InvalidResponseError`; and whatever
the server does, at most ``_MAX_IDLE`` replies in a row may add nothing new. Only an empty or
short page, or a reply saying no page follows, ends a listing early. So a server that ignores
``page`` or cycles through its pages costs a few requests, never an endless loop, repeated ids
or a silently short listing.

The core thinks in pages of ``size`` records whatever the style: a style maps page ``P`` to its
query (``offset = (P - 1) * size`` for offsets) and its reply to a ``ListPayload``.
"""

from __future__ import annotations

import array
import collections
import itertools
import json
import logging
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

from calleague_async._pagestyles import STYLES, PaginationStyle
from calleague_async._wire import ListPayload
from calleague_async.errors import InvalidResponseError, ValidationError

log = logging.getLogger("calleague_async")

_MAX_REREADS = 8  # re-reads of one position before the listing is declared inconsistent
# Replies in a row that hand out nothing new (re-reads, pages behind a list that grows faster
# than it is read, repeats after deletions) before the listing is declared stuck. A hard bound:
# a server that stops progressing costs at most this many requests (times `concurrency`), never
# an endless loop. Lists that change heavily while read need up to ~60 in our tests.
_MAX_IDLE = 64

Entry = tuple[int, str | None, dict[str, Any]]
"""A record to hand out: its index in the snapshot, its id as text (None: it has none), itself."""


class Batch:
    """The records of a reply not handed out before, in order, as parallel lists.

    ``records[i]`` sits at snapshot index ``indices[i]`` and has the id ``ids[i]`` (None: it has
    none). Iterating yields :data:`Entry` tuples; the pager reads the lists. ``decoded``: the
    records are models already (a page read at C speed), not JSON objects.
    """

    __slots__ = ("decoded", "fresh", "ids", "indices", "records")

    def __init__(
        self,
        records: list[Any],
        ids: list[Any],
        indices: Sequence[int],
        decoded: bool = False,
        fresh: dict[Any, None] | None = None,
    ) -> None:
        self.records = records
        self.ids = ids
        self.indices = indices
        self.decoded = decoded
        self.fresh = fresh  # the ids as a dict, when all are distinct and new: a window chunk

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Entry]:
        return zip(self.indices, self.ids, self.records, strict=True)

    def __repr__(self) -> str:
        return f"Batch({list(self)!r})"


_ABSENT = object()


class IdKey:
    """A record's id: the first of ``names`` the record has (``None`` when it has none).

    A callable like any key function; the pager also reads ``names`` to look ids up inline,
    once per record, without a call.
    """

    __slots__ = ("names",)

    def __init__(self, first: str, *more: str) -> None:
        self.names = (first, *more)

    def __call__(self, record: dict[str, Any]) -> Any:
        for name in self.names:
            value = record.get(name, _ABSENT)
            if value is not _ABSENT:
                return value
        return None


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
    the list's filters, which a resumed listing must repeat; ``style`` and ``path`` say which
    listing it is (``path`` is None for a named list method such as ``calls.list``). Save it
    with :meth:`to_json`.

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
    style: PaginationStyle = "page"
    """The pagination style of the listing (see :meth:`AsyncSession.paginate`)."""
    path: str | None = None
    """The path :meth:`AsyncSession.paginate` listed; None for a named list method."""

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
                "style": self.style,
                "path": self.path,
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
            style = data.get("style", "page")  # cursors saved before styles were all "page"
            if style not in STYLES:
                raise ValueError(f"style must be one of {', '.join(STYLES)}")
            path = data.get("path")
            if path is not None and not isinstance(path, str):
                raise ValueError("path must be a string or null")
            return cls(
                position=position,
                snapshot_total=total,
                recent_ids=tuple(str(i) for i in data.get("recent_ids", [])),
                filters={str(k): str(v) for k, v in data.get("filters", {}).items()},
                server_page_size=capped,
                style=style,
                path=path,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValidationError("cursor", f"not a saved list cursor: {exc}") from None


class _RecentIds:
    """The ids of the most recent items: the last ``capacity`` added, and at most a chunk more.

    Ids come a page at a time, so they are kept in chunks (dicts, in order; a page's ids handed
    out), and the oldest chunks are dropped whole while the rest
    hold ``capacity``: a page is remembered by keeping the dict its check built, and forgotten
    by dropping it, with no per-id work. A listing never reuses an id, so remembering up to a
    chunk more than ``capacity`` only drops what would be a repeat anyway, and ``len`` says how
    many are known (the core steps back no further than that).
    """

    def __init__(self, capacity: int, seed: tuple[str, ...] = ()) -> None:
        self.capacity = capacity
        self.chunks: collections.deque[dict[Any, None]] = collections.deque()
        self.count = 0
        if seed[-capacity:]:
            self.extend(dict.fromkeys(seed[-capacity:]))

    def extend(self, chunk: dict[Any, None]) -> None:
        """Remember the ids of ``chunk``, none of them among the recent ids; it is kept as is."""
        self.chunks.append(chunk)
        self.count += len(chunk)
        self._trim()

    def grow(self, chunk: dict[Any, None], keys: dict[Any, None]) -> None:
        """Add ``keys`` (new ids) to ``chunk``, the newest chunk (see :meth:`extend`)."""
        before = len(chunk)
        chunk.update(keys)
        self.count += len(chunk) - before
        self._trim()

    def _trim(self) -> None:
        chunks = self.chunks
        while self.count - len(chunks[0]) >= self.capacity:
            self.count -= len(chunks.popleft())

    def add(self, key: Any) -> bool:
        """Remember ``key``; False if it was already among the recent ids."""
        if key in self:
            return False
        self.extend({key: None})
        return True

    def isdisjoint(self, keys: Mapping[Any, Any]) -> bool:
        """Whether none of ``keys`` is among the recent ids (at C speed, a chunk at a time)."""
        return all(chunk.keys().isdisjoint(keys) for chunk in self.chunks)

    def last(self, n: int) -> tuple[str, ...]:
        """The ``n`` most recent ids."""
        newest = itertools.chain.from_iterable(map(reversed, reversed(self.chunks)))
        return tuple(str(k) for k in reversed(list(itertools.islice(newest, n))))

    def __contains__(self, key: Any) -> bool:
        return any(key in chunk for chunk in self.chunks)

    def __len__(self) -> int:
        return self.count


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


class PageRequest(NamedTuple):
    """One request to send: ``page`` (1-based) of ``size`` records, the ``seq``-th sent."""

    page: int
    size: int
    seq: int  # replies to later requests carry later totals


class Plan(NamedTuple):
    """The pages to have in flight.

    ``need`` is read next; requests for pages outside ``keep`` are stale (read at an older
    shift); ``fetch`` are the pages to have requested now, ``need`` first.
    """

    need: int
    keep: range
    fetch: range


class Decision(NamedTuple):
    """What a reply changed.

    ``new`` are the page's records not handed out before, in order (None: there is no page to
    show, e.g. the page is read again); ``done``: the listing ends after them; ``restart``:
    the page size changed, so every request in flight is stale.
    """

    new: Batch | None
    page: int
    total: int | None
    done: bool = False
    restart: bool = False


class PagingCore:
    """The pager's state and rules, driven with plain data: no I/O, no event loop.

    :meth:`plan` says which pages to have in flight, :meth:`request` numbers a request,
    :meth:`accept` reads its reply into a :class:`Decision`, and :meth:`handing` follows its
    records to the caller (the :meth:`cursor` counts those).
    """

    def __init__(
        self,
        key: Callable[[dict[str, Any]], Any],
        *,
        page_size: int,
        start: ListCursor,
        concurrency: int = 1,
        max_items: int | None = None,
        server_size: int | None = None,
    ) -> None:
        self._key = key
        self.page_size = page_size
        self.concurrency = concurrency
        self.limit = max_items
        self.start = start
        self.server_size = server_size or start.server_page_size
        self.size = self.server_size or page_size
        self.position = start.position  # the snapshot index of the next record to read
        self.handed = start.position  # ... and the one after the last handed out
        self.snapshot = start.snapshot_total
        self.recent = _RecentIds(self.size * (concurrency + 2), start.recent_ids)
        self.yielded = 0
        self.latest_total: int | None = None  # total of the most recently *sent* reply in hand
        self.latest_seq = -1
        self.sent = 0
        self.full = self.server_size is not None  # a page came full: the server's size is ours
        self.rereads = 0
        self.shrank = False  # totals went down: calls were deleted
        self.high = start.position  # the furthest position reached: the id window vouches below
        # A fingerprint of every page read (a few bytes a page): a page seen again that would
        # hand out records again is a server repeating or cycling its pages.
        self.marks = _Fingerprints()
        # ... and of the last pages handled, the span the id window covers: after deletions, a
        # page read again there may hold a record the arithmetic skipped, to hand out now.
        self.near: collections.deque[int] = collections.deque(maxlen=concurrency + 2)
        self.first_mark: int | None = None
        self.idle = 0  # replies since one last handed out records of a page not seen before
        # Stepped back since the last page handled: repeats are expected. So they are on the first
        # page of a listing resumed with no total to say how far the list slid meanwhile.
        self.stepped = start.position > 0 and start.snapshot_total is None
        # The batch being handed out through an iterator (see handing), and how much of it is
        # accounted for in `handed` and the id window.
        self._handing: tuple[Batch, Iterator[Any], int, dict[Any, None] | None] | None = None

    def cursor(self) -> ListCursor:
        """Where the listing stands after the last item handed out."""
        self._account()
        return attrs.evolve(
            self.start,
            position=self.handed,
            snapshot_total=self.snapshot,
            recent_ids=self.recent.last(self.page_size),
            server_page_size=self.server_size,
        )

    def handing(self, batch: Batch, given: Iterator[Any] | None = None) -> None:
        """Hand ``batch`` out as ``given`` is consumed: an iterator over a list parallel to it.

        What it has given is what reached the caller (the pager yields each item as it takes
        it), so the per-item loop is a bare ``yield``: ``handed`` and the id window are brought
        up to date from how far ``given`` got whenever they are read (:meth:`cursor`, the next
        :meth:`accept`). Without ``given``, all of ``batch`` is handed out now.
        """
        self._account()
        self._handing = (batch, given or iter(()), 0, None)
        if given is None:
            self._account()

    def _account(self) -> None:
        """Record what the batch being handed out has given so far."""
        if self._handing is None:
            return
        batch, given, done, chunk = self._handing
        n = len(batch) - operator.length_hint(given)
        if n > done:
            self.handed = batch.indices[n - 1] + 1
            if chunk is None and (done, n) == (0, len(batch)) and batch.fresh is not None:
                self.recent.extend(batch.fresh)  # the usual page, whole: the dict its check built
            else:
                keys = dict.fromkeys(batch.ids[done:n])
                keys.pop(None, None)  # records without an id are never remembered
                if chunk is not None:  # handed out in parts (a cursor read mid-page): one chunk
                    self.recent.grow(chunk, keys)
                elif keys:
                    chunk = keys
                    self.recent.extend(chunk)
        self._handing = None if n == len(batch) else (batch, given, n, chunk)

    def plan(self) -> Plan:
        """The page to read next and the pages worth reading ahead of it."""
        if self.idle > _MAX_IDLE:
            raise InvalidResponseError(
                f"{self.idle} replies in a row added nothing new (at item {self.position}): the "
                "list changes faster than it can be read, or the server's pages do not progress",
                status_code=200,
            )
        size, snapshot, latest = self.size, self.snapshot, self.latest_total
        shift = 0 if snapshot is None or latest is None else latest - snapshot
        need = max(1, (self.position + shift) // size + 1)
        last = -(-latest // size) if latest is not None else need
        # After rereads the list is sliding under concurrent reads: read one page at a time (a
        # page read now is never older than the pages before it) until it holds.
        ahead = 1 if self.rereads >= 2 else self.concurrency
        if self.limit is not None:  # no pages beyond what max_items still needs
            ahead = max(1, min(ahead, -(-(self.limit - self.yielded) // size)))
        # Without a total there is no last page to know: one page at a time.
        return Plan(
            need, range(need, need + ahead), range(need, max(need, min(need + ahead - 1, last)) + 1)
        )

    def request(self, page: int) -> PageRequest:
        """A request for ``page`` in the current page size, numbered in sending order."""
        self.sent += 1
        return PageRequest(page, self.size, self.sent - 1)

    def accept(self, request: PageRequest, payload: ListPayload) -> Decision:
        """Read the reply to ``request``: what it adds, and what to do next."""
        self._account()
        need = request.page
        self.idle += 1
        items, total, has_next, ids = payload.items, payload.total, payload.has_next, payload.ids
        if total is not None and (total.__class__ is not int or total < 0):
            total = None  # as the wire reads it: a total that is no count says nothing
        if has_next.__class__ is not bool:
            has_next = None
        placed = self._place(request, items, ids, total, has_next)
        if isinstance(placed, Decision):
            return placed  # read again, or in another page size
        first, skip = placed
        self.rereads = 0
        self.full = self.full or len(items) == self.size
        entries, consumed = self._collect(items, ids, first, skip)
        entries.decoded = payload.decoded
        stalled = self._vet(need, items, ids, total, has_next, entries, consumed)
        if stalled is None:
            return Decision(None, need, total, done=True)  # the server does not page
        self.stepped = False
        self.position = max(self.position, first + skip + consumed)
        self.high = max(self.high, self.position)
        self.yielded += len(entries)
        return self._settle(need, items, total, has_next, entries, stalled)

    def _place(
        self,
        request: PageRequest,
        items: list[Any],
        ids: list[Any] | None,
        total: int | None,
        has_next: bool | None,
    ) -> tuple[int, int] | Decision:
        """Where the reply stands: its first record's snapshot index, and how many to skip.

        The records skipped were handed out already. A reply that cannot be placed is a
        Decision instead: read again, or in another page size.
        """
        need, size, position = request.page, self.size, self.position
        if len(items) > size:
            # More than asked: the server pages in its own size (or sent everything).
            if self.server_size is not None:
                raise InvalidResponseError(
                    f"page {need} has {len(items)} items, more than the server's page size {size}",
                    status_code=200,
                )
            if need > 1:  # numbered in the server's pages, not ours: count in those
                self._resize(len(items))
                return Decision(None, need, total, restart=True)
        if total is None:
            # No total, no slide to know: the page starts where its number says, and what lies
            # before `position` on it was handed out (a cursor stopped mid-page; arrivals only
            # push records further on, where the id window drops them).
            first = (need - 1) * size
            return first, min(len(items), max(0, position - first))
        latest, seq = self.latest_total, request.seq
        if latest is not None and (
            (seq > self.latest_seq and total < latest) or (seq < self.latest_seq and total > latest)
        ):
            self.shrank = True  # totals went down over time: calls were deleted
        if seq > self.latest_seq:
            self.latest_seq, self.latest_total = seq, total
        snapshot = self.snapshot
        if snapshot is None:
            snapshot = self.snapshot = total
        elif total < snapshot:
            self.shrank = True  # fewer than when the listing began: calls were deleted
        first = (need - 1) * size - (total - snapshot)
        if first > position or (items and first + size <= position - size):
            # Read before the list slid as far as we now know it has (or, resuming, before any
            # total was known): read the right page again.
            self.rereads += 1
            if self.rereads > _MAX_REREADS:
                raise InvalidResponseError(
                    f"page {need} keeps missing item {position}: the list changes faster than "
                    "it can be read",
                    status_code=200,
                )
            return Decision(None, need, total)
        capped = 0 < len(items) < size and (need - 1) * size + len(items) < total
        if capped and need > 1 and not self.full and has_next is not False:
            # Fewer than asked while more exist, and no page was full: the server caps the page
            # size, and this page was numbered in its pages, not ours. Count in its pages and
            # read again (positions do not depend on the size). Once the server's size is
            # known, or a page came full, a short page is the end (a `total` that over-counts).
            self._resize(len(items))
            return Decision(None, need, total, restart=True)
        skip = min(len(items), max(0, position - first))
        # Anchor on ids: never skip a record that was not handed out. A deletion further down
        # makes `total` overstate how far the list slid, so the arithmetic can run ahead by a
        # few records: step back to the earliest record of the last page's worth that was not
        # handed out.
        planned, recent = skip, self.recent
        # Only as far back as ids are known (a resumed cursor knows one page's worth).
        floor = max(0, position - first - min(size, len(recent)), -first)
        skip = next(
            (j for j in range(floor, skip) if self._ident(items, ids, j) not in recent), skip
        )
        # Never step back below what the id window can vouch for.
        back_to = max(first - 1, self.high - len(recent))
        if skip == 0 < planned and back_to < position and self.rereads < _MAX_REREADS:
            # Stepped back to this page's first record: more may be missing before it, so read
            # the page before (repeats are dropped by id).
            self.rereads += 1
            self.position = back_to
            self.stepped = True
            return Decision(None, need, total)
        return first, skip

    def _collect(
        self, items: list[Any], given: list[Any] | None, first: int, skip: int
    ) -> tuple[Batch, int]:
        """The records from ``skip`` on not handed out before, and how many were looked at.

        ``given`` are the items' ids when the reply came with them (else the key reads them).
        """
        limit, recent = self.limit, self.recent
        rest = items[skip:] if skip else items
        start = first + skip
        given = given[skip:] if given is not None and skip else given
        main = self._key.names[0] if isinstance(self._key, IdKey) else None
        if limit is None and (main is not None or given is not None) and rest:
            # The usual page, checked at C speed instead of record by record: every record has
            # a distinct non-empty text id under the first name (join refuses anything but
            # text), none handed out before. Then all of it is new, at the positions the
            # arithmetic gave, and the dict of its ids joins the id window as it is.
            try:
                ids = given if given is not None else list(map(operator.itemgetter(main), rest))
                fresh = dict.fromkeys(ids)
                "".join(fresh)
            except (KeyError, TypeError):  # no dict, no id, an id that is no text: see below
                fresh = {}
            if len(fresh) == len(rest) and "" not in fresh and recent.isdisjoint(fresh):
                return Batch(rest, ids, range(start, start + len(rest)), fresh=fresh), len(rest)
        records: list[dict[str, Any]] = []
        keys: list[str | None] = []
        indices: list[int] = []
        seen_here: set[str | None] = set()
        room = len(rest) if limit is None else max(0, limit - self.yielded)
        consumed = 0
        for record in rest:
            if len(records) >= room:
                break
            k = self._ident(rest, given, consumed)
            consumed += 1
            if k is None or (k not in recent and k not in seen_here):
                seen_here.add(k)
                records.append(record)
                keys.append(k)
                indices.append(start + consumed - 1)
        return Batch(records, keys, indices), consumed

    def _vet(
        self,
        need: int,
        items: list[Any],
        ids: list[Any] | None,
        total: int | None,
        has_next: bool | None,
        entries: Batch,
        consumed: int,
    ) -> bool | None:
        """The safeguards: raise for a server repeating itself.

        Else whether the page was full and added nothing (None: the server does not page).
        """
        stalled = repeat = False
        if items:
            mark = self._mark(items, ids)
            repeat = not self.marks.add(mark)
            if entries and repeat and not (self.shrank and mark in self.near):
                raise InvalidResponseError(
                    f"page {need} repeats a page read before: the server ignores `page` or "
                    "cycles through its pages",
                    status_code=200,
                )
            self.near.append(mark)
            if need == 1:
                self.first_mark = mark
            if not entries:
                if total is None and need == 2 and mark == self.first_mark and has_next is None:
                    # Page 2 is page 1 again and nothing says otherwise: the server does not
                    # page, so its one page was the whole list.
                    log.info("calleague_async: the server does not page; one page")
                    return None
                stalled = len(items) >= self.size  # a short page is the end (see _settle)
        if stalled and 2 * consumed > self.size and not self.shrank and not self.stepped:
            # A full page with nothing new is never the end of the listing. If the arithmetic
            # put it (mostly) behind us, the list grew faster than we read, or a deletion hid
            # among arrivals: counted as idle. If it promised most of the page as new and the
            # ids say it was all handed out, only deletions explain it (they make the
            # arithmetic overstate positions), or a step back; else the server repeats itself.
            raise InvalidResponseError(
                f"page {need} holds only items handed out before although "
                + ("more may remain" if total is None else f"total says {total}")
                + ": the server ignores `page` or its pages repeat",
                status_code=200,
            )
        if entries and not repeat:
            self.idle = 0
        return stalled

    def _settle(
        self,
        need: int,
        items: list[Any],
        total: int | None,
        has_next: bool | None,
        entries: Batch,
        stalled: bool,
    ) -> Decision:
        """The Decision for a page handled: whether the listing ends after it."""
        size = self.size
        if self.limit is not None and self.yielded >= self.limit:
            return Decision(entries, need, total, done=True)
        if (
            need == 1
            and self.server_size is None
            and 0 < len(items) != size
            and (total is None or len(items) < total)
            and has_next is not False
        ):
            # Page 1 holds fewer than asked while more may exist (the server caps the page
            # size), or more than asked (it pages in its own size). Page 1 is page 1 in any
            # size, so its records stand; count in the server's pages from here. Without a
            # total this costs one request to settle the end.
            self._resize(len(items))
            return Decision(entries, need, total, restart=True)
        if has_next is False:
            return Decision(entries, need, total, done=True)  # the server says it was the last
        if len(items) < size:
            # An empty or short page is the end, even if `total` says more (it over-counts): a
            # short page that could be a capped page size was read again in the server's size.
            if total is not None and (need - 1) * size + len(items) < total:
                log.info("calleague_async: page %d ends the list; total said %d", need, total)
            return Decision(entries, need, total, done=True)
        # Every record of the snapshot has been handed out. (After deletions positions may be
        # overstated, so then only a short or empty page ends the list.)
        done = not stalled and self.snapshot is not None and self.position >= self.snapshot
        return Decision(entries, need, total, done=done and not self.shrank)

    def _ident(self, items: list[Any], ids: list[Any] | None, j: int) -> str | None:
        """The id of ``items[j]`` as text (``ids[j]`` when the reply came with its ids)."""
        key = self._key(items[j]) if ids is None else ids[j]
        return key if key.__class__ is str and key else _canonical_id(key)

    def _mark(self, items: list[Any], ids: list[Any] | None) -> int:
        """A page's fingerprint: its first and last id (or record) and its length."""
        return hash(
            (
                self._ident(items, ids, 0) or _record_text(items[0]),
                self._ident(items, ids, -1) or _record_text(items[-1]),
                len(items),
            )
        )

    def _resize(self, size: int) -> None:
        """Count in the server's page size from here on (it caps the size, or ignores it)."""
        log.info("calleague_async: the server pages in pages of %d items", size)
        self.size = self.server_size = size  # kept in the cursor: a resumed listing counts alike
        self.full = True
        # The id window covers the pages in flight, in the server's size.
        self.recent.capacity = max(self.recent.capacity, size * (self.concurrency + 2))
