"""The campaign ledger, on a real redis-server and in memory: claims, outcomes, liveness."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from calleague_async._ledger import (
    HEARTBEAT_TTL,
    UNREADABLE,
    Ledger,
    LedgerEntry,
    MemoryLedger,
    RedisLedger,
    new_owner,
    open_ledger,
)
from calleague_async.errors import ConfigurationError, ValidationError

CAMPAIGN = "spring"
NUMBER = "+903121234567"
A = "host-a:1:aaaaaaaa"
B = "host-b:2:bbbbbbbb"

MakeLedger = Callable[..., Ledger]


@pytest.fixture(params=["redis", "memory"])
async def make_ledger(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[MakeLedger]:
    """Builds ledgers of one kind; each test has its own Redis prefix, so tests never meet."""
    prefix = f"test:{uuid.uuid4().hex}:"
    made: list[Ledger] = []

    def make(*, heartbeat_ttl: float = HEARTBEAT_TTL) -> Ledger:
        ledger: Ledger
        if request.param == "redis":
            ledger = RedisLedger(redis_url, prefix=prefix, heartbeat_ttl=heartbeat_ttl)
        else:
            ledger = MemoryLedger(heartbeat_ttl=heartbeat_ttl)
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:
        await ledger.close()


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[Any]:
    client: Any = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def collect(ledger: Ledger, campaign: str = CAMPAIGN) -> dict[str, LedgerEntry]:
    found: dict[str, LedgerEntry] = {}
    async for entry in ledger.entries(campaign):
        assert entry.number not in found, "an entry was listed twice"
        found[entry.number] = entry
    return found


def num(i: int) -> str:
    return f"+9031200{i:05d}"


# Claims ---------------------------------------------------------------------------------------


async def test_second_claim_returns_the_existing_entry(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    await ledger.heartbeat(CAMPAIGN, A)
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None

    other = await ledger.claim(CAMPAIGN, NUMBER, owner=B, idempotency_key="k2")
    assert other is not None
    assert other.campaign == CAMPAIGN
    assert other.number == NUMBER
    assert other.state == "claimed"
    assert other.owner == A
    assert other.idempotency_key == "k1"
    assert other.owner_alive
    assert not other.needs_review
    # A claim is not re-entrant: the owner itself is told the number is taken.
    again = await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1")
    assert again is not None
    assert again.owner == A
    # Another campaign is another ledger.
    assert await ledger.claim("autumn", NUMBER, owner=B, idempotency_key="k2") is None


async def test_fifty_concurrent_claims_one_winner(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    owners = [f"host:{i}:{i:08x}" for i in range(50)]
    results = await asyncio.gather(
        *(ledger.claim(CAMPAIGN, NUMBER, owner=o, idempotency_key=o) for o in owners)
    )
    winners = [o for o, r in zip(owners, results, strict=True) if r is None]
    assert len(winners) == 1
    losers = [r for r in results if r is not None]
    assert len(losers) == 49
    assert {r.owner for r in losers} == set(winners)
    assert {r.idempotency_key for r in losers} == set(winners)
    assert (await collect(ledger))[NUMBER].owner == winners[0]


# Outcomes and release ---------------------------------------------------------------------------


async def test_record_only_by_the_owner(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    await ledger.heartbeat(CAMPAIGN, A)
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None
    before = (await collect(ledger))[NUMBER]

    await ledger.record(CAMPAIGN, NUMBER, "failed", owner=B, reason="intruder")
    assert (await collect(ledger))[NUMBER] == before

    await asyncio.sleep(0.01)
    await ledger.record(CAMPAIGN, NUMBER, "placed", owner=A, call_id="call_1")
    entry = (await collect(ledger))[NUMBER]
    assert entry.state == "placed"
    assert entry.owner == A
    assert entry.call_id == "call_1"
    assert entry.reason is None
    assert entry.idempotency_key == "k1"
    assert entry.at > before.at

    await ledger.record(CAMPAIGN, NUMBER, "unknown", owner=A, reason="timeout")
    entry = (await collect(ledger))[NUMBER]
    assert (entry.state, entry.call_id, entry.reason) == ("unknown", None, "timeout")
    assert entry.needs_review
    # Nobody holds an absent entry: recording creates nothing.
    await ledger.record(CAMPAIGN, "+903129999999", "placed", owner=A)
    assert set(await collect(ledger)) == {NUMBER}


async def test_release_only_by_the_owner_while_claimed(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None
    await ledger.release(CAMPAIGN, NUMBER, owner=B)
    assert (await collect(ledger))[NUMBER].owner == A

    await ledger.release(CAMPAIGN, NUMBER, owner=A)
    assert await collect(ledger) == {}
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=B, idempotency_key="k2") is None

    await ledger.record(CAMPAIGN, NUMBER, "placed", owner=B, call_id="call_2")
    await ledger.release(CAMPAIGN, NUMBER, owner=B)
    entry = (await collect(ledger))[NUMBER]
    assert (entry.state, entry.owner, entry.call_id) == ("placed", B, "call_2")
    blocked = await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1")
    assert blocked is not None
    assert blocked.state == "placed"


# Reclaiming ---------------------------------------------------------------------------------------


async def test_reclaim_unknown_needs_the_same_key(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    await ledger.heartbeat(CAMPAIGN, A)
    await ledger.heartbeat(CAMPAIGN, B)
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None
    await ledger.record(CAMPAIGN, NUMBER, "unknown", owner=A, reason="timeout")

    plain = await ledger.claim(CAMPAIGN, NUMBER, owner=B, idempotency_key="k1")
    assert plain is not None
    assert plain.state == "unknown"
    for key in ("other", None):
        refused = await ledger.claim(
            CAMPAIGN, NUMBER, owner=B, idempotency_key=key, reclaim_unknown=True
        )
        assert refused is not None
        assert (refused.state, refused.owner, refused.reason) == ("unknown", A, "timeout")

    taken = await ledger.claim(
        CAMPAIGN, NUMBER, owner=B, idempotency_key="k1", reclaim_unknown=True
    )
    assert taken is None
    entry = (await collect(ledger))[NUMBER]
    assert (entry.state, entry.owner, entry.idempotency_key) == ("claimed", B, "k1")
    assert entry.reason is None
    assert not entry.needs_review
    # Now B holds it: A's late outcome is ignored, B's is written.
    await ledger.record(CAMPAIGN, NUMBER, "failed", owner=A, reason="late")
    await ledger.record(CAMPAIGN, NUMBER, "placed", owner=B, call_id="call_9")
    entry = (await collect(ledger))[NUMBER]
    assert (entry.state, entry.owner, entry.call_id) == ("placed", B, "call_9")


@pytest.mark.parametrize("outcome", ["placed", "failed"])
async def test_reclaim_never_takes_a_final_outcome(make_ledger: MakeLedger, outcome: str) -> None:
    ledger = make_ledger(heartbeat_ttl=0.2)
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None
    await ledger.record(CAMPAIGN, NUMBER, outcome, owner=A)  # type: ignore[arg-type]
    await ledger.retire(CAMPAIGN, A)
    refused = await ledger.claim(
        CAMPAIGN, NUMBER, owner=B, idempotency_key="k1", reclaim_unknown=True
    )
    assert refused is not None
    assert (refused.state, refused.owner) == (outcome, A)
    assert not refused.needs_review
    assert (await collect(ledger))[NUMBER].owner == A


async def test_reclaim_never_takes_a_live_owners_claim(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    await ledger.heartbeat(CAMPAIGN, A)
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None
    refused = await ledger.claim(
        CAMPAIGN, NUMBER, owner=B, idempotency_key="k1", reclaim_unknown=True
    )
    assert refused is not None
    assert (refused.state, refused.owner, refused.owner_alive) == ("claimed", A, True)
    assert (await collect(ledger))[NUMBER].owner == A


async def test_reclaim_a_dead_owners_claim_with_the_same_key(make_ledger: MakeLedger) -> None:
    ledger = make_ledger(heartbeat_ttl=0.3)
    await ledger.heartbeat(CAMPAIGN, A)
    await ledger.heartbeat(CAMPAIGN, B)
    assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None
    assert not (await collect(ledger))[NUMBER].needs_review

    await asyncio.sleep(0.5)  # A's heartbeat expires; A never recorded an outcome
    dead = (await collect(ledger))[NUMBER]
    assert (dead.state, dead.owner, dead.owner_alive) == ("claimed", A, False)
    assert dead.needs_review

    plain = await ledger.claim(CAMPAIGN, NUMBER, owner=B, idempotency_key="k1")
    assert plain is not None
    assert plain.owner == A
    assert not plain.owner_alive
    wrong = await ledger.claim(
        CAMPAIGN, NUMBER, owner=B, idempotency_key="k2", reclaim_unknown=True
    )
    assert wrong is not None
    assert wrong.owner == A
    await ledger.heartbeat(CAMPAIGN, B)
    assert (
        await ledger.claim(CAMPAIGN, NUMBER, owner=B, idempotency_key="k1", reclaim_unknown=True)
        is None
    )
    entry = (await collect(ledger))[NUMBER]
    assert (entry.owner, entry.owner_alive, entry.needs_review) == (B, True, False)


async def test_retire_makes_leftover_claims_need_review(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    await ledger.heartbeat(CAMPAIGN, A)
    assert await ledger.claim(CAMPAIGN, num(1), owner=A, idempotency_key="k1") is None
    assert await ledger.claim(CAMPAIGN, num(2), owner=A, idempotency_key="k2") is None
    await ledger.record(CAMPAIGN, num(2), "placed", owner=A, call_id="c")
    assert not any(e.needs_review for e in (await collect(ledger)).values())
    await ledger.retire(CAMPAIGN, A)
    found = await collect(ledger)
    assert found[num(1)].needs_review
    assert not found[num(1)].owner_alive
    assert not found[num(2)].needs_review  # placed: liveness does not matter
    await ledger.heartbeat(CAMPAIGN, A)
    assert not (await collect(ledger))[num(1)].needs_review


# Listing ------------------------------------------------------------------------------------------


async def test_entries_lists_every_state_with_needs_review(make_ledger: MakeLedger) -> None:
    ledger = make_ledger(heartbeat_ttl=0.3)
    dead, live = "host:3:dddddddd", "host:4:eeeeeeee"
    await ledger.heartbeat(CAMPAIGN, dead)
    for i in range(5):
        owner = dead if i == 1 else live
        assert await ledger.claim(CAMPAIGN, num(i), owner=owner, idempotency_key=f"k{i}") is None
    await ledger.record(CAMPAIGN, num(2), "placed", owner=live, call_id="call_2")
    await ledger.record(CAMPAIGN, num(3), "failed", owner=live, reason="busy")
    await ledger.record(CAMPAIGN, num(4), "unknown", owner=live, reason="timeout")
    # Neighbouring campaigns, one named like a glob that would match this one's keys.
    assert await ledger.claim("spring2", num(9), owner=live, idempotency_key="x") is None
    assert await ledger.claim("sprin?", num(8), owner=live, idempotency_key="x") is None
    await asyncio.sleep(0.5)
    await ledger.heartbeat(CAMPAIGN, live)

    found = await collect(ledger)
    assert set(found) == {num(i) for i in range(5)}
    assert {n: (e.state, e.needs_review) for n, e in found.items()} == {
        num(0): ("claimed", False),
        num(1): ("claimed", True),
        num(2): ("placed", False),
        num(3): ("failed", False),
        num(4): ("unknown", True),
    }
    assert found[num(2)].call_id == "call_2"
    assert found[num(3)].reason == "busy"
    assert all(e.campaign == CAMPAIGN for e in found.values())
    assert set(await collect(ledger, "sprin?")) == {num(8)}
    assert set(await collect(ledger, "spring2")) == {num(9)}
    assert await collect(ledger, "nothing") == {}


async def test_entries_scans_a_large_campaign_once_each(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    await ledger.heartbeat(CAMPAIGN, A)
    await asyncio.gather(
        *(ledger.claim(CAMPAIGN, num(i), owner=A, idempotency_key=None) for i in range(1300))
    )
    found = await collect(ledger)  # collect() fails on a duplicate
    assert set(found) == {num(i) for i in range(1300)}
    assert not any(e.needs_review for e in found.values())


# Redis specifics ----------------------------------------------------------------------------------


async def test_redis_wire_format_and_heartbeat_key(redis_url: str, raw_redis: Any) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    ledger = RedisLedger(redis_url, prefix=prefix, heartbeat_ttl=5.0)
    try:
        await ledger.heartbeat(CAMPAIGN, A)
        pttl = await raw_redis.pttl(f"{prefix}{CAMPAIGN}:owner:{A}")
        assert 4000 < pttl <= 5000
        assert await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key="k1") is None
        stored = json.loads(await raw_redis.get(f"{prefix}{CAMPAIGN}:n:{NUMBER}"))
        assert set(stored) == {"state", "owner", "at", "key", "callId", "reason"}
        assert (stored["state"], stored["owner"], stored["key"]) == ("claimed", A, "k1")
        assert await raw_redis.ttl(f"{prefix}{CAMPAIGN}:n:{NUMBER}") == -1  # never expires
        await ledger.record(CAMPAIGN, NUMBER, "placed", owner=A, call_id="call_1")
        stored = json.loads(await raw_redis.get(f"{prefix}{CAMPAIGN}:n:{NUMBER}"))
        assert (stored["state"], stored["callId"], stored["key"]) == ("placed", "call_1", "k1")
        assert stored["reason"] is None
        await ledger.retire(CAMPAIGN, A)
        assert not await raw_redis.exists(f"{prefix}{CAMPAIGN}:owner:{A}")
    finally:
        await ledger.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"state": "dialing", "owner": "x", "at": 1}',
        b'{"state": "claimed", "owner": 7, "at": 1, "key": "k1"}',
        b"null",
    ],
)
async def test_unreadable_entry_is_unknown_and_untouchable(
    redis_url: str, raw_redis: Any, raw: bytes
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    key = f"{prefix}{CAMPAIGN}:n:{NUMBER}"
    await raw_redis.set(key, raw)
    ledger = RedisLedger(redis_url, prefix=prefix)
    try:
        await ledger.heartbeat(CAMPAIGN, A)
        assert await ledger.claim(CAMPAIGN, num(1), owner=A, idempotency_key="k1") is None
        found = await collect(ledger)
        assert set(found) == {NUMBER, num(1)}
        entry = found[NUMBER]
        assert (entry.state, entry.reason, entry.owner) == ("unknown", UNREADABLE, "")
        assert entry.needs_review
        assert not found[num(1)].needs_review

        for reclaim in (False, True):
            got = await ledger.claim(
                CAMPAIGN, NUMBER, owner=A, idempotency_key="k1", reclaim_unknown=reclaim
            )
            assert got == entry
        await ledger.record(CAMPAIGN, NUMBER, "placed", owner=A)
        await ledger.record(CAMPAIGN, NUMBER, "placed", owner="7")
        await ledger.release(CAMPAIGN, NUMBER, owner=A)
        assert await raw_redis.get(key) == raw
    finally:
        await ledger.close()


async def test_redis_errors_propagate() -> None:
    ledger = RedisLedger("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            await ledger.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key=None)
    finally:
        await ledger.close()


_DIALER = textwrap.dedent(
    """
    import asyncio, json, sys
    from calleague_async._ledger import RedisLedger, new_owner

    async def main(url, prefix):
        ledger = RedisLedger(url, prefix=prefix)
        owner = new_owner()
        numbers = [f"+9031200{i:05d}" for i in range(200)]
        # Open the connections before the start line, so neither process gets a head start.
        await asyncio.gather(*(ledger.heartbeat("race", owner) for _ in range(50)))
        raw = ledger._client
        await raw.incr(prefix + "barrier")
        while int(await raw.get(prefix + "barrier")) < 2:
            await asyncio.sleep(0.0005)
        got = await asyncio.gather(
            *(ledger.claim("race", n, owner=owner, idempotency_key=n) for n in numbers)
        )
        await ledger.close()
        won = [n for n, g in zip(numbers, got) if g is None]
        print(json.dumps({"owner": owner, "won": won}))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_two_processes_never_claim_the_same_number(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _DIALER,
            redis_url,
            prefix,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 60)
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    first, second = (set(r["won"]) for r in results)
    assert first.isdisjoint(second)
    assert first | second == {num(i) for i in range(200)}
    assert results[0]["owner"] != results[1]["owner"]

    ledger = RedisLedger(redis_url, prefix=prefix)
    try:
        found = await collect(ledger, "race")
    finally:
        await ledger.close()
    assert len(found) == 200
    for result in results:
        assert all(found[n].owner == result["owner"] for n in result["won"])


