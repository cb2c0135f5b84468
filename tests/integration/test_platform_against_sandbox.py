"""Seed 002's workflows against the sandbox: CRM import, campaign launch, warm transfer, errors."""

from __future__ import annotations

from typing import Any

import pytest

import calleague_async as ca
from calleague_async.testing import Fault, SandboxServer
from tests.integration.conftest import Sleeps


@pytest.fixture(params=[False, True], ids=["bare", "envelope"])
def shape(request: pytest.FixtureRequest, sandbox: SandboxServer) -> bool:
    envelope: bool = request.param
    sandbox.set_envelope(envelope)
    return envelope


def _leads(n: int) -> list[dict[str, Any]]:
    return [{"phone": f"+9055577{i:05d}", "metadata": {"crm_id": f"L-{i}"}} for i in range(n)]


async def _live_calls(session: ca.AsyncSession, sandbox: SandboxServer, n: int) -> list[str]:
    """Launch the default campaign for ``n`` new contacts and connect their calls."""
    async for batch in session.contacts.bulk_create(_leads(n)):
        assert batch.ok and batch.created == n
    campaign = await session.campaigns.launch("cmp_1")
    call_ids: list[str] = campaign.extra["call_ids"]
    sandbox.advance_calls(*call_ids)  # queued -> in-progress: the call.started moment
    assert all(sandbox.calls[c]["status"] == "in-progress" for c in call_ids)
    return call_ids


async def test_a_crm_import_then_launch_dials_every_valid_lead_once(
    session: ca.AsyncSession, sandbox: SandboxServer, shape: bool
) -> None:
    leads: list[Any] = _leads(23)
    leads[5] = {"phone": "0555 777 00 05"}  # refused client-side, reported, never sent
    leads.append(ca.ContactRequest(phone="+905557799999", fields={"name": "Ada"}))
    results = [r async for r in session.contacts.bulk_create(leads, batch_size=10)]

    assert [r.batch for r in results] == [0, 1, 2]
    assert [r.created for r in results] == [9, 10, 4]
    assert [i.index for r in results for i in r.rejected] == [5]
    assert all(r.ok and not r.failed and not r.outcome_unknown for r in results)
    created = [c for r in results for c in r.contacts]
    assert len(created) == len(sandbox.contacts) == 23
    assert all(isinstance(c, ca.Contact) and c.contact_id.startswith("ct_") for c in created)
    assert created[0].metadata == {"crm_id": "L-0"} and created[-1].extra["name"] == "Ada"
    bulk = [r for r in sandbox.requests if r.path == sandbox.path("contacts.bulk_create")]
    assert [len(r.json["contacts"]) for r in bulk] == [9, 10, 4]

    campaign = await session.campaigns.launch("cmp_1")
    assert (campaign.campaign_id, campaign.status) == ("cmp_1", "running")
    phones = [c.phone for c in created if c.phone is not None]
    assert len(phones) == 23
    assert all(sandbox.dials[p] == 1 for p in phones) and "0555 777 00 05" not in sandbox.dials

    stopped = await session.campaigns.stop("cmp_1")
    assert stopped.status == "stopped"


async def test_contacts_are_created_updated_and_errors_read_from_detail(
    session: ca.AsyncSession, sandbox: SandboxServer, shape: bool
) -> None:
    contact = await session.contacts.create(
        phone="+905557700001", metadata={"crm_id": "L-1"}, name="Ada", email="ada@example.com"
    )
    stored = sandbox.contacts[contact.contact_id]
    assert (stored["name"], stored["email"], stored["metadata"]) == (
        "Ada",
        "ada@example.com",
        {"crm_id": "L-1"},
    )
    assert contact.created_at is not None and contact.extra["name"] == "Ada"

    updated = await session.contacts.update(contact.contact_id, metadata={"stage": "qualified"})
    assert updated.contact_id == contact.contact_id
    assert updated.metadata == sandbox.contacts[contact.contact_id]["metadata"]

    with pytest.raises(ca.NotFoundError) as missing:
        await session.contacts.update("ct_000000000000", name="nobody")
    assert missing.value.message == "Contact not found"
    # The server's own E.164 check, reached by overriding the checked phone in the body.
    with pytest.raises(ca.BadRequestError) as bad:
        await session.contacts.create(phone="+905557700002", extra_body={"phone": "12345"})
    assert bad.value.message == "phone must be in E.164 format"
    with pytest.raises(ca.ValidationError, match=r"E\.164"):
        await session.contacts.create(phone="12345")
    assert len(sandbox.contacts) == 1


