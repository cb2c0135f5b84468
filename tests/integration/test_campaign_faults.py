"""Campaigns when parts fail: the limiter's store, the ledger's replies, a corrupt entry."""

from __future__ import annotations

from typing import Any

import pytest

import calleague_async as ca
from calleague_async.testing import Fault, SandboxServer
from tests.integration.conftest import Sleeps

AGENT = "ag_123"


async def test_a_limiter_failing_before_a_retry_keeps_an_unknown_outcome_unknown(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Attempt 1 places the call and answers 500; the retry (opted in) never gets past the
    # limiter, whose store is down. The call may have been placed: never "not sent".
    sandbox.fail_next(1, Fault.COMMIT_THEN_500, path=sandbox.path("calls.start"))
    async with ca.AsyncSession(
        api_key=sandbox.api_key,
        base_url=sandbox.base_url,
        rate_limits={"default": "1000/second"},
        retry_unknown_outcomes=True,
    ) as s:
        s._sleep = Sleeps()
        limiter = s._limiter
        assert limiter is not None
        calls = 0
        real = limiter.try_now

        def try_now(route: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls > 1:
                raise ConnectionError("redis down")
            return real(route)

        monkeypatch.setattr(limiter, "try_now", try_now)
        ledger = ca.MemoryLedger()
        async with s.calls.start_many(
            [{"agent_id": AGENT, "to": "+905551230001"}], campaign="c", ledger=ledger
        ) as batch:
            results = [r async for r in batch]
    (result,) = results
    assert result.status == "unknown" and result.sent
    assert isinstance(result.error, ca.OutcomeUnknownError)
    assert isinstance(result.error.cause, ca.APIConnectionError)
    assert sandbox.dials["+905551230001"] == 1
    entries = [e async for e in ledger.entries("c")]
    assert [e.state for e in entries] == ["unknown"]  # kept for review, not released


async def test_a_corrupt_ledger_entry_costs_only_its_own_lead(sandbox: SandboxServer) -> None:
    class Odd(ca.MemoryLedger):
        async def claim(self, campaign: str, number: str, **kw: Any) -> ca.LedgerEntry | None:
            if number.endswith("2"):  # written by another program, with an absurd time
                return ca.LedgerEntry(campaign=campaign, number=number, state="placed",
                                      owner="x", at=1e20, idempotency_key=None)  # fmt: skip
            return await super().claim(campaign, number, **kw)

    leads = [{"agent_id": AGENT, "to": f"+90555123000{i}"} for i in range(1, 5)]
    async with (
        sandbox.session(rate_limits=None) as s,
        s.calls.start_many(leads, campaign="c", ledger=Odd()) as batch,
    ):
        results = {r.index: r async for r in batch}
    assert sorted(results) == [0, 1, 2, 3]
    assert results[1].status == "duplicate" and "1e+20" in str(results[1].error)
    assert [results[i].status for i in (0, 2, 3)] == ["placed"] * 3
    assert "+905551230002" not in sandbox.dials


async def test_a_claim_whose_reply_was_lost_is_released(sandbox: SandboxServer) -> None:
    class Lossy(ca.MemoryLedger):
        lose = True

        async def claim(self, campaign: str, number: str, **kw: Any) -> ca.LedgerEntry | None:
            entry = await super().claim(campaign, number, **kw)
            if self.lose:  # taken in Redis, the reply lost on the way back
                raise ConnectionError("reply lost")
            return entry

    ledger = Lossy()
    lead = [{"agent_id": AGENT, "to": "+905551230009"}]
    async with (
        sandbox.session(rate_limits=None) as s,
        s.calls.start_many(lead, campaign="c", ledger=ledger) as batch,
    ):
        (first,) = [r async for r in batch]
    assert first.status == "not_sent" and not first.sent
    assert [e async for e in ledger.entries("c")] == []  # released: nobody is locked out
    ledger.lose = False
    async with (
        sandbox.session(rate_limits=None) as s,
        s.calls.start_many(lead, campaign="c", ledger=ledger) as again,
    ):
        (second,) = [r async for r in again]
    assert second.status == "placed" and sandbox.dials["+905551230009"] == 1