# Arguments and opening ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda lg: lg.claim("", NUMBER, owner=A, idempotency_key=None), "campaign"),
        (lambda lg: lg.claim("a:b", NUMBER, owner=A, idempotency_key=None), "campaign"),
        (lambda lg: lg.claim("a\nb", NUMBER, owner=A, idempotency_key=None), "campaign"),
        (lambda lg: lg.claim(7, NUMBER, owner=A, idempotency_key=None), "campaign"),
        (lambda lg: lg.claim(CAMPAIGN, "12345", owner=A, idempotency_key=None), "number"),
        (lambda lg: lg.claim(CAMPAIGN, 903121234567, owner=A, idempotency_key=None), "number"),
        (lambda lg: lg.claim(CAMPAIGN, NUMBER, owner="", idempotency_key=None), "owner"),
        (lambda lg: lg.claim(CAMPAIGN, NUMBER, owner=None, idempotency_key=None), "owner"),
        (lambda lg: lg.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key=5), "idempotency_key"),
        (lambda lg: lg.claim(CAMPAIGN, NUMBER, owner=A, idempotency_key=""), "idempotency_key"),
        (lambda lg: lg.record(CAMPAIGN, NUMBER, "claimed", owner=A), "state"),
        (lambda lg: lg.record(CAMPAIGN, NUMBER, "placed", owner=A, call_id=1), "call_id"),
        (lambda lg: lg.release(CAMPAIGN, "+0123", owner=A), "number"),
        (lambda lg: lg.heartbeat(CAMPAIGN, "a\x00b"), "owner"),
        (lambda lg: lg.retire(":", A), "campaign"),
    ],
)
async def test_bad_arguments_are_refused(
    make_ledger: MakeLedger, call: Callable[[Any], Awaitable[object]], field: str
) -> None:
    ledger = make_ledger()
    with pytest.raises(ValidationError) as caught:
        await call(ledger)
    assert caught.value.field == field
    assert await collect(ledger) == {}


