"""What every resource group shares: the session it sends through and list paging."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from calleague_async import _validate
from calleague_async._convert import FAST_PAGES, id_wire_name, structure_many
from calleague_async._limits import queueing
from calleague_async._options import NOT_GIVEN, NotGiven, RequestOptions
from calleague_async._pagecore import IdKey
from calleague_async._pagestyles import STYLES, PaginationStyle
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async._routes import Route
from calleague_async._session import BaseSession
from calleague_async._wire import ListPayload
from calleague_async.errors import ValidationError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20  # seed 000's documented default


class Resource:
    """A group of operations sharing one session."""

    def __init__(self, session: BaseSession) -> None:
        self._session = session

    def _options(
        self,
        timeout: float | NotGiven | None,
        extra_headers: Mapping[str, str] | None,
        extra_query: Mapping[str, Any] | None,
    ) -> RequestOptions | None:
        """One call's resolved options (checked); None: the session's, unchanged."""
        if timeout is NOT_GIVEN and extra_headers is None and extra_query is None:
            return None  # the usual call: no resolving, the pipeline reads the session's
        return self._session._request_options(timeout, extra_headers, extra_query)

    def _pager(
        self,
        route_name: str,
        model: type[T],
        key: Callable[[dict[str, Any]], Any],
        filters: dict[str, Any],
        *,
        page_size: int,
        start_page: int,
        max_items: int | None,
        concurrency: int = 1,
        cursor: ListCursor | None = None,
        options: RequestOptions | None = None,
        style: PaginationStyle = "page",
    ) -> AsyncPager[T]:
        """A pager over a named list route (Calleague's ``page`` style unless told otherwise)."""
        session = self._session

        def decode(items: list[dict[str, Any]]) -> list[T]:
            return structure_many(items, model)

        read_page = FAST_PAGES.get(model)
        fast_page: Callable[[bytes], ListPayload | None] | None = None
        if read_page is not None and style == "page" and _reads_ids_of(key, model):

            def fast_page(body: bytes) -> ListPayload | None:
                # A typed listing's page straight into models at C speed, when every record
                # on it is the common kind (else None: the usual way, record by record).
                page = read_page(body)
                if page is None:
                    return None
                models, ids, total = page
                return ListPayload(items=models, total=total, ids=ids, decoded=True)

        return list_pager(
            session,
            session._routes[route_name],
            decode,
            key,
            {k: str(v) for k, v in filters.items() if v is not None},
            style=style,
            page_size=page_size,
            start_page=start_page,
            max_items=max_items,
            concurrency=concurrency,
            cursor=cursor,
            options=options,
            fast_page=fast_page,
        )


def _reads_ids_of(key: Callable[[dict[str, Any]], Any], model: type[Any]) -> bool:
    """Whether ``key`` reads a record's id where ``model``'s fast page reader reads it."""
    return isinstance(key, IdKey) and key.names[0] == id_wire_name(model)


def list_pager(
    session: BaseSession,
    route: Route,
    decode: Callable[[list[dict[str, Any]]], list[T]],
    key: Callable[[dict[str, Any]], Any],
    query: dict[str, str],
    *,
    style: PaginationStyle,
    page_size: int,
    start_page: int = 1,
    max_items: int | None,
    concurrency: int,
    cursor: ListCursor | None,
    options: RequestOptions | None,
    path: str | None = None,
    fast_page: Callable[[bytes], ListPayload | None] | None = None,
) -> AsyncPager[T]:
    """A pager over ``route`` in ``style``; arguments are checked here, eagerly.

    ``query`` holds the listing's filters (kept in its cursor); ``path`` names the route in the
    cursor when it is not a named list method (``s.paginate``).
    """
    _validate.positive_int("page_size", page_size, maximum=_validate.MAX_PAGE_SIZE)
    _validate.positive_int("start_page", start_page)
    _validate.positive_int("concurrency", concurrency, maximum=64)
    if max_items is not None:
        _validate.positive_int("max_items", max_items)
    if cursor is not None and not isinstance(cursor, ListCursor):
        raise ValidationError("cursor", f"must be a ListCursor (got {type(cursor).__name__})")
    if cursor is not None and start_page != 1:
        raise ValidationError("start_page", "give a cursor or a start_page, not both")
    paging = STYLES[style]
    ask, read = paging.request, paging.read

    async def fetch(page: int, size: int) -> ListPayload:
        return await send_page(page, size, None)

    async def fetch_models(page: int, size: int) -> ListPayload:
        return await send_page(page, size, fast_page)

    async def send_page(
        page: int, size: int, fast: Callable[[bytes], ListPayload | None] | None
    ) -> ListPayload:
        # A listing queues behind the rate limit by design, like a batch (see queueing()).
        with queueing():
            payload: ListPayload = await session._send(
                route, params={**query, **ask(page, size)}, expect=read, options=options, fast=fast
            )
        return payload

    return AsyncPager(
        fetch,
        decode,
        key,
        page_size=page_size,
        start_page=start_page,
        max_items=max_items,
        concurrency=concurrency,
        cursor=cursor,
        filters=query,
        style=style,
        path=path,
        fetch_models=fetch_models if fast_page is not None else None,
    )


def with_extra_body(body: dict[str, Any], extra_body: Mapping[str, Any] | None) -> dict[str, Any]:
    """``body`` with the caller's ``extra_body`` fields on top (checked to be JSON)."""
    if extra_body is None:
        return body
    return {**body, **_validate.json_object("extra_body", extra_body)}
