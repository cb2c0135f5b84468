"""``AsyncSession``: the pipeline of ``BaseSession`` with the resource groups on it."""

from __future__ import annotations

from collections.abc import Mapping

from calleague_async._limits import DEFAULT_RATE_LIMITS, Store
from calleague_async._session import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, BaseSession
from calleague_async.resources import Agents, Calls, Webhooks


class AsyncSession(BaseSession):
    """One connection pool to the Calleague API, meant to live as long as your program.

    ``api_key`` falls back to ``CALLEAGUE_API_KEY``; ``base_url`` to ``CALLEAGUE_BASE_URL`` (or
    ``CALLEAGUE_BASE``), else ``https://app.calleague.ai``. Plain ``http://`` is refused except to
    loopback unless ``allow_insecure_http=True``. ``timeout`` is seconds per attempt (None: no
    limit); ``max_retries`` bounds the retries of a failed request; ``paths`` overrides route
    paths by operation name (``{"calls.get": "/api/v1/calls/{call_id}"}``), since the docs call
    most paths illustrative.

    Rate limiting runs before every attempt, retries included: ``rate_limits`` maps
    ``"default"`` (the whole key) and ``"METHOD /path/template"`` routes to limits such as
    ``"30/minute"`` (``None`` turns the limiter off; the defaults are ``DEFAULT_RATE_LIMITS``);
    ``rate_limit_burst`` lets that many requests go at once; ``rate_limit_store`` is
    ``"redis://host:6379/0"`` to share the buckets across processes and machines;
    ``rate_limit_scope`` names a bucket shared by several keys of one workspace; ``max_wait``
    makes a request fail fast with ``LimiterTimeoutError`` instead of queueing longer.
    ``retry_unknown_outcomes=True`` retries a call-creating request even when it may have
    reached the server, with the same ``Idempotency-Key``: only for servers that honour it.

    >>> async with AsyncSession(api_key="sk_...") as s:
    ...     call = await s.calls.start(agent_id="ag_123", to="+903121234567")
    ...     call = await s.calls.get(call.call_id)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        paths: Mapping[str, str] | None = None,
        default_headers: Mapping[str, str] | None = None,
        pool_size: int = 100,
        allow_insecure_http: bool = False,
        rate_limits: Mapping[str, str] | None = DEFAULT_RATE_LIMITS,
        rate_limit_burst: int = 1,
        rate_limit_store: str | Store | None = None,
        rate_limit_scope: str | None = None,
        max_wait: float | None = None,
        retry_unknown_outcomes: bool = False,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            paths=paths,
            default_headers=default_headers,
            pool_size=pool_size,
            allow_insecure_http=allow_insecure_http,
            rate_limits=rate_limits,
            rate_limit_burst=rate_limit_burst,
            rate_limit_store=rate_limit_store,
            rate_limit_scope=rate_limit_scope,
            max_wait=max_wait,
            retry_unknown_outcomes=retry_unknown_outcomes,
        )
        self.calls = Calls(self)
        """Start, read and list calls."""
        self.agents = Agents(self)
        """Read voice assistants."""
        self.webhooks = Webhooks(self)
        """Register webhook endpoints."""
