"""The retry decision: given a route and what went wrong, wait how long, or give up. Pure.

Safe requests are retried on anything transient; a request that dials a person is retried only
when the failure proves the server did nothing (429, 503, a connection that never opened).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import backoff

from calleague_async._routes import Route
from calleague_async.errors import (
    APIConnectionError,
    APIError,
    CalleagueError,
    InvalidResponseError,
    RateLimitError,
    ServerError,
)

# 501 and 505 say the server will never do this; waiting does not change that.
_PERMANENT_5XX = frozenset({501, 505})


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
    max_retry_after: float = 60.0
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

    def wait(self, route: Route, error: CalleagueError, attempts: int) -> float | None:
        """Seconds to wait before attempt ``attempts + 1``, or None to give up now."""
        if attempts > self.max_retries or not self.should_retry(route, error):
            return None
        delay = self.jitter(min(self.cap, self.base * 2 ** (attempts - 1)))
        retry_after = retry_after_of(error)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            # Retry-After is a floor; the jitter on top keeps queued callers from firing at once.
            delay = retry_after + delay
        return delay
