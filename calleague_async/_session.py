"""The request pipeline: configuration, then route -> transport -> wire decode -> retry decision.

``BaseSession._send`` is the one internal entry every resource method goes through.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import os
import platform
import re
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote, urlsplit

from calleague_async import _validate
from calleague_async._convert import FAST_READERS, structure
from calleague_async._events import Events, Hook, RequestEvent
from calleague_async._limits import (
    DEFAULT_MAX_WAIT,
    DEFAULT_RATE_LIMITS,
    Limiter,
    RedisStore,
    Store,
    parse_limits,
    scope_id,
)
from calleague_async._options import (
    NOT_GIVEN,
    NotGiven,
    RequestOptions,
    seconds,
)
from calleague_async._options import headers as check_headers
from calleague_async._options import query as check_query
from calleague_async._raw import CAPTURE as _CAPTURE
from calleague_async._retry import (
    MAX_RETRY_AFTER,
    REDIRECTS,
    RetryBudget,
    RetryPolicy,
    redirect_target,
)
from calleague_async._routes import Route, RouteTable, adhoc
from calleague_async._transport import (
    CLIENT_LIBRARY,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_POOL_SIZE,
    HTTPSession,
    Transport,
)
from calleague_async._version import __version__
from calleague_async._wire import REQUEST_ID_HEADERS, Expect, Reply, decode, header
from calleague_async.errors import (
    APIConnectionError,
    CalleagueError,
    ConfigurationError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
    ValidationError,
    scrub_error,
)

log = logging.getLogger("calleague_async")

DEFAULT_BASE_URL = "https://app.calleague.ai"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_RETRY_BUDGET = 500
"""Tokens in a session's retry budget (a retry spends 5, 10 after a timeout; see RetryBudget)."""


def _printable_ascii(text: str, *, spaces: bool = False) -> bool:
    """Whether ``text`` is visible ASCII (and spaces/tabs, if allowed): what a header carries."""
    return all("!" <= c <= "~" or (spaces and c in " \t") for c in text)


def _resolve_api_key(api_key: str | None) -> str:
    key = api_key if api_key is not None else os.environ.get("CALLEAGUE_API_KEY")
    if not key:
        raise ConfigurationError(
            "no API key: pass AsyncSession(api_key=...) or set the CALLEAGUE_API_KEY "
            "environment variable"
        )
    if not isinstance(key, str):
        raise ConfigurationError(f"the API key must be a str (got {type(key).__name__})")
    if not _printable_ascii(key):
        # Anything else would corrupt (or inject into) the Authorization header. The message
        # never shows the key.
        hint = " (pass the key alone, without 'Bearer ')" if key[:7].lower() == "bearer " else ""
        raise ConfigurationError(
            "the API key must be printable ASCII without whitespace or control characters" + hint
        )
    return key


# scheme://user:password@host -> scheme://***@host, for messages about a refused base_url
# (everything up to the last "@": a password may hold "/" or "@" itself).
class Flight:
    """Where one request of a batch is, for a batch that stops while it is in flight.

    ``sending``: an attempt left the limiter and is being written or answered (a stop now may
    leave it placed). ``sent``: some attempt began to be written. ``acted``: some attempt
    failed after it may have reached the server. A request that was never ``sending`` when
    stopped, and never ``acted``, provably placed nothing.
    """

    __slots__ = ("acted", "sending", "sent")

    def __init__(self) -> None:
        self.sending = False
        self.sent = False
        self.acted = False


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", re.DOTALL)


def _shown(url: str) -> str:
    return _USERINFO.sub(r"\1***@", url)


def _resolve_base_url(base_url: str | None, allow_insecure_http: bool) -> str:
    url = (
        base_url
        or os.environ.get("CALLEAGUE_BASE_URL")
        or os.environ.get("CALLEAGUE_BASE")  # the name seed 001 uses
        or DEFAULT_BASE_URL
    )
    if not isinstance(url, str):
        raise ConfigurationError(f"base_url must be a str (got {type(url).__name__})")
    if "@" in url:
        # Credentials in the URL go nowhere useful (the API key authenticates), and would show
        # in every repr and log line: refused, and never repeated in the message.
        raise ConfigurationError(
            "base_url must not carry credentials (user:password@); the API key authenticates "
            f"(got {_shown(url)!r})"
        )
    if not _printable_ascii(url):
        raise ConfigurationError(
            "base_url must be printable ASCII without spaces (an international domain name in "
            f"its xn-- form, other characters percent-encoded) (got {url!r})"
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is no port (99999, "abc") raises ValueError
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {exc} (got {url!r})") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL (got {url!r})")
    if port == 0:
        raise ConfigurationError(f"base_url has port 0, which cannot be reached (got {url!r})")
    if "?" in url or "#" in url:
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


