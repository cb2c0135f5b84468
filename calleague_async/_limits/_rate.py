"""Rate arithmetic, pure: rate strings, GCRA, limit hints, adaptive and learned rates, a meter.

The adaptive rate keeps a known limit; the learned rate paces an unknown one from what replies
said and what the send-rate meter measured.

No clock is read here; every function takes ``now`` so tests run on plain numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import attrs

from calleague_async._wire import header
from calleague_async.errors import ConfigurationError

_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*", re.IGNORECASE)
# "Rate limit exceeded: 10/minute" (seed 002) and the like, anywhere in a message.
_HINT = re.compile(r"(\d+)\s*(?:requests?\s*)?(?:/|per)\s*(\d+(?:\.\d+)?)?\s*([a-z]+)", re.I)


@attrs.frozen
class Rate:
    """``count`` requests per ``period`` seconds."""

    count: int
    period: float

    @property
    def interval(self) -> float:
        """Seconds between two requests at this rate."""
        return self.period / self.count

    @property
    def per_second(self) -> float:
        """Requests per second."""
        return self.count / self.period

    def __str__(self) -> str:
        # In the largest whole unit, the way limits are written: "1/day", "10/minute", "20/1s".
        for unit, seconds in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
            multiple = self.period / seconds
            if multiple >= 1 and multiple == int(multiple):
                return (
                    f"{self.count}/{unit}"
                    if multiple == 1
                    else f"{self.count}/{multiple:g} {unit}s"
                )
        return f"{self.count}/{self.period:g}s"


def parse_rate(text: str) -> Rate:
    """Parse ``"30/minute"``, ``"5/second"``, ``"1000/hour"``, ``"10/5s"`` into a :class:`Rate`."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    unit = _UNITS.get(match.group(3).lower()) if match else None
    if match is None or unit is None or int(match.group(1)) < 1:
        raise ConfigurationError(
            f"rate {text!r} is not like '30/minute', '5/second' or '1000/hour'"
        )
    multiple = float(match.group(2)) if match.group(2) else 1.0
    if multiple <= 0:
        raise ConfigurationError(f"rate {text!r} has an empty period; write it like '30/minute'")
    return Rate(int(match.group(1)), multiple * unit)


def rate_hint(message: str | None) -> Rate | None:
    """A limit named in an error message, e.g. ``"Rate limit exceeded: 10/minute"``."""
    if not message:
        return None
    match = _HINT.search(message)
    if match is None or match.group(3).lower() not in _UNITS or int(match.group(1)) < 1:
        return None
    multiple = float(match.group(2)) if match.group(2) else 1.0
    return (
        Rate(int(match.group(1)), multiple * _UNITS[match.group(3).lower()]) if multiple else None
    )


def gcra(
    tat: float, now: float, interval: float, tolerance: float, slack: float = 0.0
) -> tuple[float, float]:
    """One GCRA decision: ``(wait, new_tat)``.

    ``tat`` is the bucket's theoretical arrival time; a request may go once ``now`` reaches
    ``tat - tolerance``. When ``wait`` is 0 the request is granted and ``new_tat`` is the
    state to store; otherwise nothing changes and ``wait`` says how long until it would be.

    ``slack`` credits a waiter that woke up late (timers overshoot by a millisecond or so):
    up to ``slack`` seconds after its slot it still takes that slot, not a new one, so the long
    run rate is the configured one instead of losing every overshoot. Keep it within the
    safety margin, so no window of the limit's period ever holds an extra request.
    """
    base = tat if tat >= now - slack else now
    allow_at = base - tolerance
    if now < allow_at:
        return allow_at - now, tat
    return 0.0, base + interval


QUOTA_WINDOW = 3600.0
"""A limit whose window is this long or longer (hours, days) is a quota, not a pace (seconds)."""


def is_quota(rate: Rate) -> bool:
    """Whether ``rate`` is a quota (``1000/day``) rather than a pace (``20/second``).

    Spreading a day's quota evenly would allow one request every 86 seconds: a quota is
    tracked instead, and only the server saying it is spent stops requests.
    """
    return rate.period >= QUOTA_WINDOW


@attrs.frozen
class Feedback:
    """What a reply says about the limit: pause for ``pause`` seconds, and/or a ``limit``.

    ``detail`` says what the headers said, in numbers (for error messages and logs).
    """

    pause: float | None = None
    limit: Rate | None = None
    detail: str = ""


def _dict_params(value: str) -> dict[str, str]:
    """``'limit=100, remaining=0, reset=30'`` or ``'"default";r=0;t=30'`` into a dict."""
    out: dict[str, str] = {}
    for part in re.split(r"[;,]", value):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip().lower()] = val.strip().strip('"')
    return out


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is None or math.isfinite(number) else None


