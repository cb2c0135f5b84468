"""The pager against servers that do not page as they say: repeats, cycles, odd ids and totals.

Each lie must end in data or ``InvalidResponseError`` after a bounded number of requests, never
an endless loop, a repeated id or a listing that silently ends short. Fake ``fetch`` functions
drive the pager's logic; an aiohttp.web server written here drives the whole SDK (and the
export) over real HTTP. The hypothesis tests are marked ``fuzz``: ``CALLEAGUE_FUZZ_EXAMPLES``
raises their example count (``nox -s fuzz``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import calleague_async as ca
from calleague_async import _pagecore
from calleague_async._convert import structure_many
from calleague_async._pagecore import _canonical_id, _Fingerprints
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async._wire import ListPayload
from calleague_async.export import export_calls, partial_paths
from calleague_async.models import Call
from calleague_async.resources.calls import _call_id

KEY = "sk_test_pager_hostile"
EXAMPLES = int(os.environ.get("CALLEAGUE_FUZZ_EXAMPLES", "0")) or None


def fuzz(default: int) -> settings:
    """Hypothesis settings: ``default`` examples, or ``CALLEAGUE_FUZZ_EXAMPLES``."""
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        database=None,  # nothing written into the working tree; failures print their example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def rows(n: int, prefix: str = "c") -> list[dict[str, Any]]:
    """``n`` calls, newest first."""
    return [{"callId": f"{prefix}{i}", "status": "completed"} for i in range(n, 0, -1)]


class Server:
    """A list served by page number, misbehaving as told; counts the requests it answers.

    ``mode``: ``honest``; ``ignore_page`` (always the first page); ``cycle`` (pages repeat
    every ``period``); ``creep`` (ignores ``page``, ``total`` grows by one per reply).
    """

    def __init__(
        self, n: int, *, mode: str = "honest", total: int | None = None, period: int = 4
    ) -> None:
        self.rows = rows(n)
        self.mode, self.total, self.period = mode, total, period
        self.asked: list[tuple[int, int]] = []

    def page(self, page: int, size: int) -> ListPayload:
        self.asked.append((page, size))
        start = (page - 1) * size
        if self.mode in ("ignore_page", "creep"):
            start = 0
        elif self.mode == "cycle":
            start = ((page - 1) % self.period) * size
        total = len(self.rows) if self.total is None else self.total
        if self.mode == "creep":
            total += len(self.asked)
        return ListPayload(items=self.rows[start : start + size], total=total)

    async def fetch(self, page: int, size: int) -> ListPayload:
        await asyncio.sleep(0)  # replies interleave, as over a network
        return self.page(page, size)


def pager(fetch: Any, **kw: Any) -> AsyncPager[dict[str, Any]]:
    kw.setdefault("page_size", 100)
    return AsyncPager(fetch, lambda items: items, _call_id, **kw)


async def drain(p: AsyncPager[dict[str, Any]]) -> tuple[list[Any], BaseException | None]:
    """The ids yielded, and the error that ended the listing (None if it finished)."""
    got: list[Any] = []
    try:
        async for record in p.raw():
            got.append(record.get("callId"))
    except ca.CalleagueError as exc:
        return got, exc
    return got, None


# --- servers that ignore `page` ------------------------------------------------------------


@pytest.mark.parametrize("total", [1000, 10**9])
@pytest.mark.parametrize("concurrency", [1, 8])
async def test_server_ignoring_page_raises_after_its_first_repeat(
    total: int, concurrency: int
) -> None:
    # Before: 77,656 requests in 10 s with a large total; with total=1000, 100 calls as if
    # complete. Now: the page that adds nothing while `total` says more remain is an error.
    src = Server(100, mode="ignore_page", total=total)
    got, error = await drain(pager(src.fetch, concurrency=concurrency))
    assert isinstance(error, ca.InvalidResponseError)
    assert "handed out before" in str(error) and f"total says {total}" in str(error)
    assert got == [r["callId"] for r in src.rows]  # page 1, once
    assert len(src.asked) <= 1 + concurrency


async def test_server_ignoring_page_while_total_creeps_up_still_raises() -> None:
    # A total that grows by one per reply looks like arrivals: the arithmetic then expects one
    # old record per page, not a whole page of them.
    src = Server(100, mode="creep", total=1000)
    got, error = await drain(pager(src.fetch))
    assert isinstance(error, ca.InvalidResponseError)
    assert len(got) == len(set(got)) == 100
    assert len(src.asked) == 2


async def test_without_total_page_two_equal_to_page_one_is_a_server_that_does_not_page() -> None:
    # A bare array says nothing of a total: a server that ignores paging answers every page
    # with the whole list, so page 2 == page 1 ends the listing (one request to settle it).
    async def bare(page: int, size: int) -> ListPayload:
        return ListPayload(items=rows(30), total=None)

    got, error = await drain(pager(bare, page_size=30))
    assert error is None and len(got) == 30


async def test_without_total_a_repeat_after_page_two_raises() -> None:
    src = Server(300, mode="cycle", period=3)

    async def bare(page: int, size: int) -> ListPayload:
        return ListPayload(items=src.page(page, size).items, total=None)

    got, error = await drain(pager(bare, page_size=10))
    assert isinstance(error, ca.InvalidResponseError)
    assert len(got) == len(set(got)) == 30


# --- servers that cycle through their pages --------------------------------------------------


@pytest.mark.parametrize("period", [2, 4, 9])
@pytest.mark.parametrize("concurrency", [1, 3])
async def test_server_cycling_its_pages_never_yields_an_id_twice(
    period: int, concurrency: int
) -> None:
    # Before: 3,600 repeats of 400 ids in 10 s. A cycle inside the id window is a page with
    # nothing new; beyond it, a page whose fingerprint was seen before.
    src = Server(10_000, mode="cycle", total=10**9, period=period)
    got, error = await drain(pager(src.fetch, page_size=50, concurrency=concurrency))
    assert isinstance(error, ca.InvalidResponseError)
    assert len(got) == len(set(got)) == 50 * period
    assert len(src.asked) <= period + 1 + concurrency


async def test_cycling_pages_of_records_without_ids_raise_too() -> None:
    pages = [[{"n": p, "i": i} for i in range(5)] for p in range(3)]

    async def fetch(page: int, size: int) -> ListPayload:
        return ListPayload(items=pages[(page - 1) % 3], total=1000)

    got, error = await drain(pager(fetch, page_size=5))
    assert isinstance(error, ca.InvalidResponseError) and "repeats a page" in str(error)
    assert len(got) == 15


# --- other lies ------------------------------------------------------------------------------


async def test_an_empty_page_ends_the_listing_even_when_total_says_more() -> None:
    # Documented: a total that over-counts is tolerated; the empty page is the end.
    src = Server(250, total=1000)
    got, error = await drain(pager(src.fetch, concurrency=4))
    assert error is None and got == [r["callId"] for r in src.rows]


@pytest.mark.parametrize("with_total", [True, False])
async def test_a_server_with_its_own_larger_page_size_is_read_whole(with_total: bool) -> None:
    data = rows(230)
    asked: list[int] = []

    async def own_size(page: int, size: int) -> ListPayload:  # 50 a page, whatever is asked
        asked.append(page)
        return ListPayload(
            items=data[(page - 1) * 50 : page * 50], total=len(data) if with_total else None
        )

    got, error = await drain(pager(own_size, page_size=20, concurrency=3))
    assert error is None and got == [r["callId"] for r in data]
    assert len(asked) <= 5 + 1 + 3


async def test_a_server_sending_everything_at_once_costs_one_request_with_a_total() -> None:
    src = rows(75)
    asked: list[int] = []

    async def everything(page: int, size: int) -> ListPayload:
        asked.append(page)
        return ListPayload(items=src, total=len(src))

    got, error = await drain(pager(everything, page_size=20, concurrency=4))
    assert error is None and len(got) == 75 and asked == [1]


async def test_a_page_larger_than_the_known_page_size_is_an_error() -> None:
    data = rows(100)

    async def grows(page: int, size: int) -> ListPayload:  # caps at 10, then sends 30
        n = 10 if page < 3 else 30
        return ListPayload(items=data[(page - 1) * 10 : (page - 1) * 10 + n], total=100)

    got, error = await drain(pager(grows, page_size=20))
    assert isinstance(error, ca.InvalidResponseError) and "more than" in str(error)
    assert got == [r["callId"] for r in data[:20]]


@pytest.mark.parametrize("bad", [-1, -(10**30), True, 2.5, "12"])
async def test_a_total_that_is_no_count_is_read_as_no_total(bad: Any) -> None:
    data = rows(25)

    async def fetch(page: int, size: int) -> ListPayload:
        return ListPayload(items=data[(page - 1) * 10 : page * 10], total=bad)

    got, error = await drain(pager(fetch, page_size=10))
    assert error is None and got == [r["callId"] for r in data]


async def test_a_huge_total_is_arithmetic_not_an_overflow() -> None:
    data = rows(30)

    async def fetch(page: int, size: int) -> ListPayload:
        return ListPayload(items=data[(page - 1) * 10 : page * 10], total=10**400)

    got, error = await drain(pager(fetch, page_size=10, concurrency=4))
    assert error is None and got == [r["callId"] for r in data]


async def test_totals_jumping_wildly_end_in_an_error_not_a_loop() -> None:
    data = rows(500)
    totals = [500, 3, 10**6, 0, 499, 10**12, 7]
    asked = [0]

    async def fetch(page: int, size: int) -> ListPayload:
        asked[0] += 1
        return ListPayload(items=data[(page - 1) * 10 : page * 10], total=totals[asked[0] % 7])

    got, error = await drain(pager(fetch, page_size=10, concurrency=2))
    assert error is None or isinstance(error, ca.InvalidResponseError)
    assert len(got) == len(set(got))
    assert asked[0] <= 2 * (50 + 1) * (_pagecore._MAX_IDLE + 1)


# --- ids of any JSON type ----------------------------------------------------------------------

ODD_IDS: list[Any] = [
    {"nested": [1, 2]},
    [1, 2],
    [],
    {},
    5,
    "5",
    True,
    1,
    1.5,
    float("nan"),
    float("inf"),
    None,
    "",
    "x" * 100_000,
    10**5000,  # past Python's int -> str limit
]


async def test_ids_of_any_json_type_are_data_not_type_errors() -> None:
    records = [{"callId": v, "n": i} for i, v in enumerate(ODD_IDS)]
    total = len(records)

    async def fetch(page: int, size: int) -> ListPayload:
        return ListPayload(items=records[(page - 1) * 4 : page * 4], total=total)

    p = AsyncPager(fetch, lambda items: items, _call_id, page_size=4, concurrency=2)
    got = [r["n"] async for r in p.raw()]
    # 5 and "5" are one id (ids compare as text, as a saved cursor keeps them); True and 1
    # are not. Objects, arrays, null, "" and unprintable ints are no id: never dropped.
    assert got == [i for i in range(len(ODD_IDS)) if i != 5]
    assert ListCursor.from_json(p.cursor.to_json()) == p.cursor


def test_canonical_ids() -> None:
    assert _canonical_id("a") == "a" and _canonical_id(5) == "5" and _canonical_id(True) == "true"
    assert _canonical_id(1.0) == "1.0" and _canonical_id(float("nan")) == "nan"
    for none in (None, "", [], {}, {"a": 1}, [1], 10**5000, object()):
        assert _canonical_id(none) is None


async def test_unhashable_ids_on_a_repeated_page_raise_our_error() -> None:
    page = [{"callId": {"a": i}} for i in range(3)]

    async def fetch(p: int, size: int) -> ListPayload:
        return ListPayload(items=page, total=100)

    got, error = await drain(pager(fetch, page_size=3))
    assert isinstance(error, ca.InvalidResponseError) and len(got) == 3


def test_fingerprints_are_a_set() -> None:
    marks = _Fingerprints()
    values = [i * 7919 for i in range(-500, 500) if i] + [2**63 - 1, -(2**63)]  # hash() is signed
    assert all(marks.add(v) for v in values)
    assert not any(marks.add(v) for v in values)
    assert len(marks) == len(values) == 1001


# --- over real HTTP -----------------------------------------------------------------------------


class HttpList:
    """An aiohttp.web server answering any GET with a page of ``server``'s list."""

    def __init__(self, server: Server) -> None:
        self.server = server

    async def handle(self, request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("pageSize", "20"))
        payload = self.server.page(page, size)
        return web.json_response({"total": payload.total, "list": payload.items})


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", HttpList(server).handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def session(base_url: str) -> ca.AsyncSession:
    return ca.AsyncSession(api_key=KEY, base_url=base_url, rate_limits=None)


