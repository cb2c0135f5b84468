"""The pager's fast paths give what its careful paths give, record for record.

A page whose records all carry distinct new text ids is taken whole at C speed, and records are
handed out through an iterator the core reads back (no per-record bookkeeping). Hypothesis
drives the core with the same pages through both paths (an ``IdKey``, which takes the fast
path, and the same rule as a plain function, which cannot), stopping at random records, and
compares every decision, cursor and id window. The ``async for`` tests stop mid-page through
the real pager and resume from the cursor.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calleague_async._pagecore import Batch, IdKey, ListCursor, PagingCore
from calleague_async._pagination import AsyncPager
from calleague_async._wire import ListPayload
from calleague_async.errors import InvalidResponseError

EXAMPLES = int(os.environ.get("CALLEAGUE_FUZZ_EXAMPLES", "0")) or None
ID_KEY = IdKey("callId", "id")


def same_rule(record: dict[str, Any]) -> Any:
    """``ID_KEY``'s rule as a plain function: the core cannot take its fast path with it."""
    return ID_KEY(record)


ids = st.one_of(
    st.sampled_from([f"c{i}" for i in range(40)]),  # repeats across and within pages
    st.integers(-3, 40),
    st.sampled_from(["", None, True, 1.5, "5", [1], {"a": 1}]),
)
records = st.builds(
    lambda main, alias, has_main, has_alias: {
        **({"callId": main} if has_main else {}),
        **({"id": alias} if has_alias else {}),
    },
    ids,
    ids,
    st.booleans(),
    st.booleans(),
)
# Mostly full pages of distinct ids (the fast path's case, with ids seen on earlier pages),
# some with an odd id among them, some repeating ids, some with anything in them.
near = st.sampled_from([*(f"c{i}" for i in range(30)), "", 5, None, "5", True])
full_page = st.lists(near, min_size=12, max_size=12, unique=True).map(
    lambda ks: [{"callId": k} for k in ks]
)
repeating = st.lists(st.sampled_from([f"c{i}" for i in range(30)]), min_size=12, max_size=12)
pages = st.lists(
    st.one_of(
        full_page,
        full_page,
        repeating.map(lambda ks: [{"callId": k} for k in ks]),
        st.lists(records, max_size=12),
    ),
    max_size=6,
)


def drive(
    key: Any, replies: list[list[dict[str, Any]]], stops: list[int], limit: int | None
) -> list[Any]:
    """Feed ``replies`` as pages 1, 2, ... (total unknown); hand out up to ``stops[i]`` of each."""
    core = PagingCore(
        key, page_size=12, start=ListCursor(position=0, snapshot_total=None), max_items=limit
    )
    seen: list[Any] = []
    for n, (items, stop) in enumerate(zip(replies, stops, strict=False), start=1):
        try:
            decision = core.accept(core.request(n), ListPayload(items=items, total=None))
        except InvalidResponseError as exc:  # a page that repeats itself: raised alike
            seen.append(str(exc))
            break
        new = decision.new
        seen.append((list(new or []), decision.done, decision.restart))
        if new:
            given = iter(new.records)
            core.handing(new, given)
            for _ in zip(range(stop), given, strict=False):
                pass
        cursor = core.cursor()
        seen.append((cursor.position, cursor.recent_ids, [list(c) for c in core.recent.chunks]))
        if decision.done or decision.restart:
            break
    return seen


@settings(
    max_examples=EXAMPLES or 300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(pages, st.lists(st.integers(0, 13), min_size=6, max_size=6), st.sampled_from([None, 7]))
def test_the_fast_path_decides_exactly_as_the_careful_one(
    replies: list[list[dict[str, Any]]], stops: list[int], limit: int | None
) -> None:
    assert drive(ID_KEY, replies, stops, limit) == drive(same_rule, replies, stops, limit)


def test_a_batch_reads_as_entries() -> None:
    batch = Batch([{"callId": "a"}, {"x": 1}], ["a", None], range(4, 6))
    assert len(batch) == 2
    assert list(batch) == [(4, "a", {"callId": "a"}), (5, None, {"x": 1})]
    assert "a" in repr(batch)


class Listing:
    """A fixed list of ``n`` calls served ``size`` at a time, with a total."""

    def __init__(self, n: int) -> None:
        self.rows = [{"callId": f"c{i}", "durationSec": i} for i in range(n)]

    async def fetch(self, page: int, size: int) -> ListPayload:
        return ListPayload(items=self.rows[(page - 1) * size : page * size], total=len(self.rows))


def models(items: list[dict[str, Any]]) -> list[int]:
    return [item["durationSec"] for item in items]


@pytest.mark.parametrize("stop", [1, 9, 10, 11, 25, 39])
@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("typed", [False, True])
async def test_stopping_mid_page_resumes_at_the_next_record(
    stop: int, concurrency: int, typed: bool
) -> None:
    src = Listing(40)

    def pager(cursor: ListCursor | None = None) -> AsyncPager[int]:
        return AsyncPager(
            src.fetch, models, ID_KEY, page_size=10, concurrency=concurrency, cursor=cursor
        )

    first = pager()
    got: list[int] = []
    stream = aiter(first) if typed else (r["durationSec"] async for r in first.raw())
    async for value in stream:
        got.append(value)
        if len(got) == stop:
            break
    assert first.cursor.position == stop
    assert first.cursor.recent_ids[-1] == f"c{stop - 1}"
    rest = [value async for value in pager(first.cursor)]
    assert got + rest == list(range(40))


async def test_pages_hand_out_each_page_whole() -> None:
    src = Listing(25)
    p = AsyncPager(src.fetch, models, ID_KEY, page_size=10)
    async for page in p.pages():
        assert p.cursor.position == (page.page - 1) * 10 + len(page.items)
        break
    assert p.cursor.position == 10


async def test_a_cursor_read_after_every_record_keeps_the_id_window_in_pages() -> None:
    src = Listing(300)
    p = AsyncPager(src.fetch, models, ID_KEY, page_size=100)
    got = []
    async for record in p.raw():
        got.append(record["durationSec"])
        assert p.cursor.position == len(got)  # a checkpoint per record, as an export may do
        assert len(p._core.recent.chunks) <= 4  # one chunk a page, not one per checkpoint
    assert got == list(range(300))
    assert p.cursor.recent_ids == tuple(f"c{i}" for i in range(200, 300))
