"""Campaign batches against the sandbox: honest accounting when a batch stops, and a ledger.

``start_many`` returns a :class:`~calleague_async.StartBatch`; stopped early (closed or its
consumer cancelled), ``unyielded`` holds a result for every request it had taken in. The
campaign ledger (memory, or Redis shared by processes) makes each person dialed once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

import pytest

import calleague_async as ca
from calleague_async._ledger import OutcomeState
from calleague_async.testing import Fault, SandboxServer
from tests.integration.conftest import Sleeps
from tests.rawserver import unanswered_port

AGENT = "ag_123"
START = "POST /api/core/voice/agent/call"
ONE_PER_SECOND = {START: "1/second"}  # the first request goes at once, the next a second later


def numbers(n: int, block: int = 0) -> list[str]:
    return [f"+90555{block:02d}{i:05d}" for i in range(n)]


def leads(nums: Iterable[str]) -> list[dict[str, Any]]:
    return [{"agent_id": AGENT, "to": to} for to in nums]


def session(sb: SandboxServer, **options: Any) -> ca.AsyncSession:
    settings: dict[str, Any] = {"rate_limits": None, "max_retries": 0, "timeout": 5}
    settings.update(options)
    return ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url, **settings)


def starts(sb: SandboxServer) -> list[tuple[str, str | None]]:
    """``(number, Idempotency-Key)`` of every calls.start request the sandbox received."""
    path = sb.path("calls.start")
    return [
        (r.json["to"], r.headers.get("Idempotency-Key"))
        for r in sb.requests
        if r.path == path and r.method == "POST"
    ]


async def collect(
    results: AsyncIterable[ca.StartPlaced | ca.StartFailed],
) -> dict[int, ca.StartPlaced | ca.StartFailed]:
    return {r.index: r async for r in results}


def statuses(results: Sequence[ca.StartResult]) -> list[tuple[int, str, bool]]:
    return [(r.index, r.status, r.sent) for r in results]


# --- stopping early -------------------------------------------------------------------------


async def test_closing_a_batch_accounts_for_every_request_taken_in(
    sandbox: SandboxServer,
) -> None:
    nums = numbers(10)
    yielded: list[ca.StartPlaced | ca.StartFailed] = []
    async with (
        session(sandbox, rate_limits=ONE_PER_SECOND) as s,
        s.calls.start_many(leads(nums), concurrency=4) as batch,
    ):
        async for result in batch:
            yielded.append(result)
            break  # the limiter holds requests 1..3 for seconds yet

    assert statuses(yielded) == [(0, "placed", True)]
    # Taken in: the first `concurrency` requests; all but the yielded one are accounted for.
    assert statuses(batch.unyielded) == [(i, "not_sent", False) for i in (1, 2, 3)]
    for result in batch.unyielded:
        assert isinstance(result, ca.StartFailed)
        assert isinstance(result.error, ca.NotSentError)
        assert not result.error.may_have_acted and not result.outcome_unknown
        assert result.request.to == nums[result.index]
        assert result.request.idempotency_key  # the key it would have been sent with
    # The sandbox dialed exactly the placed one; requests 4.. were never taken in.
    assert dict(sandbox.dials) == {nums[0]: 1}
    assert [to for to, _ in starts(sandbox)] == [nums[0]]
    placed = yielded[0]
    assert placed.call is not None and placed.call.call_id in sandbox.calls
    # Closing again changes nothing.
    await batch.aclose()
    assert len(batch.unyielded) == 3


async def test_cancelling_the_consumer_reports_in_flight_requests_unknown(
    sandbox: SandboxServer,
) -> None:
    sandbox.set_latency(0.5)  # request 0 is on the wire when the task is cancelled
    nums = numbers(8)
    got: list[ca.StartPlaced | ca.StartFailed] = []
    ledger = ca.MemoryLedger()
    async with session(sandbox, rate_limits=ONE_PER_SECOND) as s:
        batch = s.calls.start_many(leads(nums), concurrency=4, campaign="cancelled", ledger=ledger)

        async def consume() -> None:
            async for result in batch:
                got.append(result)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.25)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # whatever the sandbox received, it has now answered

    assert got == []
    assert statuses(batch.unyielded) == [
        (0, "unknown", True),
        (1, "not_sent", False),
        (2, "not_sent", False),
        (3, "not_sent", False),
    ]
    received = dict(starts(sandbox))
    unknown = batch.unyielded[0]
    assert isinstance(unknown.error, ca.OutcomeUnknownError)
    assert unknown.error.may_have_acted and unknown.error.sent
    assert unknown.error.idempotency_key == unknown.request.idempotency_key
    assert unknown.error.idempotency_key == received[nums[0]]
    assert unknown.error.idempotency_key == ca.campaign_idempotency_key("cancelled", nums[0])
    for result in batch.unyielded[1:]:
        assert isinstance(result.error, ca.NotSentError)
        assert result.request.to not in received
        assert result.request.idempotency_key == ca.campaign_idempotency_key(
            "cancelled", result.request.to
        )
    # The sandbox may have dialed the unknown one (it got the request), nobody else.
    assert set(received) == {nums[0]}
    assert set(sandbox.dials) <= {nums[0]}
    # The ledger holds the unknown one for review; the claims of the others were released.
    entries = [e async for e in ledger.entries("cancelled")]
    assert [(e.number, e.state, e.needs_review) for e in entries] == [(nums[0], "unknown", True)]


async def test_a_request_closed_while_waiting_to_retry_a_429_is_not_sent(
    sandbox: SandboxServer,
) -> None:
    sandbox.fail_next(5, Fault.RATE_LIMITED, path=sandbox.path("calls.start"), method="POST")
    rows = [
        {"agent_id": AGENT, "to": "+905559990001"},  # 429, then waits Retry-After: 1
        {"agent_id": AGENT, "to": "not a number"},  # refused at once: the first result
    ]
    yielded: list[ca.StartPlaced | ca.StartFailed] = []
    async with (
        session(sandbox, max_retries=5) as s,
        s.calls.start_many(rows, concurrency=2) as batch,
    ):
        async for result in batch:
            yielded.append(result)
            await asyncio.sleep(0.4)  # meanwhile request 0 got its 429 and sleeps
            break

    assert statuses(yielded) == [(1, "failed", False)]
    assert statuses(batch.unyielded) == [(0, "not_sent", True)]
    error = batch.unyielded[0].error
    assert isinstance(error, ca.NotSentError) and not error.may_have_acted
    assert "retried" in str(error)
    assert [to for to, _ in starts(sandbox)] == ["+905559990001"]  # one attempt, refused
    assert not sandbox.dials


# --- errors say whether the request was sent ------------------------------------------------


async def test_a_connection_that_never_opens_is_not_sent() -> None:
    with unanswered_port() as port:
        async with ca.AsyncSession(
            api_key="sk_test_unanswered",
            base_url=f"http://127.0.0.1:{port}",
            timeout=0.5,
            max_retries=1,
            rate_limits=None,
        ) as s:
            s._sleep = Sleeps()
            results = await collect(s.calls.start_many(leads(["+905559990002"])))
    result = results[0]
    assert isinstance(result, ca.StartFailed)
    assert isinstance(result.error, ca.APIConnectionError) and not result.error.request_sent
    assert (result.status, result.sent, result.error.may_have_acted) == ("not_sent", False, False)


async def test_a_refused_request_is_failed_and_sent(sandbox: SandboxServer) -> None:
    async with session(sandbox) as s:
        # The sandbox answers 422 to metadata that is not an object.
        invalid = await collect(
            s.calls.start_many(leads(["+905559990003"]), extra_body={"metadata": "oops"})
        )
        unknown_agent = await collect(
            s.calls.start_many([{"agent_id": "ag_nobody", "to": "+905559990004"}])
        )
    result = invalid[0]
    assert isinstance(result.error, ca.UnprocessableEntityError)
    assert (result.status, result.sent, result.error.may_have_acted) == ("failed", True, False)
    result = unknown_agent[0]
    assert isinstance(result.error, ca.NotFoundError)
    assert (result.status, result.sent) == ("failed", True)
    assert not sandbox.dials


async def test_commit_then_500_is_unknown_and_sent(sandbox: SandboxServer) -> None:
    sandbox.fail_next(1, Fault.COMMIT_THEN_500, path=sandbox.path("calls.start"), method="POST")
    async with session(sandbox, max_retries=3) as s:
        s._sleep = Sleeps()
        results = await collect(s.calls.start_many(leads(["+905559990005"])))
    result = results[0]
    assert isinstance(result.error, ca.OutcomeUnknownError)
    assert (result.status, result.sent) == ("unknown", True)
    assert result.error.may_have_acted and result.outcome_unknown
    assert result.error.idempotency_key == dict(starts(sandbox))["+905559990005"]
    assert sandbox.dials["+905559990005"] == 1  # it was placed; the reply said otherwise


async def test_a_limiter_timeout_is_not_sent(sandbox: SandboxServer) -> None:
    nums = numbers(2)
    async with session(sandbox, rate_limits=ONE_PER_SECOND, max_wait=0) as s:
        results = await collect(s.calls.start_many(leads(nums), concurrency=2, max_wait=0))
    assert statuses([results[0], results[1]]) == [(0, "placed", True), (1, "not_sent", False)]
    assert isinstance(results[1].error, ca.LimiterTimeoutError)
    assert dict(sandbox.dials) == {nums[0]: 1}


# --- campaigns ------------------------------------------------------------------------------


async def test_campaign_keys_are_derived_and_replayed(sandbox: SandboxServer) -> None:
    to = "+905551230001"
    key = ca.campaign_idempotency_key("spring", to)
    assert key == ca.campaign_idempotency_key("spring", "+90 555 123 0001")
    assert key != ca.campaign_idempotency_key("summer", to)
    assert key != ca.campaign_idempotency_key("spring", "+905551230002")
    async with session(sandbox) as s:
        first = await collect(s.calls.start_many(leads([to]), campaign="spring"))
        again = await collect(s.calls.start_many(leads([to]), campaign="spring"))
        own = await collect(
            s.calls.start_many(
                [{"agent_id": AGENT, "to": "+905551230002", "idempotency_key": "mine-1"}],
                campaign="spring",
            )
        )
    assert first[0].request.idempotency_key == again[0].request.idempotency_key == key
    assert starts(sandbox) == [(to, key), (to, key), ("+905551230002", "mine-1")]
    assert sandbox.dials[to] == 1  # the second run replayed the first call
    assert first[0].call is not None and again[0].call is not None
    assert first[0].call.call_id == again[0].call.call_id
    assert own[0].ok and own[0].request.idempotency_key == "mine-1"


# --- the ledger, in one process -------------------------------------------------------------


async def test_two_batches_on_one_ledger_dial_each_person_once(sandbox: SandboxServer) -> None:
    ledger = ca.MemoryLedger()
    nums = numbers(30)
    async with session(sandbox) as s1, session(sandbox) as s2:
        a, b = await asyncio.gather(
            collect(s1.calls.start_many(leads(nums), campaign="c1", ledger=ledger, concurrency=8)),
            collect(s2.calls.start_many(leads(nums), campaign="c1", ledger=ledger, concurrency=8)),
        )
    assert sorted(a) == sorted(b) == list(range(30))
    assert {n: sandbox.dials[n] for n in nums} == dict.fromkeys(nums, 1)
    assert sum(sandbox.dials.values()) == 30
    placed: dict[str, str] = {}
    for i, to in enumerate(nums):
        pair = sorted((a[i].status, b[i].status))
        assert pair == ["duplicate", "placed"], (i, pair)
        winner, loser = (a[i], b[i]) if a[i].ok else (b[i], a[i])
        assert winner.call is not None
        placed[to] = winner.call.call_id
        assert isinstance(loser.error, ca.DuplicateError) and not loser.sent
        assert loser.error.ledger_state in ("claimed", "placed")
    entries = {e.number: e async for e in ledger.entries("c1")}
    assert set(entries) == set(nums)
    for to, entry in entries.items():
        assert (entry.state, entry.call_id) == ("placed", placed[to])
        assert entry.idempotency_key == ca.campaign_idempotency_key("c1", to)


async def test_a_request_never_sent_releases_its_claim(sandbox: SandboxServer) -> None:
    ledger = ca.MemoryLedger()
    nums = numbers(3)
    async with (
        session(sandbox, rate_limits=ONE_PER_SECOND) as s,
        s.calls.start_many(leads(nums), campaign="c2", ledger=ledger, concurrency=3) as batch,
    ):
        async for _ in batch:
            break
    assert statuses(batch.unyielded) == [(1, "not_sent", False), (2, "not_sent", False)]
    assert [e.number async for e in ledger.entries("c2")] == [nums[0]]
    async with session(sandbox) as s:
        later = await collect(s.calls.start_many(leads(nums), campaign="c2", ledger=ledger))
    assert [later[i].status for i in range(3)] == ["duplicate", "placed", "placed"]
    assert {n: sandbox.dials[n] for n in nums} == dict.fromkeys(nums, 1)


async def test_an_unknown_outcome_is_held_for_review_then_redialed_with_its_key(
    sandbox: SandboxServer,
) -> None:
    ledger = ca.MemoryLedger()
    to = "+905559990010"
    key = ca.campaign_idempotency_key("c3", to)
    sandbox.fail_next(1, Fault.COMMIT_THEN_500, path=sandbox.path("calls.start"), method="POST")
    async with session(sandbox) as s:
        first = await collect(s.calls.start_many(leads([to]), campaign="c3", ledger=ledger))
        assert first[0].status == "unknown"
        [entry] = [e async for e in ledger.entries("c3")]
        assert (entry.state, entry.idempotency_key, entry.needs_review) == ("unknown", key, True)
        assert sandbox.dials[to] == 1 and len(starts(sandbox)) == 1

        held = await collect(s.calls.start_many(leads([to]), campaign="c3", ledger=ledger))
        assert (held[0].status, held[0].sent) == ("unknown", False)
        assert isinstance(held[0].error, ca.OutcomeUnknownError)
        assert "review" in str(held[0].error)
        assert len(starts(sandbox)) == 1  # not sent again

        redial = await collect(
            s.calls.start_many(leads([to]), campaign="c3", ledger=ledger, redial_unknown=True)
        )
    result = redial[0]
    assert result.status == "placed" and result.call is not None
    assert starts(sandbox) == [(to, key), (to, key)]
    assert sandbox.dials[to] == 1  # the sandbox replayed the call the first attempt placed
    [entry] = [e async for e in ledger.entries("c3")]
    assert (entry.state, entry.call_id) == ("placed", result.call.call_id)


# --- the ledger in Redis, shared by two processes -------------------------------------------

WORKER = """
import asyncio, json, sys
import calleague_async as ca