async def test_over_http_a_server_ignoring_page_fails_the_listing() -> None:
    src = Server(100, mode="ignore_page", total=1000)
    async with serving(src) as url, session(url) as s:
        got: list[str] = []
        with pytest.raises(ca.InvalidResponseError, match="total says 1000"):
            async for call in s.calls.list(page_size=100, concurrency=4):
                got.append(call.call_id)
    assert got == [r["callId"] for r in src.rows]
    assert len(src.asked) <= 5


async def test_over_http_a_cycling_server_never_repeats_an_id() -> None:
    src = Server(1000, mode="cycle", total=10**6, period=4)
    async with serving(src) as url, session(url) as s:
        got: list[Any] = []
        with pytest.raises(ca.InvalidResponseError):
            async for record in s.calls.list(page_size=25).raw():
                got.append(record["callId"])
    assert len(got) == len(set(got)) == 100
    assert len(src.asked) == 5


async def test_over_http_odd_ids_come_out_as_calls() -> None:
    src = Server(0)
    src.rows = [{"callId": v, "status": "completed"} for v in ODD_IDS[:13]]
    async with serving(src) as url, session(url) as s:
        records = [r async for r in s.calls.list(page_size=5).raw()]
        calls = [c async for c in s.calls.list(page_size=5)]
    assert len(records) == len(calls) == 12  # "5" repeats 5
    assert all(isinstance(c, Call) for c in calls)