def feedback_from_headers(headers: Mapping[str, str], *, wall_now: float) -> Feedback | None:
    """Read ``X-RateLimit-Remaining/Reset`` and the IETF ``RateLimit``/``RateLimit-Policy``.

    A bucket that the server says is empty (remaining 0) pauses until its reset; a policy such
    as ``"default";q=100;w=60`` names the limit. ``wall_now`` is epoch seconds, for resets
    given as epoch timestamps.
    """
    remaining = _number(header(headers, "X-RateLimit-Remaining"))
    reset = _number(header(headers, "X-RateLimit-Reset"))
    combined = header(headers, "RateLimit")
    if combined is not None:
        params = _dict_params(combined)
        remaining = _number(params.get("remaining", params.get("r")))
        reset = _number(params.get("reset", params.get("t")))
    else:
        remaining = (
            remaining if remaining is not None else _number(header(headers, "RateLimit-Remaining"))
        )
        reset = reset if reset is not None else _number(header(headers, "RateLimit-Reset"))
    limit = None
    policy = header(headers, "RateLimit-Policy")
    if policy is not None:
        params = _dict_params(policy)
        quota = _number(params.get("q", params.get("quota")))
        window = _number(params.get("w", params.get("window")))
        if quota is None:  # the older draft: "100;w=60"
            quota = _number(policy.split(";", 1)[0].split(",", 1)[0].strip())
        if quota and quota >= 1 and window and window > 0:
            limit = Rate(int(quota), window)
    pause = None
    details = []
    if remaining is not None and remaining <= 0 and reset is not None:
        # Resets above a billion are epoch timestamps (above a trillion, in milliseconds).
        if reset > 1e12:
            reset = reset / 1000.0
        pause = max(0.0, reset - wall_now if reset > 1e9 else reset)
        details.append(f"remaining 0, reset in {pause:.0f}s")
    if limit is not None:
        details.append(f"RateLimit-Policy {limit}")
    if pause is None and limit is None:
        return None
    return Feedback(pause=pause, limit=limit, detail=", ".join(details))


