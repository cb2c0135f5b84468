"""The only module that talks to aiohttp's client: one pooled exchange, no policy.

It maps aiohttp's exceptions to the SDK's at this one boundary and never puts headers in them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import aiohttp
import yarl

from calleague_async._wire import Reply
from calleague_async.errors import APIConnectionError, APITimeoutError, CalleagueError


class Transport:
    """Owns one ``aiohttp.ClientSession``, created lazily on the running loop at first use."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        pool_size: int,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._pool_size = pool_size
        self._http: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    @property
    def opened(self) -> bool:
        """Whether a connection pool was ever created (and so needs closing)."""
        return self._http is not None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise CalleagueError("this AsyncSession is closed; create a new one")
        http = self._http
        if http is None:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            http = self._http = aiohttp.ClientSession(
                headers=self._headers, connector=connector, raise_for_status=False
            )
        return http

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - handed to aiohttp per request
    ) -> Reply:
        """Send one request and read the whole reply; connection trouble becomes our errors."""
        http = self._http or self._session()
        # The path is already percent-encoded segment by segment; encoded=True keeps it as is.
        url = yarl.URL(self._base + path, encoded=True)
        client_timeout = self._timeouts.get(timeout)
        if client_timeout is None:  # one value object per distinct timeout, not per request
            client_timeout = self._timeouts[timeout] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with http.request(
                method, url, params=params, data=body, headers=headers, timeout=client_timeout
            ) as resp:
                data = await resp.read()
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

    async def close(self) -> None:
        """Close the pool; safe to call twice."""
        self._closed = True
        http, self._http = self._http, None
        if http is not None:
            await http.close()
            # Give the loop one turn so SSL transports finish closing (aiohttp's advice).
            await asyncio.sleep(0)

    def abandon(self) -> None:
        """Close sockets without awaiting, for a session garbage-collected unclosed.

        The session warns once itself; this keeps aiohttp from warning a second time.
        """
        http, self._http = self._http, None
        self._closed = True
        connector = getattr(http, "connector", None)
        close_now = getattr(connector, "_close", None)
        if callable(close_now):
            with contextlib.suppress(Exception):  # best effort inside __del__
                close_now()
