"""The retry decision: given a route and what went wrong, wait how long, or give up. Pure.

Safe requests are retried on anything transient; a request that dials a person is retried only
when the failure proves the server did nothing (429, 503, a connection that never opened).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import attrs
import backoff

from calleague_async._routes import Route
from calleague_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CalleagueError,
    InvalidResponseError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
)

# 501 and 505 say the server will never do this; waiting does not change that.
_PERMANENT_5XX = frozenset({501, 505})

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` a retry sleeps through (a session's ``max_wait`` may cut it)."""
MAX_REDIRECTS = 5
"""Same-origin redirects a safe request follows before giving up."""


def _transient(error: CalleagueError) -> bool:
    if isinstance(error, APIConnectionError | InvalidResponseError | RateLimitError):
        return True
    if isinstance(error, ServerError):
        return error.status_code not in _PERMANENT_5XX
    return isinstance(error, APIError) and error.status_code == 408


def _nothing_happened(error: CalleagueError) -> bool:
    """Whether the failure proves the server did not act on the request."""
    if isinstance(error, APIConnectionError):
        return not error.request_sent
    if isinstance(error, RateLimitError):
        return True
    return isinstance(error, ServerError) and error.status_code == 503


def retry_after_of(error: CalleagueError) -> float | None:
    """The server's requested wait carried by ``error``, if any."""
    if isinstance(error, RateLimitError | ServerError):
        return error.retry_after
    return None


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by ``max_retries`` and per-wait caps.

    ``max_retry_after``: a server asking for a longer wait than this is not waited for; the
    error goes to the caller (a web request should not sleep for minutes).
    """

    max_retries: int = 2
    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = MAX_RETRY_AFTER
    retry_unknown_outcomes: bool = False
    jitter: Callable[[float], float] = backoff.full_jitter

    def should_retry(self, route: Route, error: CalleagueError) -> bool:
        """Whether ``error`` on ``route`` is worth another attempt at all.

        With ``retry_unknown_outcomes`` a request that may have reached the server is retried
        too: only for servers that honour the ``Idempotency-Key`` sent with it.
        """
        if route.idempotent or self.retry_unknown_outcomes:
            return _transient(error)
        return _nothing_happened(error)

    def outcome_unknown(self, error: CalleagueError) -> bool:
        """Whether ``error`` leaves open if a non-idempotent request took effect."""
        return _transient(error) and not _nothing_happened(error)

    def delays(self) -> Iterator[float]:
        """The backoff before each retry of one request: 0.5, 1, 2, 4, 8, 8 ... seconds.

        backoff's own exponential generator (the jitter is applied per wait, in :meth:`wait`).
        """
        gen: Iterator[float] = backoff.expo(base=2, factor=self.base, max_value=self.cap)
        next(gen)  # backoff's generators yield None first, for their own .send()
        return gen

    def wait(
        self,
        route: Route,
        error: CalleagueError,
        attempts: int,
        *,
        max_retries: int | None = None,
        delays: Iterator[float] | None = None,
    ) -> float | None:
        """Seconds to wait before attempt ``attempts + 1``, or None to give up now.

        ``delays`` is the request's :meth:`delays` generator (one per request, advanced once
        per retry); ``max_retries`` overrides the policy's for this request.
        """
        limit = self.max_retries if max_retries is None else max_retries
        if attempts > limit or not self.should_retry(route, error):
            return None
        if delays is None:  # no generator kept: step a fresh one to this attempt
            delays = self.delays()
            for _ in range(attempts - 1):
                next(delays)
        delay = self.jitter(next(delays))
        retry_after = retry_after_of(error)
        if isinstance(error, ResponseTooLargeError) and attempts > 1:
            return None  # twice too large is the server's answer, not a hiccup
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            # Retry-After is a floor; the jitter on top keeps queued callers from firing at once.
            delay = retry_after + delay
        return delay


@attrs.define
class RetryBudget:
    """Retries a session may spend, so an outage cannot multiply its traffic (a token bucket).

    As botocore's standard mode: the bucket holds ``capacity`` tokens; a retry spends ``cost``
    (``timeout_cost`` after a timeout, which ties up a connection longest); a request that
    succeeds first time puts ``refill`` back, one that succeeds after retries gives back what
    its retries spent. An empty bucket means: raise the error, do not retry. With the
    defaults, 200 reads failing at once cost at most 300 requests, not 600.
    """

    capacity: int = 500
    cost: int = 5
    timeout_cost: int = 10
    refill: int = 1
    tokens: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tokens = self.capacity

    def spend(self, error: CalleagueError) -> int:
        """Take the cost of retrying after ``error``; 0 (nothing taken) when too few are left."""
        cost = self.timeout_cost if isinstance(error, APITimeoutError) else self.cost
        if cost > self.tokens:
            return 0
        self.tokens -= cost
        return cost

    def succeeded(self, spent: int) -> None:
        """A request succeeded having spent ``spent`` on retries (0: first time)."""
        self.tokens = min(self.capacity, self.tokens + (spent or self.refill))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # never equal to a real origin's port
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port if port is not None else default


def redirect_target(
    *,
    route: Route,
    url: str,
    status: int,
    headers: Mapping[str, str],
    hops: int,
    method: str,
    path: str,
) -> str:
    """Where a safe request follows a redirect to, or the :class:`RedirectError` to raise.

    Only requests safe to repeat follow, only to the same origin (scheme, host and port: so
    never to plain http from https, and the API key never travels to another host), and at
    most :data:`MAX_REDIRECTS` hops. The API documents no redirects, so any other one is
    reported rather than guessed at.
    """
    location = headers.get("Location") or headers.get("location")

    def refuse(why: str) -> RedirectError:
        return RedirectError(
            why, location=location, status_code=status, headers=headers, method=method, path=path
        )

    if not location:
        raise refuse(f"a {status} redirect without a Location header")
    target = urljoin(url, location)
    if not route.idempotent:
        raise refuse(
            f"the server redirected this request ({status}) to {target}; a request that is "
            "not safe to repeat is never re-sent elsewhere, so nothing was followed"
        )
    if _origin(target) != _origin(url):
        raise refuse(
            f"refusing a {status} redirect from {_origin_text(url)} to another origin "
            f"({target}): the API key must not travel there"
        )
    if hops >= MAX_REDIRECTS:
        raise refuse(f"more than {MAX_REDIRECTS} redirects; the last to {target}")
    return target


def _origin_text(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"
