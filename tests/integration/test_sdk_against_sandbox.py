"""The SDK against the sandbox over real sockets: every endpoint, both shapes, faults, paging."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import calleague_async as ca
from calleague_async import _convert
from calleague_async.testing import Fault, SandboxServer

TO = "+903121234567"


@pytest.fixture(params=[False, True], ids=["bare", "envelope"])
def shape(request: pytest.FixtureRequest, sandbox: SandboxServer) -> bool:
    envelope: bool = request.param
    sandbox.set_envelope(envelope)
    return envelope


async def test_docs_examples_work_verbatim(session: ca.AsyncSession, shape: bool) -> None:
    call = await session.calls.start(agent_id="ag_123", to=TO, metadata={"orderId": "A-1042"})
    assert call.status == ca.CallStatus.RINGING
    again = await session.calls.get(call.call_id)
    assert (again.call_id, again.to, again.metadata) == (call.call_id, TO, {"orderId": "A-1042"})
    assert again.agent_id == "ag_123"
    assert again.created_at is not None and again.created_at.tzinfo is not None

    done = await session.calls.get("cl_8f2a")
    assert done.status == "completed"
    assert (done.duration_sec, done.ended_reason, done.language) == (84, "completed", "tr")
    assert done.recording_ready is True and done.transcript_ready is True

    agent = await session.agents.get("ag_123")
    assert agent.name == "Support Assistant"
    agents = [a.agent_id async for a in session.agents.list()]
    assert agents[0] == "ag_123"

    hook = await session.webhooks.create(url="https://example.com/hook", events=["call.ended"])
    assert hook.url == "https://example.com/hook" and hook.events == ["call.ended"]
    assert hook.secret and hook.secret not in repr(hook)


async def test_listing_every_call_matches_the_server(
    session: ca.AsyncSession, sandbox: SandboxServer, shape: bool
) -> None:
    ids = [c.call_id async for c in session.calls.list(page_size=25)]
    assert len(ids) == len(set(ids)) == len(sandbox.calls) == 120
    list_requests = [r for r in sandbox.requests if r.path == sandbox.path("calls.list")]
    assert [r.query["page"] for r in list_requests] == ["1", "2", "3", "4", "5"]


async def test_filters_reach_the_server_and_are_applied(
    session: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    expected = {
        cid
        for cid, c in sandbox.calls.items()
        if c["status"] == "failed" and c.get("agentId") == "ag_123"
    }
    got = [c async for c in session.calls.list(status=ca.CallStatus.FAILED, agent_id="ag_123")]
    assert {c.call_id for c in got} == expected
    assert all(c.status == "failed" and c.agent_id == "ag_123" for c in got)


async def test_pages_report_total_and_page_numbers(session: ca.AsyncSession) -> None:
    pages = [p async for p in session.calls.list(page_size=50).pages()]
    assert [(p.page, p.total, len(p.items)) for p in pages] == [
        (1, 120, 50),
        (2, 120, 50),
        (3, 120, 20),
    ]


async def test_empty_list_costs_one_request(sandbox: SandboxServer) -> None:
    async with (
        SandboxServer(calls=0) as empty,
        ca.AsyncSession(api_key=empty.api_key, base_url=empty.base_url, rate_limits=None) as s,
    ):
        assert [c async for c in s.calls.list()] == []
        assert len(empty.requests) == 1


async def test_calls_inserted_while_paging_are_never_duplicated_nor_old_ones_lost(
    session: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    before = set(sandbox.calls.keys())
    seen: list[str] = []
    async for page in session.calls.list(page_size=20).pages():
        seen.extend(c.call_id for c in page.items)
        sandbox.add_calls(3)  # newest first: pushes three old calls onto the next page
    assert len(seen) == len(set(seen))
    assert before <= set(seen)


async def test_max_items_and_start_page(session: ca.AsyncSession, sandbox: SandboxServer) -> None:
    assert len([c async for c in session.calls.list(max_items=7)]) == 7
    everything = [c.call_id async for c in session.calls.list(page_size=40)]
    tail = [c.call_id async for c in session.calls.list(page_size=40, start_page=3)]
    assert tail == everything[80:]


async def test_wrong_key_is_an_authentication_error(sandbox: SandboxServer) -> None:
    async with ca.AsyncSession(api_key="sk_wrong", base_url=sandbox.base_url) as s:
        with pytest.raises(ca.AuthenticationError) as info:
            await s.calls.get("cl_8f2a")
    assert info.value.status_code == 401
    assert info.value.request_id
    assert "sk_wrong" not in str(info.value)


async def test_unknown_ids_are_not_found(session: ca.AsyncSession, shape: bool) -> None:
    with pytest.raises(ca.NotFoundError):
        await session.calls.get("cl_nope")
    with pytest.raises(ca.NotFoundError):
        await session.agents.get("ag_nope")
    with pytest.raises(ca.NotFoundError):
        await session.calls.start(agent_id="ag_nope", to=TO)


async def test_server_side_validation_errors_arrive_typed(session: ca.AsyncSession) -> None:
    # Bypass the SDK's own E.164 check through the escape hatch to see the server's 422.
    with pytest.raises(ca.UnprocessableEntityError, match="valid number"):
        await session.request(
            "POST", "/api/core/voice/agent/call", json={"agentId": "ag_123", "to": "12"}
        )


async def test_a_hostile_id_stays_in_its_segment(
    session: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    with pytest.raises(ca.NotFoundError):
        await session.calls.get("../agent/list")
    # The sandbox saw one request for a call id (decoded back to the raw id), not the list.
    assert sandbox.requests[-1].path == "/api/core/voice/call/../agent/list"
    assert not [r for r in sandbox.requests if r.path == sandbox.path("agents.list")]


# --- faults: safe requests recover, call creation never dials twice ----------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.SERVER_ERROR,
        Fault.BAD_GATEWAY,
        Fault.UNAVAILABLE,
        Fault.RATE_LIMITED,
        Fault.DROP,
        Fault.TRUNCATED,
        Fault.NOT_JSON,
    ],
)
async def test_get_recovers_from_transient_faults(
    session: ca.AsyncSession, sandbox: SandboxServer, fault: Fault
) -> None:
    sandbox.fail_next(2, fault, path=sandbox.path("calls.get", callId="cl_8f2a"))
    call = await session.calls.get("cl_8f2a")
    assert call.duration_sec == 84
    assert sandbox.pending_faults == 0


async def test_list_recovers_mid_export_from_a_truncated_page(
    session: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    ids = []
    async for c in session.calls.list(page_size=30):
        ids.append(c.call_id)
        if len(ids) == 30:
            sandbox.fail_next(1, Fault.TRUNCATED, path=sandbox.path("calls.list"))
    assert len(ids) == len(set(ids)) == 120


@pytest.mark.parametrize("fault", [Fault.COMMIT_THEN_500, Fault.COMMIT_THEN_DROP])
async def test_start_is_never_repeated_when_the_call_may_have_been_placed(
    session: ca.AsyncSession, sandbox: SandboxServer, fault: Fault
) -> None:
    sandbox.fail_next(1, fault, path=sandbox.path("calls.start"))
    with pytest.raises(ca.OutcomeUnknownError) as info:
        await session.calls.start(agent_id="ag_123", to=TO, metadata={"lead": "L-1"})
    assert isinstance(info.value.cause, ca.ServerError | ca.APIConnectionError)
    assert info.value.request == {"agentId": "ag_123", "to": TO, "metadata": {"lead": "L-1"}}
    assert sandbox.dials[TO] == 1
    starts = [r for r in sandbox.requests if r.path == sandbox.path("calls.start")]
    assert len(starts) == 1


@pytest.mark.parametrize("fault", [Fault.UNAVAILABLE, Fault.RATE_LIMITED])
async def test_start_is_retried_when_the_reply_proves_nothing_happened(
    session: ca.AsyncSession, sandbox: SandboxServer, fault: Fault
) -> None:
    sandbox.fail_next(1, fault, path=sandbox.path("calls.start"))
    call = await session.calls.start(agent_id="ag_123", to=TO)
    assert sandbox.dials[TO] == 1
    assert call.call_id in sandbox.calls
    waits: list[float] = session._sleep  # type: ignore[assignment]
    assert len(waits) == 1
    assert 1.0 <= waits[0] <= 1.5  # Retry-After: 1, plus at most the first backoff step


async def test_slow_reply_times_out(sandbox: SandboxServer) -> None:
    sandbox.fail_next(5, Fault.SLOW, delay=2.0)
    async with ca.AsyncSession(
        api_key=sandbox.api_key, base_url=sandbox.base_url, timeout=0.2, max_retries=0
    ) as s:
        with pytest.raises(ca.APITimeoutError):
            await s.calls.get("cl_8f2a")


async def test_connection_that_never_opens_is_retried_even_for_start() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with ca.AsyncSession(
            api_key="sk_test", base_url=f"http://127.0.0.1:{port}", max_retries=2, rate_limits=None
        ) as s:
            waits: list[float] = []

            async def record(seconds: float) -> None:
                waits.append(seconds)

            s._sleep = record
            with pytest.raises(ca.APIConnectionError) as info:
                await s.calls.start(agent_id="ag_123", to=TO)
    assert info.value.request_sent is False
    assert len(waits) == 2


async def test_path_overrides_reach_a_server_with_other_paths() -> None:
    paths = {"calls.get": "/api/v1/calls/{callId}", "calls.list": "/api/v1/calls"}
    async with (
        SandboxServer(calls=5, paths=paths) as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits=None,
            paths={"calls.get": "/api/v1/calls/{call_id}", "calls.list": "/api/v1/calls"},
        ) as s,
    ):
        assert (await s.calls.get("cl_8f2a")).call_id == "cl_8f2a"
        assert len([c async for c in s.calls.list()]) == 5


@pytest.mark.calleague_sandbox(calls=3)
async def test_the_shipped_pytest_fixture_serves_the_sdk(
    calleague_sandbox: SandboxServer,
) -> None:
    sb = calleague_sandbox
    async with ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url, rate_limits=None) as s:
        assert len([c async for c in s.calls.list()]) == 3


async def test_typed_pages_read_at_c_speed_are_the_records_decoded_one_by_one(
    session: ca.AsyncSession, sandbox: SandboxServer, shape: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_page = _convert.FAST_PAGES[ca.Call]
    fast_pages: list[bool] = []

    def counted(body: bytes) -> Any:
        page = read_page(body)
        fast_pages.append(page is not None)
        return page

    monkeypatch.setitem(_convert.FAST_PAGES, ca.Call, counted)
    raw = [r async for r in session.calls.list(page_size=25).raw()]
    assert fast_pages == []  # raw() reads the records themselves
    first = session.calls.list(page_size=25)
    typed: list[ca.Call] = []
    async for call in first:
        typed.append(call)
        if len(typed) == 37:  # mid-page: the cursor says exactly where
            break
    typed += [c async for c in session.calls.list(page_size=25, cursor=first.cursor)]
    # Bare pages of common records are read whole; seed 001's envelope never is.
    assert len(fast_pages) >= 5 and fast_pages == [not shape] * len(fast_pages)
    assert typed == _convert.structure_many(raw, ca.Call)
