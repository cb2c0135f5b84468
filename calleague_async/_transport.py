"""The only module that talks to aiohttp's client: one pooled exchange, no policy.

It maps aiohttp's exceptions to the SDK's at this one boundary and never puts headers in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping

import aiohttp
import yarl

from calleague_async._wire import Reply
from calleague_async.errors import (
    APIConnectionError,
    APITimeoutError,
    CalleagueError,
    ResponseTooLargeError,
)

DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024
"""The largest reply body read, in bytes after decompression (32 MiB)."""

# Error bodies past this are cut: their status says what happened, the text is a courtesy.
_ERROR_BODY_KEEP = 64 * 1024


class Transport:
    """Owns the aiohttp client sessions, created lazily on the running loop at first use.

    Two pools: a keep-alive one for requests that are safe to repeat, and one that opens a
    fresh connection per request for those that are not (placing a call). A pooled connection
    the server closed while it sat idle fails when it is next written to (the keep-alive race
    of RFC 9112, section 9.3.1); for a GET aiohttp resends it, but for a dial that failure
    could not be told apart from a server that read the request and crashed. On a fresh
    connection it cannot happen, and one handshake per dial costs nothing at dialing rates.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        pool_size: int,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._pool_size = pool_size
        self._max_size = max_response_size
        self._http: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    @property
    def opened(self) -> bool:
        """Whether a connection pool was ever created (and so needs closing)."""
        return self._http is not None or self._fresh is not None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def _session(self, fresh: bool = False) -> aiohttp.ClientSession:
        if self._closed:
            raise CalleagueError("this AsyncSession is closed; create a new one")
        http = self._fresh if fresh else self._http
        if http is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, ttl_dns_cache=300, force_close=fresh
            )
            http = aiohttp.ClientSession(
                headers=self._headers, connector=connector, raise_for_status=False
            )
            if fresh:
                self._fresh = http
            else:
                self._http = http
        return http

    def _timeout(self, timeout: float | None) -> aiohttp.ClientTimeout:
        client_timeout = self._timeouts.get(timeout)
        if client_timeout is None:  # one value object per distinct timeout, not per request
            # The connect phase (pool slot, TCP, TLS) gets its own deadline just inside the
            # total one, so a timeout there surfaces as aiohttp's ConnectionTimeoutError: proof
            # that nothing was sent. Sharing the total's deadline, the total timer would win
            # the race and say nothing of where it struck. No rounding of deadlines to whole
            # seconds (aiohttp's ceil_threshold), which could reorder the two.
            client_timeout = self._timeouts[timeout] = aiohttp.ClientTimeout(
                total=timeout,
                connect=None if timeout is None else timeout * 0.99,
                ceil_threshold=math.inf,
            )
        return client_timeout

    def url(self, path: str) -> str:
        """The absolute URL of an already percent-encoded ``path``."""
        return self._base + path

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - handed to aiohttp per request
        fresh: bool = False,
        url: str | None = None,
    ) -> Reply:
        """Send one request and read the whole reply; connection trouble becomes our errors.

        ``fresh`` sends it on a new connection (requests that must not be repeated); ``url``
        replaces ``base_url + path`` (a redirect's target). Redirects are returned, never
        followed here. A 2xx body past ``max_response_size`` raises
        :class:`~calleague_async.errors.ResponseTooLargeError`; an error body is cut short.
        """
        http = (self._fresh if fresh else self._http) or self._session(fresh)
        # The path is already percent-encoded segment by segment; encoded=True keeps it as is.
        target = yarl.URL(self._base + path, encoded=True) if url is None else yarl.URL(url)
        client_timeout = self._timeouts.get(timeout) or self._timeout(timeout)
        try:
            async with http.request(
                method,
                target,
                params=params,
                data=body,
                headers=headers,
                timeout=client_timeout,
                allow_redirects=False,
            ) as resp:
                length = resp.content_length
                if (
                    length is not None
                    and length <= self._max_size
                    and not resp.headers.get("Content-Encoding")
                ):
                    # The usual reply: its declared length is within the cap and nothing
                    # inflates it, so aiohttp reads exactly that many bytes.
                    data = await resp.read()
                else:
                    data = await self._read_capped(resp, method, path)
                return Reply(resp.status, resp.headers, data, resp.reason or "")
        except aiohttp.ConnectionTimeoutError:
            raise APITimeoutError(
                "timed out connecting to the server", method=method, path=path, request_sent=False
            ) from None
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise APITimeoutError(f"no reply within {timeout}s", method=method, path=path) from None
        except aiohttp.ClientConnectorError as exc:
            # The connection never opened: the server cannot have seen the request.
            raise APIConnectionError(
                f"cannot connect to {exc.host}:{exc.port}: {exc.os_error or exc}",
                method=method,
                path=path,
                request_sent=False,
            ) from None
        except aiohttp.ServerDisconnectedError:
            raise APIConnectionError(
                "the server closed the connection before replying", method=method, path=path
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise APIConnectionError(
                f"the reply body was cut off: {exc}", method=method, path=path
            ) from None
        except aiohttp.ClientError as exc:
            raise APIConnectionError(
                f"{type(exc).__name__}: {exc}", method=method, path=path
            ) from None

    async def _read_capped(self, resp: aiohttp.ClientResponse, method: str, path: str) -> bytes:
        """Read a body of unknown (chunked, compressed) or excessive size, up to the cap.

        aiohttp inflates a compressed body in bounded steps as it is read, so stopping here
        bounds memory however large the body claims or inflates to be.
        """
        limit = self._max_size
        ok = 200 <= resp.status < 300
        keep = limit if ok else min(limit, _ERROR_BODY_KEEP)
        chunks: list[bytes] = []
        size = 0
        declared = resp.content_length
        if declared is None or declared <= limit or resp.headers.get("Content-Encoding"):
            while True:
                chunk = await resp.content.readany()
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > keep:
                    chunks.append(chunk[: len(chunk) - (size - keep)])
                    break
                chunks.append(chunk)
        # Too large: drop the connection rather than drain the rest into the void.
        resp.close()
        if ok:
            raise ResponseTooLargeError(
                f"the reply body exceeds max_response_size={limit} bytes"
                + (f" (Content-Length {declared})" if declared is not None else ""),
                limit=limit,
                status_code=resp.status,
                headers=resp.headers,
                method=method,
                path=path,
            )
        return b"".join(chunks)

    async def close(self) -> None:
        """Close the pools; safe to call twice."""
        self._closed = True
        pools = [p for p in (self._http, self._fresh) if p is not None]
        self._http = self._fresh = None
        for http in pools:
            await http.close()
        if pools:
            # Give the loop one turn so SSL transports finish closing (aiohttp's advice).
            await asyncio.sleep(0)

    def abandon(self) -> None:
        """Close sockets without awaiting, for a session garbage-collected unclosed.

        The session warns once itself; this keeps aiohttp from warning a second time.
        """
        pools = [self._http, self._fresh]
        self._http = self._fresh = None
        self._closed = True
        for http in pools:
            connector = getattr(http, "connector", None)
            close_now = getattr(connector, "_close", None)
            if callable(close_now):
                with contextlib.suppress(Exception):  # best effort inside __del__
                    close_now()
