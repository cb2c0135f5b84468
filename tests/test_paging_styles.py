"""Pagination styles and the sans-I/O core, then ``s.paginate`` over real HTTP.

The styles (``page``, ``offset``, ``meta``) and the core run on plain data first: a list served
in each style's shape answers the core's requests, with no event loop. Then the async driver
(``AsyncPager``) over the same lists, the hostile-server safeguards per style, resumable cursors,
and ``s.paginate`` end to end against an aiohttp.web server speaking seeds 003's and 004's
shapes. The hypothesis tests are marked ``fuzz`` (``CALLEAGUE_FUZZ_EXAMPLES`` raises their
example count).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import random
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, redirect_stdout, suppress
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import calleague_async as ca
from calleague_async import _pagecore
from calleague_async._pagecore import ListCursor, PageRequest, PagingCore
from calleague_async._pagestyles import STYLES, MetaStyle, OffsetStyle, PageStyle, PaginationStyle
from calleague_async._pagination import AsyncPager
from calleague_async._wire import ListPayload, Reply, decode
from tests.test_pager_hostile import ID_POOL, fuzz

KEY = "sk_test_paging_styles"
STYLE_NAMES: list[PaginationStyle] = ["page", "offset", "meta"]
README = Path(__file__).resolve().parent.parent / "README.md"


def record_id(record: dict[str, Any]) -> Any:
    """What ``s.paginate`` identifies a record by, by default: ``id``, else ``callId``."""
    value = record.get("id")
    return record.get("callId") if value is None else value


class StyledList:
    """A newest-first list answering queries in one style's shape, misbehaving as told.

    ``with_total=False`` leaves the total out (a bare array for ``page``, no ``total_count``
    for ``meta``); ``has_next=False`` leaves ``meta.has_next_page`` out. ``cap`` caps the page
    size; ``over`` makes the total over-count. ``mode``: ``honest``, ``ignore`` (always the
    first page) or ``cycle`` (pages repeat every ``period``).
    """

    def __init__(
        self,
        n: int,
        style: str,
        *,
        with_total: bool = True,
        has_next: bool = True,
        cap: int | None = None,
        over: int = 0,
        mode: str = "honest",
        period: int = 3,
    ) -> None:
        self.rows: list[dict[str, Any]] = [
            {"id": f"c{i}", "status": "completed"} for i in range(n, 0, -1)
        ]
        self.style = STYLES[style]
        self.with_total, self.has_next, self.cap, self.over = with_total, has_next, cap, over
        self.mode, self.period = mode, period
        self.asked: list[dict[str, int]] = []
        self._next = n + 1

    def insert(self, n: int) -> None:
        """``n`` records arrive at the head."""
        for _ in range(n):
            self.rows.insert(0, {"id": f"new{self._next}", "status": "queued"})
            self._next += 1

    def body(self, query: Mapping[str, Any]) -> Any:
        """The JSON reply to a query, in this style's shape."""
        params = {k: int(v) for k, v in query.items() if k in self.style.params}
        self.asked.append(params)
        name = self.style.name
        size = params["pageSize" if name == "page" else "limit"]
        real = min(size, self.cap or size)
        # An offset is where the records start; a page is numbered in the server's page size.
        start = params["offset"] if name == "offset" else (params["page"] - 1) * real
        if self.mode == "ignore":
            start = 0
        elif self.mode == "cycle":
            start %= self.period * real
        items = self.rows[start : start + real]
        total = len(self.rows) + self.over
        if name == "page":
            return {"total": total, "list": items} if self.with_total else items
        if name == "offset":
            reply: dict[str, Any] = {"items": items, "limit": real, "offset": start}
            if self.with_total:
                reply["total"] = total
            return reply
        meta: dict[str, Any] = {
            "total_count": total,
            "page_count": -(-total // real),
            "current_page": params["page"],
            "limit": real,
            "has_next_page": start + real < len(self.rows),
            "has_previous_page": params["page"] > 1,
        }
        if not self.with_total:
            del meta["total_count"], meta["page_count"]
        if not self.has_next:
            del meta["has_next_page"]
        return {"message": "Success", "meta": meta, "data": items}

    def payload(self, page: int, size: int) -> ListPayload:
        """The reply to page ``page`` of ``size``, read by the style (as the pipeline does)."""
        return self.style.read(self.body(self.style.request(page, size)))

    async def fetch(self, page: int, size: int) -> ListPayload:
        await asyncio.sleep(0)  # replies interleave, as over a network
        return self.payload(page, size)


def new_core(style: PaginationStyle, **kw: Any) -> PagingCore:
    kw.setdefault("page_size", 10)
    start = kw.pop("start", None) or ListCursor(position=0, snapshot_total=None, style=style)
    return PagingCore(record_id, start=start, **kw)


def drive(
    core: PagingCore, src: StyledList, *, arrivals: Callable[[int], int] = lambda n: 0
) -> list[str]:
    """Run the core against ``src`` with no event loop: each request is answered when it is
    sent, ``arrivals(n)`` records arriving before the ``n``-th; the ids handed out, in order."""
    got: list[str] = []
    inflight: dict[int, tuple[PageRequest, ListPayload]] = {}
    for _ in range(10_000):
        plan = core.plan()
        inflight = {page: sent for page, sent in inflight.items() if page in plan.keep}
        for page in plan.fetch:
            if page not in inflight:
                request = core.request(page)
                src.insert(arrivals(request.seq))
                inflight[page] = (request, src.payload(request.page, request.size))
        decision = core.accept(*inflight.pop(plan.need))
        if decision.restart:
            inflight.clear()
        if decision.new:
            core.handing(decision.new)
            got += [record["id"] for record in decision.new.records]
        if decision.done:
            return got
    raise AssertionError("the core never finished")


def pager(src: StyledList, **kw: Any) -> AsyncPager[dict[str, Any]]:
    kw.setdefault("page_size", 10)
    return AsyncPager(src.fetch, lambda x: x, record_id, style=src.style.name, **kw)


async def drain(p: AsyncPager[dict[str, Any]]) -> tuple[list[str], BaseException | None]:
    got: list[str] = []
    try:
        async for record in p.raw():
            got.append(record["id"])
    except ca.CalleagueError as exc:
        return got, exc
    return got, None


# --- the styles, on plain data ---------------------------------------------------------------


def test_each_style_asks_for_a_page_in_its_own_query() -> None:
    assert PageStyle.request(3, 20) == {"page": 3, "pageSize": 20}
    assert OffsetStyle.request(3, 20) == {"offset": 40, "limit": 20}
    assert MetaStyle.request(3, 20) == {"page": 3, "limit": 20}
    assert {name: STYLES[name].params for name in STYLE_NAMES} == {
        "page": ("page", "pageSize"),
        "offset": ("offset", "limit"),
        "meta": ("page", "limit"),
    }


def test_offset_style_reads_seed_003s_reply() -> None:
    records = [{"id": "6ba7b810", "status": "queued"}]
    body = {
        "items": records,
        "total": 142,
        "limit": 25,
        "offset": 0,
    }
    assert OffsetStyle.read(body) == ListPayload(items=records, total=142)


def test_meta_style_reads_seed_004s_reply() -> None:
    record = {"id": "string", "source": "+14155550100", "status": "queued", "duration_seconds": 42}
    body = {
        "message": "Success",
        "meta": {
            "total_count": 7,
            "page_count": 1,
            "current_page": 1,
            "limit": 100,
            "has_next_page": False,
            "has_previous_page": False,
        },
        "data": [record],
    }
    assert MetaStyle.read(body) == ListPayload(items=[record], total=7, has_next=False)
    # No total_count: has_next_page alone; a has_next_page that is no boolean says nothing.
    bare = {"meta": {"has_next_page": "yes"}, "data": []}
    assert MetaStyle.read(bare) == ListPayload(items=[], total=None, has_next=None)
    assert MetaStyle.read({"meta": {"total_count": 0}}) == ListPayload([], 0)


@pytest.mark.parametrize(
    "body",
    [[], "x", {"message": "Success"}, {"meta": 5, "data": []}, {"data": "x"}, {"data": [1]}],
)
def test_meta_style_refuses_what_is_no_meta_list(body: Any) -> None:
    with pytest.raises(ValueError, match="expected"):
        MetaStyle.read(body)


def test_a_wrong_shape_through_the_wire_is_an_invalid_response() -> None:
    reply = Reply(200, {"X-Request-Id": "req_1"}, b'{"data": "nope"}')
    with pytest.raises(ca.InvalidResponseError, match="expected a list of records") as info:
        decode(reply, method="GET", path="/x", expect=MetaStyle.read)
    assert info.value.request_id == "req_1"
    page = Reply(200, {}, b'{"code": 0, "data": {"total": 1, "list": [{"id": 1}]}}')
    assert decode(page, expect=PageStyle.read) == ListPayload([{"id": 1}], 1)  # seed 001


# --- the core, on plain data -------------------------------------------------------------------


def test_the_core_skips_what_arrivals_pushed_onto_a_page() -> None:
    src = StyledList(25, "offset")
    core = new_core("offset")
    assert core.plan().need == 1
    decision = core.accept(core.request(1), src.payload(1, 10))
    assert [index for index, _, _ in decision.new or []] == list(range(10))
    assert not decision.done and decision.total == 25
    if decision.new:
        core.handing(decision.new)
    src.insert(3)  # three arrive before page 2 is read: its first three were handed out
    decision = core.accept(core.request(2), src.payload(2, 10))
    assert [r["id"] for _, _, r in decision.new or []] == [f"c{i}" for i in range(15, 8, -1)]
    if decision.new:
        core.handing(decision.new)
    assert core.cursor().position == 17
    assert core.plan().need == 3  # snapshot index 17 is record 20 now
    rest = core.accept(core.request(3), src.payload(3, 10))
    assert [r["id"] for _, _, r in rest.new or []] == [f"c{i}" for i in range(8, 0, -1)]
    assert rest.done


def test_a_page_that_slid_by_a_page_or_more_is_read_again() -> None:
    # Resumed at snapshot index 30 of 100 after 25 arrivals: until a reply says how far the
    # list slid, page 4 is asked for, and it holds records handed out long ago.
    src = StyledList(100, "offset")
    core = new_core("offset", start=ListCursor(position=30, snapshot_total=100, style="offset"))
    src.insert(25)
    assert core.plan().need == 4
    decision = core.accept(core.request(4), src.payload(4, 10))
    assert decision.new is None and not decision.done and not decision.restart
    assert core.plan().need == 6  # the reply said 25 arrived: read where index 30 is now
    decision = core.accept(core.request(6), src.payload(6, 10))
    assert [r["id"] for _, _, r in decision.new or []] == [f"c{i}" for i in range(70, 65, -1)]


def test_a_short_first_page_that_says_more_follow_is_a_capped_page_size() -> None:
    src = StyledList(30, "meta", with_total=False, cap=7)
    core = new_core("meta")
    decision = core.accept(core.request(1), src.payload(1, 10))
    assert decision.restart and core.size == 7 and core.cursor().server_page_size == 7
    if decision.new:
        core.handing(decision.new)
    assert drive(core, src) == [r["id"] for r in src.rows][7:]


def test_has_next_page_false_ends_the_listing_without_another_request() -> None:
    for with_total in (True, False):
        src = StyledList(30, "meta", with_total=with_total)
        assert len(drive(new_core("meta"), src)) == 30
        assert len(src.asked) == 3
    bare = StyledList(30, "page", with_total=False)
    assert len(drive(new_core("page"), bare)) == 30
    assert len(bare.asked) == 4  # a bare array needs the empty page to know the end


def test_the_core_counts_the_idle_replies_and_stops() -> None:
    core = new_core("page")
    core.idle = _pagecore._MAX_IDLE + 1
    with pytest.raises(ca.InvalidResponseError, match="added nothing new"):
        core.plan()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("style", STYLE_NAMES)
def test_the_core_hands_out_the_snapshot_exactly_once_under_head_inserts(
    style: PaginationStyle, concurrency: int, seed: int
) -> None:
    rng = random.Random(seed)
    src = StyledList(237, style)
    snapshot = [r["id"] for r in src.rows]
    core = new_core(style, concurrency=concurrency)
    got = drive(core, src, arrivals=lambda n: rng.randint(0, 4) if n else 0)
    assert got == snapshot  # each once, in order, none of the later arrivals


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("style", STYLE_NAMES)
def test_without_a_total_every_style_is_complete_under_head_inserts(
    style: PaginationStyle, seed: int
) -> None:
    # No total, no snapshot: the records that arrivals push onto the next page are dropped by
    # id, so with ids (and less than a page arriving between two reads) nothing repeats.
    rng = random.Random(seed)
    src = StyledList(237, style, with_total=False)
    snapshot = [r["id"] for r in src.rows]
    arrivals = lambda n: rng.randint(0, 3) if n else 0  # noqa: E731
    got = drive(new_core(style, concurrency=4), src, arrivals=arrivals)
    assert got == snapshot


# --- the async driver, per style -----------------------------------------------------------------


class Live(StyledList):
    """A styled list whose records arrive while pages are read; replies in any order."""

    def __init__(self, n: int, style: str, *, seed: int, burst: int = 18, **kw: Any) -> None:
        super().__init__(n, style, **kw)
        self.rng = random.Random(seed)
        self.burst = burst  # at most this many arrive while one page is read
        self.snapshot: list[str] | None = None
        self.in_flight = self.max_in_flight = 0

    async def fetch(self, page: int, size: int) -> ListPayload:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            budget = self.burst
            for _ in range(self.rng.randint(0, 6)):
                if self.snapshot is not None and self.rng.random() < 0.3:
                    arrived = min(budget, self.rng.randint(1, 3))
                    self.insert(arrived)
                    budget -= arrived
                await asyncio.sleep(0)
            if self.snapshot is None:
                self.snapshot = [r["id"] for r in self.rows]
            return self.payload(page, size)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("style", STYLE_NAMES)
async def test_each_style_yields_the_snapshot_exactly_once_while_records_arrive(
    style: PaginationStyle, concurrency: int, seed: int
) -> None:
    src = Live(237, style, seed=seed)
    got, error = await drain(pager(src, concurrency=concurrency))
    assert error is None and got == src.snapshot
    assert src.max_in_flight <= concurrency


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("has_next", [True, False])
async def test_meta_without_total_count_is_complete_while_records_arrive(
    has_next: bool, seed: int
) -> None:
    # Fewer than a page (10) arrive between two reads: more is a page of repeats (an error).
    src = Live(237, "meta", seed=seed, with_total=False, has_next=has_next, burst=4)
    got, error = await drain(pager(src, concurrency=4))
    assert error is None and got == src.snapshot
    assert src.max_in_flight == 1  # without a total there is no last page: one at a time


@pytest.mark.parametrize("with_total", [True, False])
@pytest.mark.parametrize("style", STYLE_NAMES)
async def test_a_server_capping_the_page_size_is_followed_in_every_style(
    style: PaginationStyle, with_total: bool
) -> None:
    src = StyledList(500, style, cap=30, with_total=with_total)
    got, error = await drain(pager(src, page_size=100, concurrency=4))
    assert error is None and got == [r["id"] for r in src.rows]


# --- hostile servers, per style ------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("style", STYLE_NAMES)
async def test_a_server_ignoring_the_page_or_offset_raises_after_its_first_repeat(
    style: PaginationStyle, concurrency: int
) -> None:
    src = StyledList(100, style, mode="ignore", over=900)
    got, error = await drain(pager(src, page_size=20, concurrency=concurrency))
    assert isinstance(error, ca.InvalidResponseError) and "handed out before" in str(error)
    assert got == [r["id"] for r in src.rows[:20]]  # page 1, once
    assert len(src.asked) <= 1 + concurrency


async def test_meta_without_total_repeating_page_one_while_saying_more_follow_raises() -> None:
    # Page 2 equal to page 1 with no total would be a server that does not page (its one page
    # is the list), unless it says more follow: then it ignores `page`.
    says_more = StyledList(100, "meta", mode="ignore", with_total=False)
    got, error = await drain(pager(says_more, page_size=20))
    assert isinstance(error, ca.InvalidResponseError) and len(got) == 20
    silent = StyledList(20, "meta", mode="ignore", with_total=False, has_next=False)
    got, error = await drain(pager(silent, page_size=20))
    assert error is None and len(got) == 20 and len(silent.asked) == 2


@pytest.mark.parametrize("with_total", [True, False])
@pytest.mark.parametrize("style", STYLE_NAMES)
async def test_a_server_cycling_its_pages_never_yields_an_id_twice(
    style: PaginationStyle, with_total: bool
) -> None:
    src = StyledList(1000, style, mode="cycle", period=3, with_total=with_total, over=10**6)
    got, error = await drain(pager(src, page_size=25, concurrency=3))
    assert isinstance(error, ca.InvalidResponseError)
    assert len(got) == len(set(got)) == 75
    assert len(src.asked) <= 3 + 1 + 3


@pytest.mark.parametrize("style", STYLE_NAMES)
async def test_a_short_or_empty_page_ends_the_listing_though_the_total_says_more(
    style: PaginationStyle,
) -> None:
    for n in (95, 100):  # the last page short, or an empty page after a full one
        src = StyledList(n, style, over=1000, has_next=False)
        got, error = await drain(pager(src, page_size=10, concurrency=4))
        assert error is None and got == [r["id"] for r in src.rows]


# --- resumable cursors, per style ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "with_total"),
    [("page", True), ("offset", True), ("meta", True), ("meta", False), ("page", False)],
)
async def test_a_listing_resumes_exactly_where_it_stopped_in_every_style(
    style: PaginationStyle, with_total: bool
) -> None:
    src = StyledList(370, style, with_total=with_total, cap=None if with_total else 7)
    expected = [r["id"] for r in src.rows]
    got: list[str] = []
    cursor: ListCursor | None = None
    for stop in (35, 36, 37, 133, 200, None):
        p = pager(src, concurrency=3, cursor=cursor)
        async for record in p.raw():
            got.append(record["id"])
            if stop is not None and len(got) >= stop:
                break
        cursor = ListCursor.from_json(p.cursor.to_json())
        assert cursor.style == style
        # Arrivals while stopped: any number with a total; without, fewer than a page.
        src.insert(25 if with_total else 5)
    assert got == expected