async def test_the_warm_transfer_flow_bridges_while_agents_are_free(
    session: ca.AsyncSession, sandbox: SandboxServer, shape: bool
) -> None:
    first, second, third = await _live_calls(session, sandbox, 3)

    availability = await session.agents.availability()
    assert availability.available == 2 and availability.queues is not None
    call = await session.calls.transfer(first, queue="default")
    assert call.call_id == first and call.extra["transfer"]["queue"] == "default"
    assert (await session.agents.availability()).available == 1

    sandbox.set_available_agents(0)
    assert not (await session.agents.availability()).available
    assert isinstance(session._sleep, Sleeps)
    with pytest.raises(ca.ServerError) as busy:
        await session.calls.transfer(second, queue="default")
    assert busy.value.message == "No agents available in target queue"
    assert not isinstance(busy.value, ca.OutcomeUnknownError)
    assert len(session._sleep) == 2  # a 503 proves nothing happened: retried, then raised

    # The workflow falls back to an async handoff: it writes its result onto the call ...
    noted = await session.calls.set_metadata(second, {"handoff": "callback", "score": 0.9})
    assert noted.metadata is not None and noted.metadata["handoff"] == "callback"
    assert sandbox.calls[second]["metadata"]["handoff"] == "callback"
    # ... and ends it; ending frees the agent of the bridged call too.
    ended = await session.calls.end(second)
    assert ended.status == ca.CallStatus.COMPLETED
    await session.calls.end(first)
    assert (await session.agents.availability()).available == 1

    with pytest.raises(ca.ConflictError) as inactive:
        await session.calls.end(first)
    assert inactive.value.message == "Call is not currently active"
    with pytest.raises(ca.ConflictError, match="not currently active"):
        await session.calls.transfer(first)
    assert sandbox.calls[third]["status"] == "in-progress"


async def test_launching_a_running_campaign_conflicts_and_unknown_ones_are_not_found(
    session: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    await _live_calls(session, sandbox, 1)
    with pytest.raises(ca.ConflictError, match="already running"):
        await session.campaigns.launch("cmp_1")
    with pytest.raises(ca.NotFoundError, match="Campaign not found"):
        await session.campaigns.stop("cmp_404")
    launch = sandbox.path("campaigns.launch", campaign_id="cmp_1")
    launches = [r for r in sandbox.requests if r.path == launch]
    assert len(launches) == 2  # the conflict was not retried


async def test_a_bulk_batch_the_server_may_have_imported_says_so(
    session: ca.AsyncSession, sandbox: SandboxServer
) -> None:
    sandbox.fail_next(1, Fault.COMMIT_THEN_500, path=sandbox.path("contacts.bulk_create"))
    results = [r async for r in session.contacts.bulk_create(_leads(4), batch_size=2)]
    unknown, ok = results
    assert isinstance(unknown.error, ca.ServerError) and unknown.outcome_unknown
    assert ok.ok and ok.created == 2
    # Why it is "unknown": the server did import the batch before failing.
    assert len(sandbox.contacts) == 4
    bulk = [r for r in sandbox.requests if r.path == sandbox.path("contacts.bulk_create")]
    assert len(bulk) == 2  # the ambiguous batch was not sent again


async def test_moved_paths_work_when_the_session_is_told() -> None:
    paths = {
        "contacts.create": "/api/v2/contacts",
        "calls.set_metadata": "/api/v2/calls/{call_id}/meta",
        "agents.availability": "/api/v2/agents/availability",
    }
    async with SandboxServer(calls=3, paths=paths) as sb, sb.session(rate_limits=None) as s:
        contact = await s.contacts.create(phone="+905557700003")
        call = await s.calls.set_metadata("cl_8f2a", {"intent": "callback"})
        availability = await s.agents.availability()
    assert contact.contact_id in sb.contacts
    assert call.metadata is not None and call.metadata["intent"] == "callback"
    assert availability.available == 2
    assert {r.path for r in sb.requests} == {
        "/api/v2/contacts",
        "/api/v2/calls/cl_8f2a/meta",
        "/api/v2/agents/availability",
    }
