"""``AsyncSession``: the pipeline of ``BaseSession`` with the resource groups on it."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

from calleague_async._session import BaseSession
from calleague_async.resources import Agents, Calls, Webhooks
from calleague_async.resources._base import Resource

R = TypeVar("R", bound=Resource)


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
