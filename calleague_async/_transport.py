"""The only module that talks to aiohttp's client: one pooled exchange, no policy.

It maps aiohttp's exceptions to the SDK's at this one boundary and never puts headers in them.
"""

from __future__ import annotations

import asyncio
import math
import urllib.request
from collections.abc import Mapping
from typing import Any

import aiohttp
import yarl
from multidict import istr

from calleague_async._wire import Reply
from calleague_async.errors import (
    APIConnectionError,
    APITimeoutError,
    CalleagueError,
    ConfigurationError,
    ResponseTooLargeError,
)

DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024
"""The largest reply body read, in bytes after decompression (32 MiB)."""

DEFAULT_POOL_SIZE = 100
"""Connections open at once: the keep-alive pool's cap, and the dials' own cap."""

DEFAULT_KEEPALIVE_TIMEOUT = 15.0
"""Seconds an idle pooled connection is kept for the next request (aiohttp's default)."""

HTTPSession = aiohttp.ClientSession
"""What ``http_session=`` takes; named here so no other module has to import aiohttp."""

CLIENT_LIBRARY = "aiohttp/" + ".".join(aiohttp.__version__.split(".")[:2])
"""The HTTP library's part of the User-Agent: ``aiohttp/<major.minor>``."""

CROSS_LOOP = (
    "this AsyncSession was opened on another event loop; create one session per loop "
    "(a session cannot move between asyncio.run() calls, threads or test event loops)"
)

# Error bodies past this are cut: their status says what happened, the text is a courtesy.
_ERROR_BODY_KEEP = 64 * 1024
_PROXY_SCHEMES = frozenset({"http", "https"})
_URL_CACHE_SIZE = 1024
_CONTENT_ENCODING = istr("Content-Encoding")  # looked up per reply: no case-folding each time


def resolve_proxy(
    base_url: str, proxy: str | None, trust_env: bool
) -> tuple[yarl.URL | None, str | None]:
    """The proxy every request to ``base_url`` goes through, and its credentials, if any.

    An explicit ``proxy`` wins; else, with ``trust_env``, the environment's as requests and
    httpx read it: ``HTTPS_PROXY`` (or ``HTTP_PROXY`` for an http base URL), then
    ``ALL_PROXY``, unless ``NO_PROXY`` names the host (on macOS and Windows the system's proxy
    settings count too, as there for urllib). Read once: every request goes to the one origin.
    The credentials come back apart (``"user:password"``) so they can be kept out of messages.
    """
    source = "proxy"
    if proxy is None:
        if not trust_env:
            return None, None
        host = yarl.URL(base_url).host or ""
        found = urllib.request.getproxies()
        scheme = yarl.URL(base_url).scheme
        for name in (scheme, "all"):
            if found.get(name):
                proxy, source = found[name], f"the {name.upper()}_PROXY environment variable"
                break
        if proxy is None or urllib.request.proxy_bypass(host):
            return None, None
        if "://" not in proxy:  # "proxy.corp:3128", as requests and httpx read it
            proxy = "http://" + proxy
    elif not isinstance(proxy, str):
        raise ConfigurationError(f"proxy must be a str URL (got {type(proxy).__name__})")
    hint = "" if source == "proxy" else " (or pass trust_env=False to ignore it)"
    try:
        url = yarl.URL(proxy)
        port = url.port
    except (ValueError, TypeError):
        url, port = None, None
    # Never the URL itself in a message: it may carry a password.
    if url is None or url.scheme not in _PROXY_SCHEMES or not url.host or not port:
        raise ConfigurationError(
            f"{source} must be an http:// or https:// proxy URL with a host, like "
            f"'http://proxy.example:3128'{hint}"
        )
    if url.raw_query_string or url.raw_fragment or url.raw_path not in ("", "/"):
        raise ConfigurationError(f"{source} must be a proxy URL without a path or query{hint}")
    credentials = None
    if url.raw_user is not None or url.raw_password is not None:
        credentials = f"{url.raw_user or ''}:{url.raw_password or ''}"
    return url.with_path(""), credentials