async def test_entries_refuses_a_bad_campaign(make_ledger: MakeLedger) -> None:
    with pytest.raises(ValidationError, match="campaign"):
        await collect(make_ledger(), "a:n:")


@pytest.mark.parametrize("ttl", [0, -1.0, float("nan"), float("inf"), True])
def test_bad_heartbeat_ttl(redis_url: str, ttl: float) -> None:
    with pytest.raises(ValidationError, match="heartbeat_ttl"):
        MemoryLedger(heartbeat_ttl=ttl)
    with pytest.raises(ValidationError, match="heartbeat_ttl"):
        RedisLedger(redis_url, heartbeat_ttl=ttl)


async def test_open_ledger(redis_url: str) -> None:
    memory = MemoryLedger()
    assert open_ledger(memory) is memory
    opened = open_ledger(redis_url)
    try:
        assert isinstance(opened, RedisLedger)
        campaign = f"open{uuid.uuid4().hex}"
        assert await opened.claim(campaign, NUMBER, owner=A, idempotency_key=None) is None
        assert (await collect(opened, campaign))[NUMBER].owner == A
    finally:
        await opened.close()
    for url in ("REDIS://localhost:6379", "rediss://:pw@localhost", "unix:///tmp/redis.sock"):
        other = open_ledger(url)
        assert isinstance(other, RedisLedger)
        await other.close()


