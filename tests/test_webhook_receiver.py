"""The aiohttp.web receiver (``webhooks.py``): a real app on loopback, a plain client posting."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

import calleague_async as ca
from calleague_async.webhooks import WebhookReceiver, sign_webhook, webhook_handler
from tests.test_webhooks import SECRET

Serve = Callable[[WebhookReceiver], Awaitable[URL]]


def event_body(event_id: str | None = "evt_1", **fields: Any) -> bytes:
    payload: dict[str, Any] = {
        "type": "call.ended",
        "data": {"callId": "cl_8f2a", "status": "completed", "transcript": "Hello?"},
        **fields,
    }
    if event_id is not None:
        payload["id"] = event_id
    return json.dumps(payload).encode()


class Recorder:
    """A callback that records what it was given; optionally waits, or fails, first."""

    def __init__(self, *, fail: int = 0, gate: asyncio.Event | None = None) -> None:
        self.events: list[ca.WebhookEvent] = []
        self.fail = fail
        self.gate = gate
        self.started = asyncio.Event()

    async def __call__(self, event: ca.WebhookEvent) -> None:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        self.events.append(event)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the CRM is down")

    @property
    def ids(self) -> list[str | None]:
        return [e.id for e in self.events]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[TestServer] = []

    async def start(receiver: WebhookReceiver) -> URL:
        app = web.Application()
        receiver.add_to(app, "/hooks/calleague")
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server.make_url("/hooks/calleague")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    client: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    *,
    secret: str | None = SECRET,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    # Each delivery is signed afresh, as senders do on every retry (new timestamp).
    sent = dict(headers or {})
    if secret is not None:
        sent = {**sign_webhook(body, secret), **sent}
    async with client.post(url, data=body, headers=sent) as reply:
        return reply.status, await reply.text()


async def test_a_valid_event_is_acknowledged_and_handed_over_once(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback, secret=SECRET))
    assert await post(client, url, event_body()) == (204, "")
    [event] = callback.events
    assert event.id == "evt_1" and event.type == "call.ended"
    assert event.call is not None and event.call.transcript == "Hello?"


async def test_a_redelivery_of_a_handled_id_is_acknowledged_without_calling_again(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback, secret=SECRET))
    for _ in range(3):
        assert (await post(client, url, event_body()))[0] == 204
    assert callback.ids == ["evt_1"]
    assert (await post(client, url, event_body("evt_2")))[0] == 204
    assert callback.ids == ["evt_1", "evt_2"]


async def test_concurrent_duplicates_call_the_callback_once(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    gate = asyncio.Event()
    callback = Recorder(gate=gate)
    url = await serve(WebhookReceiver(callback, secret=SECRET))
    first = asyncio.create_task(post(client, url, event_body()))
    await callback.started.wait()
    duplicates = [asyncio.create_task(post(client, url, event_body())) for _ in range(4)]
    await asyncio.sleep(0.05)  # the duplicates arrive while the first is being handled
    assert not any(d.done() for d in duplicates)
    gate.set()
    replies = await asyncio.gather(first, *duplicates)
    assert [status for status, _ in replies] == [204] * 5
    assert callback.ids == ["evt_1"]


async def test_duplicates_of_a_delivery_that_failed_fail_too_and_a_redelivery_is_processed(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    gate = asyncio.Event()
    callback = Recorder(fail=1, gate=gate)
    url = await serve(WebhookReceiver(callback, secret=SECRET))
    first = asyncio.create_task(post(client, url, event_body()))
    await callback.started.wait()
    duplicate = asyncio.create_task(post(client, url, event_body()))
    await asyncio.sleep(0.05)
    gate.set()
    assert [r[0] for r in await asyncio.gather(first, duplicate)] == [500, 500]
    assert (await post(client, url, event_body()))[0] == 204
    assert callback.ids == ["evt_1", "evt_1"]


async def test_a_failing_callback_is_a_500_with_its_traceback_logged_and_redelivery_processes_it(
    serve: Serve, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    callback = Recorder(fail=1)
    url = await serve(WebhookReceiver(callback, secret=SECRET))
    with caplog.at_level(logging.ERROR, logger="calleague_async.webhooks"):
        status, text = await post(client, url, event_body())
    assert status == 500
    assert "CRM" not in text  # the sender learns nothing of our insides
    [record] = [r for r in caplog.records if r.name == "calleague_async.webhooks"]
    assert record.exc_info is not None and "evt_1" in record.getMessage()
    assert "the CRM is down" in caplog.text
    assert (await post(client, url, event_body()))[0] == 204
    assert (await post(client, url, event_body()))[0] == 204  # now it is remembered
    assert callback.ids == ["evt_1", "evt_1"]


@pytest.mark.parametrize(
    ("secret", "headers"),
    [
        (None, {}),
        (SECRET, {"webhook-signature": "v1,bm9wZQ=="}),
        (SECRET, {"webhook-timestamp": "1000000000"}),
    ],
    ids=["unsigned", "bad-signature", "replayed"],
)
async def test_a_delivery_that_fails_verification_is_a_401_and_never_reaches_the_callback(
    serve: Serve,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    secret: str | None,
    headers: dict[str, str],
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback, secret=SECRET))
    with caplog.at_level(logging.WARNING, logger="calleague_async.webhooks"):
        status, text = await post(client, url, event_body(), secret=secret, headers=headers)
    assert (status, text) == (401, "webhook verification failed")  # no hint for a forger
    assert callback.events == []
    assert "webhook delivery refused (401)" in caplog.text
    assert SECRET.removeprefix("whsec_") not in caplog.text


async def test_a_signed_body_that_is_no_event_is_a_400(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback, secret=SECRET))
    assert await post(client, url, b"[1, 2]") == (400, "invalid webhook payload")
    assert await post(client, url, b"\xff") == (400, "invalid webhook payload")
    assert callback.events == []


async def test_a_body_over_the_cap_is_a_413_unread(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback, secret=SECRET, max_body_size=256))
    big = event_body(padding="x" * 300)
    assert (await post(client, url, big))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(10):
            yield b" " * 100

    async with client.post(url, data=chunks()) as reply:
        assert reply.status == 413
    assert (await post(client, url, event_body()))[0] == 204
    assert callback.ids == ["evt_1"]


async def test_memory_is_bounded_the_oldest_id_is_forgotten_first(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback, secret=SECRET, seen=3))
    for n in (1, 2, 3, 4):
        assert (await post(client, url, event_body(f"evt_{n}")))[0] == 204
    for n in (2, 3, 4):  # still remembered
        assert (await post(client, url, event_body(f"evt_{n}")))[0] == 204
    assert (await post(client, url, event_body("evt_1")))[0] == 204  # forgotten: handled again
    assert callback.ids == ["evt_1", "evt_2", "evt_3", "evt_4", "evt_1"]


async def test_a_redelivery_keeps_an_id_fresh(serve: Serve, client: aiohttp.ClientSession) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback, secret=SECRET, seen=2))
    for n in (1, 2, 1, 3):  # evt_1 seen again, so evt_2 is the oldest when evt_3 arrives
        await post(client, url, event_body(f"evt_{n}"))
    await post(client, url, event_body("evt_1"))
    assert callback.ids == ["evt_1", "evt_2", "evt_3"]


async def test_an_event_without_any_id_is_handed_over_every_time(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback))
    for _ in range(2):
        assert (await post(client, url, event_body(None), secret=None))[0] == 204
    assert callback.ids == [None, None]


async def test_without_a_secret_unsigned_events_are_accepted_and_deduplicated_by_header(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder()
    url = await serve(WebhookReceiver(callback))
    for _ in range(2):
        status, _ = await post(
            client, url, event_body(None), secret=None, headers={"Webhook-Id": "msg_1"}
        )
        assert status == 204
    assert callback.ids == ["msg_1"]


async def test_a_plain_function_is_a_callback_too(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    seen: list[str | None] = []
    url = await serve(WebhookReceiver(lambda event: seen.append(event.type), secret=SECRET))
    assert (await post(client, url, event_body()))[0] == 204
    assert seen == ["call.ended"]


async def test_webhook_handler_is_the_receiver_as_a_bare_handler(
    client: aiohttp.ClientSession,
) -> None:
    callback = Recorder()
    app = web.Application()
    app.router.add_post("/in", webhook_handler(callback, secret=SECRET, seen=10))
    async with TestServer(app, host="127.0.0.1") as server:
        url = server.make_url("/in")
        for _ in range(2):
            assert (await post(client, url, event_body()))[0] == 204
    assert callback.ids == ["evt_1"]


async def test_background_answers_202_first_and_a_failure_is_only_logged(
    serve: Serve, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    gate = asyncio.Event()
    callback = Recorder(fail=1, gate=gate)
    receiver = WebhookReceiver(callback, secret=SECRET, background=True)
    url = await serve(receiver)
    assert (await post(client, url, event_body()))[0] == 202
    assert callback.events == []  # answered before the callback finished
    assert (await post(client, url, event_body()))[0] == 202  # in flight: not started twice
    with caplog.at_level(logging.ERROR, logger="calleague_async.webhooks"):
        gate.set()
        await receiver.drain()
    assert callback.ids == ["evt_1"]
    assert "the CRM is down" in caplog.text
    # Its sender got a 202, so it will not redeliver; if it does, the event is handled again.
    assert (await post(client, url, event_body()))[0] == 202
    await receiver.drain()
    assert callback.ids == ["evt_1", "evt_1"]


async def test_background_events_beyond_max_pending_are_a_503(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    gate = asyncio.Event()
    callback = Recorder(gate=gate)
    receiver = WebhookReceiver(callback, secret=SECRET, background=True, max_pending=2)
    url = await serve(receiver)
    assert (await post(client, url, event_body("evt_1")))[0] == 202
    assert (await post(client, url, event_body("evt_2")))[0] == 202
    assert (await post(client, url, event_body("evt_3")))[0] == 503
    gate.set()
    await receiver.drain()
    assert (await post(client, url, event_body("evt_3")))[0] == 202
    await receiver.drain()
    assert sorted(callback.ids, key=str) == ["evt_1", "evt_2", "evt_3"]


async def test_shutting_down_the_app_finishes_background_events(
    client: aiohttp.ClientSession,
) -> None:
    callback = Recorder()
    app = web.Application()
    WebhookReceiver(callback, secret=SECRET, background=True).add_to(app, "/hooks")
    async with TestServer(app, host="127.0.0.1") as server:
        assert (await post(client, server.make_url("/hooks"), event_body()))[0] == 202
    assert callback.ids == ["evt_1"]


async def test_drain_cancels_what_outlives_its_grace(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    callback = Recorder(gate=asyncio.Event())  # never opens
    receiver = WebhookReceiver(callback, secret=SECRET, background=True)
    url = await serve(receiver)
    assert (await post(client, url, event_body()))[0] == 202
    await receiver.drain(grace=0.01)
    assert callback.events == []
    assert (await post(client, url, event_body()))[0] == 202  # not remembered as handled
    await receiver.drain(grace=0.01)


@pytest.mark.parametrize(
    "options",
    [
        {"secret": "whsec_not base64!"},
        {"secret": []},
        {"seen": -1},
        {"max_body_size": 0},
        {"max_pending": 0},
        {"tolerance": -5},
    ],
    ids=["bad-secret", "no-secrets", "seen", "max_body_size", "max_pending", "tolerance"],
)
def test_a_receiver_refuses_bad_options_at_startup(options: dict[str, Any]) -> None:
    with pytest.raises(ca.ConfigurationError):
        WebhookReceiver(print, **options)