class Transport:
    """Owns the aiohttp client sessions, created lazily on the running loop at first use.

    Two pools: a keep-alive one for requests that are safe to repeat, and one that opens a
    fresh connection per request for those that are not (placing a call). A pooled connection
    the server closed while it sat idle fails when it is next written to (the keep-alive race
    of RFC 9112, section 9.3.1); for a GET aiohttp resends it, but for a dial that failure
    could not be told apart from a server that read the request and crashed. On a fresh
    connection it cannot happen, and one handshake per dial costs nothing at dialing rates.

    With a caller's ``http_session`` every request goes through it (its connector, TLS
    settings, tracing and proxy choice are what the caller asked for), a dial included: it
    then carries ``Connection: close``, so no dial's connection is pooled afterwards, but it
    may ride a connection the caller's pool kept idle. If the server dropped that one, the
    dial fails as an unknown outcome (never re-sent): the fresh-connection guarantee needs the
    SDK's own pool. The caller's session is never closed here; our headers and timeouts go
    with each request, leaving its defaults alone.

    The session is bound to the loop it first ran on: a request from another loop raises
    :class:`~calleague_async.errors.ConfigurationError` at once instead of hanging in futures
    of a loop that is gone (one identity check per request).
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        pool_size: int = DEFAULT_POOL_SIZE,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        proxy: str | None = None,
        trust_env: bool = True,
        http_session: aiohttp.ClientSession | None = None,
    ) -> None:
        if (
            not isinstance(keepalive_timeout, int | float)
            or isinstance(keepalive_timeout, bool)
            or not 0 < keepalive_timeout < math.inf
        ):
            raise ConfigurationError(
                f"keepalive_timeout must be a number of seconds > 0 (got {keepalive_timeout!r})"
            )
        if not isinstance(trust_env, bool):
            raise ConfigurationError(f"trust_env must be True or False (got {trust_env!r})")
        if http_session is not None:
            if not isinstance(http_session, aiohttp.ClientSession):
                raise ConfigurationError(
                    "http_session must be an aiohttp.ClientSession "
                    f"(got {type(http_session).__name__})"
                )
            if http_session.auth is not None:
                # aiohttp refuses an Authorization header next to a session's auth=.
                raise ConfigurationError(
                    "http_session must not have auth= set: the API key authenticates"
                )
        self._base = base_url.rstrip("/")
        # A caller's session reads the environment or not as it was made to (its trust_env).
        self._proxy, self.proxy_credentials = resolve_proxy(
            self._base, proxy, trust_env and http_session is None
        )
        self._headers = dict(headers)
        self._pool_size = pool_size
        self._keepalive = keepalive_timeout
        self._max_size = max_response_size
        self._theirs = http_session
        # Ours: made on first use. Theirs: every request, dials included, goes through it.
        self._http: aiohttp.ClientSession | None = http_session
        self._fresh: aiohttp.ClientSession | None = http_session
        self._owned: list[aiohttp.ClientSession] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, yarl.URL] = {}
        # What each request on a caller's session adds, so that its replies are read as ours
        # are, whatever that session's defaults (raise_for_status, auto_decompress) say.
        self._extra: dict[str, Any] = {}
        if http_session is not None:
            self._extra = {"raise_for_status": False, "auto_decompress": True}
            if self._proxy is not None:
                self._extra["proxy"] = self._proxy

    @property
    def opened(self) -> bool:
        """Whether a connection pool of ours was ever created (and so needs closing)."""
        return bool(self._owned)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def _session(self, fresh: bool = False) -> aiohttp.ClientSession:
        """The client session for a request, made on first use; the slow path of :meth:`send`."""
        if self._closed:
            raise CalleagueError("this AsyncSession is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise ConfigurationError(CROSS_LOOP)
        http = self._fresh if fresh else self._http
        if http is None:
            if fresh:  # aiohttp refuses a keep-alive time on a pool that keeps nothing
                connector = aiohttp.TCPConnector(
                    limit=self._pool_size, ttl_dns_cache=300, force_close=True
                )
            else:
                connector = aiohttp.TCPConnector(
                    limit=self._pool_size,
                    ttl_dns_cache=300,
                    keepalive_timeout=self._keepalive,
                )
            # trust_env stays off: the proxy is resolved once (resolve_proxy), and aiohttp's
            # trust_env would also read ~/.netrc per request, whose login would replace the
            # API key's Authorization header, and hop to a thread twice per request to do so.
            http = aiohttp.ClientSession(
                headers=self._headers,
                connector=connector,
                raise_for_status=False,
                trust_env=False,
                proxy=self._proxy,
            )
            self._owned.append(http)
            if fresh:
                self._fresh = http
            else:
                self._http = http
        return http

    def _timeout(self, timeout: float | None) -> aiohttp.ClientTimeout:
        client_timeout = self._timeouts.get(timeout)
        if client_timeout is None:  # one value object per distinct timeout, not per request
            # The connect phase (pool slot, TCP, TLS) gets its own deadline inside the total
            # one, so a timeout there surfaces as aiohttp's ConnectionTimeoutError: proof that
            # nothing was sent. Sharing the total's deadline, the total timer (started first)
            # would win the race and say nothing of where it struck; the margin (10%, at most
            # a second) outlasts the loop lag between starting the two timers on a busy
            # machine. No rounding of deadlines to whole seconds (aiohttp's ceil_threshold),
            # which could reorder them.
            client_timeout = self._timeouts[timeout] = aiohttp.ClientTimeout(
                total=timeout,
                connect=None if timeout is None else timeout - min(1.0, timeout * 0.1),
                ceil_threshold=math.inf,
            )
        return client_timeout

    def _url(self, path: str) -> yarl.URL:
        """The URL object of ``path``, kept for the next request to it (a bounded cache)."""
        if len(self._urls) >= _URL_CACHE_SIZE:  # many distinct ids: start over, never grow
            self._urls.clear()
        target = self._urls[path] = yarl.URL(self._base + path, encoded=True)
        return target

    def url(self, path: str) -> str:
        """The absolute URL of an already percent-encoded ``path``."""
        return self._base + path

    async def send(
        self,
        method: str,
        path: str,
        query: str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - handed to aiohttp per request
        fresh: bool = False,
        url: str | None = None,
    ) -> Reply:
        """Send one request and read the whole reply; connection trouble becomes our errors.

        ``query`` is the query string, already percent-encoded (aiohttp's encoder costs more).
        ``fresh`` sends it on a new connection (requests that must not be repeated); ``url``
        replaces ``base_url + path`` (a redirect's target). Redirects are returned, never
        followed here. A 2xx body past ``max_response_size`` raises
        :class:`~calleague_async.errors.ResponseTooLargeError`; an error body is cut short.
        """
        http = self._fresh if fresh else self._http
        if http is None or asyncio.get_running_loop() is not self._loop:
            http = self._session(fresh)  # first use, closed, or another loop (raises)
        if url is None:
            # One URL object per path, reused: building and checking it costs more than the
            # lookup. The path is already percent-encoded segment by segment (encoded=True),
            # and so is the query (a page's: built anew, not cached).
            if query:
                where = f"{path}&{query}" if "?" in path else f"{path}?{query}"
                target = yarl.URL(self._base + where, encoded=True)
            else:
                cached = self._urls.get(path)
                target = cached if cached is not None else self._url(path)
        else:
            target = yarl.URL(url)
        client_timeout = self._timeouts.get(timeout) or self._timeout(timeout)
        extra = self._extra
        if extra:  # a caller's session: our headers ride each request, not its defaults
            headers = {**self._headers, **headers} if headers else self._headers
            if fresh:
                headers = {**headers, "Connection": "close"}
        try:
            # Awaited, not `async with`: the context manager's exit costs a coroutine per
            # request; releasing in `finally` does what it does. Only the arguments that are
            # set are passed (aiohttp checks each one it is given).
            if body is None and headers is None and not extra:
                resp = await http.request(
                    method, target, timeout=client_timeout, allow_redirects=False
                )
            else:
                resp = await http.request(
                    method,
                    target,
                    data=body,
                    headers=headers,
                    timeout=client_timeout,
                    allow_redirects=False,
                    **extra,
                )
            try:
                length = resp.content_length
                if (
                    length is not None
                    and length <= self._max_size
                    and _CONTENT_ENCODING not in resp.headers
                ):
                    # The usual reply: its declared length is within the cap and nothing
                    # inflates it, so aiohttp reads exactly that many bytes.
                    data = await resp.read()
                else:
                    data = await self._read_capped(resp, method, path)
                return Reply(resp.status, resp.headers, data, resp.reason or "")
            finally:
                resp.release()
        except aiohttp.ConnectionTimeoutError:
            raise APITimeoutError(
                "timed out connecting to the server", method=method, path=path, request_sent=False
            ) from None
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise APITimeoutError(f"no reply within {timeout}s", method=method, path=path) from None
        except aiohttp.ClientConnectorError as exc:
            # The connection never opened: the server cannot have seen the request.
            what = "the proxy " if isinstance(exc, aiohttp.ClientProxyConnectionError) else ""
            raise APIConnectionError(
                f"cannot connect to {what}{exc.host}:{exc.port}: {exc.os_error or exc}",
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
        except aiohttp.ClientHttpProxyError as exc:
            # The proxy refused to open a tunnel: nothing reached the server.
            raise APIConnectionError(
                f"the proxy refused the connection: {exc.status} {exc.message}",
                method=method,
                path=path,
                request_sent=False,
            ) from None
        except aiohttp.ClientError as exc:
            raise APIConnectionError(
                self._unproxied(f"{type(exc).__name__}: {exc}"), method=method, path=path
            ) from None
        except RuntimeError:
            if self._theirs is not None and self._theirs.closed:
                raise ConfigurationError(
                    "the aiohttp.ClientSession passed as http_session is closed; keep it open "
                    "as long as the AsyncSession that uses it"
                ) from None
            raise

    def _unproxied(self, message: str) -> str:
        """``message`` without the proxy's credentials, should aiohttp have quoted its URL."""
        proxy = self._proxy
        if proxy is not None and (proxy.raw_user or proxy.raw_password):
            pair = f"{proxy.raw_user or ''}:{proxy.raw_password or ''}"
            message = message.replace(str(proxy), "***").replace(pair, "***")
        return message

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
        """Close our pools (never a caller's ``http_session``); safe to call twice.

        Closed on the loop they were opened on: from another thread's running loop through
        that loop; once that loop is closed, there is nothing left to wait for. A loop that
        exists but does not run cannot close them: they are let go (their sockets close as
        aiohttp's connector is garbage-collected).
        """
        self._closed = True
        owned, self._owned = self._owned, []
        self._http = self._fresh = self._theirs = None
        self._extra = {}
        if not owned:
            return
        loop, here = self._loop, asyncio.get_running_loop()
        if loop is None or loop is here or loop.is_closed():
            for http in owned:
                await http.close()
            # Give the loop one turn so SSL transports finish closing (aiohttp's advice).
            await asyncio.sleep(0)
        elif loop.is_running():
            for http in owned:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(http.close(), loop))
        else:
            for http in owned:
                http.detach()

    def abandon(self) -> None:
        """Let the pools go without awaiting anything, for a session garbage-collected unclosed.

        Nothing is scheduled (this runs inside ``__del__``, on any thread, maybe after the
        loop closed) and no private aiohttp API is used: each aiohttp session is detached
        from its connector, so it does not warn a second time, and the connector closes its
        sockets when it is garbage-collected.
        """
        owned, self._owned = self._owned, []
        self._http = self._fresh = self._theirs = None
        self._closed = True
        for http in owned:
            http.detach()