def test_a_cursor_resumes_only_its_own_style_and_path() -> None:
    src = StyledList(5, "meta")
    saved = ListCursor(position=1, snapshot_total=5, style="meta", path="/a")
    with pytest.raises(ca.ValidationError, match="'meta' listing, not a 'offset'"):
        AsyncPager(src.fetch, lambda x: x, record_id, page_size=5, cursor=saved, style="offset")
    with pytest.raises(ca.ValidationError, match="saved for '/a', not '/b'"):
        AsyncPager(
            src.fetch, lambda x: x, record_id, page_size=5, cursor=saved, style="meta", path="/b"
        )
    AsyncPager(
        src.fetch, lambda x: x, record_id, page_size=5, cursor=saved, style="meta", path="/a"
    )
    old = ListCursor.from_json('{"version": 1, "position": 3, "snapshot_total": 9}')
    assert (old.style, old.path) == ("page", None)  # saved before styles: calls.list's
    for bad in ('"style": "cursor"', '"path": 5'):
        with pytest.raises(ca.ValidationError, match="cursor"):
            ListCursor.from_json('{"version": 1, "position": 3, "snapshot_total": 9, ' + bad + "}")


# --- s.paginate over real HTTP -------------------------------------------------------------

SEED_004_BODY = {
    "message": "Success",
    "meta": {
        "total_count": 0,
        "page_count": 0,
        "current_page": 0,
        "limit": 0,
        "has_next_page": True,
        "has_previous_page": True,
    },
    "data": [
        {
            "id": "string",
            "source": "+14155550100",
            "destination": "+2348012345678",
            "status": "queued",
            "direction": "outbound",
            "created_on": "2019-08-24T14:15:22Z",
            "duration_seconds": 42,
            "is_test_call": True,
            "error_reason": "string",
            "end_reason": "string",
            "ringing_at": "2019-08-24T14:15:22Z",
            "ended_at": "2019-08-24T14:15:22Z",
        }
    ],
}


