"""The request pipeline: configuration, then route -> transport -> wire decode -> retry decision.

``BaseSession._send`` is the one internal entry every resource method goes through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import attrs

from calleague_async import _validate
from calleague_async._limits import (
    DEFAULT_RATE_LIMITS,
    Limiter,
    RedisStore,
    Store,
    parse_limits,
    scope_id,
)
from calleague_async._retry import RetryPolicy
from calleague_async._routes import Route, RouteTable, adhoc
from calleague_async._transport import Transport
from calleague_async._version import __version__
from calleague_async._wire import Expect, decode
from calleague_async.errors import (
    APIConnectionError,
    CalleagueError,
    ConfigurationError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
)

log = logging.getLogger("calleague_async")

DEFAULT_BASE_URL = "https://app.calleague.ai"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2


@attrs.frozen
class RequestOptions:
    """What one request runs with, resolved once from the session's defaults."""

    timeout: float | None
    max_retries: int


def _resolve_api_key(api_key: str | None) -> str:
    key = api_key if api_key is not None else os.environ.get("CALLEAGUE_API_KEY")
    if not key:
        raise ConfigurationError(
            "no API key: pass AsyncSession(api_key=...) or set the CALLEAGUE_API_KEY "
            "environment variable"
        )
    if not isinstance(key, str) or any(c.isspace() or ord(c) < 32 for c in key):
        # Whitespace or control characters would corrupt (or inject into) the header.
        raise ConfigurationError("the API key contains whitespace or control characters")
    return key


def _resolve_base_url(base_url: str | None, allow_insecure_http: bool) -> str:
    url = (
        base_url
        or os.environ.get("CALLEAGUE_BASE_URL")
        or os.environ.get("CALLEAGUE_BASE")  # the name seed 001 uses
        or DEFAULT_BASE_URL
    )
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL (got {url!r})")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"base_url must not carry a query or fragment (got {url!r})")
    if (
        parts.scheme == "http"
        and not allow_insecure_http
        and not _validate.is_loopback(parts.hostname)
    ):
        raise ConfigurationError(
            f"refusing plain http:// to {parts.hostname}: the API key would travel in clear "
            "text. Use https://, or pass allow_insecure_http=True if you really mean it"
        )
    return url.rstrip("/")