_AUTH_SCHEMES = ("bearer", "x-api-key")


def _resolve_headers(
    default_headers: Mapping[str, str] | None,
    key: str,
    app_info: str | None = None,
    auth: str = "bearer",
) -> dict[str, str]:
    """The headers of every request: ours, the caller's (checked), then the key's."""
    python = ".".join(platform.python_version_tuple()[:2])
    agent = f"calleague-async/{__version__} python/{python} {CLIENT_LIBRARY}"
    if app_info is not None:
        # The caller's product token(s) go last, as in "acme-dialer/2.1"; a line break or a
        # control character would inject a header.
        if (
            not isinstance(app_info, str)
            or not app_info.strip()
            or app_info != app_info.strip()
            or not _printable_ascii(app_info, spaces=True)
            or "\t" in app_info
        ):
            raise ConfigurationError(
                "app_info must be printable ASCII like 'acme-dialer/2.1', without line breaks "
                f"or control characters (got {app_info!r})"
            )
        agent += " " + app_info
    headers = {"User-Agent": agent, "Accept": "application/json"}
    try:  # the same checks as a call's extra_headers; a session's bad one is configuration
        checked = check_headers("default_headers", default_headers) or {}
    except ValidationError as exc:
        raise ConfigurationError(str(exc)) from None
    for name, value in checked.items():
        # One header per name whatever its case: "user-agent" replaces ours, not joins it.
        for ours in [h for h in headers if h.lower() == name.lower()]:
            del headers[ours]
        headers[name] = value
    # Seed 004's APIs also take the key as X-Api-Key; seed 000's need the Bearer header.
    if auth == "x-api-key":
        headers["X-Api-Key"] = key
    else:
        headers["Authorization"] = f"Bearer {key}"
    return headers


