"""The limiter on fake time: rate strings, GCRA, FIFO, cancellation, pauses, adaptation."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest

import calleague_async as ca
from calleague_async._limits import (
    DEFAULT_RATE_LIMITS,
    AdaptiveRate,
    Limiter,
    MemoryStore,
    Rate,
    parse_limits,
    parse_rate,
    scope_id,
)
from calleague_async._limits._rate import feedback_from_headers, gcra, rate_hint
from calleague_async._routes import ROUTES, RouteTable
from tests.conftest import VirtualClock

GET = ROUTES["calls.get"]
LIST = ROUTES["calls.list"]
START = ROUTES["calls.start"]


def limiter(vclock: VirtualClock, limits: dict[str, str], **kw: Any) -> Limiter:
    kw.setdefault("scope", f"test-{id(vclock)}-{len(limits)}")
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


def test_defaults_parse_and_follow_the_documented_table() -> None:
    parsed = parse_limits(DEFAULT_RATE_LIMITS)
    assert parsed["default"] == Rate(100, 60.0)
    assert parsed["POST /api/core/voice/agent/call"] == Rate(30, 60.0)


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
        await lim.rate_limited(GET, retry_after=None, message=None, sent_at=-1.0)
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
        await lim.rate_limited(GET, retry_after=None, message=None, sent_at=-1.0)
        [granted] = await vclock.run(lim.acquire(GET))
        pauses.append(granted - start)
    assert pauses[3] >= 4.0 > 1.0 >= pauses[0]
    lim.observe(GET, 200, {})  # a success ends the run
    start = vclock.now
    await lim.rate_limited(GET, retry_after=None, message=None, sent_at=-1.0)
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