@attrs.define
class AdaptiveRate:
    """The rate a bucket runs at: the configured one, lowered by 429s, recovering over time.

    A 429 halves the rate (never below ``floor`` of the configured rate) and remembers the
    rate that was hit; the rate then climbs back linearly, by a tenth of the configured rate
    per period, to just under the rate that was hit, and only after ``calm_periods`` without a
    429 does it probe higher, up to the configured rate. A limit the server names (a hint)
    replaces the configured rate instead.
    """

    target: Rate
    margin: float = 0.03
    floor: float = 0.02
    calm_periods: float = 10.0
    best: float = attrs.field(init=False)
    """The configured (or server-named) rate less the safety margin, per second."""
    current: float = attrs.field(init=False)  # requests per second
    ceiling: float | None = attrs.field(init=False, default=None)
    since: float = attrs.field(init=False, default=float("-inf"))
    _base: float = attrs.field(init=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        self.best = self.target.per_second * (1.0 - self.margin)
        self.current = self.best

    def interval(self, now: float) -> float:
        """Seconds per request at ``now``, after recovering for the time since the last 429."""
        best = self.best
        if self.current < best:
            periods = (now - self.since) / self.target.period
            cap = best
            if self.ceiling is not None and periods < self.calm_periods:
                cap = min(best, self.ceiling * 0.95)
            grown = self._base + periods * best * 0.1
            self.current = min(cap, max(self.current, grown))
        return 1.0 / self.current

    def hit(self, now: float, sent_at: float) -> None:
        """A 429 arrived for a request sent at ``sent_at``: slow to half the rate that was hit.

        Requests sent before the last slow-down were paced at the old rate; their 429s say
        nothing new, so they do not halve the rate again.
        """
        if sent_at < self.since:
            return
        rate = self.current
        self.ceiling = rate
        self.current = max(self.best * self.floor, rate * 0.5)
        self._base = self.current
        self.since = now

    def hold(self, until: float) -> None:
        """Start recovering only at ``until`` (the end of a pause), not during it."""
        self.since = max(self.since, until)

    def learn(self, limit: Rate, now: float) -> None:
        """The server named its limit: run just under it from now on (never above config).

        A named limit at or above the one in force changes nothing, so a header repeated on
        every reply does not hold back the recovery after a 429.
        """
        if limit.per_second >= self.target.per_second:
            return
        self.target = limit
        self.best = limit.per_second * (1.0 - self.margin)
        self.current = min(self.current, self.best)
        self._base = self.current
        self.since = max(self.since, now)


class SendMeter:
    """How fast requests are being sent, so a 429 without a number can become a pace.

    A smoothed rate over one-second buckets, as botocore's adaptive mode measures it.

    :meth:`tick` is on the hot path of every request of an unpaced route: two comparisons and
    an increment; the arithmetic happens once a second in :meth:`roll`.
    """

    __slots__ = ("count", "measured", "start")

    BUCKET = 1.0
    SMOOTHING = 0.8  # weight of the newest bucket

    def __init__(self) -> None:
        self.count = 0
        self.start = -math.inf
        self.measured = 0.0

    def tick(self, now: float) -> None:
        """Count one request sent at ``now``."""
        if now - self.start >= 1.0:
            self.roll(now)
        self.count += 1

    def roll(self, now: float) -> None:
        """Close the current bucket into the smoothed rate and start a new one at ``now``."""
        if self.count and math.isfinite(self.start):
            sample = self.count / (now - self.start)
            w = self.SMOOTHING
            self.measured = sample if not self.measured else w * sample + (1 - w) * self.measured
        self.count = 0
        self.start = now

    def rate(self, now: float) -> float:
        """Requests per second being sent around ``now``.

        A burst inside the current bucket counts as that many in one second (a 36-request burst
        in 30 ms is 36/s, not 1200/s: the server's window is rarely shorter than a second).
        """
        partial = self.count / max(now - self.start, self.BUCKET) if self.count else 0.0
        return max(self.measured, partial)


CALM = 60.0
"""Seconds without news from the server before a learned pace is probed upward."""
MIN_LEARNED_RATE = 1.0 / 60.0
"""The slowest pace a 429 without a number can teach (requests per second)."""


@attrs.define
class LearnedRate:
    """The pace of a route nobody documented, learned from what the server said. Pure.

    Unpaced until the server names a limit (``name``: a 429 message, ``RateLimit-Policy``) or
    refuses a request without one (``hit``: the rate that was being sent, halved). It recovers
    on its own: after a hit it climbs back, by a tenth of the rate that was hit per period, to
    just under it; after ``CALM`` seconds (or ten periods) without news it probes higher, and
    once it reaches twice the learned rate it is unpaced again (:meth:`rate` returns None).
    """

    margin: float = 0.03
    named: Rate | None = None
    """The limit the server named, if it did."""
    ceiling: float = math.inf
    """The rate (per second) the server last refused without naming a limit."""
    base: float = math.inf
    """The rate resumed at after the last signal."""
    since: float = -math.inf
    """When recovery started: the end of the last pause."""
    heard: float = -math.inf
    """When the server last repeated its named limit."""

    @property
    def period(self) -> float:
        """The time scale of recovery: the named limit's window, within 1 s .. 60 s."""
        return min(60.0, max(1.0, self.named.period)) if self.named is not None else 1.0

    def rate(self, now: float) -> float | None:
        """Requests per second at ``now``, or None when the route is not paced."""
        named = self.named.per_second if self.named is not None else math.inf
        ref = min(self.ceiling, named)
        if ref == math.inf:
            return None
        cap = min(0.95 * self.ceiling, named * (1.0 - self.margin))
        period = self.period
        climb = 0.1 * ref / period  # per second
        elapsed = now - self.since
        rate = self.base if elapsed <= 0 else min(cap, self.base + climb * elapsed)
        quiet = now - max(self.since, self.heard) - max(CALM, 10.0 * period)
        if quiet > 0:
            rate = max(rate, cap + climb * quiet)
        return None if rate >= 2.0 * ref else rate

    def hit(self, now: float, sent_at: float, send_rate: float) -> bool:
        """A 429 without a number for a request sent at ``sent_at``: halve the rate that was hit.

        That rate is the pace in force or the rate requests were being sent at, whichever is
        lower. Requests sent before the last slow-down say nothing new (their 429s were already
        answered): False, and nothing changes.
        """
        if sent_at < self.since:
            return False
        current = self.rate(now)
        hit = min(current if current is not None else math.inf, send_rate)
        if not (0 < hit < math.inf):
            hit = 1.0  # nothing measured: one a second is a start; it recovers from there
        self.ceiling = hit
        self.base = max(MIN_LEARNED_RATE, 0.5 * hit)
        self.since = now
        return True

    def name(self, limit: Rate, now: float) -> None:
        """The server named its limit: run just under it from now on.

        The same limit named again (a header on every reply) only keeps it fresh, so it does
        not hold back the recovery after a 429.
        """
        if limit == self.named:
            self.heard = now
            return
        pace = limit.per_second * (1.0 - self.margin)
        current = self.rate(now)
        self.named = limit
        self.ceiling = math.inf
        self.base = min(pace, current) if current is not None else pace
        self.since = max(self.since, now)
        self.heard = now

    def hold(self, until: float) -> None:
        """Start recovering only at ``until`` (the end of a pause), not during it."""
        self.since = max(self.since, until)
