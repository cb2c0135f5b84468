"""The limiter on fake time: rate strings, GCRA, FIFO, cancellation, pauses, adaptation."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

import calleague_async as ca
from calleague_async._limits import (
    DEFAULT_MAX_WAIT,
    DEFAULT_RATE_LIMITS,
    MAX_PAUSE,
    AdaptiveRate,
    LearnedRate,
    Limiter,
    MemoryStore,
    Rate,
    parse_limits,
    parse_rate,
    queueing,
    scope_id,
)
from calleague_async._limits._rate import feedback_from_headers, gcra, rate_hint
from calleague_async._routes import ROUTES, Route, RouteTable, seed_002_limit
from tests.conftest import VirtualClock

GET = ROUTES["calls.get"]
LIST = ROUTES["calls.list"]
START = ROUTES["calls.start"]


_SCOPES = itertools.count()


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


def limiter(vclock: VirtualClock, limits: dict[str, str], **kw: Any) -> Limiter:
    # A fresh scope per limiter: what sessions of one key learn is shared process-wide.
    kw.setdefault("scope", f"test-{next(_SCOPES)}")
    return Limiter(
        parse_limits(limits),
        routes=RouteTable(),
        store=MemoryStore(),
        clock=vclock.time,
        sleep=vclock.sleep,
        **kw,
    )


# --- pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [
        ("30/minute", 30, 60.0),
        ("5/second", 5, 1.0),
        ("1000/hour", 1000, 3600.0),
        ("10/5s", 10, 5.0),
        (" 7 / min ", 7, 60.0),
        ("2/day", 2, 86400.0),
    ],
)
def test_rate_strings(text: str, count: int, period: float) -> None:
    assert parse_rate(text) == Rate(count, period)


@pytest.mark.parametrize("bad", ["30", "30/fortnight", "0/minute", "x/second", "30/0s", ""])
def test_bad_rate_strings_are_configuration_errors(bad: str) -> None:
    with pytest.raises(ca.ConfigurationError, match="30/minute"):
        parse_rate(bad)


CALLEAGUE = [r for r in ROUTES.values() if r.path.startswith("/api/core/")]
SEED_002 = [r for r in ROUTES.values() if not r.path.startswith("/api/core/")]


def test_defaults_are_only_documented_limits_and_calleague_documents_none() -> None:
    # Seed 002's "100/minute" and its table belong to seed 002's routes, not Calleague's.
    assert CALLEAGUE and SEED_002
    assert all(route.documented_limit is None for route in CALLEAGUE)
    assert all(route.documented_limit is not None for route in SEED_002)
    defaults = dict(DEFAULT_RATE_LIMITS)
    assert not any(key in defaults for key in (r.key for r in CALLEAGUE))
    assert defaults["POST /v1/contacts/bulk"] == "10/minute"
    assert "default" not in defaults


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Rate(1, 86400.0), "1/day"),
        (Rate(1, 31536000.0), "1/365 days"),
        (Rate(10, 60.0), "10/minute"),
        (Rate(100, 900.0), "100/15 minutes"),
        (Rate(20, 1.0), "20/1s"),
        (Rate(5, 90.0), "5/90s"),
    ],
)
def test_rates_read_the_way_limits_are_written_and_parse_back(rate: Rate, text: str) -> None:
    assert str(rate) == text
    assert parse_rate(text) == rate


def test_hint_in_a_429_message() -> None:
    assert rate_hint("Rate limit exceeded: 10/minute") == Rate(10, 60.0)
    assert rate_hint("limit is 5 requests per second") == Rate(5, 1.0)
    assert rate_hint("slow down") is None
    assert rate_hint(None) is None


def test_gcra_grants_then_spaces_requests() -> None:
    assert gcra(tat=0.0, now=10.0, interval=2.0, tolerance=0.0) == (0.0, 12.0)
    wait, tat = gcra(tat=12.0, now=10.5, interval=2.0, tolerance=0.0)
    assert (wait, tat) == (1.5, 12.0)  # refused: state unchanged
    assert gcra(tat=12.0, now=10.5, interval=2.0, tolerance=4.0) == (0.0, 14.0)  # burst


def test_headers_x_ratelimit_remaining_zero_pauses_until_reset() -> None:
    fb = feedback_from_headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7"}, wall_now=0)
    assert fb is not None and fb.pause == 7.0
    epoch = feedback_from_headers(
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1800000010"}, wall_now=1800000000
    )
    assert epoch is not None and epoch.pause == 10.0
    assert (
        feedback_from_headers({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "7"}, wall_now=0)
        is None
    )
    assert feedback_from_headers({}, wall_now=0) is None


def test_headers_ietf_ratelimit_and_policy() -> None:
    fb = feedback_from_headers(
        {"RateLimit": '"default";r=0;t=12', "RateLimit-Policy": '"default";q=100;w=60'}, wall_now=0
    )
    assert fb is not None
    assert (fb.pause, fb.limit) == (12.0, Rate(100, 60.0))
    older = feedback_from_headers(
        {"RateLimit": "limit=10, remaining=0, reset=3", "RateLimit-Policy": "10;w=1"}, wall_now=0
    )
    assert older is not None and (older.pause, older.limit) == (3.0, Rate(10, 1.0))


def test_adaptive_rate_halves_on_429_and_recovers_below_the_rate_hit() -> None:
    rate = AdaptiveRate(Rate(100, 1.0), margin=0.0)
    assert rate.interval(0.0) == pytest.approx(0.01)
    rate.hit(now=10.0, sent_at=9.9)
    assert 1 / rate.interval(10.0) == pytest.approx(50.0)
    rate.hit(now=10.1, sent_at=9.95)  # sent before the slow-down: says nothing new
    assert 1 / rate.interval(10.1) == pytest.approx(50.0, rel=0.05)
    assert 1 / rate.interval(13.0) == pytest.approx(80.0)  # +10% of the limit per period
    assert 1 / rate.interval(15.0) == pytest.approx(95.0)  # capped under the rate that was hit
    assert 1 / rate.interval(19.0) == pytest.approx(95.0)
    assert 1 / rate.interval(30.0) == pytest.approx(100.0)  # after calm periods, full rate


def test_adaptive_rate_learns_a_named_limit() -> None:
    rate = AdaptiveRate(Rate(100, 60.0), margin=0.03)
    rate.learn(Rate(10, 60.0), now=0.0)
    assert rate.interval(1000.0) == pytest.approx(6.0 / 0.97)


def test_scope_id_hides_the_key() -> None:
    sid = scope_id("sk_live_secret")
    assert "sk_live_secret" not in sid and len(sid) == 32
    assert sid == scope_id("sk_live_secret") != scope_id("sk_live_other")
    assert scope_id("sk_a", "workspace-1") == scope_id("sk_b", "workspace-1")


def test_unknown_limit_keys_are_refused(vclock: VirtualClock) -> None:
    with pytest.raises(ca.ConfigurationError, match="unknown rate limit key"):
        limiter(vclock, {"GET /api/nope": "1/second"})
    with pytest.raises(ca.ConfigurationError, match="burst"):
        limiter(vclock, {"default": "1/second"}, burst=0)


# --- pacing on fake time -------------------------------------------------------------------


async def test_keeps_a_configured_limit_using_over_95_percent(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "30/minute"})
    grants: list[float] = []

    async def one() -> None:
        grants.append(await lim.acquire(GET))

    await vclock.run(*(one() for _ in range(121)))
    span = grants[-1] - grants[0]
    assert span == pytest.approx(120 * 2.0 / 0.97)  # 3% under the limit, evenly spaced
    # No 60 s window ever holds more than 30 requests, and the limit is used >= 95%.
    assert max(sum(1 for g in grants if t <= g < t + 60) for t in grants) <= 30
    assert (120 / span) / 0.5 >= 0.95


async def test_route_and_default_buckets_are_taken_both_or_neither(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "60/minute", "POST /api/core/voice/agent/call": "6/minute"})
    starts: list[float] = []
    gets: list[float] = []

    async def start() -> None:
        starts.append(await lim.acquire(START))

    async def get() -> None:
        gets.append(await lim.acquire(GET))

    await vclock.run(*(start() for _ in range(5)), *(get() for _ in range(40)))
    assert all(b - a >= 10 / 0.97 - 1e-9 for a, b in itertools.pairwise(starts))
    every = sorted(starts + gets)
    assert all(b - a >= 1 / 0.97 - 1e-9 for a, b in itertools.pairwise(every))


async def test_waiters_are_served_first_come_first_served(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "1/second"})
    order: list[int] = []

    async def one(i: int) -> None:
        await lim.acquire(GET)
        order.append(i)

    await vclock.run(*(one(i) for i in range(25)))
    assert order == list(range(25))


async def test_a_cancelled_waiter_takes_no_token_and_blocks_nobody(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "1/second"}, margin=0.0)
    grants: dict[int, float] = {}

    async def one(i: int) -> None:
        grants[i] = await lim.acquire(GET)

    tasks = [asyncio.ensure_future(one(i)) for i in range(5)]
    await asyncio.sleep(0)
    tasks[2].cancel()
    await vclock.run(*tasks)
    assert sorted(grants) == [0, 1, 3, 4]
    assert [grants[i] for i in (0, 1, 3, 4)] == [0.0, 1.0, 2.0, 3.0]


async def test_max_wait_fails_fast_without_taking_a_token(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "1/second"}, margin=0.0, max_wait=2.5)
    results: list[Any] = []

    async def one() -> None:
        try:
            results.append(await lim.acquire(GET))
        except ca.LimiterTimeoutError as exc:
            results.append(exc)

    await vclock.run(*(one() for _ in range(6)))
    granted = [r for r in results if isinstance(r, float)]
    refused = [r for r in results if isinstance(r, ca.LimiterTimeoutError)]
    assert granted == [0.0, 1.0, 2.0]
    assert len(refused) == 3
    assert (
        isinstance(refused[0], TimeoutError)
        and refused[0].route == "GET /api/core/voice/call/{call_id}"
    )
    # Refused callers took nothing: the next request goes at once when its slot comes.
    vclock.now = 3.0
    assert await lim.acquire(GET) == 3.0


async def test_burst_lets_several_go_at_once(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "1/second"}, margin=0.0, burst=4)
    grants: list[float] = []

    async def one() -> None:
        grants.append(await lim.acquire(GET))

    await vclock.run(*(one() for _ in range(6)))
    assert grants == [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]


async def test_limiter_off_for_routes_without_buckets(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"POST /api/core/voice/agent/call": "1/minute"})
    assert lim.buckets(GET) == ()
    assert lim.buckets(START) == ("POST /api/core/voice/agent/call",)


async def test_two_limiters_with_one_key_share_buckets(vclock: VirtualClock) -> None:
    store = MemoryStore()
    a = Limiter(
        parse_limits({"default": "1/second"}),
        routes=RouteTable(),
        scope="same",
        store=store,
        margin=0.0,
        clock=vclock.time,
        sleep=vclock.sleep,
    )
    b = Limiter(
        parse_limits({"default": "1/second"}),
        routes=RouteTable(),
        scope="same",
        store=store,
        margin=0.0,
        clock=vclock.time,
        sleep=vclock.sleep,
    )
    got = await vclock.run(a.acquire(GET), b.acquire(GET), a.acquire(GET))
    assert sorted(got) == [0.0, 1.0, 2.0]


# --- feedback from replies -----------------------------------------------------------------


async def test_429_pauses_the_bucket_until_retry_after(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "10/second"}, margin=0.0)
    assert await lim.acquire(GET) == 0.0
    await lim.rate_limited(GET, retry_after=5.0, message="slow down", sent_at=0.0)
    [granted] = await vclock.run(lim.acquire(GET))
    assert granted == pytest.approx(5.0)
    # ... and it resumes below the rate that was hit.
    [after] = await vclock.run(lim.acquire(GET))
    assert after - granted == pytest.approx(0.2)


async def test_429_without_retry_after_pauses_a_growing_jittered_wait(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "100/second"}, margin=0.0)
    pauses = []
    for _ in range(4):
        start = vclock.now
        # Each 429 answers a request sent after the last pause (the retry of the one before).
        await lim.rate_limited(GET, retry_after=None, message=None, sent_at=vclock.now)
        [granted] = await vclock.run(lim.acquire(GET))
        pauses.append(granted - start)
    assert 0.5 <= pauses[0] <= 1.0 and 4.0 <= pauses[3] <= 8.0
    assert pauses[3] > pauses[0]


async def test_429_message_naming_the_limit_is_learned(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "100/minute"}, margin=0.0)
    await lim.rate_limited(
        GET, retry_after=0.0, message="Rate limit exceeded: 10/minute", sent_at=0.0
    )
    got = await vclock.run(*(lim.acquire(GET) for _ in range(3)))
    assert got[2] - got[1] == pytest.approx(6.0)


async def test_headers_saying_the_bucket_is_empty_pause_it(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "100/second"}, margin=0.0)
    pause = lim.observe(GET, 200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"})
    assert pause is not None
    await pause
    [granted] = await vclock.run(lim.acquire(GET))
    assert granted == pytest.approx(3.0)
    assert lim.observe(GET, 200, {"X-RateLimit-Remaining": "40"}) is None


def test_gcra_credits_a_late_wake_up_within_slack_only() -> None:
    # Woke 1 ms after its slot at t=10: keeps the slot, so the next one stays at 12.
    assert gcra(tat=10.0, now=10.001, interval=2.0, tolerance=0.0, slack=0.05) == (0.0, 12.0)
    # Long idle: no credit, no burst.
    assert gcra(tat=10.0, now=30.0, interval=2.0, tolerance=0.0, slack=0.05) == (0.0, 32.0)


async def test_late_wake_ups_do_not_lower_the_rate(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "50/second"})
    real_sleep = vclock.sleep

    async def late_sleep(seconds: float) -> None:
        await real_sleep(seconds + 0.001)  # every timer fires a millisecond late

    lim._sleep = late_sleep
    grants = await vclock.run(*(lim.acquire(GET) for _ in range(501)))
    rate = 500 / (max(grants) - min(grants))
    assert rate == pytest.approx(50 * 0.97, rel=0.01)
    assert max(sum(1 for g in grants if t <= g < t + 1.0) for t in grants) <= 50


@pytest.mark.parametrize(("count", "period"), [(1, 1.0), (5, 60.0), (30, 60.0), (100, 1.0)])
async def test_no_window_ever_holds_more_than_the_limit_despite_late_timers(
    vclock: VirtualClock, count: int, period: float
) -> None:
    rng = random.Random(count)
    lim = limiter(vclock, {"default": f"{count}/{period:g}s"})
    real_sleep = vclock.sleep

    async def jittery_sleep(seconds: float) -> None:
        await real_sleep(seconds + rng.uniform(0, 0.05 * period))  # up to 5% of a window late

    lim._sleep = jittery_sleep
    grants = sorted(await vclock.run(*(lim.acquire(GET) for _ in range(count * 5))))
    assert max(sum(1 for g in grants if t <= g < t + period) for t in grants) <= count


async def test_a_run_of_429s_without_retry_after_grows_the_pause(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "100/second"}, margin=0.0)
    pauses = []
    for _ in range(4):
        start = vclock.now
        # The session shows every reply to observe() first, the 429 included.
        assert lim.observe(GET, 429, {}) is None
        await lim.rate_limited(GET, retry_after=None, message=None, sent_at=vclock.now)
        [granted] = await vclock.run(lim.acquire(GET))
        pauses.append(granted - start)
    assert pauses[3] >= 4.0 > 1.0 >= pauses[0]
    lim.observe(GET, 200, {})  # a success ends the run
    start = vclock.now
    await lim.rate_limited(GET, retry_after=None, message=None, sent_at=vclock.now)
    [granted] = await vclock.run(lim.acquire(GET))
    assert granted - start <= 1.0


async def test_absurd_resets_never_freeze_a_bucket(vclock: VirtualClock) -> None:
    lim = limiter(vclock, {"default": "100/second"}, margin=0.0)
    wall = 1_800_000_000.0
    lim._wall = lambda: wall
    # A reset in epoch milliseconds, two seconds away:
    pause = lim.observe(
        GET, 200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int((wall + 2) * 1000))}
    )
    assert pause is not None
    await pause
    [granted] = await vclock.run(lim.acquire(GET))
    assert granted == pytest.approx(2.0)
    # A reset a century away is capped, and logged:
    pause = lim.observe(GET, 200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4e9"})
    assert pause is not None
    await pause
    [granted] = await vclock.run(lim.acquire(GET))
    assert granted - 2.0 <= 600.0 + 1e-6
    assert feedback_from_headers({"RateLimit": "r=0, t=inf"}, wall_now=0) is None


def test_a_policy_header_at_the_configured_limit_does_not_stall_recovery() -> None:
    rate = AdaptiveRate(Rate(100, 1.0), margin=0.0)
    rate.hit(now=0.0, sent_at=0.0)
    for t in range(1, 40):
        rate.learn(Rate(100, 1.0), now=float(t))  # the header on every reply
    assert 1 / rate.interval(40.0) == pytest.approx(100.0)


# --- adaptive by default: nothing invented, everything learned is bounded -----------------


def session_limiter(vclock: VirtualClock, **options: Any) -> Limiter:
    """The limiter of a session built with the defaults, on fake time (a fresh key each)."""
    session = ca.AsyncSession(api_key=f"sk_test_{uuid.uuid4().hex}", **options)
    lim = session._limiter
    assert lim is not None
    lim._clock, lim._sleep = vclock.time, vclock.sleep
    return lim


async def test_a_default_session_does_not_pace_routes_with_no_known_limit(
    vclock: VirtualClock,
) -> None:
    lim = session_limiter(vclock)
    for route in CALLEAGUE:
        assert lim.buckets(route) == ()
    for route in SEED_002:  # documented: paced from the first request
        assert lim.buckets(route) != ()
    # 60 concurrent calls.get against a server that never limits: all at once, nobody sleeps.
    grants = await vclock.run(*(lim.acquire(GET) for _ in range(60)))
    assert grants == [0.0] * 60
    assert vclock.now == 0.0


async def test_a_429_without_a_number_paces_at_half_the_rate_being_sent(
    vclock: VirtualClock,
) -> None:
    lim = session_limiter(vclock)
    for i in range(30):  # 30 requests a second, unpaced
        vclock.now = i / 30
        assert lim.try_now(GET) == vclock.now
    vclock.now = 1.0
    await lim.rate_limited(GET, retry_after=1.0, message="Too many requests", sent_at=29 / 30)
    assert lim.buckets(GET) == (GET.key,)
    grants = await vclock.run(*(lim.acquire(GET) for _ in range(6)))
    assert grants[0] == pytest.approx(2.0)  # after Retry-After
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert gaps[0] == pytest.approx(1 / 15, rel=0.02)  # half the 30/s that was being sent
    assert all(1 / 28.5 <= gap <= 1 / 15 + 1e-9 for gap in gaps)  # climbing back, under 30/s


async def test_429s_of_requests_in_flight_together_slow_the_pace_once(
    vclock: VirtualClock,
) -> None:
    lim = session_limiter(vclock)
    for _ in range(40):
        assert lim.try_now(GET) == 0.0  # a burst of 40 within one instant
    for _ in range(16):  # their 429s come back one by one
        await lim.rate_limited(GET, retry_after=1.0, message=None, sent_at=0.0)
    got = await vclock.run(*(lim.acquire(GET) for _ in range(3)))
    assert got[1] - got[0] == pytest.approx(1 / 20, rel=0.02)  # 40/s halved, not 40/s / 2**16


async def test_a_429_naming_the_limit_teaches_an_unknown_route(vclock: VirtualClock) -> None:
    lim = session_limiter(vclock, max_wait=None)
    await lim.rate_limited(
        GET, retry_after=0.0, message="Rate limit exceeded: 10/minute", sent_at=0.0
    )
    got = await vclock.run(*(lim.acquire(GET) for _ in range(3)))
    assert got[2] - got[1] == pytest.approx(6.0 / 0.97)  # the named limit, 3% under
    assert lim.buckets(LIST) == ()  # the other routes are not slowed


async def test_rate_limit_headers_teach_an_unknown_route(vclock: VirtualClock) -> None:
    lim = session_limiter(vclock)
    assert lim.observe(GET, 200, {"RateLimit-Policy": '"burst";q=5;w=1'}) is None
    got = await vclock.run(*(lim.acquire(GET) for _ in range(3)))
    assert got[2] - got[1] == pytest.approx(1 / (5 * 0.97))
    pause = lim.observe(LIST, 200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"})
    assert pause is not None
    await pause
    start = vclock.now
    [granted] = await vclock.run(lim.acquire(LIST))
    assert granted - start == pytest.approx(3.0)
    # A pause taught no pace: once it is over the route is unpaced again.
    assert await vclock.run(*(lim.acquire(LIST) for _ in range(3))) == [granted] * 3
    assert lim.buckets(LIST) == ()


async def test_a_learned_pace_recovers_until_the_route_is_unpaced_again(
    vclock: VirtualClock,
) -> None:
    lim = session_limiter(vclock)
    await lim.rate_limited(GET, retry_after=1.0, message="Rate limit exceeded: 2/1s", sent_at=0.0)
    paced = await vclock.run(*(lim.acquire(GET) for _ in range(3)))
    assert paced[2] - paced[1] == pytest.approx(1 / (2 * 0.97))
    vclock.now = 30.0  # the server has said nothing since: still paced
    assert lim.buckets(GET) == (GET.key,)
    vclock.now = 200.0  # a long quiet: the pace has been probed up and dropped
    assert lim.try_now(GET) == 200.0
    assert lim.buckets(GET) == ()
    assert await vclock.run(*(lim.acquire(GET) for _ in range(20))) == [200.0] * 20


def test_learned_rate_climbs_back_then_probes_then_lets_go() -> None:
    rate = LearnedRate(margin=0.0)
    assert rate.rate(0.0) is None  # nothing learned: not paced
    assert rate.hit(now=0.0, sent_at=0.0, send_rate=40.0)
    assert rate.rate(0.0) == pytest.approx(20.0)
    assert not rate.hit(now=0.5, sent_at=-0.1, send_rate=40.0)  # in flight before: ignored
    assert rate.rate(5.0) == pytest.approx(38.0)  # climbs back to just under the rate hit
    assert rate.rate(50.0) == pytest.approx(38.0)  # and holds while it is recent
    probing = rate.rate(65.0)
    assert probing is not None and probing > 38.0
    assert rate.rate(80.0) is None  # twice the rate once refused: unpaced again


async def test_retry_after_3600_fails_the_next_call_at_once_with_the_reason(
    vclock: VirtualClock,
) -> None:
    lim = session_limiter(vclock)
    await lim.rate_limited(GET, retry_after=3600.0, message="Too many requests", sent_at=0.0)
    with pytest.raises(ca.LimiterTimeoutError) as info:
        await lim.acquire(GET)
    assert vclock.now == 0.0  # raised before any sleeping
    error = info.value
    assert error.max_wait == DEFAULT_MAX_WAIT
    assert error.wait == pytest.approx(MAX_PAUSE)  # one reply pauses a bucket 600 s at most
    assert "429 on GET /api/core/voice/call/{call_id} with Retry-After 3600s at 20" in error.reason
    assert error.reason in str(error)
    # The pause is bounded: after it, a request goes (and probes the server).
    vclock.now = MAX_PAUSE
    assert await lim.acquire(GET) == MAX_PAUSE


async def test_a_session_fails_the_call_after_retry_after_3600_at_once(
    mock: aioresponses, vclock: VirtualClock
) -> None:
    key = f"sk_live_{uuid.uuid4().hex}"
    url = "https://app.calleague.ai/api/core/voice/call/cl_8f2a"
    mock.get(url, status=429, headers={"Retry-After": "3600"}, payload={"detail": key})
    async with ca.AsyncSession(api_key=key) as s:
        assert s._limiter is not None
        s._limiter._sleep = s._sleep = vclock.sleep  # any sleep would park the call
        with pytest.raises(ca.RateLimitError):  # too long to retry: handed to the caller
            await asyncio.wait_for(s.calls.get("cl_8f2a"), 5)
        with pytest.raises(ca.LimiterTimeoutError) as info:
            await asyncio.wait_for(s.calls.get("cl_8f2a"), 5)
    assert len(mock.requests[("GET", URL(url))]) == 1  # the second call sent nothing
    assert "Retry-After 3600s" in info.value.reason
    assert key not in str(info.value) and key not in info.value.reason


async def test_a_yearly_policy_on_a_200_is_a_quota_not_a_pace(vclock: VirtualClock) -> None:
    lim = session_limiter(vclock)
    yearly = {"RateLimit-Policy": "1;w=31536000"}
    assert lim.observe(GET, 200, yearly) is None
    assert await vclock.run(*(lim.acquire(GET) for _ in range(10))) == [0.0] * 10
    assert lim.buckets(GET) == ()
    # ... until the server says the quota is spent: then calls fail fast instead of waiting.
    spent = {**yearly, "RateLimit": "r=0;t=31000000"}
    pause = lim.observe(GET, 200, spent)
    assert pause is not None
    await pause
    with pytest.raises(ca.LimiterTimeoutError) as info:
        await lim.acquire(GET)
    assert "said the limit is spent" in info.value.reason
    assert "quota is 1/365 days" in info.value.reason
    assert vclock.now == 0.0


async def test_a_429_naming_a_daily_quota_fails_fast_instead_of_pacing(
    vclock: VirtualClock,
) -> None:
    lim = session_limiter(vclock)
    await lim.rate_limited(GET, retry_after=None, message="Limit exceeded: 1/day", sent_at=0.0)
    with pytest.raises(ca.LimiterTimeoutError) as info:
        await lim.acquire(GET)
    assert "quota 1/day" in info.value.reason and vclock.now == 0.0
    vclock.now = MAX_PAUSE  # bounded: then one request probes the server
    assert await vclock.run(*(lim.acquire(GET) for _ in range(3))) == [MAX_PAUSE] * 3


def test_max_wait_has_a_finite_default_below_the_request_timeout() -> None:
    default = inspect.signature(ca.AsyncSession).parameters["max_wait"].default
    assert default == DEFAULT_MAX_WAIT
    assert 0 < DEFAULT_MAX_WAIT <= inspect.signature(ca.AsyncSession).parameters["timeout"].default
    session = ca.AsyncSession(api_key=f"sk_test_{uuid.uuid4().hex}")
    assert session._limiter is not None and session._limiter._max_wait == DEFAULT_MAX_WAIT


async def test_explicit_limits_pace_from_the_first_request_and_ignore_quota_policies(
    vclock: VirtualClock,
) -> None:
    lim = session_limiter(vclock, rate_limits={"default": "10/second"}, max_wait=None)
    assert lim.buckets(GET) == ("default",)
    lim.observe(GET, 200, {"RateLimit-Policy": "1;w=31536000"})  # a quota: not a pace
    got = await vclock.run(*(lim.acquire(GET) for _ in range(11)))
    assert got[-1] - got[0] == pytest.approx(10 * 0.1 / 0.97)


async def test_documented_limits_pace_their_routes_from_the_first_request(
    vclock: VirtualClock,
) -> None:
    # Seed 002's routes are not in the table yet: two of them, as the table will hold them.
    contacts = Route(
        "contacts.create", "POST", "/v1/contacts", idempotent=False,
        documented_limit=seed_002_limit("60/minute"),
    )  # fmt: skip
    stop = Route(
        "campaigns.stop", "POST", "/v1/campaigns/{id}/stop", idempotent=False,
        documented_limit=seed_002_limit(),
    )  # fmt: skip
    lim = limiter(vclock, {}, margin=0.0)
    assert lim.buckets(contacts) == ("POST /v1/contacts", "api:seed-002")
    assert lim.buckets(stop) == ("api:seed-002",)
    assert lim.buckets(GET) == ()  # seed 002's 100/minute is never Calleague's
    own = await vclock.run(*(lim.acquire(contacts) for _ in range(3)))
    assert own == [0.0, 1.0, 2.0]  # 60/minute from the first request
    shared = await vclock.run(*(lim.acquire(stop) for _ in range(2)))
    assert shared[1] - shared[0] == pytest.approx(0.6)  # 100/minute for all of seed 002


async def test_a_batch_queues_past_max_wait_but_fails_fast_on_long_pauses(
    vclock: VirtualClock,
) -> None:
    lim = limiter(vclock, {"default": "1/second"}, margin=0.0, max_wait=2.5)

    async def one() -> float:
        with queueing():
            return await lim.acquire(GET)

    # 30 queued behind a 1/s limit: a single request would fail after 3, a batch waits its turn.
    assert await vclock.run(*(one() for _ in range(30))) == [float(i) for i in range(30)]
    # A 60 s pause (a per-minute window's Retry-After) is ridden out by the batch ...
    await lim.rate_limited(GET, retry_after=60.0, message=None, sent_at=vclock.now)
    with pytest.raises(ca.LimiterTimeoutError):
        await lim.acquire(GET)  # ... that a single request is refused at once for,
    start = vclock.now
    [granted] = await vclock.run(one())
    assert granted - start == pytest.approx(60.0)
    # ... but an hour is not waited for: the batch's calls fail at once, nothing sent.
    await lim.rate_limited(GET, retry_after=3600.0, message=None, sent_at=vclock.now)
    start = vclock.now
    results = await asyncio.gather(*(one() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, ca.LimiterTimeoutError) for r in results)
    assert vclock.now == start
    assert "Retry-After 3600s" in str(results[0])
