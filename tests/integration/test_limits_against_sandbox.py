"""A default session against the sandbox: unknown limits are not invented, only learned."""

from __future__ import annotations

import asyncio

import calleague_async as ca
from calleague_async._routes import ROUTES
from calleague_async.testing import SandboxServer
from tests.integration.conftest import Sleeps

AGENT = "ag_123"


async def test_sixty_concurrent_gets_on_a_default_session_are_not_paced() -> None:
    async with (
        SandboxServer(calls=5) as sb,  # a server that never limits
        ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url) as s,
    ):
        assert s._limiter is not None
        s._limiter._sleep = limiter_sleeps = Sleeps()
        s._sleep = retry_sleeps = Sleeps()
        calls = await asyncio.gather(*(s.calls.get("cl_8f2a") for _ in range(60)))
        assert s._limiter.buckets(ROUTES["calls.get"]) == ()
    assert [c.call_id for c in calls] == ["cl_8f2a"] * 60
    assert len(sb.requests) == 60  # every one sent, none refused
    assert sb.rate_limited == 0
    assert limiter_sleeps == [] and retry_sleeps == []  # the limiter never held one back


async def test_a_default_session_learns_an_unknown_dial_limit_dialing_nobody_twice() -> None:
    # Real time, one test for the behaviour (rates are measured in benchmarks/bench_limiter.py).
    numbers = [f"+9055510{i:05d}" for i in range(60)]
    async with (
        SandboxServer(calls=5, route_rate_limits={"calls.start": "20/1"}) as sb,
        ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url) as s,
    ):
        leads = [{"agent_id": AGENT, "to": to} for to in numbers]
        results = [r async for r in s.calls.start_many(leads, concurrency=16)]
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert {to: sb.dials[to] for to in numbers} == dict.fromkeys(numbers, 1)  # each once
    starts = [r for r in sb.requests if r.method == "POST"]
    # The 429s of the first burst (at most the calls in flight) teach the limit; then none.
    assert sb.rate_limited <= 16
    assert sb.rate_limited / len(starts) < 0.25


async def test_batches_and_listings_queue_past_max_wait_where_single_calls_fail_fast() -> None:
    async with (
        SandboxServer(calls=60) as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits={
                "POST /api/core/voice/agent/call": "8/second",
                "GET /api/core/voice/call/list": "8/second",
            },
            max_wait=0.2,  # shorter than two requests' spacing in a queue
        ) as s,
    ):
        leads = [{"agent_id": AGENT, "to": f"+9055520{i:05d}"} for i in range(5)]
        results = [r async for r in s.calls.start_many(leads, concurrency=5)]
        assert all(r.ok for r in results)  # queued behind each other: none refused
        listed = [c async for c in s.calls.list(page_size=10, concurrency=4)]
        assert len(listed) == 60 + 5  # the seeded calls and the five just placed
        singles = await asyncio.gather(
            *(s.calls.start(agent_id=AGENT, to=f"+9055530{i:05d}") for i in range(5)),
            return_exceptions=True,
        )
    refused = [r for r in singles if isinstance(r, ca.LimiterTimeoutError)]
    assert refused and "request(s) ahead in the queue" in refused[0].reason
    assert sum(sb.dials.values()) == 5 + len(singles) - len(refused)