async def test_export_from_a_server_ignoring_page_fails_and_resumes_once_it_pages(
    tmp_path: Path,
) -> None:
    target = tmp_path / "calls.jsonl"
    part, checkpoint = partial_paths(target)
    src = Server(1000, mode="ignore_page")
    async with serving(src) as url, session(url) as s:
        with pytest.raises(ca.InvalidResponseError):
            await export_calls(s, target, page_size=100, concurrency=4)
        # Never a short file that looks complete: the .part and its checkpoint stay.
        assert not target.exists() and part.exists() and checkpoint.exists()
        assert len(part.read_text().splitlines()) == 100
        assert json.loads(checkpoint.read_text())["written"] == 100
        assert len(src.asked) <= 1 + 4
        src.mode = "honest"  # the server is fixed: the export resumes where it stopped
        result = await export_calls(s, target, page_size=100, concurrency=4, resume=True)
    ids = [json.loads(line)["callId"] for line in target.read_text().splitlines()]
    assert ids == [r["callId"] for r in src.rows]
    assert result.resumed_from == 100 and result.written == 1000
    assert not part.exists() and not checkpoint.exists()


async def test_export_from_a_cycling_server_fails_without_a_final_file(tmp_path: Path) -> None:
    target = tmp_path / "calls.csv"
    src = Server(5000, mode="cycle", total=10**9, period=4)
    async with serving(src) as url, session(url) as s:
        with pytest.raises(ca.InvalidResponseError):
            await export_calls(s, target, fmt="csv", page_size=100, concurrency=2)
    part, checkpoint = partial_paths(target)
    assert not target.exists() and checkpoint.exists()
    lines = part.read_text().splitlines()[1:]  # under the header
    assert len(lines) == len(set(lines)) == 400


