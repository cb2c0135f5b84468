"""Per-request options, session views, raw responses, the retry budget and backoff's waits."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

import calleague_async as ca
from calleague_async._options import NOT_GIVEN, RequestOptions
from calleague_async._retry import RetryBudget, RetryPolicy
from calleague_async._routes import ROUTES

KEY = "sk_live_options_test_key_77"
BASE = "https://app.calleague.ai"
CALL_URL = f"{BASE}/api/core/voice/call/cl_8f2a"
START_URL = f"{BASE}/api/core/voice/agent/call"
HOOK_URL = f"{BASE}/api/core/webhook"
ANY_CALL = re.compile(rf"^{re.escape(BASE)}/api/core/voice/call/[^/?]+(\?.*)?$")


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def session() -> AsyncIterator[ca.AsyncSession]:
    async with ca.AsyncSession(api_key=KEY, rate_limits=None) as s:
        s._sleep = _no_sleep
        yield s


def requests_to(m: aioresponses, method: str, url: str) -> list[Any]:
    return [
        call for (verb, target), calls in m.requests.items() for call in calls
        if verb == method and str(target).split("?")[0] == url
    ]  # fmt: skip


def queries_to(m: aioresponses, method: str, url: str) -> list[dict[str, str]]:
    """The query each request to ``url`` carried (in its URL, as the SDK sends it)."""
    return [
        dict(target.query) for (verb, target), calls in m.requests.items() for _ in calls
        if verb == method and str(target).split("?")[0] == url
    ]  # fmt: skip


# --- the sentinel and one resolved value ---------------------------------------------------


def test_not_given_is_falsy_and_distinct_from_none() -> None:
    assert not NOT_GIVEN and NOT_GIVEN is not None and repr(NOT_GIVEN) == "NOT_GIVEN"
    base = RequestOptions(timeout=30.0, max_retries=2, max_wait=10.0)
    assert base.merge() is base  # nothing given: the very same options
    assert base.merge(timeout=None).timeout is None  # None means "no timeout"
    assert base.merge(timeout=NOT_GIVEN).timeout == 30.0
    assert base.merge(extra_headers={"X-A": "1"}).merge(extra_headers={"X-B": "2"}).headers == {
        "X-A": "1",
        "X-B": "2",
    }


async def test_timeout_none_means_no_timeout_and_not_given_means_the_sessions(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"}, repeat=True)
    await session.calls.get("cl_8f2a")
    await session.calls.get("cl_8f2a", timeout=None)
    await session.calls.get("cl_8f2a", timeout=2.5)
    timeouts = [r.kwargs["timeout"] for r in requests_to(mock, "GET", CALL_URL)]
    assert [t.total for t in timeouts] == [30.0, None, 2.5]


async def test_extra_headers_query_and_body_travel_on_that_call_only(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(
        re.compile(rf"{re.escape(START_URL)}(\?.*)?$"), payload={"callId": "cl_1"}, repeat=True
    )
    await session.calls.start(
        agent_id="ag_123",
        to="+903121234567",
        extra_headers={"X-Trace": "t-1"},
        extra_query={"dryRun": True, "skip": None},
        extra_body={"priority": "high"},
    )
    await session.calls.start(agent_id="ag_123", to="+903121234567")
    first, second = requests_to(mock, "POST", START_URL)
    assert first.kwargs["headers"]["X-Trace"] == "t-1"
    assert queries_to(mock, "POST", START_URL) == [{"dryRun": "true"}, {}]
    assert json.loads(first.kwargs["data"])["priority"] == "high"
    assert "X-Trace" not in second.kwargs["headers"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk_other"},
        {"authorization": "x"},
        {"X-Api-Key": "sk_other"},
        {"X-Trace": "a\r\nInjected: 1"},
        {"Bad Name": "x"},
        {"X-Trace": 1},
    ],
)
async def test_extra_headers_are_checked_and_never_replace_the_credential(
    mock: aioresponses, session: ca.AsyncSession, headers: dict[str, Any]
) -> None:
    with pytest.raises(ca.ValidationError, match="extra_headers"):
        await session.calls.get("cl_8f2a", extra_headers=headers)
    assert not mock.requests  # refused before anything was sent


@pytest.mark.parametrize(
    "options",
    [{"timeout": 0}, {"timeout": -1}, {"timeout": float("nan")}, {"extra_query": {"q": object()}}],
)
async def test_bad_per_call_options_are_validation_errors(
    session: ca.AsyncSession, options: dict[str, Any]
) -> None:
    with pytest.raises(ca.ValidationError):
        await session.calls.get("cl_8f2a", **options)


async def test_the_escape_hatch_takes_the_same_options(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(re.compile(r".*/call/list.*"), payload={"total": 0, "list": []})
    await session.request(
        "GET", "/api/core/voice/call/list", timeout=None, extra_headers={"X-A": "b"}
    )
    [(_, url)] = list(mock.requests)
    [req] = mock.requests[("GET", url)]
    assert req.kwargs["timeout"].total is None and req.kwargs["headers"]["X-A"] == "b"


async def test_list_pages_carry_the_call_options(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(re.compile(r".*/call/list.*"), payload={"total": 1, "list": [{"callId": "a"}]})
    calls = [c async for c in session.calls.list(extra_headers={"X-Export": "1"}, timeout=9)]
    assert [c.call_id for c in calls] == ["a"]
    [(_, url)] = list(mock.requests)
    [req] = mock.requests[("GET", url)]
    assert req.kwargs["headers"]["X-Export"] == "1" and req.kwargs["timeout"].total == 9


# --- views ---------------------------------------------------------------------------------


async def test_a_view_shares_the_pool_and_the_limiter_and_closing_it_closes_nothing(
    mock: aioresponses,
) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"}, repeat=True)
    async with ca.AsyncSession(api_key=KEY, rate_limits={"default": "100/second"}) as s:
        await s.calls.get("cl_8f2a")
        view = s.with_options(timeout=None, max_retries=0, headers={"X-View": "1"})
        pool = s._transport._http
        await view.calls.get("cl_8f2a")
        assert view._transport is s._transport and s._transport._http is pool
        assert view._limiter is s._limiter  # same buckets
        assert view.calls._session is view and s.calls._session is s
        await view.close()
        assert not s.closed and not view.closed
        await s.calls.get("cl_8f2a")  # the session still works
    _, viewed, again = requests_to(mock, "GET", CALL_URL)
    assert viewed.kwargs["headers"]["X-View"] == "1" and viewed.kwargs["timeout"].total is None
    assert "X-View" not in (again.kwargs["headers"] or {})
    assert again.kwargs["timeout"].total == 30.0


def test_a_view_refuses_bad_options_as_configuration() -> None:
    s = ca.AsyncSession(api_key=KEY, rate_limits=None)
    with pytest.raises(ca.ConfigurationError, match="max_retries"):
        s.with_options(max_retries=-1)
    with pytest.raises(ca.ConfigurationError, match="Authorization"):
        s.with_options(headers={"Authorization": "Bearer x"})


async def test_a_view_of_max_wait_fails_fast_where_the_session_would_wait(
    mock: aioresponses,
) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"}, repeat=True)
    async with ca.AsyncSession(
        api_key=KEY, rate_limits={"default": "1/minute"}, rate_limit_scope="view-max-wait"
    ) as s:
        await s.calls.get("cl_8f2a")  # the bucket is now empty for a minute
        with pytest.raises(ca.LimiterTimeoutError):
            await s.with_options(max_wait=0.5).calls.get("cl_8f2a")
    assert len(requests_to(mock, "GET", CALL_URL)) == 1


# --- raw responses and what errors carry --------------------------------------------------


async def test_a_raw_response_has_status_headers_request_id_attempts_and_the_model(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(CALL_URL, status=502, payload={"message": "bad gateway"})
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"}, headers={"X-Request-Id": "req_42"})
    raw = await session.calls.with_raw_response.get("cl_8f2a")
    assert (raw.status, raw.request_id, raw.attempts) == (200, "req_42", 2)
    assert raw.headers["X-Request-Id"] == "req_42" and raw.elapsed >= 0
    call = raw.parse()
    assert isinstance(call, ca.Call) and call.call_id == "cl_8f2a"


@pytest.mark.parametrize(
    ("group", "method", "kwargs", "url"),
    [
        ("calls", "start", {"agent_id": "ag_1", "to": "+903121234567"}, START_URL),
        ("agents", "get", {"agent_id": "ag_123"}, f"{BASE}/api/core/voice/agent/ag_123"),
        ("webhooks", "create", {"url": "https://e.x/h", "events": ["call.ended"]}, HOOK_URL),
    ],
)
async def test_every_resource_has_raw_responses(
    mock: aioresponses,
    session: ca.AsyncSession,
    group: str,
    method: str,
    kwargs: dict[str, Any],
    url: str,
) -> None:
    payload = {"callId": "cl_1", "agentId": "ag_123", "webhookId": "wh_1"}
    getattr(mock, "post" if method != "get" else "get")(url, payload=payload, status=201)
    raw = await getattr(getattr(session, group).with_raw_response, method)(**kwargs)
    assert raw.status == 201 and raw.attempts == 1 and raw.parse() is not None


async def test_the_final_error_says_attempts_request_id_and_what_earlier_attempts_got(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(CALL_URL, status=502, payload={"message": "bad gateway"})
    mock.get(CALL_URL, exception=aiohttp.ServerDisconnectedError())
    mock.get(CALL_URL, status=503, payload={"message": "busy"}, headers={"X-Request-Id": "r3"})
    with pytest.raises(ca.ServerError) as info:
        await session.calls.get("cl_8f2a")
    error = info.value
    assert error.attempts == 3 and error.request_id == "r3"
    assert error.history == ("502 ServerError", "APIConnectionError")
    assert "earlier attempts: 502 ServerError, APIConnectionError" in str(error)


async def test_an_error_before_anything_was_sent_has_no_attempts(
    session: ca.AsyncSession,
) -> None:
    with pytest.raises(ca.ValidationError) as info:
        await session.calls.get("..")
    assert info.value.attempts == 0 and info.value.request_id is None


async def test_an_unknown_outcome_carries_attempts_and_the_causes_request_id(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(START_URL, status=500, payload={"message": "boom"}, headers={"X-Request-Id": "r1"})
    with pytest.raises(ca.OutcomeUnknownError) as info:
        await session.calls.start(agent_id="ag_1", to="+903121234567")
    assert info.value.attempts == 1 and info.value.request_id == "r1"


# --- a retry budget, and backoff's waits ---------------------------------------------------


async def test_the_retry_budget_keeps_an_outage_from_tripling_the_traffic(
    mock: aioresponses,
) -> None:
    mock.get(ANY_CALL, status=502, payload={"message": "down"}, repeat=True)
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=2) as s:
        s._sleep = _no_sleep
        results = await asyncio.gather(
            *(s.calls.get(f"cl_{i}") for i in range(200)), return_exceptions=True
        )
    assert all(isinstance(r, ca.ServerError) for r in results)
    sent = sum(len(calls) for calls in mock.requests.values())
    assert sent <= 300 < 600  # without a budget: 200 x 3 attempts
    assert sent >= 200  # every read was tried once


async def test_without_a_budget_every_read_retries(mock: aioresponses) -> None:
    mock.get(ANY_CALL, status=502, payload={"message": "down"}, repeat=True)
    async with ca.AsyncSession(
        api_key=KEY, rate_limits=None, max_retries=2, retry_budget=None
    ) as s:
        s._sleep = _no_sleep
        await asyncio.gather(*(s.calls.get(f"cl_{i}") for i in range(50)), return_exceptions=True)
    assert sum(len(calls) for calls in mock.requests.values()) == 150


def test_the_budget_refills_on_success_and_refunds_retries_that_worked() -> None:
    budget = RetryBudget(capacity=20, cost=5, timeout_cost=10, refill=1)
    boom = ca.ServerError("x", status_code=502)
    assert budget.spend(boom) == 5 and budget.tokens == 15
    assert budget.spend(ca.APITimeoutError("t", method="GET", path="/")) == 10
    assert budget.tokens == 5
    assert budget.spend(ca.APITimeoutError("t", method="GET", path="/")) == 0  # too few left
    budget.succeeded(15)  # a retried request that worked gives back what it spent
    assert budget.tokens == 20
    budget.succeeded(0)
    assert budget.tokens == 20  # never above capacity


def test_retry_waits_come_from_backoffs_exponential_generator() -> None:
    policy = RetryPolicy(max_retries=10, jitter=lambda d: d)
    delays = policy.delays()
    error = ca.ServerError("x", status_code=502)
    get = ROUTES["calls.get"]
    waits = [policy.wait(get, error, n, delays=delays) for n in range(1, 8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert policy.wait(get, error, 3) == 2.0  # without a kept generator: stepped afresh


async def test_the_url_of_each_attempt_is_the_same(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(CALL_URL, status=502, payload={})
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    await session.calls.get("cl_8f2a")
    assert list(mock.requests) == [("GET", URL(CALL_URL))]


async def test_may_have_acted_is_judged_over_every_attempt_not_the_last(
    mock: aioresponses,
) -> None:
    mock.post(HOOK_URL, status=500, payload={"message": "boom"})
    mock.post(HOOK_URL, status=429, payload={"message": "slow"}, headers={"Retry-After": "0"})
    async with ca.AsyncSession(
        api_key=KEY, rate_limits=None, max_retries=1, retry_unknown_outcomes=True
    ) as s:
        s._sleep = _no_sleep
        with pytest.raises(ca.RateLimitError) as info:
            await s.webhooks.create(url="https://e.x/h", events=["call.ended"])
    assert info.value.may_have_acted is True  # the 500 may have registered it
