"""The sandbox server, exercised over a real socket with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from calleague_async.testing import Fault, SandboxConfig, SandboxServer

ROOT = Path(__file__).resolve().parents[1]
START = "/api/core/voice/agent/call"
CALLS = "/api/core/voice/call"
LIST = "/api/core/voice/call/list"
AGENTS = "/api/core/voice/agent/list"
WEBHOOK = "/api/core/webhook"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

DOC_CALL = {
    "callId": "cl_8f2a",
    "status": "completed",
    "direction": "outbound",
    "agentId": "ag_123",
    "to": "+903121234567",
    "metadata": {"orderId": "A-1042"},
    "durationSec": 84,
    "endedReason": "completed",
    "language": "tr",
    "recordingReady": True,
    "transcriptReady": True,
    "createdAt": "2026-01-01T12:00:00.000Z",
    "endedAt": "2026-01-01T12:01:24.000Z",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def sb() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(calls=45) as server:
        yield server


@pytest_asyncio.fixture
async def http(sb: SandboxServer) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {sb.api_key}"}
    async with aiohttp.ClientSession(sb.base_url, headers=headers) as session:
        yield session


async def get(http: aiohttp.ClientSession, path: str, **params: str) -> tuple[int, Any]:
    async with http.get(path, params=params) as resp:
        return resp.status, await resp.json()


async def post(
    http: aiohttp.ClientSession, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(path, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def all_calls(http: aiohttp.ClientSession, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        status, body = await get(http, LIST, page=str(page), pageSize="7", **params)
        assert status == 200
        found.extend(body["list"])
        if not body["list"]:
            assert len(found) == body["total"]
            return found
        page += 1


# --- auth, seeded data, routing --------------------------------------------------------------


async def test_requests_need_the_bearer_key(sb: SandboxServer) -> None:
    async with aiohttp.ClientSession(sb.base_url) as anon:
        for headers in (
            {},
            {"Authorization": "Bearer sk_test_wrong"},
            {"Authorization": sb.api_key},
        ):
            async with anon.get(AGENTS, headers=headers) as resp:
                assert resp.status == 401
                assert await resp.json() == {"code": 401, "message": "Invalid or missing API key"}
                assert re.fullmatch(r"req_[0-9a-f]+", resp.headers["X-Request-Id"])
        async with anon.get(AGENTS, headers={"Authorization": f"bearer {sb.api_key}"}) as resp:
            assert resp.status == 200
    assert len(sb.requests) == 4
    assert all("Authorization" not in r.headers for r in sb.requests)


async def test_doc_examples_work_verbatim(http: aiohttp.ClientSession) -> None:
    assert await get(http, f"{CALLS}/cl_8f2a") == (200, DOC_CALL)
    status, agent = await get(http, "/api/core/voice/agent/ag_123")
    assert status == 200
    assert agent["name"] == "Support Assistant"
    assert set(agent) == {"agentId", "name", "language", "voice", "createdAt"}
    status, agents = await get(http, AGENTS)
    assert agents["total"] == 3
    assert agents["list"][0]["agentId"] == "ag_123"
    assert len({a["agentId"] for a in agents["list"]}) == 3
    assert await get(http, AGENTS, page="2", pageSize="2") == (
        200,
        {"total": 3, "list": agents["list"][2:]},
    )
    assert await get(http, "/api/core/voice/agent/ag_nope") == (
        404,
        {"code": 404, "message": "Agent not found"},
    )


async def test_routing_404_405_and_list_before_id(http: aiohttp.ClientSession) -> None:
    assert (await get(http, LIST))[1]["total"] == 45  # not "call id 'list'"
    assert await get(http, f"{CALLS}/cl_000000000000") == (
        404,
        {"code": 404, "message": "Call not found"},
    )
    assert await get(http, "/api/nowhere") == (404, {"code": 404, "message": "Not found"})
    async with http.delete(f"{CALLS}/cl_8f2a") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET"
        assert (await resp.json())["code"] == 405


async def test_paths_are_configurable() -> None:
    async with SandboxServer(paths={"calls.list": "/api/v1/calls"}, calls=3) as sb:
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        async with aiohttp.ClientSession(sb.base_url, headers=headers) as http:
            assert (await get(http, "/api/v1/calls"))[1]["total"] == 3
            assert (await get(http, LIST))[0] == 404  # "list" is now just an unknown call id
    assert sb.path("calls.get", callId="cl_1") == "/api/core/voice/call/cl_1"
    with pytest.raises(ValueError, match="unknown operation"):
        SandboxConfig(paths={"calls.nope": "/x"})


def test_api_key_is_never_in_repr() -> None:
    config = SandboxConfig(api_key="sk_test_topsecret")
    server = SandboxServer(config)
    assert server.api_key == "sk_test_topsecret"
    assert "topsecret" not in repr(config)
    assert "topsecret" not in repr(server)
    generated = SandboxServer()
    assert re.fullmatch(r"sk_test_[0-9a-f]{24}", generated.api_key)
    assert generated.api_key not in repr(generated)
    assert SandboxServer().api_key != generated.api_key


# --- calls ------------------------------------------------------------------------------------


async def test_start_then_get_round_trip(sb: SandboxServer, http: aiohttp.ClientSession) -> None:
    body = {"agentId": "ag_123", "to": "+903121234567", "metadata": {"orderId": "A-1"}}
    status, call = await post(http, START, body)
    assert status == 200
    assert re.fullmatch(r"cl_[0-9a-f]{12}", call["callId"])
    assert call["status"] == "ringing"
    assert call["language"] == "tr"
    assert call["metadata"] == {"orderId": "A-1"}
    assert ISO_MS.fullmatch(call["createdAt"])
    assert await get(http, f"{CALLS}/{call['callId']}") == (200, call)
    status, page = await get(http, LIST, pageSize="2")
    assert page["total"] == 46
    assert [c["callId"] for c in page["list"]] == [call["callId"], "cl_8f2a"]
    assert sb.dials == {"+903121234567": 1}
    assert sb.requests[0].json == body
    assert sb.requests[0].headers["Content-Type"] == "application/json"
    # a second call gets a new id and goes above the first
    _, second = await post(http, START, {"agentId": "ag_123", "to": "+903121234567"})
    assert second["callId"] != call["callId"]
    assert second["metadata"] == {}
    assert (await get(http, LIST, pageSize="1"))[1]["list"][0]["callId"] == second["callId"]
    assert sb.dials["+903121234567"] == 2


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"agentId": "ag_123", "to": "0312 123"}, 422, "valid number in international format"),
        ({"agentId": "ag_123", "to": "+0312123456"}, 422, "valid number"),
        ({"agentId": "ag_123", "to": "+90312123456\n"}, 422, "valid number"),
        ({"agentId": "ag_123", "to": 903121234567}, 422, "valid number"),
        ({"agentId": "ag_missing", "to": "+903121234567"}, 404, "Agent not found"),
        ({"to": "+903121234567"}, 400, "agentId is required"),
        ({"agentId": "ag_123"}, 400, "to is required"),
        ({"agentId": "ag_123", "to": "+903121234567", "metadata": [1]}, 422, "metadata"),
        (["ag_123", "+903121234567"], 400, "JSON object"),
    ],
)
async def test_start_validation(
    sb: SandboxServer, http: aiohttp.ClientSession, body: Any, status: int, message: str
) -> None:
    got_status, error = await post(http, START, body)
    assert got_status == status
    assert error["code"] == status
    assert message in error["message"]
    assert not sb.dials
    assert len(sb.calls) == 45


async def test_start_rejects_malformed_json(sb: SandboxServer, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/json"}
    async with http.post(START, data=b'{"agentId": ', headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"] == "Malformed JSON body"
    async with http.post(
        START, data=b"agentId=ag_123", headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 400
    assert sb.requests[0].json is None
    assert not sb.dials


async def test_idempotency_key_replays_the_same_call(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    body = {"agentId": "ag_123", "to": "+905551112233"}
    _, first = await post(http, START, body, {"Idempotency-Key": "key-1"})
    async with http.post(START, json=body, headers={"Idempotency-Key": "key-1"}) as resp:
        assert resp.status == 200
        assert resp.headers["Idempotent-Replayed"] == "true"
        assert await resp.json() == first
    assert sb.dials["+905551112233"] == 1
    _, other = await post(http, START, body, {"Idempotency-Key": "key-2"})
    assert other["callId"] != first["callId"]
    _, plain = await post(http, START, body)
    assert plain["callId"] not in (first["callId"], other["callId"])
    assert sb.dials["+905551112233"] == 3
    assert len(sb.calls) == 48


async def test_list_paging_totals_and_order(http: aiohttp.ClientSession) -> None:
    sizes = []
    for page in range(1, 5):
        status, body = await get(http, LIST, page=str(page), pageSize="20")
        assert status == 200
        assert body["total"] == 45
        sizes.append(len(body["list"]))
    assert sizes == [20, 20, 5, 0]
    calls = await all_calls(http)
    assert len({c["callId"] for c in calls}) == 45
    stamps = [c["createdAt"] for c in calls]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == 45
    for call in calls:
        assert re.fullmatch(r"\+[1-9]\d{6,14}", call["to"])
        assert isinstance(call["metadata"], dict)
    assert (await get(http, LIST))[1]["list"] == calls[:20]  # defaults: page 1, pageSize 20


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "-1"},
        {"page": "one"},
        {"pageSize": "0"},
        {"pageSize": "101"},
        {"pageSize": "2.5"},
    ],
)
async def test_list_rejects_bad_paging(http: aiohttp.ClientSession, params: dict[str, str]) -> None:
    for path in (LIST, AGENTS):
        status, body = await get(http, path, **params)
        assert status == 400
        assert body["code"] == 400


async def test_list_filters(http: aiohttp.ClientSession) -> None:
    every = await all_calls(http)
    statuses = {c["status"] for c in every}
    assert {"completed", "failed"} <= statuses
    for status in statuses:
        filtered = await all_calls(http, status=status)
        assert filtered == [c for c in every if c["status"] == status]
    ag = await all_calls(http, agentId="ag_123")
    assert ag == [c for c in every if c["agentId"] == "ag_123"]
    both = await all_calls(http, agentId="ag_123", status="completed")
    assert both == [c for c in every if c["agentId"] == "ag_123" and c["status"] == "completed"]
    assert both[0]["callId"] == "cl_8f2a"
    assert await get(http, LIST, status="queued") == (200, {"total": 0, "list": []})
    assert (await get(http, LIST, status="", agentId=""))[1]["total"] == 45  # empty = no filter
    _, new = await post(http, START, {"agentId": "ag_123", "to": "+903121234567"})
    status, ringing = await get(http, LIST, status="ringing", pageSize="100")
    assert ringing["list"][0] == new
    assert ringing["total"] == 1 + sum(c["status"] == "ringing" for c in every)


async def test_state_helpers_add_delete_patch(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    added = sb.add_calls(2)
    _, page = await get(http, LIST, pageSize="3")
    assert page["total"] == 47
    assert [c["callId"] for c in page["list"]] == [
        added[0]["callId"],
        added[1]["callId"],
        "cl_8f2a",
    ]
    assert sb.delete_call("cl_8f2a")
    assert not sb.delete_call("cl_8f2a")
    assert (await get(http, f"{CALLS}/cl_8f2a"))[0] == 404
    _, page = await get(http, LIST, pageSize="3")
    assert page["total"] == 46
    assert "cl_8f2a" not in [c["callId"] for c in await all_calls(http)]
    victim = page["list"][2]["callId"]
    sb.calls.patch(victim, status="failed", endedReason="busy")
    assert (await get(http, f"{CALLS}/{victim}"))[1]["endedReason"] == "busy"
    assert victim in [c["callId"] for c in await all_calls(http, status="failed")]


async def test_seed_makes_data_reproducible() -> None:
    first, same, other = SandboxServer(seed=7), SandboxServer(seed=7), SandboxServer(seed=8)
    assert first.calls.page(0, 50) == same.calls.page(0, 50)
    assert first.agents == same.agents
    assert first.calls.page(1, 10) != other.calls.page(1, 10)


async def test_a_million_calls_are_lazy_and_fast() -> None:
    began = time.perf_counter()
    async with SandboxServer(calls=1_000_000) as sb:
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        async with aiohttp.ClientSession(sb.base_url, headers=headers) as http:
            status, body = await get(http, LIST, page="50000", pageSize="20")
            assert status == 200
            assert body["total"] == 1_000_000
            assert len(body["list"]) == 20
            last = body["list"][-1]
            assert await get(http, f"{CALLS}/{last['callId']}") == (200, last)
            assert (await get(http, LIST, page="50001", pageSize="20"))[1]["list"] == []
            sb.delete_call(body["list"][0]["callId"])
            _, shifted = await get(http, LIST, page="50000", pageSize="20")
            assert shifted["total"] == 999_999
            assert shifted["list"][:19] == body["list"][1:]
    assert time.perf_counter() - began < 3


# --- response shapes ----------------------------------------------------------------------


async def test_envelope_shape(sb: SandboxServer, http: aiohttp.ClientSession) -> None:
    sb.set_envelope(True)
    assert await get(http, f"{CALLS}/cl_8f2a") == (
        200,
        {"code": 200, "statusText": "", "data": DOC_CALL},
    )
    _, body = await get(http, LIST, pageSize="1")
    assert body["code"] == 200
    assert body["data"]["total"] == 45
    assert await get(http, f"{CALLS}/cl_nope") == (
        404,
        {"code": 404, "statusText": "Call not found", "data": None},
    )
    sb.set_envelope(False)
    assert await get(http, f"{CALLS}/cl_8f2a") == (200, DOC_CALL)


async def test_envelope_from_config_covers_auth_errors() -> None:
    async with (
        SandboxServer(envelope=True) as sb,
        aiohttp.ClientSession(sb.base_url) as anon,
        anon.get(AGENTS) as resp,
    ):
        assert resp.status == 401
        assert await resp.json() == {
            "code": 401,
            "statusText": "Invalid or missing API key",
            "data": None,
        }


async def test_webhooks(http: aiohttp.ClientSession, sb: SandboxServer) -> None:
    status, hook = await post(
        http, WEBHOOK, {"url": "https://example.com/hook", "events": ["call.completed"]}
    )
    assert status == 200
    assert hook["webhookId"].startswith("wh_")
    assert hook["secret"].startswith("whsec_")
    assert hook["events"] == ["call.completed"]
    assert sb.webhooks[hook["webhookId"]] == hook
    for bad in (
        {"url": "http://example.com/hook", "events": ["call.completed"]},
        {"url": "https://example.com/hook", "events": []},
        {"url": "https://example.com/hook", "events": ["", 3]},
    ):
        assert (await post(http, WEBHOOK, bad))[0] == 422


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [
        (Fault.SERVER_ERROR, 500, None),
        (Fault.BAD_GATEWAY, 502, None),
        (Fault.UNAVAILABLE, 503, "1"),
        (Fault.RATE_LIMITED, 429, "1"),
    ],
)
async def test_status_faults(
    sb: SandboxServer,
    http: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    retry_after: str | None,
) -> None:
    sb.fail_next(2, fault)
    for _ in range(2):
        async with http.get(f"{CALLS}/cl_8f2a") as resp:
            assert resp.status == status
            assert resp.headers.get("Retry-After") == retry_after
            assert (await resp.json())["code"] == status
            assert "X-Request-Id" in resp.headers
    assert await get(http, f"{CALLS}/cl_8f2a") == (200, DOC_CALL)
    assert sb.pending_faults == 0
    assert sb.rate_limited == 0  # injected 429s are not the limiter's


async def test_faults_match_path_and_method_and_keep_order(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    sb.fail_next(1, Fault.SERVER_ERROR, path=START, method="post")
    sb.fail_next(1, "bad_gateway")
    assert (await get(http, LIST))[0] == 502  # the POST-only rule doesn't match a GET
    assert (await get(http, LIST))[0] == 200
    assert (await post(http, START, {"agentId": "ag_123", "to": "+903121234567"}))[0] == 500
    assert not sb.dials  # a plain 500 did nothing
    assert (await post(http, START, {"agentId": "ag_123", "to": "+903121234567"}))[0] == 200


async def test_drop_fault_disconnects(sb: SandboxServer, http: aiohttp.ClientSession) -> None:
    hook = {"url": "https://example.com/hook", "events": ["call.completed"]}
    sb.fail_next(1, Fault.DROP)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, WEBHOOK, hook)
    assert not sb.webhooks  # dropped before doing anything
    assert (await post(http, WEBHOOK, hook))[0] == 200
    # aiohttp's client quietly retries an idempotent request once on a dropped connection
    sb.fail_next(2, Fault.DROP, method="GET")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(http, f"{CALLS}/cl_8f2a")
    assert sb.pending_faults == 0
    assert await get(http, f"{CALLS}/cl_8f2a") == (200, DOC_CALL)


async def test_slow_fault_delays_then_answers(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    sb.fail_next(1, Fault.SLOW, delay=2.0)
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(f"{CALLS}/cl_8f2a", timeout=aiohttp.ClientTimeout(total=0.1)):
            pass
    sb.fail_next(1, Fault.SLOW, delay=0.15)
    began = time.perf_counter()
    assert await get(http, f"{CALLS}/cl_8f2a") == (200, DOC_CALL)
    assert time.perf_counter() - began >= 0.15


async def test_truncated_fault_sends_half_a_body(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    full = json.dumps(DOC_CALL).encode()
    sb.fail_next(1, Fault.TRUNCATED)
    async with http.get(f"{CALLS}/cl_8f2a") as resp:
        raw = await resp.read()
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == len(raw) == len(full) // 2
    assert full.startswith(raw)
    with pytest.raises(ValueError):  # json.JSONDecodeError
        json.loads(raw)


async def test_not_json_fault(sb: SandboxServer, http: aiohttp.ClientSession) -> None:
    sb.fail_next(1, Fault.NOT_JSON)
    async with http.get(LIST) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert await resp.text() == "<html>oops</html>"
        with pytest.raises(aiohttp.ContentTypeError):
            await resp.json()


async def test_commit_then_500_creates_the_call(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    sb.fail_next(1, Fault.COMMIT_THEN_500, path=START)
    status, error = await post(
        http, START, {"agentId": "ag_123", "to": "+903121234567"}, {"Idempotency-Key": "k"}
    )
    assert (status, error["code"]) == (500, 500)
    assert sb.dials["+903121234567"] == 1
    _, page = await get(http, LIST, pageSize="1")
    assert page["total"] == 46
    assert page["list"][0]["to"] == "+903121234567"
    # retrying with the same key finds the committed call instead of dialing again
    _, again = await post(
        http, START, {"agentId": "ag_123", "to": "+903121234567"}, {"Idempotency-Key": "k"}
    )
    assert again == page["list"][0]
    assert sb.dials["+903121234567"] == 1


async def test_commit_then_drop_creates_the_call(
    sb: SandboxServer, http: aiohttp.ClientSession
) -> None:
    sb.fail_next(1, Fault.COMMIT_THEN_DROP)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, START, {"agentId": "ag_123", "to": "+905550000000"})
    assert sb.dials["+905550000000"] == 1
    assert (await get(http, LIST, pageSize="1"))[1]["list"][0]["to"] == "+905550000000"


async def test_latency(sb: SandboxServer, http: aiohttp.ClientSession) -> None:
    sb.set_latency(0.1)
    began = time.perf_counter()
    assert (await get(http, AGENTS))[0] == 200
    assert time.perf_counter() - began >= 0.1
    with pytest.raises(ValueError, match="latency"):
        sb.set_latency(-1)


# --- rate limit -----------------------------------------------------------------------------


async def test_rate_limit_sliding_window() -> None:
    clock = FakeClock()
    async with SandboxServer(rate_limit="3/10", clock=clock) as sb:
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        async with aiohttp.ClientSession(sb.base_url, headers=headers) as http:
            for _ in range(3):
                assert (await get(http, AGENTS))[0] == 200
                clock.now += 1.0  # requests at t=0, 1, 2
            clock.now += 0.5  # t=3.5: the oldest frees up at t=10 -> wait 6.5 -> 7
            async with http.get(AGENTS) as resp:
                assert resp.status == 429
                assert resp.headers["Retry-After"] == "7"
                assert await resp.json() == {
                    "code": 429,
                    "message": "Rate limit exceeded: 3/10 seconds",
                }
            assert sb.rate_limited == 1
            clock.now = 1010.0  # t=10: the first request left the window; 429s never counted
            assert (await get(http, AGENTS))[0] == 200
            assert (await get(http, AGENTS))[0] == 429
            clock.now = 1010.999
            async with http.get(AGENTS) as resp:
                assert resp.headers["Retry-After"] == "1"  # never below one second
            sb.set_rate_limit(None)
            assert (await get(http, AGENTS))[0] == 200
            assert sb.rate_limited == 3


def test_rate_limit_spec_is_validated() -> None:
    for spec in ("", "10", "0/1", "5/0", "x/1", "5/fortnight"):
        with pytest.raises(ValueError, match="rate limit"):
            SandboxConfig(rate_limit=spec)
    assert SandboxServer(rate_limit="10/minute").rate_limit == "10/minute"


# --- command line and pytest plugin ---------------------------------------------------------


async def test_command_line_serves_and_stops_on_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CALLEAGUE_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "calleague_async.testing", "--port", "0", "--calls", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        match = re.fullmatch(
            r"Calleague sandbox on (http://127\.0\.0\.1:(\d+))  api key: (sk_test_[0-9a-f]{24})\n",
            line,
        )
        assert match, line
        base_url, port, key = match.group(1), int(match.group(2)), match.group(3)
        assert port != 0
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(base_url, headers=headers) as http:
            assert await get(http, LIST, pageSize="1") == (200, {"total": 5, "list": [DOC_CALL]})
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0
        assert b"Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_pytest_plugin_fixture(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixture.py").write_text(
        textwrap.dedent(
            """
            import aiohttp
            import pytest

            async def test_default(calleague_sandbox):
                sb = calleague_sandbox
                assert sb.base_url.startswith("http://127.0.0.1:")
                headers = {"Authorization": f"Bearer {sb.api_key}"}
                async with aiohttp.ClientSession(sb.base_url, headers=headers) as http:
                    async with http.get("/api/core/voice/call/list") as resp:
                        assert (await resp.json())["total"] == 50

            @pytest.mark.calleague_sandbox(calls=2, envelope=True)
            async def test_marker(calleague_sandbox):
                assert calleague_sandbox.calls.page(0, 5)[0] == 2
                assert calleague_sandbox.envelope
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "pytest_asyncio.plugin",
            "-p", "calleague_async.testing.pytest_plugin", "-o", "asyncio_mode=auto",
            "--strict-markers", "-p", "no:cacheprovider", str(tmp_path),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


async def test_route_rate_limit_and_rate_limit_headers() -> None:
    async with SandboxServer(
        calls=3, route_rate_limits={"calls.get": "2/60"}, rate_limit_headers=True
    ) as sb:
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            url = sb.url(sb.path("calls.get", callId="cl_8f2a"))
            seen = []
            for _ in range(3):
                async with http.get(url) as resp:
                    seen.append((resp.status, resp.headers.get("X-RateLimit-Remaining")))
                    body = await resp.json()
            async with http.get(sb.url(sb.path("calls.list"))) as other:
                assert other.status == 200  # only calls.get is limited
    assert seen == [(200, "1"), (200, "0"), (429, "0")]
    assert "2/60" in body["message"]
    assert sb.rate_limited == 1


def test_route_rate_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        SandboxConfig(route_rate_limits={"calls.nope": "1/1"})
    with pytest.raises(ValueError, match="N/SECONDS"):
        SandboxConfig(route_rate_limits={"calls.get": "lots"})
