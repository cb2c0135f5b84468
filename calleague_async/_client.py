"""``AsyncSession``: the pipeline of ``BaseSession`` with the resource groups on it."""

from __future__ import annotations

from collections.abc import Mapping

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
        )
        self.calls = Calls(self)
        """Start, read and list calls."""
        self.agents = Agents(self)
        """Read voice assistants."""
        self.webhooks = Webhooks(self)
        """Register webhook endpoints."""