async def main(base_url, key, ledger, campaign, n):
    leads = [{"agent_id": "ag_123", "to": f"+9055577{i:05d}"} for i in range(n)]
    out = {}
    async with ca.AsyncSession(api_key=key, base_url=base_url, rate_limits=None,
                               max_retries=0, timeout=10) as s:
        async with s.calls.start_many(leads, ledger=ledger, campaign=campaign,
                                      concurrency=16) as batch:
            async for r in batch:
                out[r.request.to] = r.status
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
"""


async def test_two_processes_share_a_campaign_through_redis(
    sandbox: SandboxServer, redis_url: str
) -> None:
    sandbox.set_latency(0.02)  # long enough for the two workers' batches to overlap
    campaign = "spring-2026-" + secrets.token_hex(4)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            sandbox.base_url,
            sandbox.api_key,
            redis_url,
            campaign,
            "100",
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    assert [p.returncode for p in procs] == [0, 0]
    reports: list[dict[str, str]] = [json.loads(out) for out, _ in outputs]
    everyone = {f"+9055577{i:05d}" for i in range(100)}
    assert set(reports[0]) == set(reports[1]) == everyone
    placed = [{to for to, status in r.items() if status == "placed"} for r in reports]
    assert placed[0].isdisjoint(placed[1])
    assert placed[0] | placed[1] == everyone
    for report, mine in zip(reports, placed, strict=True):
        assert {to for to, status in report.items() if status == "duplicate"} == everyone - mine
    assert {to: sandbox.dials[to] for to in everyone} == dict.fromkeys(everyone, 1)
    assert sum(sandbox.dials.values()) == 100

    ledger = ca.RedisLedger(redis_url)
    try:
        entries = [e async for e in ledger.entries(campaign)]
    finally:
        await ledger.close()
    assert sorted(e.number for e in entries) == sorted(everyone)
    assert {e.state for e in entries} == {"placed"}


# --- a crashed dialer's claims --------------------------------------------------------------


async def test_a_crashed_dialers_claim_is_held_for_review(sandbox: SandboxServer) -> None:
    ledger = ca.MemoryLedger(heartbeat_ttl=0.3)
    to, other, stranger = numbers(3, block=8)
    crashed = "crashed-host:4242:deadbeef"
    await ledger.heartbeat("c8", crashed)
    for number in (to, stranger):
        key = ca.campaign_idempotency_key("c8", number) if number == to else "another-key"
        assert await ledger.claim("c8", number, owner=crashed, idempotency_key=key) is None
    async with session(sandbox) as s:
        # While its owner is alive, the claim is someone else's dial in progress.
        alive = await collect(s.calls.start_many(leads([to]), campaign="c8", ledger=ledger))
        assert alive[0].status == "duplicate"
        await asyncio.sleep(0.35)  # the owner's heartbeat expires: it crashed

        held = await collect(
            s.calls.start_many(leads([to, other, stranger]), campaign="c8", ledger=ledger)
        )
        assert [held[i].status for i in range(3)] == ["unknown", "placed", "unknown"]
        assert isinstance(held[0].error, ca.OutcomeUnknownError)
        assert "review" in str(held[0].error) and not held[0].sent
        assert held[0].error.idempotency_key == ca.campaign_idempotency_key("c8", to)
        assert sandbox.dials[to] == 0 and sandbox.dials[other] == 1

        redial = await collect(
            s.calls.start_many(
                leads([to, stranger]), campaign="c8", ledger=ledger, redial_unknown=True
            )
        )
    # The same key as the claim: safe to resend. A claim made with another key is not.
    assert [redial[0].status, redial[1].status] == ["placed", "unknown"]
    assert sandbox.dials[to] == 1 and sandbox.dials[stranger] == 0
    assert (to, ca.campaign_idempotency_key("c8", to)) in starts(sandbox)


async def test_a_live_dialers_claims_outlive_a_short_heartbeat_ttl(
    sandbox: SandboxServer,
) -> None:
    # A ledger whose heartbeats last 0.3 s: a dialer that is alive and about to dial must keep
    # its claims alive, or another dialer takes them for a crash's and holds them for review.
    ledger = ca.MemoryLedger(heartbeat_ttl=0.3)
    nums = numbers(2, block=9)
    async with session(sandbox, rate_limits=ONE_PER_SECOND) as slow, session(sandbox) as fast:
        slow_batch = asyncio.create_task(
            collect(slow.calls.start_many(leads(nums), campaign="c9", ledger=ledger))
        )
        await asyncio.sleep(0.6)  # the slow dialer holds nums[1] in its limiter until ~1 s
        other = await collect(fast.calls.start_many(leads([nums[1]]), campaign="c9", ledger=ledger))
        mine = await slow_batch
    assert [mine[0].status, mine[1].status] == ["placed", "placed"]
    assert sandbox.dials[nums[1]] == 1
    result = other[0]
    assert result.status == "duplicate", str(result.error)
    assert isinstance(result.error, ca.DuplicateError)
    assert result.error.ledger_state == "claimed"


# --- a ledger slow to answer, as over a network ------------------------------------------


class SlowLedger:
    """A :class:`~calleague_async.MemoryLedger` whose replies take a while, as over a network.

    ``claim`` takes effect at once and its reply comes ``claim_delay`` seconds later;
    ``record`` takes effect ``record_delay`` seconds after it is asked.
    """

    def __init__(self, *, claim_delay: float = 0.0, record_delay: float = 0.0) -> None:
        self.inner = ca.MemoryLedger()
        self.claim_delay = claim_delay
        self.record_delay = record_delay

    @property
    def heartbeat_ttl(self) -> float:
        return self.inner.heartbeat_ttl

    async def claim(
        self,
        campaign: str,
        number: str,
        *,
        owner: str,
        idempotency_key: str | None,
        reclaim_unknown: bool = False,
    ) -> ca.LedgerEntry | None:
        entry = await self.inner.claim(
            campaign,
            number,
            owner=owner,
            idempotency_key=idempotency_key,
            reclaim_unknown=reclaim_unknown,
        )
        await asyncio.sleep(self.claim_delay)
        return entry

    async def record(
        self,
        campaign: str,
        number: str,
        state: OutcomeState,
        *,
        owner: str,
        call_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        await asyncio.sleep(self.record_delay)
        await self.inner.record(
            campaign, number, state, owner=owner, call_id=call_id, reason=reason
        )

    async def release(self, campaign: str, number: str, *, owner: str) -> None:
        await self.inner.release(campaign, number, owner=owner)

    def entries(self, campaign: str) -> AsyncIterator[ca.LedgerEntry]:
        return self.inner.entries(campaign)

    async def heartbeat(self, campaign: str, owner: str) -> None:
        await self.inner.heartbeat(campaign, owner)

    async def retire(self, campaign: str, owner: str) -> None:
        await self.inner.retire(campaign, owner)

    async def close(self) -> None:
        await self.inner.close()


# A lead the SDK refuses at once: its result comes first, so the consumer can stop the batch
# while the other lead is at a chosen step.
REFUSED = {"agent_id": AGENT, "to": "not a number"}


async def test_a_claim_stopped_midway_is_released(sandbox: SandboxServer) -> None:
    ledger = SlowLedger(claim_delay=0.3)  # the claim landed; its reply is on the way back
    to = "+905559990030"
    async with session(sandbox) as s:
        async with s.calls.start_many(
            [*leads([to]), REFUSED], campaign="c10", ledger=ledger, concurrency=2
        ) as batch:
            async for _ in batch:
                break
        assert statuses(batch.unyielded) == [(0, "not_sent", False)]
        assert [e async for e in ledger.entries("c10")] == []
        later = await collect(s.calls.start_many(leads([to]), campaign="c10", ledger=ledger))
    assert later[0].status == "placed"
    assert sandbox.dials[to] == 1


async def test_a_placed_call_stopped_during_its_ledger_write_stays_placed(
    sandbox: SandboxServer,
) -> None:
    ledger = SlowLedger(record_delay=0.3)
    to = "+905559990031"
    async with (
        session(sandbox) as s,
        s.calls.start_many(
            [*leads([to]), REFUSED], campaign="c11", ledger=ledger, concurrency=2
        ) as batch,
    ):
        async for _ in batch:
            await asyncio.sleep(0.15)  # the call is placed; its outcome is being written
            break
    assert statuses(batch.unyielded) == [(0, "placed", True)]
    placed = batch.unyielded[0]
    assert placed.call is not None and placed.call.call_id in sandbox.calls
    [entry] = [e async for e in ledger.entries("c11")]
    assert (entry.state, entry.call_id) == ("placed", placed.call.call_id)
    assert sandbox.dials[to] == 1


async def test_requests_stopped_by_a_failing_source_keep_their_campaign_key(
    sandbox: SandboxServer,
) -> None:
    nums = numbers(2, block=12)

    def rows() -> Iterator[dict[str, Any]]:
        yield from leads(nums)
        raise ValueError("row 3 of leads.csv is not CSV")

    async with session(sandbox) as s:
        batch = s.calls.start_many(rows(), campaign="c12", concurrency=4)
        with pytest.raises(ValueError, match=r"leads\.csv"):
            async with batch:
                async for _ in batch:
                    pass
    assert statuses(batch.unyielded) == [(0, "not_sent", False), (1, "not_sent", False)]
    assert not sandbox.dials
    # Each result's request carries the key it would have been sent with.
    assert [r.request.idempotency_key for r in batch.unyielded] == [
        ca.campaign_idempotency_key("c12", to) for to in nums
    ]


# --- arguments ------------------------------------------------------------------------------


async def test_campaign_arguments_are_checked_at_call_time(sandbox: SandboxServer) -> None:
    rows = leads(["+905559990020"])
    async with session(sandbox) as s:
        with pytest.raises(ca.ValidationError) as info:
            s.calls.start_many(rows, ledger=ca.MemoryLedger())
        assert info.value.field == "campaign"
        with pytest.raises(ca.ValidationError) as info:
            s.calls.start_many(rows, campaign="c", redial_unknown=True)
        assert info.value.field == "redial_unknown"
        with pytest.raises(ca.ValidationError) as info:
            s.calls.start_many(rows, campaign="spring:2026", ledger=ca.MemoryLedger())
        assert info.value.field == "campaign"
        with pytest.raises(ca.ConfigurationError) as config:
            s.calls.start_many(rows, campaign="c", ledger="http://user:hunter2@x")
        assert "hunter2" not in str(config.value) and "hunter2" not in repr(config.value)
        with pytest.raises(ca.ConfigurationError):
            s.calls.start_many(rows, campaign="c", ledger=object())  # type: ignore[arg-type]
        # Without a ledger a colon is fine: the campaign only derives keys.
        results = await collect(s.calls.start_many(rows, campaign="spring:2026"))
    assert results[0].ok
    assert dict(sandbox.dials) == {"+905559990020": 1}