# --- fuzzing ---------------------------------------------------------------------------------

# Drawn from pools, not built value by value: generation, not the pager, would cost the time.
ID_POOL: list[Any] = [
    *(f"c{i}" for i in range(8)),  # few ids, so repeats within and across pages are common
    *ODD_IDS,
    -7,
    2**63,
    -0.0,
    "\ud800",
    " c1",
]
ID_KEYS = ["callId", "id", "status"]  # the id under either name, or no id at all
TOTAL_POOL: list[Any] = [None, 0, 1, 3, 7, 20, 10**18, 10**400, -1, -(10**400), True, False]


RECORD_POOL = [{key: value, "n": n} for key in ID_KEYS for value in ID_POOL for n in range(2)]
records = st.sampled_from(RECORD_POOL)
totals = st.sampled_from(TOTAL_POOL) | st.integers(min_value=-3, max_value=40)
pages_st = st.lists(st.tuples(st.lists(records, max_size=6), totals), min_size=1, max_size=6)


def choose(mode: str, pages: list[Any]) -> Callable[[int, int, int], Any]:
    """Which of the scripted pages answers the ``n``-th request, for ``page``."""
    last = len(pages) - 1
    if mode == "by_page":
        return lambda page, n, size: pages[(page - 1) % len(pages)]
    if mode == "by_request":
        return lambda page, n, size: pages[n % len(pages)]
    if mode == "clamped":
        return lambda page, n, size: pages[min(page - 1, last)]
    return lambda page, n, size: pages[page - 1] if page <= len(pages) else ([], None)