@pytest.mark.parametrize(
    "spec",
    [
        "http://:hunter2@x",
        "http://user:hunter2@cache.internal:6379/0",
        "redis:/:hunter2@x",
        "postgres://u:p@ss:hunter2@db/1",
        "http://x/0?password=hunter2",
        ":hunter2@x",
        "memory",
        "",
    ],
)
def test_open_ledger_refuses_without_leaking_a_password(spec: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_ledger(spec)
    message = str(caught.value)
    assert "hunter2" not in message
    assert "redis://" in message
    if "@" in spec:
        assert spec.rpartition("@")[2].split("?")[0] in message


@pytest.mark.parametrize("spec", [42, None, object(), b"redis://localhost"])
def test_open_ledger_refuses_other_objects(spec: Any) -> None:
    with pytest.raises(ConfigurationError, match="Ledger"):
        open_ledger(spec)


# Small pieces -------------------------------------------------------------------------------------


def test_new_owner_is_unique_and_shaped() -> None:
    owners = {new_owner() for _ in range(100)}
    assert len(owners) == 100
    for owner in owners:
        assert re.fullmatch(r"[^\s:]+:\d+:[0-9a-f]{8}", owner), owner


@pytest.mark.parametrize(
    ("state", "alive", "review"),
    [
        ("claimed", True, False),
        ("claimed", False, True),
        ("unknown", True, True),
        ("placed", False, False),
        ("failed", True, False),
    ],
)
def test_needs_review(state: Any, alive: bool, review: bool) -> None:
    entry = LedgerEntry(
        campaign=CAMPAIGN,
        number=NUMBER,
        state=state,
        owner=A,
        at=0.0,
        idempotency_key=None,
        owner_alive=alive,
    )
    assert entry.needs_review is review
