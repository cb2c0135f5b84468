"""The limiter: before every attempt, wait for a token from the route's bucket and the key's.

Waiters of one route are served strictly first come, first served; a cancelled waiter takes
no token and holds nobody up. Replies feed back: 429s pause and slow the bucket, rate-limit
headers pause it before a 429 is ever sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping

from calleague_async._limits._rate import AdaptiveRate, Rate, feedback_from_headers, rate_hint
from calleague_async._limits._store import BucketSpec, MemoryStore, Store
from calleague_async._routes import ROUTES, Route, RouteTable
from calleague_async.errors import ConfigurationError, LimiterTimeoutError

log = logging.getLogger("calleague_async")

DEFAULT = "default"
MAX_PAUSE = 600.0
"""The longest a reply can pause a bucket, whatever its headers say (seconds)."""

# Shared by every session in this process: plain numbers only. Anything bound to an event
# loop (the FIFO lanes) is kept per loop, since each pytest-asyncio test runs its own loop.
_PROCESS_STORE = MemoryStore()
_RATES: dict[tuple[str, str, Rate, float], AdaptiveRate] = {}
_LANES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lane]] = (
    weakref.WeakKeyDictionary()
)


def scope_id(api_key: str, scope: str | None = None) -> str:
    """Bucket identity: a SHA-256 of the key (or of a named scope), never the key itself."""
    source = f"scope:{scope}" if scope is not None else f"key:{api_key}"
    return hashlib.sha256(source.encode()).hexdigest()[:32]


_RATE_HEADERS = ("X-RateLimit-Remaining", "RateLimit", "RateLimit-Remaining", "RateLimit-Policy")


def _has_rate_headers(headers: Mapping[str, str]) -> bool:
    if isinstance(headers, dict):  # plain dicts (tests, other transports) are case-sensitive
        return any("ratelimit" in name.lower() for name in headers)
    return any(name in headers for name in _RATE_HEADERS)  # aiohttp's are case-insensitive


class _Lane:
    """A FIFO queue of the waiters of one route (asyncio.Lock is FIFO and cancel-safe)."""

    __slots__ = ("lock", "waiting")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0


class Limiter:
    """GCRA buckets per API key and per route, with FIFO waiting and adaptive slow-down."""

    def __init__(
        self,
        limits: Mapping[str, Rate],
        *,
        routes: RouteTable,
        scope: str,
        store: Store | None = None,
        burst: int = 1,
        margin: float = 0.03,
        max_wait: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._routes = routes
        known = {DEFAULT} | {routes[name].key for name in ROUTES} | {r.key for r in ROUTES.values()}
        unknown = sorted(set(limits) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown rate limit key(s) {unknown}: use 'default' or 'METHOD /path/template' "
                f"as in the route table: {sorted(known - {DEFAULT})}"
            )
        if burst < 1:
            raise ConfigurationError(f"rate_limit_burst must be >= 1 (got {burst})")
        if not 0 <= margin < 0.5:
            raise ConfigurationError(f"margin must be in [0, 0.5) (got {margin})")
        self._scope = scope
        self._store: Store = store if store is not None else _PROCESS_STORE
        self.owns_store = False  # set by the session for stores it created from a URL
        self._fast = self._store if isinstance(self._store, MemoryStore) else None
        self._burst = burst
        self._max_wait = max_wait
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._rates: dict[str, AdaptiveRate] = {}
        for name, rate in limits.items():
            bucket = self._canonical(name)
            # Sessions of one key and one configuration share what they learn from 429s.
            shared = _RATES.setdefault(
                (scope, bucket, rate, margin), AdaptiveRate(rate, margin=margin)
            )
            self._rates[bucket] = shared
        self._plans: dict[str, tuple[str, ...]] = {}
        self._strikes: dict[str, int] = {}
        self._keys = {bucket: f"{scope}:{bucket}" for bucket in self._rates}
        self._spec_memo: dict[str, BucketSpec] = {}
        self._lanes: dict[tuple[str, ...], tuple[asyncio.AbstractEventLoop, _Lane]] = {}
        self._quick: dict[str, tuple[asyncio.AbstractEventLoop, _Lane | None, tuple[str, ...]]] = {}

    def _canonical(self, key: str) -> str:
        """A route's documented key, whatever path override the session uses."""
        for name, route in ROUTES.items():
            if key in (route.key, self._routes[name].key):
                return route.key
        return key

    def buckets(self, route: Route) -> tuple[str, ...]:
        """The buckets a request on ``route`` takes a token from (most specific first)."""
        plan = self._plans.get(route.key)
        if plan is None:
            own = self._canonical(route.key)
            plan = tuple(b for b in (own, DEFAULT) if b in self._rates)
            self._plans[route.key] = plan
        return plan

    def _spec(self, bucket: str, now: float) -> BucketSpec:
        rate = self._rates[bucket]
        interval = rate.interval(now)
        spec = self._spec_memo.get(bucket)
        if spec is not None and spec.interval == interval:
            return spec  # the usual case: the rate has not moved since the last request
        # Credit a late wake-up with up to 90% of the safety margin (see gcra): timers
        # overshoot by about a millisecond, more than a whole interval at thousands per second.
        # Within the margin, no window of the limit's period can hold an extra request.
        slack = 0.9 * rate.margin * rate.target.period
        spec = BucketSpec(self._keys[bucket], interval, interval * (self._burst - 1), slack)
        self._spec_memo[bucket] = spec
        return spec

    def _specs(self, plan: tuple[str, ...], now: float) -> list[BucketSpec]:
        return [self._spec(bucket, now) for bucket in plan]

    def _lane(self, plan: tuple[str, ...]) -> _Lane:
        loop = asyncio.get_running_loop()
        known = self._lanes.get(plan)
        if known is not None and known[0] is loop:
            return known[1]
        lanes = _LANES.setdefault(loop, {})
        key = f"{self._scope}|{'|'.join(plan)}"
        lane = lanes.get(key)
        if lane is None:
            lane = lanes[key] = _Lane()
        self._lanes[plan] = (loop, lane)
        return lane

    def try_now(self, route: Route) -> float | None:
        """Take a token at once if nobody waits and one is free (no await); else None.

        The per-request path when the limit is not reached: kept to a few lookups.
        """
        now = self._clock()
        loop = asyncio.get_running_loop()
        quick = self._quick.get(route.key)
        if quick is None or quick[0] is not loop:
            plan = self.buckets(route)
            quick = self._quick[route.key] = (loop, self._lane(plan) if plan else None, plan)
        _, lane, plan = quick
        if lane is None:
            return now  # no bucket for this route
        fast = self._fast
        if fast is None or lane.lock.locked():
            return None
        if len(plan) == 1:
            specs: list[BucketSpec] | tuple[BucketSpec] = (self._spec(plan[0], now),)
        else:
            specs = [self._spec(bucket, now) for bucket in plan]
        return now if fast.acquire_now(specs, now) <= 0.0 else None

    async def acquire(self, route: Route) -> float:
        """Wait for a token for ``route``; return the clock time it was granted."""
        granted = self.try_now(route)  # nobody queued: no lock, no waiting
        if granted is not None:
            return granted
        plan = self.buckets(route)
        lane = self._lane(plan)
        now = self._clock()
        max_wait = self._max_wait
        if max_wait is not None:
            # Fail fast: the queue ahead alone would take longer than the caller will wait.
            estimate = lane.waiting * max(s.interval for s in self._specs(plan, now))
            if estimate > max_wait:
                raise LimiterTimeoutError(route.key, estimate, max_wait)
        started = now
        lane.waiting += 1
        try:
            if max_wait is None:
                await lane.lock.acquire()
            else:
                try:
                    async with asyncio.timeout(max_wait):
                        await lane.lock.acquire()
                except TimeoutError:
                    raise LimiterTimeoutError(route.key, max_wait, max_wait) from None
        finally:
            lane.waiting -= 1
        try:
            while True:
                now = self._clock()
                wait = await self._store.acquire(self._specs(plan, now), now)
                if wait <= 0.0:
                    return now
                if max_wait is not None and now - started + wait > max_wait:
                    raise LimiterTimeoutError(route.key, now - started + wait, max_wait)
                await self._sleep(wait)
        finally:
            lane.lock.release()

    async def _pause(self, bucket: str, seconds: float) -> None:
        if not seconds < MAX_PAUSE:  # also catches NaN
            # A reset in milliseconds read as seconds, or a broken header, must not freeze
            # every session of this key for years.
            log.warning("calleague_async: capping a %.0fs pause of %s at %ss", seconds, bucket,
                        MAX_PAUSE)  # fmt: skip
            seconds = MAX_PAUSE
        now = self._clock()
        await self._store.pause(self._spec(bucket, now), seconds, now)

    def observe(
        self, route: Route, status: int, headers: Mapping[str, str]
    ) -> Awaitable[None] | None:
        """Read rate-limit headers of any reply; an awaitable when they ask for a pause."""
        plan = self._plans.get(route.key)
        if plan is None:
            plan = self.buckets(route)
        if not plan:
            return None
        bucket = plan[0]
        if self._strikes and 200 <= status < 300 and self._strikes.get(bucket):
            self._strikes[bucket] = 0  # a success ends a run of 429s
        if not _has_rate_headers(headers):
            return None  # the usual reply: nothing to read
        feedback = feedback_from_headers(headers, wall_now=self._wall())
        if feedback is None:
            return None
        if feedback.limit is not None:
            self._rates[bucket].learn(feedback.limit, self._clock())
        if feedback.pause:
            log.info("server reports %s exhausted: pausing %.2fs", bucket, feedback.pause)
            return self._pause(bucket, feedback.pause)
        return None

    async def rate_limited(
        self, route: Route, *, retry_after: float | None, message: str | None, sent_at: float
    ) -> None:
        """A 429: pause the route's bucket until Retry-After, and slow it down."""
        plan = self.buckets(route)
        if not plan:
            return
        bucket = plan[0]
        rate = self._rates[bucket]
        now = self._clock()
        hint = rate_hint(message)
        if hint is not None and hint.per_second < rate.target.per_second:
            rate.learn(hint, now)
        else:
            rate.hit(now, sent_at)
        strikes = self._strikes[bucket] = self._strikes.get(bucket, 0) + 1
        if retry_after is None:
            # No Retry-After: a jittered wait that grows with each 429 in a row.
            cap = min(60.0, 2.0 ** (strikes - 1))
            retry_after = cap * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not secrecy
        log.info(
            "429 on %s: pausing the bucket %.2fs, rate now %.3g/s",
            bucket,
            retry_after,
            1.0 / rate.interval(now),
        )
        rate.hold(now + retry_after)
        await self._pause(bucket, retry_after)

    async def overloaded(self, route: Route, retry_after: float) -> None:
        """A 503 with Retry-After: pause the route's bucket, keep the rate."""
        plan = self.buckets(route)
        if plan:
            await self._pause(plan[0], retry_after)

    async def close(self) -> None:
        """Release the store's connections, if this limiter's session created the store."""
        if self.owns_store:
            await self._store.close()