class Api:
    """An aiohttp.web app with one list per route, each in its own style; records queries."""

    def __init__(self) -> None:
        self.lists: dict[str, StyledList] = {
            "/api/core/voice/call/list": StyledList(0, "page"),
            "/v1/calls": StyledList(142, "offset"),
            "/api/v1/console/agents/ag_123/calls": StyledList(230, "meta"),
        }
        for i, row in enumerate(self.lists["/api/v1/console/agents/ag_123/calls"].rows):
            row["duration_seconds"] = i
        self.lists["/api/core/voice/call/list"].rows = [
            {"callId": f"cl_{i}", "status": "completed", "durationSec": i} for i in range(57)
        ]
        self.queries: list[tuple[str, dict[str, str]]] = []
        self.fixed: dict[str, Any] = {}

    async def handle(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.queries.append((request.path, query))
        if request.path in self.fixed:
            return web.json_response(self.fixed[request.path])
        src = self.lists.get(request.path)
        if src is None:
            return web.json_response({"message": "Not found"}, status=404)
        return web.json_response(src.body(query))


@asynccontextmanager
async def serving(api: Api) -> AsyncIterator[ca.AsyncSession]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        async with ca.AsyncSession(
            api_key=KEY, base_url=base, rate_limits=None, max_retries=0
        ) as s:
            yield s
    finally:
        await runner.cleanup()


async def test_paginate_reads_each_style_over_http() -> None:
    api = Api()
    async with serving(api) as s:
        page = [r async for r in s.paginate("/api/core/voice/call/list", page_size=10)]
        offset = [
            r
            async for r in s.paginate(
                "/v1/calls", style="offset", params={"status": "queued"}, concurrency=4
            )
        ]
        meta = [
            r
            async for r in s.paginate(
                "/api/v1/console/agents/ag_123/calls", style="meta", page_size=100, concurrency=4
            )
        ]
    assert page == api.lists["/api/core/voice/call/list"].rows
    assert offset == api.lists["/v1/calls"].rows
    assert meta == api.lists["/api/v1/console/agents/ag_123/calls"].rows
    asked = {path: [q for p, q in api.queries if p == path] for path in api.lists}
    assert asked["/api/core/voice/call/list"][0] == {"page": "1", "pageSize": "10"}
    assert {"status": "queued", "offset": "20", "limit": "20"} in asked["/v1/calls"]
    meta_asked = asked["/api/v1/console/agents/ag_123/calls"]
    assert sorted(q["page"] for q in meta_asked) == ["1", "2", "3"]  # has_next_page: false
    assert {q["limit"] for q in meta_asked} == {"100"}


async def test_paginate_reads_seed_004s_reply_as_it_is_documented() -> None:
    api = Api()
    api.fixed["/api/v1/console/agents/string/calls"] = SEED_004_BODY
    async with serving(api) as s:
        got = [r async for r in s.paginate("/api/v1/console/agents/string/calls", style="meta")]
    assert got == SEED_004_BODY["data"]


async def test_paginate_decodes_models_and_identifies_records_by_the_field_named() -> None:
    api = Api()
    src = api.lists["/api/core/voice/call/list"]
    async with serving(api) as s:
        calls = [c async for c in s.paginate("/api/core/voice/call/list", model=ca.Call)]
        assert [c.call_id for c in calls] == [r["callId"] for r in src.rows]
        assert all(isinstance(c, ca.Call) for c in calls)
        # "id" is the same on every record, "ref" tells them apart: by "id", page 2 holds only
        # records handed out before, which is a server repeating itself.
        src.rows = [{"id": "same", "ref": f"r{i}"} for i in range(12)]
        by_ref = s.paginate("/api/core/voice/call/list", page_size=5, id_field="ref")
        assert [r["ref"] async for r in by_ref] == [f"r{i}" for i in range(12)]
        with pytest.raises(ca.InvalidResponseError, match="handed out before"):
            async for _ in s.paginate("/api/core/voice/call/list", page_size=5):
                pass


async def test_paginate_raises_our_error_for_a_reply_of_another_shape() -> None:
    api = Api()
    api.fixed["/v2/calls"] = {"total": 1, "list": [{"id": "c1"}]}
    async with serving(api) as s:
        with pytest.raises(ca.InvalidResponseError, match=r"expected a \{meta, data\}"):
            async for _ in s.paginate("/v2/calls", style="meta"):
                pass
        assert [r async for r in s.paginate("/v2/calls", style="offset")] == [{"id": "c1"}]
        with pytest.raises(ca.NotFoundError):
            async for _ in s.paginate("/nowhere"):
                pass


async def test_a_paginate_cursor_resumes_over_http_and_only_its_own_listing() -> None:
    api = Api()
    path = "/api/v1/console/agents/ag_123/calls"
    async with serving(api) as s:
        first = s.paginate(path, style="meta", params={"status": "queued"}, concurrency=2)
        got: list[str] = []
        async for record in first:
            got.append(record["id"])
            if len(got) == 45:
                break
        saved = ListCursor.from_json(first.cursor.to_json())
        api.lists[path].insert(30)
        resumed = s.paginate(
            path, style="meta", params={"status": "queued"}, concurrency=2, cursor=saved
        )
        got += [r["id"] async for r in resumed]
        with pytest.raises(ca.ValidationError, match="filters"):
            s.paginate(path, style="meta", cursor=saved)
        with pytest.raises(ca.ValidationError, match="listing"):
            s.paginate(path, params={"status": "queued"}, cursor=saved)
        plain = s.paginate("/api/core/voice/call/list")
        async for _ in plain:
            break
        with pytest.raises(ca.ValidationError, match="not a named list method"):
            s.calls.list(cursor=plain.cursor)
    assert got == [f"c{i}" for i in range(230, 0, -1)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"style": "cursor"}, "style"),
        ({"style": ["page"]}, "style"),
        ({"params": {"pageSize": 5}}, "params"),
        ({"params": {"offset": 5}, "style": "offset"}, "params"),
        ({"params": {"status": object()}}, "params"),
        ({"params": [("status", "x")]}, "params"),
        ({"model": dict}, "model"),
        ({"model": "Call"}, "model"),
        ({"id_field": ""}, "id_field"),
        ({"page_size": 101}, "page_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"cursor": "{}"}, "cursor"),
    ],
)
async def test_paginate_checks_its_arguments_at_once(kwargs: dict[str, Any], field: str) -> None:
    async with ca.AsyncSession(api_key=KEY, base_url="http://127.0.0.1:9", rate_limits=None) as s:
        with pytest.raises(ca.ValidationError) as info:
            s.paginate("/api/core/voice/call/list", **kwargs)
        assert info.value.field == field
        for path in ("api/x", "/a b", "/x?page=2"):
            with pytest.raises(ca.ValidationError, match="path"):
                s.paginate(path)


