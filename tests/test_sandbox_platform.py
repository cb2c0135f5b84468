"""Seed 002's operations on the sandbox, over a real socket with a plain aiohttp client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from calleague_async.testing import Fault, SandboxConfig, SandboxServer

CONTACTS = "/v1/contacts"
BULK = "/v1/contacts/bulk"
CALLS = "/api/voice/calls"
AVAILABILITY = "/api/voice/calls/agent-availability"
START = "/api/core/voice/agent/call"


@pytest_asyncio.fixture
async def sb() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(calls=5) as server:
        yield server


@pytest_asyncio.fixture
async def http(sb: SandboxServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(sb.base_url, headers={"X-Api-Key": sb.api_key}) as session:
        yield session


async def send(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with http.request(method, path, json=body) as resp:
        return resp.status, await resp.json()


async def live_call(sb: SandboxServer, http: aiohttp.ClientSession) -> str:
    _, call = await send(http, "POST", START, {"agentId": "ag_123", "to": "+905551112233"})
    sb.advance_calls(call["callId"])  # ringing -> in-progress
    return str(call["callId"])


# --- auth and error shapes ------------------------------------------------------------------------


async def test_x_api_key_and_bearer_both_work_on_every_api(sb: SandboxServer) -> None:
    async with aiohttp.ClientSession(sb.base_url) as anon:
        for headers in ({"X-Api-Key": sb.api_key}, {"Authorization": f"Bearer {sb.api_key}"}):
            for path in (AVAILABILITY, "/api/core/voice/agent/list"):
                async with anon.get(path, headers=headers) as resp:
                    assert resp.status == 200
        async with anon.get(AVAILABILITY, headers={"X-Api-Key": "sk_wrong"}) as resp:
            assert (resp.status, await resp.json()) == (401, {"detail": "Invalid or expired token"})
        async with anon.get("/api/core/voice/agent/list") as resp:
            assert await resp.json() == {"code": 401, "message": "Invalid or missing API key"}
    assert all("X-Api-Key" not in r.headers for r in sb.requests)


async def test_seed_002_errors_use_detail_and_envelope_wins(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    assert await send(http, "PATCH", f"{CONTACTS}/ct_nope", {"name": "x"}) == (
        404,
        {"detail": "Contact not found"},
    )
    sb.fail_next(1, Fault.UNAVAILABLE, path=AVAILABILITY)
    assert await send(http, "GET", AVAILABILITY) == (503, {"detail": "Service unavailable"})
    sb.set_envelope(True)
    status, body = await send(http, "POST", CONTACTS, {"phone": "+15551234567"})
    assert status == 201 and body["code"] == 201 and body["data"]["phone"] == "+15551234567"
    assert await send(http, "PATCH", f"{CONTACTS}/ct_nope", {"name": "x"}) == (
        404,
        {"code": 404, "statusText": "Contact not found", "data": None},
    )


# --- contacts ------------------------------------------------------------------------------------


async def test_contacts_create_update_and_bulk(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    status, contact = await send(
        http, "POST", CONTACTS, {"phone": "+15551234567", "name": "Jane", "metadata": {"crm": 1}}
    )
    assert status == 201
    assert re.fullmatch(r"ct_[0-9a-f]{12}", contact["id"])
    assert set(contact) == {
        "id", "phone", "name", "email", "metadata", "campaign_id", "status", "last_call_id",
        "created_at", "updated_at",
    }  # fmt: skip
    assert await send(http, "POST", CONTACTS, {"phone": "555-1234"}) == (
        400,
        {"detail": "phone must be in E.164 format"},
    )
    status, updated = await send(http, "PATCH", f"{CONTACTS}/{contact['id']}", {"name": "J. Doe"})
    assert status == 200 and updated["name"] == "J. Doe" and sb.contacts[contact["id"]] == updated
    status, result = await send(
        http, "POST", BULK, [{"phone": "+15550000001"}, {"phone": "x"}, {"phone": "+15550000002"}]
    )
    assert status == 200
    assert result["created"] == 2
    assert result["failed"] == [{"index": 1, "detail": "phone must be in E.164 format"}]
    assert [c["phone"] for c in result["contacts"]] == ["+15550000001", "+15550000002"]
    status, wrapped = await send(http, "POST", BULK, {"contacts": [{"phone": "+15550000003"}]})
    assert (status, wrapped["created"]) == (200, 1)
    assert len(sb.contacts) == 4
    assert (await send(http, "POST", BULK, {"phone": "+15550000003"}))[0] == 400


# --- campaigns -----------------------------------------------------------------------------------


async def test_campaign_launch_dials_contacts_and_409s_while_running(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    await send(http, "POST", BULK, [{"phone": "+15550000001"}, {"phone": "+15550000002"}])
    status, campaign = await send(http, "POST", "/v1/campaigns/cmp_1/launch")
    assert status == 200 and campaign["status"] == "running"
    assert len(campaign["call_ids"]) == campaign["active_calls"] == 2
    assert sb.dials == {"+15550000001": 1, "+15550000002": 1}
    status, call = await send(http, "GET", f"/api/core/voice/call/{campaign['call_ids'][0]}")
    assert status == 200 and call["status"] == "queued" and call["campaignId"] == "cmp_1"
    assert await send(http, "POST", "/v1/campaigns/cmp_1/launch") == (
        409,
        {"detail": "Campaign is already running"},
    )
    status, stopped = await send(http, "POST", "/v1/campaigns/cmp_1/stop")
    assert status == 200 and stopped["status"] == "stopped"
    assert await send(http, "POST", "/v1/campaigns/cmp_9/stop") == (
        404,
        {"detail": "Campaign not found"},
    )


# --- live calls: transfer, end, metadata, availability -----------------------------------------


async def test_transfer_needs_a_live_call_and_a_free_agent(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    _, ringing = await send(http, "POST", START, {"agentId": "ag_123", "to": "+905551112233"})
    not_active = (409, {"detail": "Call is not currently active"})
    assert await send(http, "POST", f"{CALLS}/{ringing['callId']}/transfer", {}) == not_active
    assert await send(http, "POST", f"{CALLS}/cl_8f2a/transfer", {}) == not_active  # completed
    call_id = await live_call(sb, http)
    sb.set_available_agents(0)
    assert await send(http, "POST", f"{CALLS}/{call_id}/transfer", {"queue": "default"}) == (
        503,
        {"detail": "No agents available in target queue"},
    )
    sb.set_available_agents(1)
    async with http.post(f"{CALLS}/{call_id}/transfer") as resp:  # no body: the default queue
        transferred = await resp.json()
        assert resp.status == 200
    assert transferred["transfer"]["queue"] == "default" and transferred["status"] == "in-progress"
    assert await send(http, "GET", AVAILABILITY) == (
        200,
        {"available": 0, "busy": 1, "queues": [{"name": "default", "available": 0, "busy": 1}]},
    )
    assert (await send(http, "POST", f"{CALLS}/cl_000000000000/transfer", {}))[0] == 404


async def test_end_and_metadata_show_in_calls_get(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    call_id = await live_call(sb, http)
    status, ended = await send(http, "POST", f"{CALLS}/{call_id}/end")
    assert status == 200
    assert (ended["status"], ended["endedReason"]) == ("completed", "ended-by-api")
    assert ended["transcript"][0]["role"] == "agent"
    assert await send(http, "POST", f"{CALLS}/{call_id}/end") == (
        409,
        {"detail": "Call is not currently active"},
    )
    payload = {"intent": "callback", "score": 0.9, "slots": {"day": "mon"}}
    status, stored = await send(http, "POST", f"{CALLS}/{call_id}/metadata", payload)
    assert status == 200 and stored["metadata"] == payload
    assert (await send(http, "GET", f"/api/core/voice/call/{call_id}"))[1]["metadata"] == payload
    assert await send(http, "POST", f"{CALLS}/{call_id}/metadata", [1]) == (
        400,
        {"detail": "Body must be a JSON object"},
    )
    assert await send(http, "POST", f"{CALLS}/cl_000000000000/metadata", {}) == (
        404,
        {"detail": "Call not found"},
    )


# --- limits --------------------------------------------------------------------------------------


async def test_seed_002_limits_switch_applies_the_documented_table() -> None:
    async with SandboxServer(calls=1, seed_002_limits=True) as sb:
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        async with aiohttp.ClientSession(sb.base_url, headers=headers) as http:
            seen = [(await send(http, "POST", "/v1/campaigns/cmp_1/stop"))[0] for _ in range(6)]
            async with http.post("/v1/campaigns/cmp_1/stop") as resp:
                assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
                assert await resp.json() == {"detail": "Rate limit exceeded: 5/minute"}
            for _ in range(3):  # Calleague's own routes document no limit
                assert (await send(http, "GET", "/api/core/voice/call/cl_8f2a"))[0] == 200
    assert seen == [200] * 5 + [429]
    assert sb.rate_limited == 2


async def test_route_rate_limits_override_the_seed_002_table() -> None:
    limits = {"agents.availability": "1/minute"}
    async with (
        SandboxServer(seed_002_limits=True, route_rate_limits=limits) as sb,
        aiohttp.ClientSession(sb.base_url, headers={"X-Api-Key": sb.api_key}) as http,
    ):
        assert (await send(http, "GET", AVAILABILITY))[0] == 200
        assert await send(http, "GET", AVAILABILITY) == (
            429,
            {"detail": "Rate limit exceeded: 1/minute"},
        )


# --- paths and config ----------------------------------------------------------------------------


async def test_seed_002_paths_can_be_moved_and_named_either_way() -> None:
    paths = {"calls.end": "/v2/calls/{callId}/hangup"}
    async with (
        SandboxServer(calls=1, paths=paths) as sb,
        aiohttp.ClientSession(sb.base_url, headers={"X-Api-Key": sb.api_key}) as http,
    ):
        assert sb.path("calls.end", callId="cl_1") == sb.path("calls.end", call_id="cl_1")
        assert sb.path("calls.end", call_id="cl_1") == "/v2/calls/cl_1/hangup"
        call_id = await live_call(sb, http)
        assert (await send(http, "POST", f"/v2/calls/{call_id}/hangup"))[0] == 200
        assert (await send(http, "POST", f"{CALLS}/{call_id}/end"))[0] == 404


def test_config_checks_paths_and_progress() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        SandboxConfig(paths={"calls.end": "/v2/calls/end"})
    with pytest.raises(ValueError, match="call_progress_seconds"):
        SandboxConfig(call_progress_seconds=-1)
    with pytest.raises(ValueError, match="agent_queues"):
        SandboxConfig(agent_queues={"default": -1})
    assert SandboxConfig(call_progress_seconds=0).call_progress_seconds == 0