class BaseSession:
    """Configuration and the request pipeline; :class:`AsyncSession` adds the resources."""

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
        key = _resolve_api_key(api_key)
        self.base_url = _resolve_base_url(base_url, allow_insecure_http)
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise ConfigurationError(f"timeout must be a positive number or None (got {timeout!r})")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be an int >= 0 (got {max_retries!r})")
        self._options = RequestOptions(timeout=timeout, max_retries=max_retries)
        self._routes = RouteTable(paths)
        self._retry = RetryPolicy(
            max_retries=max_retries, retry_unknown_outcomes=retry_unknown_outcomes
        )
        if max_wait is not None and (not isinstance(max_wait, int | float) or max_wait < 0):
            raise ConfigurationError(f"max_wait must be a number >= 0 or None (got {max_wait!r})")
        self._limiter: Limiter | None = None
        if rate_limits is not None:
            self._limiter = Limiter(
                parse_limits(rate_limits),
                routes=self._routes,
                scope=scope_id(key, rate_limit_scope),
                store=_store(rate_limit_store),
                burst=rate_limit_burst,
                max_wait=max_wait,
            )
            # A store made here from a URL is ours to close; a store object passed in is not.
            self._limiter.owns_store = isinstance(rate_limit_store, str)
        headers = {
            "User-Agent": f"calleague-async/{__version__} python/{platform.python_version()}",
            "Accept": "application/json",
            **(default_headers or {}),
            "Authorization": f"Bearer {key}",
        }
        self._transport = Transport(base_url=self.base_url, headers=headers, pool_size=pool_size)
        # Injected so tests can assert waits without sleeping (STYLE habit 7).
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __repr__(self) -> str:
        state = "closed" if self._transport.closed else "open"
        return f"<{type(self).__name__} base_url={self.base_url!r} api_key=*** {state}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool (and a Redis limiter store). Safe to call more than once."""
        if not self._transport.closed and self._limiter is not None:
            await self._limiter.close()
        await self._transport.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._transport.closed

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.opened and not transport.closed:
            _warn(
                f"Unclosed {type(self).__name__} {self!r}: use 'async with' or await close()",
                ResourceWarning,
                source=self,
            )
            transport.abandon()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send any request to the API and return its decoded JSON (envelope removed).

        The escape hatch for endpoints the SDK does not wrap yet. ``path`` is sent as given;
        GET/PUT/DELETE are retried like any safe request, other methods only when provably safe.

        >>> body = await s.request("GET", "/api/core/voice/call/list", params={"page": 1})
        """
        return await self._send(adhoc(method, path), params=params, json=json)

    async def _send(
        self,
        route: Route,
        *,
        ids: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        expect: Expect = "any",
        options: RequestOptions | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        opts = options or self._options
        path = self._routes.url_path(route, **(ids or {}))
        query = _query(params) if params else None
        body, headers = _body(json) if json is not None else (None, None)
        if route.method == "POST" and not route.idempotent:
            # One key per logical request, the same on every retry of it.
            key = idempotency_key or uuid.uuid4().hex
            headers = {**(headers or {}), "Idempotency-Key": key}
        retry, limiter, transport = self._retry, self._limiter, self._transport
        attempts = 0
        sent_at = 0.0
        ambiguous = False  # did any attempt fail after it may have reached the server?
        debug = log.isEnabledFor(logging.DEBUG)
        while True:
            attempts += 1
            if limiter is not None:
                try:
                    granted = limiter.try_now(route)
                    sent_at = granted if granted is not None else await limiter.acquire(route)
                except CalleagueError:
                    raise
                except Exception as exc:  # the store's own errors (Redis down) stop here
                    raise APIConnectionError(
                        f"rate limit store unavailable: {type(exc).__name__}: {exc}",
                        method=route.method,
                        path=path,
                        request_sent=False,
                    ) from exc
            try:
                reply = await transport.send(
                    route.method,
                    path,
                    params=query,
                    body=body,
                    headers=headers,
                    timeout=opts.timeout,
                )
                if debug:
                    log.debug("%s %s -> %d", route.method, path, reply.status)
                if limiter is not None:
                    try:
                        pause = limiter.observe(route, reply.status, reply.headers)
                        if pause is not None:
                            await pause
                    except Exception:  # a reply is in hand (maybe a placed call): keep it
                        log.warning(
                            "calleague_async: rate limiter bookkeeping failed", exc_info=True
                        )
                return decode(reply, method=route.method, path=path, expect=expect)
            except CalleagueError as exc:
                error = exc
            if limiter is not None:
                await _feed_back(limiter, route, error, sent_at)
            ambiguous = ambiguous or retry.outcome_unknown(error)
            wait = retry.wait(route, error, attempts) if attempts <= opts.max_retries else None
            if wait is None:
                # Judged on every attempt, not the last: a 429 after a 500 proves nothing
                # about the first attempt, which may have placed the call.
                if route.creates_call and ambiguous:
                    raise OutcomeUnknownError(
                        method=route.method,
                        path=path,
                        request=json,
                        idempotency_key=(headers or {}).get("Idempotency-Key"),
                        cause=error,
                    ) from error
                raise error
            log.info(
                "retrying %s %s in %.2fs after %s (attempt %d of %d)",
                route.method,
                path,
                wait,
                type(error).__name__,
                attempts + 1,
                opts.max_retries + 1,
            )
            await self._sleep(wait)


async def _feed_back(limiter: Limiter, route: Route, error: CalleagueError, sent_at: float) -> None:
    """Tell the limiter what a failed attempt says about the server's limits: best effort."""
    try:
        if isinstance(error, RateLimitError):
            await limiter.rate_limited(
                route, retry_after=error.retry_after, message=error.message, sent_at=sent_at
            )
        elif isinstance(error, ServerError) and error.status_code == 503 and error.retry_after:
            await limiter.overloaded(route, error.retry_after)
    except Exception:  # the original error matters more than the limiter's bookkeeping
        log.warning("calleague_async: rate limiter bookkeeping failed", exc_info=True)


def _store(spec: str | Store | None) -> Store | None:
    if spec is None or spec == "memory":
        return None
    if isinstance(spec, str):
        if not spec.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                f"rate_limit_store must be 'memory' or a redis:// URL (got {spec.split('@')[-1]!r})"
            )
        return RedisStore(spec)
    return spec


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def _body(payload: Any) -> tuple[bytes | None, dict[str, str] | None]:
    if payload is None:
        return None, None
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return data, {"Content-Type": "application/json"}
