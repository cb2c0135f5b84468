"""Hooks, logging and spans through a real session: the events the pipeline emits, in order."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aioresponses import aioresponses
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import calleague_async as ca

KEY = "sk_live_observability_key_5150"
BASE = "https://app.calleague.ai"
CALL_URL = f"{BASE}/api/core/voice/call/cl_8f2a"
START_URL = f"{BASE}/api/core/voice/agent/call"


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


async def _no_sleep(_: float) -> None:
    return None


def session(**kw: Any) -> ca.AsyncSession:
    kw.setdefault("rate_limits", None)
    s = ca.AsyncSession(api_key=KEY, **kw)
    s._sleep = _no_sleep
    return s


async def test_hooks_see_every_step_of_a_retried_call_in_order(mock: aioresponses) -> None:
    mock.get(CALL_URL, status=503, payload={"message": "busy"})
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"}, headers={"X-Request-Id": "req_9"})
    seen: list[ca.RequestEvent] = []

    async def async_hook(event: ca.RequestEvent) -> None:
        seen.append(event)

    hooks: dict[str, list[ca.Hook]] = {
        name: [seen.append] for name in ("request_sent", "response_received", "error")
    }
    hooks["retry_scheduled"] = [async_hook]
    async with session(hooks=hooks) as s:
        await s.calls.get("cl_8f2a")
    assert [(e.event, e.attempt, e.status) for e in seen] == [
        ("request_sent", 1, None),
        ("response_received", 1, 503),
        ("retry_scheduled", 1, 503),
        ("request_sent", 2, None),
        ("response_received", 2, 200),
    ]
    assert {e.operation for e in seen} == {"calls.get"}
    assert {e.route for e in seen} == {"GET /api/core/voice/call/{call_id}"}
    assert seen[-1].request_id == "req_9" and seen[-1].elapsed is not None
    assert seen[2].wait is not None and seen[2].reason == "503 ServerError"
    assert all(KEY not in repr(e) and "cl_8f2a" not in repr(e) for e in seen)


async def test_the_error_event_comes_once_with_the_final_error(mock: aioresponses) -> None:
    mock.get(CALL_URL, status=404, payload={"message": "no such call"})
    errors: list[ca.RequestEvent] = []
    async with session(hooks={"error": errors.append}) as s:
        with pytest.raises(ca.NotFoundError) as info:
            await s.calls.get("cl_8f2a")
    [event] = errors
    assert event.error is info.value and event.status == 404 and event.attempt == 1


async def test_a_limiter_wait_is_an_event_with_the_time_waited(mock: aioresponses) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"}, repeat=True)
    waits: list[ca.RequestEvent] = []
    async with session(
        hooks={"limiter_wait": waits.append},
        rate_limits={"default": "50/second"},
        rate_limit_scope="observability-limiter-wait",
    ) as s:
        for _ in range(3):
            await s.calls.get("cl_8f2a")
    assert waits and all(e.wait is not None and e.wait > 0 for e in waits)


async def test_a_hook_that_raises_is_logged_and_breaks_nothing(
    mock: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    after: list[str] = []

    def broken(event: ca.RequestEvent) -> None:
        raise RuntimeError("hook bug")

    async with session(hooks={"request_sent": [broken, lambda e: after.append(e.event)]}) as s:
        call = await s.calls.get("cl_8f2a")
    assert call.call_id == "cl_8f2a" and after == ["request_sent"]
    assert "hook bug" in caplog.text


def test_hooks_for_unknown_events_are_refused() -> None:
    with pytest.raises(ca.ConfigurationError):
        ca.AsyncSession(api_key=KEY, hooks={"on_everything": print})


async def test_one_span_per_call_with_route_attempts_and_no_key_or_number(
    mock: aioresponses,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    mock.get(CALL_URL, status=502, payload={"message": "x"})
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    mock.post(START_URL, status=422, payload={"message": "to is not dialable"})
    async with session(tracer_provider=provider) as s:
        await s.calls.get("cl_8f2a")
        with pytest.raises(ca.UnprocessableEntityError):
            await s.calls.start(agent_id="ag_1", to="+903121234567")
    get, start = exporter.get_finished_spans()
    assert get.name == "calls.get" and start.name == "calls.start"
    assert get.attributes is not None and start.attributes is not None
    assert get.attributes["calleague.route"] == "GET /api/core/voice/call/{call_id}"
    assert get.attributes["calleague.attempts"] == 2
    assert start.status.status_code is StatusCode.ERROR
    text = repr([dict(sp.attributes or {}) for sp in (get, start)]) + repr(start.events)
    assert KEY not in text and "+903121234567" not in text and "cl_8f2a" not in text


async def test_with_nothing_listening_the_pipeline_emits_nothing(
    mock: aioresponses, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    caplog.set_level(logging.WARNING, logger="calleague_async")
    calls: list[str] = []
    from calleague_async import _events

    async def spy(self: Any, event: ca.RequestEvent) -> None:
        calls.append(event.event)

    monkeypatch.setattr(_events.Events, "emit", spy)
    async with session() as s:
        assert not s._events.enabled
        await s.calls.get("cl_8f2a")
    assert calls == []


async def test_debug_logging_has_one_line_per_request_with_the_key_redacted(
    mock: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="calleague_async")
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"}, headers={"X-Request-Id": "req_1"})
    async with session() as s:
        await s.calls.get("cl_8f2a")
    lines = [r.getMessage() for r in caplog.records if r.name == "calleague_async"]
    [line] = [x for x in lines if "->" in x]
    assert re.search(r"GET /api/core/voice/call/\{call_id\} -> 200 \(attempt 1, .* ms", line)
    assert "req_1" in line and KEY not in caplog.text


async def test_an_ad_hoc_path_never_reaches_events_or_spans(mock: aioresponses) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    mock.get(re.compile(r".*/api/contacts/\+903121234567$"), payload={"ok": True})
    seen: list[ca.RequestEvent] = []
    async with session(hooks={"response_received": seen.append}, tracer_provider=provider) as s:
        await s.request("GET", "/api/contacts/+903121234567")
    [span] = exporter.get_finished_spans()
    assert seen[0].route == "GET (ad hoc)"
    assert span.attributes is not None and span.attributes["calleague.route"] == "GET (ad hoc)"
    assert "+903121234567" not in repr(seen) + repr(dict(span.attributes))


async def test_a_call_cancelled_in_flight_closes_its_span_as_cancelled(
    mock: aioresponses,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    started = asyncio.Event()

    async def stall(url: Any, **kwargs: Any) -> None:
        started.set()
        await asyncio.sleep(10)

    mock.get(CALL_URL, callback=stall)
    async with session(tracer_provider=provider) as s:
        task = asyncio.ensure_future(s.calls.get("cl_8f2a"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes.get("calleague.cancelled") is True
