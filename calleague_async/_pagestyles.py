"""Pagination styles: how a list route is asked for a page, and how its reply is read.

Pure: a style turns the pager's ``(page, size)`` into query parameters and a decoded JSON reply
into a :class:`~calleague_async._wire.ListPayload`; positions and safeguards are the core's.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from calleague_async._wire import ListPayload, count, list_payload, records, shown

PaginationStyle = Literal["page", "offset", "meta"]
"""How a list route pages: ``"page"`` (``page``/``pageSize``, ``{total, list}``), ``"offset"``
(``offset``/``limit``, ``{items, total}``) or ``"meta"`` (``page``/``limit``, ``{data, meta}``)."""


class Style:
    """One way of paging: the query that asks for a page, and how its reply is read."""

    name: ClassVar[PaginationStyle]
    params: ClassVar[tuple[str, str]]
    """The query parameters the style sets (a caller's filters may not)."""

    @staticmethod
    def request(page: int, size: int) -> dict[str, int]:
        """The query parameters asking for page ``page`` (1-based) of ``size`` records."""
        raise NotImplementedError

    @staticmethod
    def read(data: Any) -> ListPayload:
        """A reply's records and what it says of the rest; ``ValueError`` if it is no list."""
        return list_payload(data)


class PageStyle(Style):
    """Calleague's lists (seed 000): ``?page=P&pageSize=N``, read as ``{total, list}``.

    ``{total, items}``, seed 001's envelope around either, and a bare array (no total) are read
    too: the docs promise "a JSON list" for some routes without saying which.
    """

    name = "page"
    params = ("page", "pageSize")

    @staticmethod
    def request(page: int, size: int) -> dict[str, int]:
        """``page=P&pageSize=N``."""
        return {"page": page, "pageSize": size}


class OffsetStyle(Style):
    """Seed 003's lists: ``?offset=K&limit=N``, read as ``{items, total, limit, offset}``.

    Page ``P`` of ``N`` is offset ``(P - 1) * N``, so the core's page arithmetic holds as it is;
    a server that caps ``limit`` is followed like one that caps ``pageSize``.
    """

    name = "offset"
    params = ("offset", "limit")

    @staticmethod
    def request(page: int, size: int) -> dict[str, int]:
        """``offset=(P-1)*N&limit=N``."""
        return {"offset": (page - 1) * size, "limit": size}


class MetaStyle(Style):
    """Seed 004's lists: ``?page=P&limit=N``, read as ``{message, meta, data}``.

    ``meta.total_count`` is the total; ``meta.has_next_page`` becomes
    :attr:`ListPayload.has_next`: ``false`` ends the listing, and without a ``total_count`` a
    short page that says more follow is a capped ``limit``, not the end.
    """

    name = "meta"
    params = ("page", "limit")

    @staticmethod
    def request(page: int, size: int) -> dict[str, int]:
        """``page=P&limit=N``."""
        return {"page": page, "limit": size}

    @staticmethod
    def read(data: Any) -> ListPayload:
        """The records, ``total_count`` and ``has_next_page``; ``ValueError`` if no such list."""
        if not isinstance(data, dict) or not ("data" in data or "meta" in data):
            raise ValueError(f"expected a {{meta, data}} list reply, got {shown(data)}")
        meta = data.get("meta")
        if meta is None:
            meta = {}
        elif not isinstance(meta, dict):
            raise ValueError(f"expected meta to be an object, got {shown(meta)}")
        items, total = data.get("data"), count(meta.get("total_count"))
        if items is None and not total:
            items = []  # {"meta": {"total_count": 0}}: an empty list, as the seeds ask us to expect
        has_next = meta.get("has_next_page")
        return ListPayload(
            items=records(items),
            total=total,
            has_next=has_next if has_next.__class__ is bool else None,
        )


STYLES: dict[str, type[Style]] = {
    style.name: style for style in (PageStyle, OffsetStyle, MetaStyle)
}
"""Each style by name."""
