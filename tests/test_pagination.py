"""The pager against an in-memory list: totals, empty pages, over-counts, head inserts, limits."""

from __future__ import annotations

from typing import Any

from calleague_async._pagination import AsyncPager
from calleague_async._wire import ListPayload


class FakeList:
    """A newest-first list served page by page, recording the pages asked for."""

    def __init__(self, n: int, *, total_bonus: int = 0, ignore_page: bool = False) -> None:
        self.rows = [{"id": f"c{i}"} for i in range(n, 0, -1)]
        self.total_bonus = total_bonus
        self.ignore_page = ignore_page
        self.asked: list[int] = []
        self.before_page: dict[int, int] = {}  # page -> rows to insert at the head first
        self._next = n + 1

    async def fetch(self, page: int, size: int) -> ListPayload:
        self.asked.append(page)
        for _ in range(self.before_page.get(page, 0)):
            self.rows.insert(0, {"id": f"c{self._next}"})
            self._next += 1
        start = 0 if self.ignore_page else (page - 1) * size
        return ListPayload(
            items=self.rows[start : start + size], total=len(self.rows) + self.total_bonus
        )


def pager(src: FakeList, **kw: Any) -> AsyncPager[dict[str, Any]]:
    kw.setdefault("page_size", 10)
    return AsyncPager(src.fetch, lambda items: items, lambda r: r["id"], **kw)


async def ids(p: AsyncPager[dict[str, Any]]) -> list[str]:
    return [r["id"] async for r in p]


async def test_pages_until_total_is_reached() -> None:
    src = FakeList(25)
    got = await ids(pager(src))
    assert got == [f"c{i}" for i in range(25, 0, -1)]
    assert src.asked == [1, 2, 3]


async def test_exact_multiple_of_page_size_costs_no_extra_request() -> None:
    src = FakeList(20)
    assert len(await ids(pager(src))) == 20
    assert src.asked == [1, 2]


async def test_empty_list_costs_one_request() -> None:
    src = FakeList(0)
    assert await ids(pager(src)) == []
    assert src.asked == [1]


async def test_stops_on_empty_page_when_total_overcounts() -> None:
    src = FakeList(15, total_bonus=1000)
    assert len(await ids(pager(src))) == 15
    assert src.asked == [1, 2, 3]


async def test_head_inserts_while_paging_yield_no_duplicates_and_lose_nothing() -> None:
    src = FakeList(30)
    src.before_page = {2: 3, 3: 1}
    got = await ids(pager(src))
    assert len(got) == len(set(got))
    assert set(got) >= {f"c{i}" for i in range(1, 31)}


async def test_server_ignoring_page_parameter_does_not_loop_forever() -> None:
    src = FakeList(30, ignore_page=True)
    got = await ids(pager(src))
    assert got == [f"c{i}" for i in range(30, 20, -1)]
    assert src.asked == [1, 2]


async def test_missing_total_stops_on_a_short_page() -> None:
    src = FakeList(25)

    async def no_total(page: int, size: int) -> ListPayload:
        return ListPayload(items=(await src.fetch(page, size)).items, total=None)

    p = AsyncPager(no_total, lambda x: x, lambda r: r["id"], page_size=10)
    assert len([r async for r in p]) == 25
    assert src.asked == [1, 2, 3]


async def test_max_items_stops_early() -> None:
    src = FakeList(100)
    assert len(await ids(pager(src, max_items=15))) == 15
    assert src.asked == [1, 2]


async def test_start_page_resumes_and_counts_earlier_pages_as_collected() -> None:
    src = FakeList(25)
    got = await ids(pager(src, start_page=2))
    assert got == [f"c{i}" for i in range(15, 0, -1)]
    assert src.asked == [2, 3]


async def test_pages_expose_page_number_total_and_items() -> None:
    src = FakeList(12)
    pages = [p async for p in pager(src, page_size=5).pages()]
    assert [(p.page, p.total, len(p.items), p.page_size) for p in pages] == [
        (1, 12, 5, 5),
        (2, 12, 5, 5),
        (3, 12, 2, 5),
    ]


async def test_empty_list_yields_one_empty_page() -> None:
    pages = [p async for p in pager(FakeList(0)).pages()]
    assert len(pages) == 1 and pages[0].items == [] and pages[0].total == 0


async def test_dedup_memory_is_bounded_by_the_overlap_window() -> None:
    src = FakeList(1000)
    p = pager(src, page_size=10)
    seen = 0
    gen = p.pages()
    async for page in gen:
        seen += len(page.items)
    assert seen == 1000
    # The pager keeps only a window of ids: verify via the window class directly.
    from calleague_async._pagination import _RecentIds

    window = _RecentIds(10)
    for i in range(1000):
        assert window.add(i)
    assert len(window) == 10
    assert not window.add(995) and window.add(5)
