"""Signed webhook deliveries as the sandbox's calls progress, to a real receiver in the test.

Signatures are checked here from the Standard Webhooks scheme itself (hmac), not with SDK code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest_asyncio
from aiohttp import web

from calleague_async.testing import SandboxServer

START = "/api/core/voice/agent/call"
WEBHOOK = "/api/core/webhook"
ALL = ["call.queued", "call.started", "call.ended"]


@attrs.define
class Receiver:
    """A webhook receiver on a loopback port: records every POST, answers ``statuses`` first."""

    statuses: list[int] = attrs.Factory(list)
    seen: list[tuple[dict[str, str], bytes]] = attrs.Factory(list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.seen]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield found
    await runner.cleanup()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check: HMAC-SHA256 of ``id.timestamp.body`` under the secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.partition(",")[2] for s in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, g) for g in given)


async def post(sb: SandboxServer, path: str, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {sb.api_key}"}
    async with (
        aiohttp.ClientSession(sb.base_url, headers=headers) as http,
        http.post(path, json=body) as resp,
    ):
        assert resp.status < 300, await resp.text()
        return await resp.json()


async def get_call(sb: SandboxServer, call_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {sb.api_key}"}
    async with (
        aiohttp.ClientSession(sb.base_url, headers=headers) as http,
        http.get(f"/api/core/voice/call/{call_id}") as resp,
    ):
        result: dict[str, Any] = await resp.json()
        return result


async def test_a_receiver_gets_queued_started_ended_in_order_signed(receiver: Receiver) -> None:
    async with SandboxServer(calls=3, call_progress_seconds=0.01) as sb:
        hook = await post(sb, WEBHOOK, {"url": receiver.url, "events": ALL})
        assert hook["secret"].startswith("whsec_")
        call = await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        await asyncio.wait_for(sb.drain(), 5)
        final = await get_call(sb, call["callId"])
    bodies = receiver.bodies()
    assert [b["type"] for b in bodies] == ALL
    for (headers, raw), body in zip(receiver.seen, bodies, strict=True):
        assert verify(hook["secret"], headers, raw)
        assert headers["webhook-id"] == body["id"] and body["id"].startswith("evt_")
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert headers["Content-Type"] == "application/json"
        assert body["data"]["callId"] == call["callId"] and body["createdAt"].endswith("Z")
    assert [b["data"]["status"] for b in bodies] == ["ringing", "in-progress", "completed"]
    ended = bodies[-1]["data"]
    assert ended["endedReason"] == "completed" and ended["durationSec"] > 0
    assert [t["role"] for t in ended["transcript"]][:2] == ["agent", "user"]
    assert final == ended  # calls.get shows what the last event said
    assert [(d.type, d.status, d.attempt) for d in sb.deliveries] == [(t, 204, 1) for t in ALL]
    assert [e.type for e in sb.events] == ALL


async def test_a_tampered_body_fails_the_check(receiver: Receiver) -> None:
    async with SandboxServer(calls=1) as sb:
        hook = await post(sb, WEBHOOK, {"url": receiver.url, "events": ["call.queued"]})
        await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        await asyncio.wait_for(sb.drain(), 5)
    headers, raw = receiver.seen[0]
    assert verify(hook["secret"], headers, raw)
    assert not verify(hook["secret"], headers, raw.replace(b"ringing", b"failed!"))


async def test_status_changes_show_in_calls_get_as_events_fire(receiver: Receiver) -> None:
    # No progression of its own: the test moves the call.
    async with SandboxServer(calls=1, call_progress_seconds=None) as sb:
        await post(sb, WEBHOOK, {"url": receiver.url, "events": ["*"]})
        call = await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        statuses = [(await get_call(sb, call["callId"]))["status"]]
        for _ in range(3):
            sb.advance_calls()
            await asyncio.wait_for(sb.drain(), 5)
            statuses.append((await get_call(sb, call["callId"]))["status"])
    assert statuses == ["ringing", "in-progress", "completed", "completed"]
    assert [b["data"]["status"] for b in receiver.bodies()] == statuses[:3]


async def test_redelivery_after_a_500_keeps_the_webhook_id(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    async with SandboxServer(calls=1, delivery_backoff=0.01) as sb:
        hook = await post(sb, WEBHOOK, {"url": receiver.url, "events": ["call.queued"]})
        await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        await asyncio.wait_for(sb.drain(), 5)
    ids = {headers["webhook-id"] for headers, _ in receiver.seen}
    assert len(receiver.seen) == 3 and len(ids) == 1
    assert all(verify(hook["secret"], h, raw) for h, raw in receiver.seen)
    assert [(d.attempt, d.status, d.ok) for d in sb.deliveries] == [
        (1, 500, False),
        (2, 503, False),
        (3, 204, True),
    ]
    assert {d.event_id for d in sb.deliveries} == ids


async def test_a_redelivery_holds_back_the_calls_later_events(receiver: Receiver) -> None:
    receiver.statuses = [500]
    async with SandboxServer(calls=1, call_progress_seconds=0, delivery_backoff=0.05) as sb:
        await post(sb, WEBHOOK, {"url": receiver.url, "events": ALL})
        await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        await asyncio.wait_for(sb.drain(), 5)
    assert [b["type"] for b in receiver.bodies()] == ["call.queued", *ALL]


async def test_an_unreachable_receiver_is_tried_a_bounded_number_of_times() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    async with SandboxServer(calls=1, delivery_attempts=3, delivery_backoff=0) as sb:
        await post(sb, WEBHOOK, {"url": url, "events": ["call.queued"]})
        await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        await asyncio.wait_for(sb.drain(), 5)
    assert [(d.attempt, d.status) for d in sb.deliveries] == [(1, None), (2, None), (3, None)]
    assert all(d.error and "Connect" in d.error for d in sb.deliveries)


async def test_only_subscribed_event_types_are_delivered(receiver: Receiver) -> None:
    async with SandboxServer(calls=1, call_progress_seconds=0) as sb:
        await post(sb, WEBHOOK, {"url": receiver.url, "events": ["call.ended"]})
        await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        await asyncio.wait_for(sb.drain(), 5)
    assert [b["type"] for b in receiver.bodies()] == ["call.ended"]


async def test_a_campaign_launch_delivers_every_contacts_call(receiver: Receiver) -> None:
    async with SandboxServer(calls=1, call_progress_seconds=0.01) as sb:
        await post(sb, WEBHOOK, {"url": receiver.url, "events": ["call.ended"]})
        await post(sb, "/v1/contacts/bulk", [{"phone": "+15550000001"}, {"phone": "+15550000002"}])
        campaign = await post(sb, "/v1/campaigns/cmp_1/launch", None)
        await asyncio.wait_for(sb.drain(), 5)
        assert sb.campaigns["cmp_1"]["status"] == "completed"
    ended = {b["data"]["callId"]: b["data"] for b in receiver.bodies()}
    assert set(ended) == set(campaign["call_ids"])
    assert {c["to"] for c in ended.values()} == {"+15550000001", "+15550000002"}


async def test_closing_the_sandbox_cancels_pending_steps_and_deliveries(
    receiver: Receiver,
) -> None:
    receiver.statuses = [500] * 10
    sb = SandboxServer(calls=1, call_progress_seconds=30, delivery_backoff=30)
    async with sb:
        await post(sb, WEBHOOK, {"url": receiver.url, "events": ["*"]})
        await post(sb, START, {"agentId": "ag_123", "to": "+905551112233"})
        for _ in range(100):  # the first attempt failed: the retry waits 30 s
            if sb.deliveries:
                break
            await asyncio.sleep(0.01)
    assert len(sb.deliveries) == 1
    assert sb._timeline.next_due() is None  # nothing left scheduled
    coros = [t.get_coro() for t in asyncio.all_tasks()]
    left = [c for c in coros if getattr(c, "__qualname__", "") == "Deliverer._deliver"]
    assert left == []


async def test_a_default_sandbox_moves_calls_on_its_own_once_a_webhook_listens(
    receiver: Receiver,
) -> None:
    async with SandboxServer(calls=0) as sb:
        quiet = await post(sb, START, {"agentId": "ag_123", "to": "+905551112201"})
        await asyncio.sleep(0.35)
        assert (await get_call(sb, quiet["callId"]))["status"] == "ringing"  # nobody listens
        await post(sb, WEBHOOK, {"url": receiver.url, "events": ALL})
        call = await post(sb, START, {"agentId": "ag_123", "to": "+905551112202"})
        for _ in range(100):  # 0.1 s a step by default: ended within a second
            if "call.ended" in [b["type"] for b in receiver.bodies()]:
                break
            await asyncio.sleep(0.05)
    types = [b["type"] for b in receiver.bodies() if b["data"]["callId"] == call["callId"]]
    assert types == ALL
