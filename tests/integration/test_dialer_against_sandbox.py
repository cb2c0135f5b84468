"""Rate limits, retries and batches against the sandbox: nobody dialed twice, limits kept."""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from collections.abc import AsyncIterator

import pytest

import calleague_async as ca
from calleague_async._limits import MemoryStore
from calleague_async.testing import Fault, SandboxServer
from tests.integration.conftest import Sleeps

AGENT = "ag_123"


def numbers(n: int) -> list[str]:
    return [f"+9055500{i:05d}" for i in range(n)]


@pytest.fixture
async def dialer(sandbox: SandboxServer) -> AsyncIterator[ca.AsyncSession]:
    async with ca.AsyncSession(
        api_key=sandbox.api_key, base_url=sandbox.base_url, rate_limits=None, max_retries=5
    ) as s:
        s._sleep = Sleeps()
        yield s


async def test_start_many_under_faults_dials_nobody_twice(
    dialer: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    start = sandbox.path("calls.start")
    # One after another: committed-then-failed, overloaded and throttled (five in a row,
    # within max_retries), then dropped before the server did anything.
    sandbox.fail_next(3, Fault.COMMIT_THEN_500, path=start)
    sandbox.fail_next(2, Fault.COMMIT_THEN_DROP, path=start)
    sandbox.fail_next(3, Fault.UNAVAILABLE, path=start)
    sandbox.fail_next(2, Fault.RATE_LIMITED, path=start)
    sandbox.fail_next(2, Fault.DROP, path=start)
    requests = [
        ca.CallRequest(agent_id=AGENT, to=to, metadata={"row": i})
        for i, to in enumerate(numbers(40))
    ]
    results = [r async for r in dialer.calls.start_many(requests, concurrency=1)]

    assert sorted(r.index for r in results) == list(range(40))
    assert max(sandbox.dials.values()) == 1  # nobody dialed twice
    placed = [r for r in results if r.ok]
    unknown = [r for r in results if r.outcome_unknown]
    assert len(unknown) == 3 + 2 + 2  # the two kinds of commit-then-fail, and plain drops
    assert len(placed) == 40 - len(unknown)  # 503s and 429s were retried to success
    for r in placed:
        assert r.call is not None and r.call.call_id in sandbox.calls
        assert r.call.metadata == r.request.metadata
    committed = {to for to, n in sandbox.dials.items() if n}
    assert {r.request.to for r in placed} <= committed
    assert len(committed - {r.request.to for r in placed}) == 5  # placed, reply lost
    for u in unknown:
        assert isinstance(u.error, ca.OutcomeUnknownError)
        assert u.error.request["to"] == u.request.to
        assert u.error.idempotency_key


async def test_idempotency_key_is_sent_and_reused_across_retries(
    dialer: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    start = sandbox.path("calls.start")
    sandbox.fail_next(2, Fault.UNAVAILABLE, path=start)
    await dialer.calls.start(agent_id=AGENT, to="+905550000001")
    await dialer.calls.start(agent_id=AGENT, to="+905550000002", idempotency_key="lead-42")
    keys = [r.headers.get("Idempotency-Key") for r in sandbox.requests if r.path == start]
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2] and keys[0]
    assert keys[3] == "lead-42"


async def test_opt_in_retries_unknown_outcomes_with_the_same_key(
    sandbox: SandboxServer,
) -> None:
    sandbox.fail_next(1, Fault.COMMIT_THEN_500, path=sandbox.path("calls.start"))
    async with ca.AsyncSession(
        api_key=sandbox.api_key,
        base_url=sandbox.base_url,
        rate_limits=None,
        retry_unknown_outcomes=True,
    ) as s:
        s._sleep = Sleeps()
        call = await s.calls.start(agent_id=AGENT, to="+905550000003")
    # The sandbox honours Idempotency-Key: the retry returned the first call, no second dial.
    assert sandbox.dials["+905550000003"] == 1
    assert call.call_id in sandbox.calls


async def test_start_many_accepts_dicts_async_iterables_and_reports_bad_rows(
    dialer: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    async def rows() -> AsyncIterator[dict[str, object]]:
        yield {"agent_id": AGENT, "to": "+905550000010"}
        yield {"agent_id": AGENT, "to": "not a number"}
        yield {"agent_id": AGENT, "to": "+905550000011", "colour": "red"}
        yield {"agent_id": "ag_unknown", "to": "+905550000012"}

    results = {r.index: r async for r in dialer.calls.start_many(rows(), concurrency=4)}
    assert results[0].ok
    assert isinstance(results[1].error, ca.ValidationError) and results[1].error.field == "to"
    assert isinstance(results[2].error, ca.ValidationError)
    assert isinstance(results[3].error, ca.NotFoundError)
    assert sum(sandbox.dials.values()) == 1


async def test_start_many_dedupe_dials_each_number_once(
    dialer: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    batch = [
        {"agent_id": AGENT, "to": "+905551230001"},
        {"agent_id": AGENT, "to": "+90 555 123 0001"},  # the same number, formatted
        {"agent_id": AGENT, "to": "+905551230001"},
        {"agent_id": AGENT, "to": "+905551230002"},
    ]
    results = {r.index: r async for r in dialer.calls.start_many(batch, dedupe=True)}
    assert sandbox.dials["+905551230001"] == 1 and sandbox.dials["+905551230002"] == 1
    assert sum(sandbox.dials.values()) == 2
    assert results[0].ok and not results[0].duplicate and results[0].duplicate_of is None
    for index in (1, 2):
        skipped = results[index]
        assert isinstance(skipped, ca.StartFailed) and not skipped.outcome_unknown
        assert skipped.duplicate and skipped.duplicate_of == 0
        assert isinstance(skipped.error, ca.ValidationError) and skipped.error.field == "to"
    assert results[3].ok and not results[3].duplicate


async def test_start_many_dedupe_lets_a_refused_row_claim_no_number(
    dialer: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    batch: list[dict[str, object]] = [
        {"agent_id": AGENT, "to": "+905551230003", "metadata": {"bad": {1, 2}}},  # refused
        {"agent_id": AGENT, "to": "+905551230003"},
    ]
    results = {r.index: r async for r in dialer.calls.start_many(batch, dedupe=True)}
    assert not results[0].ok and not results[0].duplicate
    assert results[1].ok
    assert sandbox.dials["+905551230003"] == 1


async def test_start_many_without_dedupe_dials_repeats(
    dialer: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    batch = [{"agent_id": AGENT, "to": "+905551230004"}] * 2
    results = [r async for r in dialer.calls.start_many(batch, concurrency=1)]
    assert all(r.ok and not r.duplicate and r.duplicate_of is None for r in results)
    assert sandbox.dials["+905551230004"] == 2


async def test_leaving_start_many_early_cancels_calls_in_flight(sandbox: SandboxServer) -> None:
    sandbox.set_latency(0.2)
    async with ca.AsyncSession(
        api_key=sandbox.api_key, base_url=sandbox.base_url, rate_limits=None
    ) as s:
        async for _ in s.calls.start_many(
            [{"agent_id": AGENT, "to": to} for to in numbers(50)], concurrency=5
        ):
            break
        await asyncio.sleep(0.3)
    assert sum(sandbox.dials.values()) <= 5
    assert len(sandbox.requests) <= 5


async def test_max_wait_fails_fast_before_sending(sandbox: SandboxServer) -> None:
    async with ca.AsyncSession(
        api_key=sandbox.api_key,
        base_url=sandbox.base_url,
        rate_limits={"default": "1/minute"},
        rate_limit_store=MemoryStore(),
        max_wait=0.5,
    ) as s:
        await s.calls.get("cl_8f2a")
        with pytest.raises(ca.LimiterTimeoutError) as info:
            await s.calls.get("cl_8f2a")
    assert info.value.max_wait == 0.5
    assert len(sandbox.requests) == 1


# --- real time: one test per behaviour (rates themselves are measured in benchmarks/) -----


async def test_a_configured_limit_is_kept_without_a_single_429() -> None:
    async with (
        SandboxServer(calls=5, rate_limit="20/1") as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits={"default": "20/second"},
            max_retries=0,
        ) as s,
    ):
        started = time.monotonic()
        await asyncio.gather(*(s.calls.get("cl_8f2a") for _ in range(50)))
        elapsed = time.monotonic() - started
    assert sb.rate_limited == 0
    assert len(sb.requests) == 50
    assert elapsed >= 49 / 20  # never faster than the limit


async def test_an_unknown_stricter_limit_is_learned_from_429s() -> None:
    async with (
        SandboxServer(calls=5, rate_limit="8/1") as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits={"default": "100/second"},  # the client believes 100/s
            max_retries=5,
        ) as s,
    ):
        calls = await asyncio.gather(*(s.calls.get("cl_8f2a") for _ in range(30)))
    assert all(c.call_id == "cl_8f2a" for c in calls)
    # The first 429 names the limit; the limiter keeps under it from then on.
    assert sb.rate_limited <= 3
    assert sb.rate_limited / len(sb.requests) < 0.1


WORKER = """
import asyncio, sys
import calleague_async as ca

async def main(base_url, key, store, n):
    async with ca.AsyncSession(api_key=key, base_url=base_url, max_retries=0,
                               rate_limits={"default": "15/second"},
                               rate_limit_store=store) as s:
        await asyncio.gather(*(s.calls.get("cl_8f2a") for _ in range(n)))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def test_three_processes_share_one_key_through_redis(redis_url: str) -> None:
    async with SandboxServer(calls=5, rate_limit="15/1") as sb:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", WORKER, sb.base_url, sb.api_key, redis_url, "20"
            )
            for _ in range(3)
        ]
        codes = await asyncio.gather(*(p.wait() for p in procs))
    assert codes == [0, 0, 0]
    assert len(sb.requests) == 60
    assert sb.rate_limited == 0  # any 429 would have failed its worker (max_retries=0)
    agents = collections.Counter(r.headers.get("User-Agent", "")[:15] for r in sb.requests)
    assert sum(agents.values()) == 60


async def test_rate_limit_headers_pause_the_bucket_before_any_429() -> None:
    async with (
        SandboxServer(
            calls=5, route_rate_limits={"calls.get": "5/1"}, rate_limit_headers=True
        ) as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits={"default": "100/second"},  # the client does not know the limit
            max_retries=3,
        ) as s,
    ):
        for _ in range(12):
            await s.calls.get("cl_8f2a")
    # "Remaining: 0" paused the bucket until the reset instead of firing into a 429.
    assert sb.rate_limited == 0
    assert len(sb.requests) == 12
