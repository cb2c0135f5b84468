"""Seed 004's X-Api-Key auth, 402 quota errors, 201 replies and seed 004's error body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aioresponses import aioresponses

import calleague_async as ca

KEY = "sk_live_auth_shapes_key_31"
BASE = "https://app.calleague.ai"
CALL_URL = f"{BASE}/api/core/voice/call/cl_8f2a"
START_URL = f"{BASE}/api/core/voice/agent/call"


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


async def test_x_api_key_auth_sends_the_key_there_and_no_bearer(mock: aioresponses) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, auth="x-api-key") as s:
        await s.calls.get("cl_8f2a")
        http = s._transport._http
        assert http is not None
        sent = dict(http.headers)
    assert sent["X-Api-Key"] == KEY and "Authorization" not in sent
    assert KEY not in repr(s)


def test_an_unknown_auth_scheme_is_refused() -> None:
    with pytest.raises(ca.ConfigurationError, match="x-api-key"):
        ca.AsyncSession(api_key=KEY, auth="basic")  # type: ignore[arg-type]


def test_x_api_key_may_not_be_set_by_hand() -> None:
    with pytest.raises(ca.ConfigurationError, match="X-Api-Key"):
        ca.AsyncSession(api_key=KEY, default_headers={"X-Api-Key": "sk_other"})


async def test_402_is_a_quota_error_and_a_dial_is_not_retried_nor_unknown(
    mock: aioresponses,
) -> None:
    mock.post(START_URL, status=402, payload={"detail": "Monthly minute limit reached"})
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=3) as s:
        with pytest.raises(ca.QuotaExceededError) as info:
            await s.calls.start(agent_id="ag_1", to="+903121234567")
    assert info.value.status_code == 402
    assert info.value.message == "Monthly minute limit reached"
    assert info.value.attempts == 1
    assert sum(len(v) for v in mock.requests.values()) == 1


async def test_201_created_is_read_like_200(mock: aioresponses) -> None:
    mock.post(START_URL, status=201, payload={"id": "6ba7b810", "status": "queued"})
    async with ca.AsyncSession(api_key=KEY, rate_limits=None) as s:
        call = await s.calls.start(agent_id="ag_1", to="+15551234567")
    assert (call.call_id, call.status) == ("6ba7b810", ca.CallStatus.QUEUED)


async def test_seed_004_error_body_gives_code_and_request_id(mock: aioresponses) -> None:
    mock.get(
        CALL_URL,
        status=404,
        payload={
            "message": "Agent not found",
            "error": "Not Found",
            "code": "not_found",
            "statusCode": 404,
            "request_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        },
    )
    async with ca.AsyncSession(api_key=KEY, rate_limits=None) as s:
        with pytest.raises(ca.NotFoundError) as info:
            await s.calls.get("cl_8f2a")
    assert info.value.code == "not_found"
    assert info.value.request_id == "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert info.value.message == "Agent not found"