_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def _resolve_paths(paths: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """Check each ``paths=`` override's text; the route table checks names and placeholders."""
    if paths is None:
        return None
    if not isinstance(paths, Mapping):
        raise ConfigurationError(f"paths must be a mapping (got {type(paths).__name__})")
    for name, path in paths.items():
        if not isinstance(name, str) or not isinstance(path, str):
            raise ConfigurationError(f"paths: {name!r} must map an operation name to a str path")
        if not _printable_ascii(path) or "?" in path or "#" in path:
            raise ConfigurationError(
                f"paths: {name!r} must be a path of printable ASCII without spaces, query or "
                f"fragment, other characters percent-encoded (got {path!r})"
            )
        if "{" in _PLACEHOLDER.sub("", path) or "}" in _PLACEHOLDER.sub("", path):
            raise ConfigurationError(
                f"paths: {name!r} may use braces only for placeholders like {{call_id}} "
                f"(got {path!r})"
            )
    return paths


def _seconds(name: str, value: object, *, zero: bool, infinite: bool) -> float | None:
    """``value`` if it is None or a number of seconds; a bad one is a ``ConfigurationError``.

    The same check per call (``_options.seconds``) raises ``ValidationError``.
    """
    try:
        return seconds(name, value, zero=zero, infinite=infinite)
    except ValidationError as exc:
        raise ConfigurationError(str(exc)) from None


def _count(name: str, value: object, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"{name} must be an int >= {minimum} (got {value!r})")
    return value


class BaseSession:
    """Configuration and the request pipeline; :class:`AsyncSession` adds the resources."""

    # What the session must never show; a class-level default, so it is there even while (or
    # after) __init__ raises.
    _secrets: tuple[str, ...] = ()
    _is_view = False  # a with_options() view: shares the pool, owns nothing

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        paths: Mapping[str, str] | None = None,
        default_headers: Mapping[str, str] | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        http_session: HTTPSession | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        app_info: str | None = None,
        allow_insecure_http: bool = False,
        rate_limits: Mapping[str, str] | None = DEFAULT_RATE_LIMITS,
        rate_limit_burst: int = 1,
        rate_limit_store: str | Store | None = None,
        rate_limit_scope: str | None = None,
        max_wait: float | None = DEFAULT_MAX_WAIT,
        retry_unknown_outcomes: bool = False,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        hooks: Mapping[str, Hook | Sequence[Hook]] | None = None,
        tracer_provider: Any = None,
        retry_budget: int | None = DEFAULT_RETRY_BUDGET,
        auth: Literal["bearer", "x-api-key"] = "bearer",
    ) -> None:
        key = _resolve_api_key(api_key)
        self._secrets = (key,)
        self.base_url: str = _resolve_base_url(base_url, allow_insecure_http)
        timeout = _seconds("timeout", timeout, zero=False, infinite=False)
        max_retries = _count("max_retries", max_retries, minimum=0)
        if retry_budget is not None:
            _count("retry_budget", retry_budget, minimum=0)
        max_wait = _seconds("max_wait", max_wait, zero=True, infinite=True)
        _count("rate_limit_burst", rate_limit_burst, minimum=1)
        _count("pool_size", pool_size, minimum=0)  # 0: no limit, as in aiohttp
        if rate_limit_scope is not None and (
            not isinstance(rate_limit_scope, str) or not _printable_ascii(rate_limit_scope)
        ):
            raise ConfigurationError(
                f"rate_limit_scope must be a str of printable ASCII (got {rate_limit_scope!r})"
            )
        if auth not in _AUTH_SCHEMES:
            raise ConfigurationError(f"auth must be 'bearer' or 'x-api-key' (got {auth!r})")
        headers = _resolve_headers(default_headers, key, app_info, auth)
        self._options = RequestOptions(timeout=timeout, max_retries=max_retries, max_wait=max_wait)
        self._routes = RouteTable(_resolve_paths(paths))
        self._retry = RetryPolicy(
            max_retries=max_retries,
            retry_unknown_outcomes=retry_unknown_outcomes,
            # No call waits silently: a Retry-After longer than the caller agreed to queue in
            # the limiter is raised at once (with .retry_after), not slept through.
            max_retry_after=min(MAX_RETRY_AFTER, max_wait if max_wait is not None else math.inf),
        )
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
        if (
            not isinstance(max_response_size, int)
            or isinstance(max_response_size, bool)
            or max_response_size < 1
        ):
            raise ConfigurationError(
                f"max_response_size must be a positive int of bytes (got {max_response_size!r})"
            )
        self._transport = Transport(
            base_url=self.base_url,
            headers=headers,
            pool_size=pool_size,
            keepalive_timeout=keepalive_timeout,
            max_response_size=max_response_size,
            proxy=proxy,
            trust_env=trust_env,
            http_session=http_session,
        )
        if self._transport.proxy_credentials:  # nor the proxy's password
            self._secrets = (key, self._transport.proxy_credentials)
        # tracer_provider: an OpenTelemetry TracerProvider (typed Any: the extra is optional).
        self._events = Events(hooks, tracer_provider=tracer_provider)
        # One retry budget for the session and its views: an outage cannot multiply traffic.
        self._budget: RetryBudget | None = (
            RetryBudget(capacity=retry_budget) if retry_budget is not None else None
        )
        # Injected so tests can assert waits without sleeping (STYLE habit 7).
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __repr__(self) -> str:
        # Safe on a half-built session too: a traceback with capture_locals=True reprs the
        # ``self`` of an __init__ that raised, before any attribute was set.
        transport = getattr(self, "_transport", None)
        state = "not set up" if transport is None else "closed" if transport.closed else "open"
        base_url = getattr(self, "base_url", None)
        return f"<{type(self).__name__} base_url={base_url!r} api_key=*** {state}>"

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
        """Close the connection pool (and a Redis limiter store). Safe to call more than once.

        On a :meth:`with_options` view this does nothing: the session it came from owns both.
        """
        if self._is_view:
            return
        if not self._transport.closed and self._limiter is not None:
            await self._limiter.close()
        await self._transport.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._transport.closed

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if self._is_view:
            return  # the session it came from owns the pool, and warns for it
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.opened and not transport.closed:
            _warn(
                f"Unclosed {type(self).__name__} {self!r}: use 'async with' or await close()",
                ResourceWarning,
                source=self,
            )
            transport.abandon()

    def with_options(
        self,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        max_wait: float | NotGiven | None = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
    ) -> Self:
        """A view of this session with other defaults: same connection pool, same limiter.

        Nothing new is opened, and closing a view closes nothing (the session it came from
        owns the pool). ``headers`` are sent on top of the session's (never instead of the
        credential). Options left out keep this session's value; ``timeout=None`` means none.

        >>> patient = s.with_options(timeout=120, max_retries=5)
        >>> call = await patient.calls.get("cl_8f2a")
        """
        try:
            options = self._options.merge(
                timeout=timeout, max_retries=max_retries, max_wait=max_wait, extra_headers=headers
            )
        except ValidationError as exc:
            raise ConfigurationError(str(exc)) from None
        view = copy.copy(self)
        view._options = options
        view._is_view = True
        # Resource groups cached on the original send through it: a view makes its own.
        for name, value in list(vars(view).items()):
            if getattr(value, "_session", None) is self:
                del view.__dict__[name]
        return view

    def _request_options(
        self,
        timeout: float | NotGiven | None,
        extra_headers: Mapping[str, str] | None,
        extra_query: Mapping[str, Any] | None,
    ) -> RequestOptions:
        """One call's options: the session's, with the call's overrides (checked)."""
        if timeout is NOT_GIVEN and extra_headers is None and extra_query is None:
            return self._options  # the usual call: nothing to resolve
        return self._options.merge(
            timeout=timeout, extra_headers=extra_headers, extra_query=extra_query
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send any request to the API and return its decoded JSON (envelope removed).

        The escape hatch for endpoints the SDK does not wrap yet, with the same limiter,
        retries, error mapping and per-call options as every named method. ``path`` is sent as
        given; GET/PUT/DELETE are retried like any safe request, other methods only when
        provably safe.

        >>> body = await s.request("GET", "/api/core/voice/call/list", params={"page": 1})
        """
        route = adhoc(_validate.http_method("method", method), _validate.request_path("path", path))
        if json is not None:
            _validate.json_value("json", json)
        query = check_query("params", params)
        options = self._request_options(timeout, extra_headers, extra_query)
        return await self._send(route, params=query, json=json, options=options)

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
        flight: Flight | None = None,
        model: type[Any] | None = None,
        fast: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """The pipeline: limiter, transport, decode, retry decision; events where observed.

        ``flight``, when given, is kept up to date with where the request is (a batch's).
        ``model`` (a record model) makes it return that model, read from the reply's JSON
        object (``expect="object"`` is implied); the other ``expect`` values return the JSON.
        ``fast`` reads a 2xx body at C speed into what would be returned, or returns None to
        leave it to the usual decode; a model's own reader when not given.
        """
        if model is not None:
            expect = "object"
            fast = fast or FAST_READERS.get(model)
        events = self._events
        observed = events.enabled  # read per call: logging switched on later takes effect
        capture = _CAPTURE.get()
        span: Any = None
        if observed:
            span_cm = events.span(route.name, _template(route))
            span = span_cm.__enter__()
        attempts = 0
        waited = 0.0
        status: int | None = None
        timed = observed or capture is not None
        started = time.monotonic() if timed else 0.0
        try:
            opts = options or self._options
            path = self._routes.url_path(route, ids)
            query = _query(params) if params else None
            if opts.query:
                query = {**(query or {}), **opts.query}
            query_text = _query_text(query) if query else None
            body, headers = _body(json) if json is not None else (None, None)
            if opts.headers:
                headers = {**opts.headers, **(headers or {})}
            if route.method == "POST" and not route.idempotent:
                # One key per logical request, the same on every retry of it.
                key = idempotency_key or uuid.uuid4().hex
                headers = {**(headers or {}), "Idempotency-Key": key}
            retry, limiter, transport = self._retry, self._limiter, self._transport
            budget = self._budget
            spent = 0
            delays: Iterator[float] | None = None
            history: tuple[str, ...] = ()  # what each failed attempt got (a tuple: rare)
            sent_at = 0.0
            ambiguous = False  # did any attempt fail after it may have reached the server?
            written = False  # did any attempt begin to be written?
            while True:
                attempts += 1
                if limiter is not None:
                    try:
                        granted = limiter.try_now(route)
                        if granted is None:
                            asked = time.monotonic()
                            sent_at = await limiter.acquire(route, max_wait=opts.max_wait)
                            if observed:
                                held = time.monotonic() - asked
                                waited += held
                                await events.emit(
                                    _event("limiter_wait", route, attempts, wait=held)
                                )
                        else:
                            sent_at = granted
                    except Exception as exc:
                        # Refused before this attempt (a limiter timeout, the store down): an
                        # earlier attempt may still have been written, or have placed the call.
                        refusal: CalleagueError
                        if isinstance(exc, CalleagueError):
                            refusal = exc
                        else:  # the store's own errors (Redis down)
                            refusal = APIConnectionError(
                                f"rate limit store unavailable: {type(exc).__name__}: {exc}",
                                method=route.method,
                                path=path,
                                request_sent=False,
                            )
                        if route.creates_call and ambiguous:
                            refusal = _unknown(route, path, json, headers, refusal)
                        if refusal is not exc or attempts > 1:
                            _annotate(refusal, attempts - 1, history, ambiguous, written)
                        if refusal is exc:
                            raise
                        raise refusal from exc
                if flight is not None:
                    flight.sending = flight.sent = True
                try:
                    if observed:
                        begun = time.monotonic()
                        await events.emit(_event("request_sent", route, attempts))
                    # A request not safe to repeat rides a fresh connection (see Transport).
                    # Positional: the per-request call matches no keywords.
                    reply = await transport.send(
                        route.method,
                        path,
                        query_text,
                        body,
                        headers,
                        opts.timeout,
                        not route.idempotent,
                    )
                    if reply.status in REDIRECTS:
                        reply = await self._follow(route, path, reply, body, headers, opts)
                    status = reply.status
                    if observed:
                        await events.emit(
                            _event(
                                "response_received",
                                route,
                                attempts,
                                status=status,
                                elapsed=time.monotonic() - begun,
                                request_id=_request_id(reply.headers),
                            )
                        )
                    if limiter is not None:
                        try:
                            pause = limiter.observe(route, reply.status, reply.headers)
                            if pause is not None:
                                await pause
                        except Exception:  # a reply is in hand (maybe a placed call): keep it
                            log.warning(
                                "calleague_async: rate limiter bookkeeping failed", exc_info=True
                            )
                    # The common record or page straight from the bytes at C speed (None: not
                    # the common kind), else the usual decode, and the lenient model decoder.
                    data = None
                    if fast is not None and 200 <= reply.status < 300:
                        data = fast(reply.body)
                    if data is None:
                        data = decode(reply, method=route.method, path=path, expect=expect)
                        if model is not None:
                            data = structure(data, model)
                    if budget is not None and (spent or budget.tokens < budget.capacity):
                        budget.succeeded(spent)  # a full budget after a first try: nothing to do
                    if capture is not None:
                        capture.status, capture.headers = reply.status, reply.headers
                        capture.request_id = _request_id(reply.headers)
                        capture.attempts = attempts
                        capture.elapsed = time.monotonic() - started
                    return data
                except CalleagueError as exc:
                    # Scrubbed before the limiter or the log sees it: both may quote it.
                    error = scrub_error(exc, self._secrets)
                if limiter is not None:
                    await _feed_back(limiter, route, error, sent_at)
                ambiguous = ambiguous or retry.outcome_unknown(error)
                # An attempt whose connection never opened wrote nothing.
                written = written or not (
                    isinstance(error, APIConnectionError) and not error.request_sent
                )
                if flight is not None:
                    flight.sending, flight.sent, flight.acted = False, written, ambiguous
                wait = None
                if attempts <= opts.max_retries:
                    if delays is None:
                        delays = retry.delays()
                    wait = retry.wait(
                        route, error, attempts, max_retries=opts.max_retries, delays=delays
                    )
                if wait is not None and budget is not None:
                    cost = budget.spend(error)
                    if cost:
                        spent += cost
                    else:
                        log.info(
                            "calleague_async: retry budget spent; not retrying %s %s after %s",
                            route.method,
                            route.path,
                            type(error).__name__,
                        )
                        wait = None
                if wait is None:
                    # Judged on every attempt, not the last: a 429 after a 500 proves nothing
                    # about the first attempt, which may have placed the call.
                    if route.creates_call and ambiguous:
                        unknown = _unknown(route, path, json, headers, error)
                        _annotate(unknown, attempts, history, ambiguous, written)
                        raise unknown from error
                    _annotate(error, attempts, history, ambiguous, written)
                    raise error
                history = (*history, _summary(error))
                if observed:
                    await events.emit(
                        _event(
                            "retry_scheduled",
                            route,
                            attempts,
                            status=getattr(error, "status_code", None),
                            elapsed=time.monotonic() - started,
                            wait=wait,
                            reason=_summary(error),
                        )
                    )
                await self._sleep(wait)
        except CalleagueError as exc:
            # One place: whatever raised it (a reply, the limiter, a bad id), an error that
            # leaves the SDK never carries the key, even when a server echoed it.
            scrub_error(exc, self._secrets)
            if observed:
                observed = False
                span.record(
                    attempts=attempts,
                    limiter_wait=waited,
                    status=status,
                    error=exc,
                    request_id=exc.request_id,
                )
                span_cm.__exit__(type(exc), exc, exc.__traceback__)
                await events.emit(
                    _event(
                        "error",
                        route,
                        attempts,
                        status=getattr(exc, "status_code", None),
                        elapsed=time.monotonic() - started,
                        request_id=exc.request_id,
                        error=exc,
                    )
                )
            raise
        except BaseException as exc:  # not one of ours: cancellation, or a bug
            if observed:
                observed = False
                span.record(attempts=attempts, limiter_wait=waited, status=status, error=exc)
                span_cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        finally:
            if observed:  # the call succeeded
                span.record(attempts=attempts, limiter_wait=waited, status=status, error=None)
                span_cm.__exit__(None, None, None)

    async def _follow(
        self,
        route: Route,
        path: str,
        reply: Reply,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        opts: RequestOptions,
    ) -> Reply:
        """Follow same-origin redirects of a safe request; anything else is a RedirectError."""
        url = self._transport.url(path)
        hops = 0
        while reply.status in REDIRECTS:
            target = redirect_target(
                route=route,
                url=url,
                status=reply.status,
                headers=reply.headers,
                hops=hops,
                method=route.method,
                path=path,
            )
            hops += 1
            see_other = reply.status == 303  # "see other" means: GET it there
            reply = await self._transport.send(
                "GET" if see_other else route.method,
                path,
                body=None if see_other else body,
                headers=headers,
                timeout=opts.timeout,
                url=target,
            )
            url = target
        return reply


def _template(route: Route) -> str:
    """The route as events, logs and spans show it: its template, never a filled path.

    An ad-hoc path (``s.request``) is the caller's literal path, which may hold ids or a phone
    number, so it is shown as ``"GET (ad hoc)"``.
    """
    return f"{route.method} (ad hoc)" if route.name == "request" else route.key


def _event(name: str, route: Route, attempt: int, **fields: Any) -> RequestEvent:
    return RequestEvent(
        event=name,
        operation=route.name,
        method=route.method,
        route=_template(route),
        attempt=attempt,
        **fields,
    )


def _request_id(headers: Mapping[str, str]) -> str | None:
    return next((v for h in REQUEST_ID_HEADERS if (v := header(headers, h))), None)


def _unknown(
    route: Route, path: str, json: Any, headers: Mapping[str, str] | None, cause: CalleagueError
) -> OutcomeUnknownError:
    """The error for a call-creating request that may have placed the call before ``cause``."""
    return OutcomeUnknownError(
        method=route.method,
        path=path,
        request=json,
        idempotency_key=(headers or {}).get("Idempotency-Key"),
        cause=cause,
    )


def _summary(error: CalleagueError) -> str:
    """What one attempt got, in a few words: ``"502 Bad Gateway"``, ``"APITimeoutError"``."""
    status = getattr(error, "status_code", None)
    if status is not None:
        return f"{status} {type(error).__name__}"
    return type(error).__name__


def _annotate(
    error: CalleagueError,
    attempts: int,
    history: tuple[str, ...],
    ambiguous: bool,
    written: bool,
) -> None:
    """Say on the final error how the request went: attempts, request id, earlier attempts.

    ``may_have_acted`` and ``sent`` are judged over all the attempts, not the last (a 429
    after a 500).
    """
    error.attempts = attempts
    error.may_have_acted = ambiguous
    error.sent = written
    cause = error.cause if isinstance(error, OutcomeUnknownError) else error
    error.request_id = getattr(cause, "request_id", None) or error.request_id
    if history:
        error.history = history
        if len(error.args) == 1 and isinstance(error.args[0], str):
            earlier = ", ".join(history)
            error.args = (f"{error.args[0]} (attempt {attempts}; earlier attempts: {earlier})",)


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


def _quoted(text: str) -> str:
    return text if text.isascii() and text.isalnum() else quote(text, safe="")


def _query_text(query: Mapping[str, str]) -> str:
    """``query`` percent-encoded (what aiohttp would send, for less than its encoder costs)."""
    return "&".join([f"{_quoted(name)}={_quoted(value)}" for name, value in query.items()])


def _body(payload: Any) -> tuple[bytes | None, dict[str, str] | None]:
    if payload is None:
        return None, None
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return data, {"Content-Type": "application/json"}
