"""The sandbox's knobs: injected faults and rate limits (sliding windows, seed 002's table).

Plain classes over an injected clock; the HTTP pipeline (``_http``) consults them per request.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from calleague_async._routes import ROUTES
from calleague_async.testing._replies import ApiError

__all__ = [
    "PRE_FAULTS",
    "Fault",
    "FaultRule",
    "Faults",
    "Limit",
    "RateLimiter",
    "parse_rate_limit",
    "seed_002_limits",
]

_RATE_UNITS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "s": 1.0,
        "sec": 1.0,
        "second": 1.0,
        "m": 60.0,
        "min": 60.0,
        "minute": 60.0,
        "h": 3600.0,
        "hour": 3600.0,
    }
)


class Fault(enum.StrEnum):
    """A failure the sandbox can inject with :meth:`SandboxServer.fail_next`."""

    SERVER_ERROR = "server_error"
    """HTTP 500 with a JSON error body."""
    BAD_GATEWAY = "bad_gateway"
    """HTTP 502 with a JSON error body."""
    UNAVAILABLE = "unavailable"
    """HTTP 503 with ``Retry-After: 1``."""
    RATE_LIMITED = "rate_limited"
    """HTTP 429 with ``Retry-After: 1``."""
    DROP = "drop"
    """Close the connection without replying (the client sees a disconnect)."""
    SLOW = "slow"
    """Wait ``delay`` seconds (default ``SandboxConfig.slow_seconds``), then answer normally."""
    TRUNCATED = "truncated"
    """Answer normally but send only the first half of the body (invalid JSON)."""
    NOT_JSON = "not_json"
    """HTTP 200 with ``text/html`` body ``<html>oops</html>``."""
    COMMIT_THEN_500 = "commit_then_500"
    """Do the work (e.g. create the call and dial), then answer 500."""
    COMMIT_THEN_DROP = "commit_then_drop"
    """Do the work, then close the connection without replying."""


PRE_FAULTS: Final[Mapping[Fault | None, tuple[int, str, bool]]] = MappingProxyType(
    {
        Fault.SERVER_ERROR: (500, "Internal server error", False),
        Fault.BAD_GATEWAY: (502, "Bad gateway", False),
        Fault.UNAVAILABLE: (503, "Service unavailable", True),
        Fault.RATE_LIMITED: (429, "Too many requests", True),
    }
)
"""Faults answered before any work: ``(status, message, send Retry-After)``."""


def parse_rate_limit(spec: str) -> tuple[int, float]:
    """Parse ``"N/SECONDS"`` (or ``"N/second|minute|hour"``) into ``(N, seconds)``.

    Raises:
        ValueError: if the text is not a positive count over a positive window.
    """
    count_text, sep, window_text = spec.strip().partition("/")
    try:
        count = int(count_text)
        window = _RATE_UNITS.get(window_text.strip().lower())
        if window is None:
            window = float(window_text)
    except ValueError:
        count, window = 0, 0.0
    if not sep or count < 1 or not (window > 0 and math.isfinite(window)):
        raise ValueError(f"rate limit must look like 'N/SECONDS', got {spec!r}")
    return count, window


def seed_002_limits() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Seed 002's table from the route table: ``({operation: rate}, {operation: (api, shared)})``.

    The first maps each route to its own limit ("10/minute"); the second to the limit all of
    one API's routes share per key ("100/minute per API key").
    """
    own: dict[str, str] = {}
    shared: dict[str, tuple[str, str]] = {}
    for name, route in ROUTES.items():
        documented = route.documented_limit
        if documented is None:
            continue
        if documented.rate is not None:
            own[name] = documented.rate
        if documented.shared is not None:
            shared[name] = (documented.api or name, documented.shared)
    return own, shared


@attrs.frozen
class FaultRule:
    """One ``fail_next`` order: which fault, for which path and method (None: any)."""

    fault: Fault
    path: str | None
    method: str | None
    delay: float | None

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or self.path == path) and (
            self.method is None or self.method == method
        )


class Faults:
    """Pending injected faults, used in the order they were added."""

    def __init__(self) -> None:
        self._rules: deque[list[Any]] = deque()  # [rule, remaining]

    def add(
        self,
        n: int,
        fault: Fault | str,
        *,
        path: str | None = None,
        method: str | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next ``n`` matching requests suffer ``fault``."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if n:
            rule = FaultRule(Fault(fault), path, method.upper() if method else None, delay)
            self._rules.append([rule, n])

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule matching the request, counted as used; None if none does."""
        for entry in self._rules:
            rule: FaultRule = entry[0]
            if rule.matches(method, path):
                entry[1] -= 1
                if entry[1] <= 0:
                    self._rules.remove(entry)
                return rule
        return None

    def clear(self) -> None:
        self._rules.clear()

    @property
    def pending(self) -> int:
        """How many injected faults are still to be used."""
        return sum(int(entry[1]) for entry in self._rules)


@attrs.frozen
class Limit:
    """``count`` requests per ``window`` seconds; ``spec`` is how it was written."""

    count: int
    window: float
    spec: str

    @classmethod
    def parse(cls, spec: str) -> Limit:
        count, window = parse_rate_limit(spec)
        return cls(count, window, spec.strip())


class RateLimiter:
    """Sliding-window counters per key; a full window answers 429 with ``Retry-After``.

    ``rejected`` counts the 429s it sent. ``headers`` adds ``X-RateLimit-Limit/Remaining/
    Reset`` to replies of limited requests, as many APIs do.
    """

    def __init__(self, clock: Callable[[], float], *, headers: bool = False) -> None:
        self._clock = clock
        self._headers = headers
        self._windows: dict[str, deque[float]] = {}
        self.rejected = 0

    def reset(self) -> None:
        """Forget every window."""
        self._windows = {}

    def check(self, key: str, limit: Limit) -> dict[str, str]:
        """Count one request of ``key`` against ``limit``; the headers to send, or a 429."""
        now = self._clock()
        stamps = self._windows.setdefault(key, deque())
        while stamps and stamps[0] <= now - limit.window:
            stamps.popleft()
        if len(stamps) >= limit.count:
            self.rejected += 1
            wait = max(1, math.ceil(stamps[0] + limit.window - now))
            unit = "" if any(ch.isalpha() for ch in limit.spec) else " seconds"
            headers = {"Retry-After": str(wait)}
            if self._headers:
                headers |= _limit_headers(limit.count, 0, stamps[0] + limit.window - now)
            raise ApiError(429, f"Rate limit exceeded: {limit.spec}{unit}", headers)
        stamps.append(now)
        if not self._headers:
            return {}
        return _limit_headers(
            limit.count, limit.count - len(stamps), stamps[0] + limit.window - now
        )


def _limit_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(max(1, math.ceil(reset))),
    }
