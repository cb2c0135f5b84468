"""``AsyncSession``: the pipeline of ``BaseSession`` with the resource groups on it."""

from __future__ import annotations

import functools

from calleague_async._session import BaseSession
from calleague_async.resources import Agents, Calls, Webhooks


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

    >>> async with AsyncSession(api_key="sk_...") as s:
    ...     call = await s.calls.start(agent_id="ag_123", to="+903121234567")
    ...     call = await s.calls.get(call.call_id)
    """

    # The options are BaseSession's (one signature, one place); the resource groups are made
    # on first use and kept for the session's life.

    @functools.cached_property
    def calls(self) -> Calls:
        """Start, read and list calls."""
        return Calls(self)

    @functools.cached_property
    def agents(self) -> Agents:
        """Read voice assistants."""
        return Agents(self)

    @functools.cached_property
    def webhooks(self) -> Webhooks:
        """Register webhook endpoints."""
        return Webhooks(self)