def _readme_paging_examples() -> list[str]:
    """The README's ```py examples of the offset and meta styles (not run by test_readme)."""
    section = README.read_text().split("### Paging", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```py\n(.*?)```", section, flags=re.DOTALL)


async def test_the_readmes_offset_and_meta_examples_run_against_their_shapes() -> None:
    blocks = _readme_paging_examples()
    assert len(blocks) == 1 and 'style="offset"' in blocks[0] and 'style="meta"' in blocks[0]
    api = Api()
    async with serving(api) as s:
        namespace: dict[str, Any] = {"ca": ca, "s": s}
        code = compile(blocks[0], str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        with redirect_stdout(StringIO()) as out:
            result = eval(code, namespace)  # our own README, on purpose
            if inspect.iscoroutine(result):
                await result
    assert len(out.getvalue().splitlines()) == 142 + 230
    assert ListCursor.from_json(namespace["saved"]).style == "meta"


# --- fuzzing ---------------------------------------------------------------------------------

RECORD_POOL = [
    {key: value, "n": n} for key in ("id", "callId", "x") for value in ID_POOL for n in (0, 1)
]
TOTALS: list[Any] = [None, 0, 1, 3, 7, 20, 10**18, -1, True, "5", "many", 2.5]
NEXTS: list[Any] = [None, True, False, "yes", 0]


def styled_body(style: str, items: list[Any], total: Any, has_next: Any) -> Any:
    """A reply in ``style``'s shape with whatever the fuzzer drew in its fields."""
    if style == "page":
        return items if total is None else {"total": total, "list": items}
    if style == "offset":
        return {"items": items, "total": total, "limit": 5, "offset": 0}
    return {
        "message": "Success",
        "meta": {"total_count": total, "has_next_page": has_next},
        "data": items,
    }


@pytest.mark.fuzz
@fuzz(default=600)
@given(
    style=st.sampled_from(STYLE_NAMES),
    pages=st.lists(
        st.tuples(
            st.lists(st.sampled_from(RECORD_POOL), max_size=6),
            st.sampled_from(TOTALS) | st.integers(min_value=-3, max_value=40),
            st.sampled_from(NEXTS),
        ),
        min_size=1,
        max_size=6,
    ),
    by_request=st.booleans(),
    page_size=st.integers(min_value=1, max_value=8),
    concurrency=st.integers(min_value=1, max_value=4),
    max_items=st.none() | st.integers(min_value=1, max_value=30),
)
def test_any_replies_in_any_style_end_in_data_or_our_error_within_bounded_requests(
    style: PaginationStyle,
    pages: list[tuple[list[dict[str, Any]], Any, Any]],
    by_request: bool,
    page_size: int,
    concurrency: int,
    max_items: int | None,
) -> None:
    read = STYLES[style].read
    requests = [0]

    async def fetch(page: int, size: int) -> ListPayload:
        n = requests[0]
        requests[0] += 1
        await asyncio.sleep(0)
        items, total, has_next = pages[(n if by_request else page - 1) % len(pages)]
        try:
            return read(styled_body(style, list(items), total, has_next))
        except ValueError as exc:  # as the wire turns a wrong shape into our error
            raise ca.InvalidResponseError(str(exc), status_code=200) from None

    async def run() -> None:
        p = AsyncPager(
            fetch,
            lambda x: x,
            record_id,
            page_size=page_size,
            concurrency=concurrency,
            max_items=max_items,
            style=style,
        )
        with suppress(ca.CalleagueError):
            async for _ in p.raw():
                pass
        with suppress(ca.ValidationError):
            ListCursor.from_json(p.cursor.to_json())

    asyncio.run(run())
    bound = concurrency * ((len(pages) + 1) * (_pagecore._MAX_IDLE + 1) + 2)
    assert requests[0] <= bound


@pytest.mark.fuzz
@fuzz(default=400)
@given(
    style=st.sampled_from(STYLE_NAMES),
    n=st.integers(min_value=0, max_value=120),
    page_size=st.integers(min_value=1, max_value=12),
    cap=st.none() | st.integers(min_value=1, max_value=12),
    total_mode=st.sampled_from(["exact", "over", "none"]),
    has_next=st.booleans(),
    concurrency=st.integers(min_value=1, max_value=4),
    arrivals=st.lists(st.integers(min_value=0, max_value=4), max_size=40),
)
def test_an_honest_server_in_any_style_is_read_exactly_once(
    style: PaginationStyle,
    n: int,
    page_size: int,
    cap: int | None,
    total_mode: str,
    has_next: bool,
    concurrency: int,
    arrivals: list[int],
) -> None:
    size = min(page_size, cap or page_size)
    # Calls arrive slower than pages are read; without a total, less than a page between reads.
    arrivals = [min(a, size // 3) for a in arrivals]
    src = StyledList(n, style, with_total=total_mode != "none", has_next=has_next, cap=cap)
    src.over = 50 if total_mode == "over" else 0
    snapshot: list[str] = []
    requests = [0]

    async def fetch(page: int, asked: int) -> ListPayload:
        k = requests[0]
        requests[0] += 1
        await asyncio.sleep(0)
        if k < len(arrivals):
            src.insert(arrivals[k])
        if not snapshot:
            snapshot.extend(r["id"] for r in src.rows)
        return src.payload(page, asked)

    async def run() -> tuple[list[str], BaseException | None]:
        p = AsyncPager(
            fetch, lambda x: x, record_id, page_size=page_size, concurrency=concurrency, style=style
        )
        got: list[str] = []
        try:
            async for record in p.raw():
                got.append(record["id"])
        except ca.InvalidResponseError as exc:
            return got, exc
        return got, None

    got, error = asyncio.run(run())
    if total_mode != "none" or not any(arrivals):
        assert error is None and got == snapshot
    else:
        # Without a total, arrivals cannot be told from a shift: records that arrive meanwhile
        # may be listed too, and when the page size the server seems to use is small, a page's
        # worth arriving between two reads may stop the listing. Never a repeat or a loss.
        assert len(got) == len(set(got))
        kept = [i for i in got if i in set(snapshot)]
        assert kept == (snapshot if error is None else snapshot[: len(kept)])
    if not any(arrivals):
        pages_needed = max(1, -(-n // size))
        assert requests[0] <= pages_needed + 2 * concurrency
