"""``AsyncSession``: the pipeline of ``BaseSession`` with the resource groups on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, overload

from calleague_async import _validate
from calleague_async._convert import _DECODERS, structure_many
from calleague_async._options import NOT_GIVEN, NotGiven
from calleague_async._pagestyles import STYLES, PaginationStyle
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async._routes import adhoc
from calleague_async._session import BaseSession
from calleague_async.errors import ValidationError
from calleague_async.resources import Agents, Calls, Campaigns, Contacts, Webhooks
from calleague_async.resources._base import DEFAULT_PAGE_SIZE, Resource, list_pager

R = TypeVar("R", bound=Resource)
M = TypeVar("M")


class _ResourceGroup(Generic[R]):
    """A resource group on the session: made on first use, then kept for the session's life.

    Like ``functools.cached_property`` it stores the group in the instance's ``__dict__`` (a
    non-data descriptor, so later reads never reach it). Read on the class it gives the resource
    class itself, so ``help(AsyncSession.calls)`` lists the methods of ``Calls``, not those of
    a descriptor.
    """

    def __init__(self, resource: type[R]) -> None:
        self._resource = resource
        self._name = ""
        self.__doc__ = resource.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> type[R]: ...
    @overload
    def __get__(self, instance: BaseSession, owner: type[Any] | None = None) -> R: ...
    def __get__(self, instance: BaseSession | None, owner: type[Any] | None = None) -> R | type[R]:
        if instance is None:
            return self._resource
        group = self._resource(instance)
        instance.__dict__[self._name] = group
        return group


class AsyncSession(BaseSession):
    """One connection pool to the Calleague API, meant to live as long as your program.

    ``api_key`` falls back to ``CALLEAGUE_API_KEY``; ``base_url`` to ``CALLEAGUE_BASE_URL`` (or
    ``CALLEAGUE_BASE``), else ``https://app.calleague.ai``. Plain ``http://`` is refused except to
    loopback unless ``allow_insecure_http=True``. ``timeout`` is seconds per attempt (None: no
    limit); ``max_retries`` bounds the retries of a failed request; ``paths`` overrides route
    paths by operation name (``{"calls.get": "/api/v1/calls/{call_id}"}``), since the docs call
    most paths illustrative.

    Rate limiting runs before every attempt, retries included. A route with no known limit is
    not paced until the server says something about it (a 429, ``Retry-After``, rate-limit
    headers, a message naming a limit); then it runs at what was learned and recovers.
    ``rate_limits`` maps ``"default"`` (the whole key) and ``"METHOD /path/template"`` routes to
    limits such as ``"30/minute"`` that pace from the first request (``None`` turns the limiter
    off; the defaults, ``DEFAULT_RATE_LIMITS``, are the documented limits: none for Calleague's
    routes); ``rate_limit_burst`` lets that many requests go at once; ``rate_limit_store`` is
    ``"redis://host:6379/0"`` to share the buckets across processes and machines;
    ``rate_limit_scope`` names a bucket shared by several keys of one workspace. ``max_wait``
    (10 s by default; ``None``: no bound) makes a request the limiter would hold longer fail at
    once with ``LimiterTimeoutError``, saying why; batches and pagers bound only the wait at the
    head of their queue.
    ``retry_unknown_outcomes=True`` retries a call-creating request even when it may have
    reached the server, with the same ``Idempotency-Key``: only for servers that honour it.
    ``retry_budget`` (500 tokens; ``None``: none) keeps an outage from multiplying traffic: a
    retry spends 5 (10 after a timeout), a success puts some back.

    ``max_response_size`` caps a reply body (32 MiB, after decompression). ``pool_size`` and
    ``keepalive_timeout`` size the connection pool; ``http_session`` sends through your own
    ``aiohttp.ClientSession`` instead (never closed by us); ``proxy`` names a proxy, and
    ``trust_env`` (default True) honours ``HTTP(S)_PROXY``/``NO_PROXY``. ``app_info`` is added
    to the ``User-Agent``. ``hooks`` maps pipeline events (``request_sent``,
    ``response_received``, ``retry_scheduled``, ``limiter_wait``, ``error``) to callables;
    ``tracer_provider`` sends this session's OpenTelemetry spans to a provider of your own.
    :meth:`with_options` gives a view with other defaults on the same pool.

    >>> async with AsyncSession(api_key="sk_...") as s:
    ...     call = await s.calls.start(agent_id="ag_123", to="+903121234567")
    ...     call = await s.calls.get(call.call_id)
    """

    # The options are BaseSession's (one signature, one place); the resource groups are made
    # on first use and kept for the session's life.

    calls: _ResourceGroup[Calls] = _ResourceGroup(Calls)
    """Start, read and list calls: the methods of :class:`~calleague_async.resources.Calls`."""

    agents: _ResourceGroup[Agents] = _ResourceGroup(Agents)
    """Read voice assistants: the methods of :class:`~calleague_async.resources.Agents`."""

    webhooks: _ResourceGroup[Webhooks] = _ResourceGroup(Webhooks)
    """Register webhook endpoints: the methods of :class:`~calleague_async.resources.Webhooks`."""

    contacts: _ResourceGroup[Contacts] = _ResourceGroup(Contacts)
    """Create, update and bulk-import contacts: the methods of
    :class:`~calleague_async.resources.Contacts`."""

    campaigns: _ResourceGroup[Campaigns] = _ResourceGroup(Campaigns)
    """Launch and stop campaigns: the methods of :class:`~calleague_async.resources.Campaigns`."""

    @overload
    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        style: PaginationStyle = "page",
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        max_items: int | None = None,
        cursor: ListCursor | None = None,
        model: None = None,
        id_field: str | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> AsyncPager[dict[str, Any]]: ...
    @overload
    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        style: PaginationStyle = "page",
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        max_items: int | None = None,
        cursor: ListCursor | None = None,
        model: type[M],
        id_field: str | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> AsyncPager[M]: ...
    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        style: PaginationStyle = "page",
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        max_items: int | None = None,
        cursor: ListCursor | None = None,
        model: type[Any] | None = None,
        id_field: str | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> AsyncPager[Any]:
        """Any list route of the workspace across pages: the same pager as ``calls.list``.

        ``style`` says how the route pages: ``"page"`` (``page``/``pageSize``, ``{total,
        list}``: Calleague's), ``"offset"`` (``offset``/``limit``, ``{items, total}``) or
        ``"meta"`` (``page``/``limit``, ``{data, meta: {total_count, has_next_page}}``).
        ``params`` are the route's filters (a saved cursor repeats them). Records are dicts, or
        ``model`` (``ca.Call``, ``ca.Agent``, ...) each; ``id_field`` names the field that
        identifies a record (by default ``id``, else ``callId``), by which repeats are dropped.
        ``page_size``, ``concurrency``, ``max_items`` and ``cursor`` are those of
        ``calls.list``; what each style guarantees is in the README's "Paging".

        >>> async for record in s.paginate("/api/core/voice/call/list", page_size=100):
        ...     print(record["callId"])
        >>> pager = s.paginate("/v1/calls", style="offset", params={"status": "queued"})
        """
        _validate.request_path("path", path)
        if "?" in path:
            raise ValidationError("path", "give the query as params=, which a cursor checks")
        paging = STYLES.get(style) if isinstance(style, str) else None
        if paging is None:
            raise ValidationError("style", f"must be one of {', '.join(STYLES)} (got {style!r})")
        return list_pager(
            self,
            adhoc("GET", path),
            _decoder(model),
            _record_key(id_field),
            _list_query(params, paging.params),
            style=style,
            page_size=page_size,
            max_items=max_items,
            concurrency=concurrency,
            cursor=cursor,
            options=self._request_options(timeout, extra_headers, extra_query),
            path=path,
        )


def _decoder(model: type[Any] | None) -> Callable[[list[dict[str, Any]]], list[Any]]:
    """Records as they came, or each as ``model`` (a class the SDK's converter decodes)."""
    if model is None:
        return _as_they_came
    if not isinstance(model, type) or model not in _DECODERS:
        known = ", ".join(sorted(f"ca.{cls.__name__}" for cls in _DECODERS))
        raise ValidationError("model", f"must be None or one of {known} (got {model!r})")

    def decode(items: list[dict[str, Any]]) -> list[Any]:
        return structure_many(items, model)

    return decode


def _as_they_came(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return items


def _record_key(id_field: str | None) -> Callable[[dict[str, Any]], Any]:
    """What identifies a record: ``id_field``, else ``id``, else ``callId``."""
    if id_field is None:

        def default_id(record: dict[str, Any]) -> Any:
            value = record.get("id")
            return record.get("callId") if value is None else value

        return default_id
    if not isinstance(id_field, str) or not id_field:
        raise ValidationError("id_field", f"must be a non-empty str (got {id_field!r})")

    def named_id(record: dict[str, Any]) -> Any:
        return record.get(id_field)

    return named_id


def _list_query(params: Mapping[str, Any] | None, paging: tuple[str, ...]) -> dict[str, str]:
    """A listing's filters as the query sends them; the style's own parameters are refused."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValidationError("params", f"must be a mapping (got {type(params).__name__})")
    query: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise ValidationError("params", f"names must be strings (got {name!r})")
        _validate.text("params", name)
        if name in paging:
            raise ValidationError("params", f"{name!r} is set by the pager, page by page")
        if value is None:
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, str):
            query[name] = _validate.text("params", value)
        elif isinstance(value, int | float):
            query[name] = str(value)
        else:
            kind = type(value).__name__
            raise ValidationError("params", f"{name!r} must be a str, number or None (got {kind})")
    return query