@pytest.mark.fuzz
@fuzz(default=1500)
@given(
    pages=pages_st,
    mode=st.sampled_from(["by_page", "by_request", "clamped", "then_empty"]),
    page_size=st.integers(min_value=1, max_value=8),
    concurrency=st.integers(min_value=1, max_value=4),
    max_items=st.none() | st.integers(min_value=1, max_value=30),
    how=st.sampled_from(["raw", "pages", "models"]),
)
def test_any_pages_end_in_data_or_our_error_within_bounded_requests(
    pages: list[tuple[list[dict[str, Any]], Any]],
    mode: str,
    page_size: int,
    concurrency: int,
    max_items: int | None,
    how: str,
) -> None:
    answer = choose(mode, pages)
    requests = [0]

    async def fetch(page: int, size: int) -> ListPayload:
        items, total = answer(page, requests[0], size)
        requests[0] += 1
        await asyncio.sleep(0)
        return ListPayload(items=list(items), total=total)

    def decode(items: list[dict[str, Any]]) -> list[Any]:
        return structure_many(items, Call) if how == "models" else items

    async def run() -> None:
        p = AsyncPager(
            fetch,
            decode,
            _call_id,
            page_size=page_size,
            concurrency=concurrency,
            max_items=max_items,
        )
        try:
            if how == "pages":
                async for _ in p.pages():
                    pass
            elif how == "raw":
                async for _ in p.raw():
                    pass
            else:
                async for _ in p:
                    pass
        except ca.CalleagueError:
            pass
        with suppress(ca.ValidationError):
            ListCursor.from_json(p.cursor.to_json())

    asyncio.run(run())
    # Bounded: only a page not seen before resets the idle count, and each reply read starts
    # at most `concurrency` requests.
    distinct = len(pages)
    bound = concurrency * ((distinct + 1) * (_pagecore._MAX_IDLE + 1) + 2)
    assert requests[0] <= bound


@pytest.mark.fuzz
@fuzz(default=500)
@given(
    n=st.integers(min_value=0, max_value=120),
    page_size=st.integers(min_value=1, max_value=12),
    cap=st.none() | st.integers(min_value=1, max_value=12),
    total_mode=st.sampled_from(["exact", "over", "none"]),
    concurrency=st.integers(min_value=1, max_value=4),
    arrivals=st.lists(st.integers(min_value=0, max_value=4), max_size=40),
)
def test_an_honest_server_is_read_exactly_once_within_its_page_count(
    n: int,
    page_size: int,
    cap: int | None,
    total_mode: str,
    concurrency: int,
    arrivals: list[int],
) -> None:
    size = min(page_size, cap or page_size)
    if total_mode == "none":
        arrivals = []  # without a total, arrivals cannot be told from a shift
    arrivals = [min(a, size // 3) for a in arrivals]  # calls arrive slower than pages are read
    data = rows(n)
    snapshot: list[str] = []
    requests = [0]

    async def fetch(page: int, asked: int) -> ListPayload:
        k = requests[0]
        requests[0] += 1
        await asyncio.sleep(0)
        if k < len(arrivals):
            data[:0] = rows(arrivals[k], prefix=f"new{k}-")
        if not snapshot:
            snapshot.extend(r["callId"] for r in data)
        real = min(asked, cap or asked)
        total = {"exact": len(data), "over": len(data) + 50, "none": None}[total_mode]
        return ListPayload(items=data[(page - 1) * real : page * real], total=total)

    async def run() -> list[str]:
        p = AsyncPager(fetch, lambda x: x, _call_id, page_size=page_size, concurrency=concurrency)
        return [r["callId"] async for r in p.raw()]

    got = asyncio.run(run())
    assert got == snapshot
    if not any(arrivals):
        # The pages, plus what prefetch reads past the end, twice when an over-counting total
        # makes the last, short page look like a capped pageSize (read again in that size).
        pages_needed = max(1, -(-n // size))
        assert requests[0] <= pages_needed + 2 * concurrency
