"""The limiter: before every attempt, wait for a token from the buckets a route's limits need.

A route with a known limit (``rate_limits=``, or one its document publishes) is paced from the
first request. Any other route is not paced until the server says something (a 429, rate-limit
headers, a message naming a limit), then runs at what it learned and recovers, as botocore's
adaptive mode does. Waiters of one route are served strictly first come, first served; a
cancelled waiter takes no token and holds nobody up. No request waits past its bound: one that
would fails at once with :class:`LimiterTimeoutError`, saying which reply taught the limiter so.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import math
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from multidict import istr

from calleague_async._limits._rate import (
    AdaptiveRate,
    Feedback,
    LearnedRate,
    Rate,
    SendMeter,
    feedback_from_headers,
    is_quota,
    parse_rate,
    rate_hint,
)
from calleague_async._limits._store import BucketSpec, MemoryStore, Store
from calleague_async._options import NOT_GIVEN, NotGiven
from calleague_async._routes import ROUTES, Route, RouteTable
from calleague_async.errors import ConfigurationError, LimiterTimeoutError

log = logging.getLogger("calleague_async")

DEFAULT = "default"
MAX_PAUSE = 600.0
"""The longest one reply can pause a bucket, whatever it says (seconds); then a request probes."""
DEFAULT_MAX_WAIT = 10.0
"""A session's default ``max_wait`` (seconds); see the README's "Rate limits" section."""
BATCH_MAX_WAIT = 120.0
"""How long a request of a batch or a listing may wait at the head of the queue (seconds)."""

# Shared by every session in this process: plain numbers only. Anything bound to an event
# loop (the FIFO lanes) is kept per loop, since each pytest-asyncio test runs its own loop.
_PROCESS_STORE = MemoryStore()
_RATES: dict[tuple[str, str, Rate, float], AdaptiveRate] = {}
_SCOPES: dict[str, _Learning] = {}
_LANES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lane]] = (
    weakref.WeakKeyDictionary()
)
_MAX_METERS = 1024
# Set by start_many and the pagers: their requests queue by design (see queueing()).
_BATCH: contextvars.ContextVar[tuple[float | None] | None] = contextvars.ContextVar(
    "calleague_async_batch", default=None
)


def scope_id(api_key: str, scope: str | None = None) -> str:
    """Bucket identity: a SHA-256 of the key (or of a named scope), never the key itself."""
    source = f"scope:{scope}" if scope is not None else f"key:{api_key}"
    return hashlib.sha256(source.encode()).hexdigest()[:32]


class queueing:  # noqa: N801 - used as a function: `with queueing(max_wait):`
    """Requests made inside queue by design (a batch of calls, the pages of a listing).

    Their place in the queue is not held against them: ``max_wait`` bounds only the wait once
    a request is first in line (a pause the server asked for, a slow pace), and never less
    than the session's own ``max_wait``; ``None`` waits as long as the server says. A class,
    not a generator: a listing enters one per page.
    """

    __slots__ = ("_mark", "_token")

    def __init__(self, max_wait: float | None = BATCH_MAX_WAIT) -> None:
        self._mark = (max_wait,)

    def __enter__(self) -> None:
        self._token = _BATCH.set(self._mark)

    def __exit__(self, *exc: object) -> None:
        _BATCH.reset(self._token)


# istr: aiohttp's case-insensitive headers look these up without case-folding them each time.
_RATE_HEADERS = tuple(
    istr(name)
    for name in ("X-RateLimit-Remaining", "RateLimit", "RateLimit-Remaining", "RateLimit-Policy")
)


def _has_rate_headers(headers: Mapping[str, str]) -> bool:
    if isinstance(headers, dict):  # plain dicts (tests, other transports) are case-sensitive
        return any("ratelimit" in name.lower() for name in headers)
    for name in _RATE_HEADERS:  # noqa: SIM110 - a loop, not any(): no generator per reply
        if name in headers:
            return True
    return False


class _Learning:
    """What the sessions of one key learned from the server. Plain numbers and text only."""

    __slots__ = ("meters", "pauses", "quotas", "rates", "version", "why")

    def __init__(self) -> None:
        self.version = 0
        """Bumped when a route starts or stops being paced, so cached plans are rebuilt."""
        self.rates: dict[str, LearnedRate] = {}
        self.meters: dict[str, SendMeter] = {}
        self.pauses: dict[str, float] = {}
        """Bucket -> paused until (on the limiter's clock)."""
        self.why: dict[str, str] = {}
        """Bucket -> the last thing a reply taught it, for errors and logs."""
        self.quotas: dict[str, Rate] = {}


class _Lane:
    """A FIFO queue of the waiters of one route (asyncio.Lock is FIFO and cancel-safe)."""

    __slots__ = ("lock", "waiting")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0


class _Quick:
    """What ``try_now`` needs about a route, cached per loop and per learning version."""

    __slots__ = ("fixed", "lane", "loop", "meter", "plan", "spec", "spec_rate", "version")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        lane: _Lane | None,
        plan: tuple[str, ...],
        version: int,
        meter: SendMeter,
        fixed: AdaptiveRate | None = None,
    ) -> None:
        self.loop = loop
        self.lane = lane
        self.plan = plan
        self.version = version
        self.meter = meter
        self.fixed = fixed
        """The one configured bucket's rate, when the plan is that bucket alone."""
        self.spec: BucketSpec | None = None
        """Its bucket spec, valid while the rate stays at ``spec_rate`` (its best)."""
        self.spec_rate = 0.0


class Limiter:
    """GCRA buckets per API key and per route, with FIFO waiting and adaptive pacing."""

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
        known |= {b for r in ROUTES.values() if (b := _shared_bucket(r)) is not None}
        unknown = sorted(set(limits) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown rate limit key(s) {unknown}: use 'default' or 'METHOD /path/template' "
                f"as in the route table: {sorted(str(k) for k in known - {DEFAULT})}"
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
        self._margin = margin
        self._max_wait = max_wait
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._canon: dict[str, str] = {}
        # Buckets with a known limit: configured, or documented (added as routes show up).
        self._fixed: dict[str, AdaptiveRate] = {}
        self._source: dict[str, str] = {}
        for name, rate in limits.items():
            self._fix(self._canonical(name), rate, f"rate_limits={{{name!r}: '{rate}'}}")
        # Sessions of one key share what they learn about its undocumented routes.
        learning = _SCOPES.get(scope)
        if learning is None:
            learning = _SCOPES[scope] = _Learning()
        self._learn = learning
        self._plans: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._strikes: dict[str, tuple[int, float]] = {}
        self._spec_memo: dict[str, BucketSpec] = {}
        self._lanes: dict[tuple[str, ...], tuple[asyncio.AbstractEventLoop, _Lane]] = {}
        self._quick: dict[str, _Quick] = {}

    # --- which buckets a route takes from -----------------------------------------------------

    def _fix(self, bucket: str, rate: Rate, source: str) -> None:
        # Sessions of one key and one configuration share what they learn from 429s.
        key = (self._scope, bucket, rate, self._margin)
        self._fixed[bucket] = _RATES.setdefault(key, AdaptiveRate(rate, margin=self._margin))
        self._source[bucket] = source

    def _canonical(self, key: str) -> str:
        """A route's documented key, whatever path override the session uses."""
        found = self._canon.get(key)
        if found is None:
            found = key
            for name, route in ROUTES.items():
                if key in (route.key, self._routes[name].key):
                    found = route.key
                    break
            self._canon[key] = found
        return found

    def _plan(self, route: Route) -> tuple[str, ...]:
        own = self._canonical(route.key)
        doc = route.documented_limit
        if own not in self._fixed and doc is not None and doc.rate:
            self._fix(own, parse_rate(doc.rate), f"the documented limit {doc.rate}")
        plan = [own] if own in self._fixed or own in self._learn.rates else []
        if DEFAULT in self._fixed:
            plan.append(DEFAULT)
        shared = _shared_bucket(route)
        if shared is not None and doc is not None and doc.shared:
            if shared not in self._fixed:
                self._fix(shared, parse_rate(doc.shared), f"the documented limit {doc.shared}")
            plan.append(shared)
        return tuple(plan)

    def buckets(self, route: Route) -> tuple[str, ...]:
        """The buckets a request on ``route`` takes a token from (most specific first).

        Empty for a route that is not paced: no known limit, and nothing learned (yet).
        """
        version = self._learn.version
        cached = self._plans.get(route.key)
        if cached is None or cached[0] != version:
            cached = self._plans[route.key] = (version, self._plan(route))
        return cached[1]

    def _target(self, route: Route) -> str:
        """Where what a reply says goes: the first known-limit bucket, else a learned one."""
        for bucket in self.buckets(route):
            if bucket in self._fixed:
                return bucket
        return self._canonical(route.key)

    def _learned(self, bucket: str, why: str) -> LearnedRate:
        learned = self._learn.rates.get(bucket)
        if learned is None:
            learned = self._learn.rates[bucket] = LearnedRate(margin=self._margin)
            self._learn.version += 1  # the route is paced from now on: plans are rebuilt
            self._learn.why[bucket] = why
            log.info("calleague_async: the server spoke about %s: %s", bucket, why)
        return learned

    def _forget(self, bucket: str) -> None:
        if self._learn.rates.pop(bucket, None) is not None:
            self._learn.pauses.pop(bucket, None)
            self._learn.version += 1
            log.info("calleague_async: no word from the server on %s: not pacing it", bucket)

    # --- GCRA specs -------------------------------------------------------------------------

    def _spec(self, bucket: str, now: float) -> BucketSpec:
        fixed = self._fixed.get(bucket)
        if fixed is not None:
            interval = fixed.interval(now)
            # Credit a late wake-up with up to 90% of the safety margin (see gcra): timers
            # overshoot by about a millisecond, more than a whole interval at thousands per
            # second. Within the margin, no window of the limit's period holds an extra request.
            slack = 0.9 * fixed.margin * fixed.target.period
        else:
            learned = self._learn.rates.get(bucket)
            rate = learned.rate(now) if learned is not None else None
            interval = 1.0 / rate if rate else 0.0  # 0: only a pause holds requests back
            slack = 0.9 * learned.margin * learned.period if learned is not None else 0.0
            if rate is None and now >= self._learn.pauses.get(bucket, -math.inf):
                self._forget(bucket)  # recovered: this request is the last one it paces
        spec = self._spec_memo.get(bucket)
        if spec is not None and spec.interval == interval and spec.slack == slack:
            return spec  # the usual case: the rate has not moved since the last request
        spec = BucketSpec(f"{self._scope}:{bucket}", interval, interval * (self._burst - 1), slack)
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

    def _make_quick(self, route: Route, loop: asyncio.AbstractEventLoop) -> _Quick:
        plan = self.buckets(route)
        version = self._learn.version
        meters = self._learn.meters
        meter = meters.get(own := self._canonical(route.key))
        if meter is None:
            if len(meters) >= _MAX_METERS:
                meters.clear()  # ad-hoc paths with ids in them: estimates, not worth a leak
            meter = meters[own] = SendMeter()
        fixed = self._fixed.get(plan[0]) if len(plan) == 1 else None
        quick = _Quick(loop, self._lane(plan) if plan else None, plan, version, meter, fixed)
        self._quick[route.key] = quick
        return quick

    # --- taking tokens ----------------------------------------------------------------------

    def try_now(self, route: Route) -> float | None:
        """Take a token at once if nobody waits and one is free (no await); else None.

        The per-request path when the limit is not reached: kept to a few lookups, and for a
        route that is not paced, to counting the request for the send-rate meter.
        """
        now = self._clock()
        loop = asyncio.get_running_loop()
        quick = self._quick.get(route.key)
        if quick is None or quick.loop is not loop or quick.version != self._learn.version:
            quick = self._make_quick(route, loop)
        meter = quick.meter
        lane = quick.lane
        if lane is None:  # not paced
            if now - meter.start >= 1.0:
                meter.roll(now)
            meter.count += 1
            return now
        fast = self._fast
        if fast is None or lane.waiting or lane.lock.locked():
            return None
        fixed = quick.fixed
        if fixed is not None:
            # One configured bucket running at its best rate (the usual case): its spec is the
            # one made last time, and the GCRA step is taken here, inline, on the memory store.
            spec = quick.spec
            if spec is None or fixed.current != quick.spec_rate or fixed.current < fixed.best:
                spec = quick.spec = self._spec(quick.plan[0], now)
                quick.spec_rate = fixed.current
            tats = fast.tats
            tat = tats.get(spec.key, now)
            base = tat if tat >= now - spec.slack else now
            if now < base - spec.tolerance:
                return None
            tats[spec.key] = base + spec.interval
        else:
            plan = quick.plan
            if len(plan) == 1:
                specs: list[BucketSpec] | tuple[BucketSpec] = (self._spec(plan[0], now),)
            else:
                specs = [self._spec(bucket, now) for bucket in plan]
            if fast.acquire_now(specs, now) > 0.0:
                return None
        if now - meter.start >= 1.0:  # meter.tick(now), inlined
            meter.roll(now)
        meter.count += 1
        return now

    def _bound(self, max_wait: float | None) -> tuple[float | None, bool]:
        """The longest this request may wait, and whether it queues by design (a batch)."""
        batch = _BATCH.get()
        if batch is None:
            return max_wait, False
        if batch[0] is None or max_wait is None:
            return None, True
        return max(batch[0], max_wait), True

    def _head_wait(self, plan: tuple[str, ...], specs: Sequence[BucketSpec], now: float) -> float:
        """What the limiter knows the first request in line would wait now."""
        fast = self._fast
        if fast is not None:
            return max(fast.peek(spec, now) for spec in specs)
        # Another store (Redis): only the pauses this process knows of, without a round trip.
        return max(0.0, *(self._learn.pauses.get(b, now) - now for b in plan))

    async def acquire(
        self, route: Route, *, max_wait: float | NotGiven | None = NOT_GIVEN
    ) -> float:
        """Wait for a token for ``route``; return the clock time it was granted.

        Raises :class:`LimiterTimeoutError` at once, before sleeping, when the wait is known to
        exceed the bound (``max_wait``, by default the limiter's; see :func:`queueing` for
        batches).
        """
        granted = self.try_now(route)  # nobody queued: no lock, no waiting
        if granted is not None:
            return granted
        plan = self.buckets(route)
        if not plan:  # its learned pace just ran out (try_now found it recovered)
            return self._clock()
        lane = self._lane(plan)
        bound, queued = self._bound(self._max_wait if max_wait is NOT_GIVEN else max_wait)
        now = self._clock()
        if bound is not None:
            # Fail fast: the pause in force plus the queue ahead would take longer than the
            # caller will wait. A batch's own queue is its design, so only its head counts.
            specs = self._specs(plan, now)
            ahead = 0 if queued else lane.waiting + lane.lock.locked()
            estimate = self._head_wait(plan, specs, now) + ahead * max(s.interval for s in specs)
            if estimate > bound:
                raise self._timeout(route, plan, estimate, bound, ahead, now)
        started = now
        lane.waiting += 1
        try:
            if bound is None or queued or bound == math.inf:
                await lane.lock.acquire()
            else:
                try:
                    # A backstop: the estimate above cannot see other routes sharing a bucket.
                    async with asyncio.timeout(bound):
                        await lane.lock.acquire()
                except TimeoutError:
                    raise self._timeout(route, plan, bound, bound, 0, self._clock()) from None
        finally:
            lane.waiting -= 1
        try:
            if queued:
                started = self._clock()  # a batch's bound starts at the head of the line
            while True:
                now = self._clock()
                specs = self._specs(plan, now)
                wait = await self._store.acquire(specs, now)
                if wait <= 0.0:
                    meter = self._learn.meters.get(self._canonical(route.key))
                    if meter is not None:
                        meter.tick(now)
                    return now
                total = now - started + wait
                if bound is not None and total > bound:
                    raise self._timeout(route, plan, total, bound, 0, now)
                if wait >= 1.0:
                    log.log(
                        logging.WARNING
                        if self._max_wait is not None and total > self._max_wait
                        else logging.INFO,
                        "calleague_async: %s waits %.1fs for the rate limiter: %s",
                        route.key,
                        wait,
                        self._reason(plan, specs, now, 0),
                    )
                await self._sleep(wait)
        finally:
            lane.lock.release()

    # --- why a request may not go -----------------------------------------------------------

    def _reason(
        self, plan: tuple[str, ...], specs: Sequence[BucketSpec], now: float, ahead: int
    ) -> str:
        """Which bucket holds the request back, and which reply (or setting) taught it that."""
        paused = [b for b in plan if self._learn.pauses.get(b, -math.inf) > now]
        if paused:
            bucket = max(paused, key=lambda b: self._learn.pauses[b])
            text = self._learn.why.get(bucket) or f"{bucket} is paused"
        else:
            bucket, spec = max(zip(plan, specs, strict=True), key=lambda bs: bs[1].interval)
            source = self._learn.why.get(bucket) or self._source.get(bucket, "")
            pace = _per(1.0 / spec.interval) if spec.interval else "unpaced"
            text = f"{bucket} is paced at {pace}" + (f" ({source})" if source else "")
            if self._fast is None:
                text += "; or the shared store holds it (a pause another process learned)"
        if ahead:
            text += f"; {ahead} request(s) ahead in the queue"
        return text

    def _timeout(
        self, route: Route, plan: tuple[str, ...], wait: float, bound: float, ahead: int, now: float
    ) -> LimiterTimeoutError:
        reason = self._reason(plan, self._specs(plan, now), now, ahead)
        return LimiterTimeoutError(route.key, wait, bound, reason=reason)

    def _stamp(self) -> str:
        return datetime.fromtimestamp(self._wall(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- what replies say -------------------------------------------------------------------

    async def _pause(self, bucket: str, seconds: float, why: str) -> None:
        if not seconds < MAX_PAUSE:  # also catches NaN
            # A reset in milliseconds read as seconds, or a broken header, must not freeze
            # every session of this key for years: after the cap one request probes.
            log.warning("calleague_async: capping a %.0fs pause of %s at %ss", seconds, bucket,
                        MAX_PAUSE)  # fmt: skip
            seconds = MAX_PAUSE
            why += f" (held {MAX_PAUSE:.0f}s at most, then a request probes)"
        now = self._clock()
        until = now + seconds
        if until >= self._learn.pauses.get(bucket, -math.inf):
            self._learn.pauses[bucket] = until
            self._learn.why[bucket] = why
        await self._store.pause(self._spec(bucket, now), seconds, now)

    def observe(
        self, route: Route, status: int, headers: Mapping[str, str]
    ) -> Awaitable[None] | None:
        """Read rate-limit headers of any reply; an awaitable when they ask for a pause."""
        if self._strikes and 200 <= status < 300:
            self._strikes.pop(route.key, None)  # a success ends a run of 429s
        if not _has_rate_headers(headers):
            return None  # the usual reply: nothing to read
        feedback = feedback_from_headers(headers, wall_now=self._wall())
        if feedback is None:
            return None
        return self._heard(route, status, feedback)

    def _heard(self, route: Route, status: int, feedback: Feedback) -> Awaitable[None] | None:
        now = self._clock()
        bucket = self._target(route)
        fixed = self._fixed.get(bucket)
        limit = feedback.limit
        if limit is not None:
            if is_quota(limit):
                # An hourly or daily quota: spreading it evenly would pace the key to a crawl
                # (1;w=31536000 is one request a year). Remembered; only "spent" stops requests.
                if self._learn.quotas.get(bucket) != limit:
                    log.info("calleague_async: %s has a quota of %s (not a pace)", bucket, limit)
                    self._learn.quotas[bucket] = limit
            elif fixed is not None:
                fixed.learn(limit, now)
            else:
                learned = self._learn.rates.get(bucket)
                if learned is None or learned.named != limit:
                    said = f"a {status} reply to {self._canonical(route.key)} at {self._stamp()}"
                    why = f"{said} named the limit {limit}"
                    learned = self._learned(bucket, why)
                    self._learn.why[bucket] = why
                learned.name(limit, now)
        if not feedback.pause:
            return None
        quota = self._learn.quotas.get(bucket)
        why = (
            f"a {status} reply to {self._canonical(route.key)} at {self._stamp()} said the limit "
            "is spent "
            f"({feedback.detail})" + (f"; its quota is {quota}" if quota is not None else "")
        )
        if fixed is None:
            self._learned(bucket, why)
        log.info("calleague_async: %s", why)
        return self._pause(bucket, feedback.pause, why)

    async def rate_limited(
        self, route: Route, *, retry_after: float | None, message: str | None, sent_at: float
    ) -> None:
        """A 429: pause the route's bucket until Retry-After, and slow it down (or learn it)."""
        now = self._clock()
        bucket = self._target(route)
        fixed = self._fixed.get(bucket)
        said = f"429 on {self._canonical(route.key)}" + (
            f" with Retry-After {retry_after:g}s" if retry_after is not None else ""
        )
        said += f" at {self._stamp()}"
        hint = rate_hint(message)  # only the parsed rate is kept: messages may echo anything
        rate: AdaptiveRate | LearnedRate
        if hint is not None and is_quota(hint):
            self._learn.quotas[bucket] = hint
            why = f"{said} named the quota {hint}, spent (a quota is not turned into a pace)"
            if retry_after is None:
                retry_after = min(hint.interval, MAX_PAUSE)
            rate = fixed if fixed is not None else self._learned(bucket, why)
        elif fixed is not None:
            rate = fixed
            if hint is not None and hint.per_second < fixed.target.per_second:
                fixed.learn(hint, now)
                why = f"{said} named the limit {hint}"
            else:
                fixed.hit(now, sent_at)
                why = f"{said}; slowed to {_per(1.0 / fixed.interval(now))}"
        else:
            rate = learned = self._learned(bucket, said)
            if hint is not None:
                learned.name(hint, now)
                why = f"{said} named the limit {hint}"
            else:
                meter = self._learn.meters.get(bucket)
                sending = meter.rate(now) if meter is not None else 0.0
                why = self._learn.why.get(bucket, said)
                if learned.hit(now, sent_at, sending):
                    why = (
                        f"{said}, naming no limit: pacing at {_per(learned.base)}, half the "
                        f"{_per(learned.ceiling)} being sent"
                    )
        count, last = self._strikes.get(route.key, (0, -math.inf))
        if sent_at >= last:  # a request in flight when we last reacted says nothing new
            count += 1
            self._strikes[route.key] = (count, now)
        if retry_after is None:
            # No Retry-After: a jittered wait that grows with each 429 in a row.
            cap = min(60.0, 2.0 ** (max(count, 1) - 1))
            retry_after = cap * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not secrecy
        log.info("calleague_async: %s: pausing %s %.2fs", why, bucket, retry_after)
        rate.hold(now + min(retry_after, MAX_PAUSE))
        await self._pause(bucket, retry_after, why)

    async def overloaded(self, route: Route, retry_after: float) -> None:
        """A 503 with Retry-After: pause the route's bucket, keep the rate."""
        bucket = self._target(route)
        why = f"503 on {self._canonical(route.key)} with Retry-After {retry_after:g}s at "
        why += self._stamp()
        if bucket not in self._fixed:
            self._learned(bucket, why)
        await self._pause(bucket, retry_after, why)

    async def close(self) -> None:
        """Release the store's connections, if this limiter's session created the store."""
        if self.owns_store:
            await self._store.close()


def _per(rate: float) -> str:
    """``2.5/s``, or ``9.7/minute`` for a slow one."""
    return f"{rate:.3g}/s" if rate >= 1.0 else f"{rate * 60.0:.3g}/minute"


def _shared_bucket(route: Route) -> str | None:
    """The bucket of a limit a document sets for all of one API's routes together."""
    doc = route.documented_limit
    return f"api:{doc.api}" if doc is not None and doc.shared and doc.api else None
