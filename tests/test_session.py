"""The HTTP layer with aioresponses: configuration, headers, bodies, retries, errors, lifecycle."""

from __future__ import annotations

import gc
import json
import logging
import re
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

import calleague_async as ca

KEY = "sk_live_SECRET_do_not_leak_123"
BASE = "https://app.calleague.ai"
CALL_URL = f"{BASE}/api/core/voice/call/cl_8f2a"
START_URL = f"{BASE}/api/core/voice/agent/call"
LIST_RE = re.compile(rf"^{re.escape(BASE)}/api/core/voice/call/list\?.*$")


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
async def session() -> AsyncIterator[ca.AsyncSession]:
    async with ca.AsyncSession(api_key=KEY, rate_limits=None) as s:
        s._sleep = Sleeps()
        yield s


def sent(m: aioresponses, method: str, url: str) -> list[Any]:
    return list(m.requests.get((method, URL(url)), []))


# --- configuration -----------------------------------------------------------------------


def test_missing_key_is_a_clear_error_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLEAGUE_API_KEY", raising=False)
    with pytest.raises(ca.ConfigurationError, match="CALLEAGUE_API_KEY"):
        ca.AsyncSession()


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLEAGUE_API_KEY", KEY)
    monkeypatch.setenv("CALLEAGUE_BASE_URL", "https://eu.calleague.example/")
    assert ca.AsyncSession().base_url == "https://eu.calleague.example"
    monkeypatch.delenv("CALLEAGUE_BASE_URL")
    monkeypatch.setenv("CALLEAGUE_BASE", "https://seed001.example")
    assert ca.AsyncSession().base_url == "https://seed001.example"
    monkeypatch.delenv("CALLEAGUE_BASE")
    assert ca.AsyncSession().base_url == BASE


@pytest.mark.parametrize("url", ["http://app.calleague.ai", "http://10.0.0.5:8000"])
def test_plain_http_to_a_remote_host_is_refused_without_opt_in(url: str) -> None:
    with pytest.raises(ca.ConfigurationError, match="clear text"):
        ca.AsyncSession(api_key=KEY, rate_limits=None, base_url=url)
    assert (
        ca.AsyncSession(
            api_key=KEY, rate_limits=None, base_url=url, allow_insecure_http=True
        ).base_url
        == url
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80"])
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert ca.AsyncSession(api_key=KEY, rate_limits=None, base_url=url).base_url == url


@pytest.mark.parametrize("url", ["app.calleague.ai", "ftp://x", "https://x/?q=1"])
def test_malformed_base_url_is_refused(url: str) -> None:
    with pytest.raises(ca.ConfigurationError):
        ca.AsyncSession(api_key=KEY, rate_limits=None, base_url=url)


@pytest.mark.parametrize(
    "kwargs", [{"timeout": 0}, {"timeout": -1}, {"max_retries": -1}, {"api_key": "sk bad"}]
)
def test_bad_options_are_refused(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("api_key", KEY)
    with pytest.raises(ca.ConfigurationError):
        ca.AsyncSession(**kwargs)


def test_repr_never_shows_the_key() -> None:
    s = ca.AsyncSession(api_key=KEY, rate_limits=None)
    assert KEY not in repr(s) and "sk_live" not in repr(s)
    assert "app.calleague.ai" in repr(s)


# --- lifecycle ---------------------------------------------------------------------------


async def test_close_twice_is_fine_and_a_closed_session_refuses_requests(
    mock: aioresponses,
) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    s = ca.AsyncSession(api_key=KEY, rate_limits=None)
    await s.calls.get("cl_8f2a")
    await s.close()
    await s.close()
    assert s.closed
    with pytest.raises(ca.CalleagueError, match="closed"):
        await s.calls.get("cl_8f2a")


async def test_unclosed_session_warns_once(mock: aioresponses) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    s = ca.AsyncSession(api_key=KEY, rate_limits=None)
    await s.calls.get("cl_8f2a")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del s
        gc.collect()
    resource = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(resource) == 1
    assert "Unclosed AsyncSession" in str(resource[0].message)
    assert KEY not in str(resource[0].message)


def test_session_never_used_does_not_warn() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = ca.AsyncSession(api_key=KEY, rate_limits=None)
        del s
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


# --- what goes on the wire ---------------------------------------------------------------


async def test_start_sends_the_documented_body_and_headers(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(START_URL, payload={"callId": "cl_8f2a", "status": "ringing", "language": "tr"})
    call = await session.calls.start(
        agent_id="ag_123", to="+903121234567", metadata={"orderId": "A-1042"}
    )
    assert (call.call_id, call.status, call.language) == ("cl_8f2a", ca.CallStatus.RINGING, "tr")
    [req] = sent(mock, "POST", START_URL)
    assert json.loads(req.kwargs["data"]) == {
        "agentId": "ag_123",
        "to": "+903121234567",
        "metadata": {"orderId": "A-1042"},
    }
    assert req.kwargs["headers"]["Content-Type"] == "application/json"


async def test_every_request_carries_bearer_auth_and_user_agent(mock: aioresponses) -> None:
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    async with ca.AsyncSession(
        api_key=KEY, rate_limits=None, default_headers={"X-Team": "dialer"}
    ) as s:
        await s.calls.get("cl_8f2a")
        http = s._transport._http
        assert http is not None
        # aiohttp merges the pool's default headers into every request it sends.
        seen = dict(http.headers)
    assert seen["Authorization"] == f"Bearer {KEY}"
    assert seen["User-Agent"].startswith("calleague-async/")
    assert seen["Accept"] == "application/json"
    assert seen["X-Team"] == "dialer"


async def test_list_sends_page_page_size_and_filters(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(LIST_RE, payload={"total": 1, "list": [{"callId": "c1"}]})
    calls = [
        c
        async for c in session.calls.list(
            status=ca.CallStatus.COMPLETED, agent_id="ag_1", page_size=50
        )
    ]
    assert [c.call_id for c in calls] == ["c1"]
    [(_, url)] = list(mock.requests)
    assert url.query == {"status": "completed", "agentId": "ag_1", "page": "1", "pageSize": "50"}


async def test_list_across_pages_in_the_envelope_shape(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    def page(items: list[str], total: int) -> dict[str, Any]:
        return {
            "code": 200,
            "statusText": "",
            "data": {"total": total, "list": [{"callId": i} for i in items]},
        }

    mock.get(LIST_RE, payload=page(["a", "b"], 3))
    mock.get(LIST_RE, payload=page(["c"], 3))
    assert [c.call_id async for c in session.calls.list(page_size=2)] == ["a", "b", "c"]


async def test_agents_list_reads_a_bare_array(mock: aioresponses, session: ca.AsyncSession) -> None:
    # A bare array gives no total, so a short page might be a capped pageSize: one more
    # request (answered with the same array, as servers that do not page do) settles it.
    mock.get(
        re.compile(r".*/agent/list.*"), payload=[{"agentId": "ag_1", "name": "A"}], repeat=True
    )
    agents = [a async for a in session.agents.list()]
    assert [(a.agent_id, a.name) for a in agents] == [("ag_1", "A")]
    assert sum(len(calls) for calls in mock.requests.values()) == 2


async def test_webhook_create_round_trip(mock: aioresponses, session: ca.AsyncSession) -> None:
    url = f"{BASE}/api/core/webhook"
    mock.post(url, payload={"webhookId": "wh_1", "url": "https://e.x/h", "events": ["call.ended"]})
    hook = await session.webhooks.create(url="https://e.x/h", events=["call.ended"])
    assert (hook.webhook_id, hook.events) == ("wh_1", ["call.ended"])
    [req] = sent(mock, "POST", url)
    assert json.loads(req.kwargs["data"]) == {"url": "https://e.x/h", "events": ["call.ended"]}


async def test_escape_hatch_sends_any_request(mock: aioresponses, session: ca.AsyncSession) -> None:
    mock.get(
        re.compile(r".*/call/list\?page=1$"),
        payload={"code": 200, "data": {"total": 0, "list": []}},
    )
    body = await session.request("GET", "/api/core/voice/call/list", params={"page": 1})
    assert body == {"total": 0, "list": []}


async def test_path_override_is_used(mock: aioresponses) -> None:
    mock.get(f"{BASE}/api/v1/calls/c1", payload={"callId": "c1"})
    async with ca.AsyncSession(
        api_key=KEY, rate_limits=None, paths={"calls.get": "/api/v1/calls/{call_id}"}
    ) as s:
        assert (await s.calls.get("c1")).call_id == "c1"


# --- bad input is refused before sending -------------------------------------------------


async def test_bad_input_never_reaches_the_network(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    with pytest.raises(ca.ValidationError, match="to"):
        await session.calls.start(agent_id="ag_123", to="0312 123 45 67")
    with pytest.raises(ca.ValidationError, match="agent_id"):
        await session.calls.start(agent_id="", to="+903121234567")
    with pytest.raises(ca.ValidationError, match="metadata"):
        await session.calls.start(agent_id="a", to="+903121234567", metadata={"x": {1, 2}})
    with pytest.raises(ca.ValidationError, match="call_id"):
        await session.calls.get("..")
    with pytest.raises(ca.ValidationError, match="page_size"):
        session.calls.list(page_size=0)
    with pytest.raises(ca.ValidationError, match="page_size"):
        session.agents.list(page_size=1000)
    with pytest.raises(ca.ValidationError, match="status"):
        session.calls.list(status="")
    with pytest.raises(ca.ValidationError, match="url"):
        await session.webhooks.create(url="http://example.com", events=["call.ended"])
    assert not mock.requests


# --- errors and retries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ca.BadRequestError),
        (401, ca.AuthenticationError),
        (403, ca.PermissionDeniedError),
        (404, ca.NotFoundError),
        (409, ca.ConflictError),
        (422, ca.UnprocessableEntityError),
    ],
)
async def test_client_errors_raise_their_class_without_retry(
    mock: aioresponses, session: ca.AsyncSession, status: int, cls: type[ca.APIError]
) -> None:
    mock.get(
        CALL_URL,
        status=status,
        payload={"code": status, "message": "no"},
        headers={"X-Request-Id": "req_9"},
    )
    with pytest.raises(cls) as info:
        await session.calls.get("cl_8f2a")
    assert info.value.request_id == "req_9"
    assert len(sent(mock, "GET", CALL_URL)) == 1
    assert KEY not in str(info.value) and KEY not in repr(info.value.__dict__)


async def test_get_is_retried_on_5xx_until_success(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(CALL_URL, status=503, payload={"message": "busy"})
    mock.get(CALL_URL, status=502, body="<html>bad gateway</html>")
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    assert (await session.calls.get("cl_8f2a")).call_id == "cl_8f2a"
    assert len(sent(mock, "GET", CALL_URL)) == 3
    assert len(session._sleep) == 2  # type: ignore[arg-type]


async def test_get_gives_up_after_max_retries(mock: aioresponses) -> None:
    for _ in range(4):
        mock.get(CALL_URL, status=500, payload={"message": "boom"})
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=2) as s:
        s._sleep = Sleeps()
        with pytest.raises(ca.ServerError, match="boom"):
            await s.calls.get("cl_8f2a")
    assert len(sent(mock, "GET", CALL_URL)) == 3


async def test_truncated_2xx_body_on_a_get_is_retried(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(CALL_URL, body='{"callId": "cl_8f', content_type="application/json")
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    assert (await session.calls.get("cl_8f2a")).call_id == "cl_8f2a"


async def test_dropped_connection_on_a_get_is_retried(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(CALL_URL, exception=aiohttp.ServerDisconnectedError())
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    assert (await session.calls.get("cl_8f2a")).call_id == "cl_8f2a"


async def test_start_is_not_retried_after_a_500(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(START_URL, status=500, payload={"message": "boom"})
    mock.post(START_URL, payload={"callId": "second"})
    with pytest.raises(ca.OutcomeUnknownError) as info:
        await session.calls.start(agent_id="ag_123", to="+903121234567")
    assert isinstance(info.value.cause, ca.ServerError)
    assert len(sent(mock, "POST", START_URL)) == 1


async def test_start_is_not_retried_after_a_dropped_connection(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(START_URL, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(ca.OutcomeUnknownError) as info:
        await session.calls.start(agent_id="ag_123", to="+903121234567")
    assert isinstance(info.value.cause, ca.APIConnectionError)
    assert info.value.cause.request_sent
    assert len(sent(mock, "POST", START_URL)) == 1


async def test_start_is_retried_after_429_honouring_retry_after(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(
        START_URL,
        status=429,
        payload={"detail": "Rate limit exceeded: 30/minute"},
        headers={"Retry-After": "2"},
    )
    mock.post(START_URL, payload={"callId": "cl_1", "status": "ringing"})
    call = await session.calls.start(agent_id="ag_123", to="+903121234567")
    assert call.call_id == "cl_1"
    sleeps: list[float] = session._sleep  # type: ignore[assignment]
    [wait] = sleeps
    assert wait >= 2.0


async def test_rate_limit_error_exposes_retry_after(mock: aioresponses) -> None:
    for _ in range(3):
        mock.get(
            CALL_URL, status=429, payload={"message": "slow down"}, headers={"Retry-After": "3"}
        )
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=0) as s:
        with pytest.raises(ca.RateLimitError) as info:
            await s.calls.get("cl_8f2a")
    assert info.value.retry_after == 3.0


async def test_timeout_becomes_api_timeout_error(mock: aioresponses) -> None:
    mock.get(CALL_URL, exception=TimeoutError())
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=0) as s:
        with pytest.raises(ca.APITimeoutError):
            await s.calls.get("cl_8f2a")


async def test_html_2xx_reply_is_a_clear_error(mock: aioresponses) -> None:
    for _ in range(3):
        mock.get(CALL_URL, body="<html>login</html>", content_type="text/html")
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=0) as s:
        with pytest.raises(ca.InvalidResponseError, match="not valid JSON"):
            await s.calls.get("cl_8f2a")


async def test_a_bad_page_raises_without_yielding_half_of_it(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(LIST_RE, payload={"total": 4, "list": [{"callId": "a"}, {"callId": "b"}]})
    for _ in range(3):
        mock.get(LIST_RE, payload={"total": 4, "list": [{"callId": "c"}, "garbage"]})
    got: list[str] = []
    with pytest.raises(ca.InvalidResponseError):
        async for c in session.calls.list(page_size=2):
            got.append(c.call_id)
    assert got == ["a", "b"]


async def test_logs_never_contain_the_key(
    mock: aioresponses, session: ca.AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.get(CALL_URL, status=503, payload={"message": "busy"})
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    await session.calls.get("cl_8f2a")
    assert "attempt 1 failed (503 ServerError), retrying in" in caplog.text
    assert KEY not in caplog.text


async def test_opt_in_still_reports_an_unknown_outcome_after_a_later_429(
    mock: aioresponses,
) -> None:
    mock.post(START_URL, status=500, payload={"message": "boom"})
    mock.post(START_URL, status=429, payload={"message": "slow"}, headers={"Retry-After": "1"})
    async with ca.AsyncSession(
        api_key=KEY, rate_limits=None, max_retries=1, retry_unknown_outcomes=True
    ) as s:
        s._sleep = Sleeps()
        with pytest.raises(ca.OutcomeUnknownError) as info:
            await s.calls.start(agent_id="ag_123", to="+903121234567")
    # The last error was a 429, but the first attempt may have placed the call.
    assert isinstance(info.value.cause, ca.RateLimitError)


async def test_a_deeply_nested_reply_is_an_invalid_response(mock: aioresponses) -> None:
    mock.get(CALL_URL, body="[" * 100_000, content_type="application/json")
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=0) as s:
        with pytest.raises(ca.InvalidResponseError, match="nested"):
            await s.calls.get("cl_8f2a")


async def test_start_many_survives_an_unexpected_exception_in_one_row(
    mock: aioresponses, session: ca.AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        mock.post(START_URL, payload={"callId": f"c{i}", "status": "ringing"})
    real_start = session.calls._start

    async def flaky_start(agent_id: str, to: str, *args: Any, **kwargs: Any) -> ca.Call:
        if to.endswith("2"):
            raise RuntimeError("bug in a hook")
        return await real_start(agent_id, to, *args, **kwargs)

    monkeypatch.setattr(session.calls, "_start", flaky_start)
    rows = [{"agent_id": "ag_1", "to": f"+90555000000{i}"} for i in range(4)]
    results = {r.index: r async for r in session.calls.start_many(rows, concurrency=2)}
    assert sorted(results) == [0, 1, 2, 3]
    assert results[2].outcome_unknown
    assert isinstance(results[2].error.__cause__, RuntimeError)
    assert sum(r.ok for r in results.values()) == 3


class BrokenStore:
    """A limiter store whose server went away after granting tokens."""

    def __init__(self, *, acquire_fails: bool) -> None:
        self.acquire_fails = acquire_fails

    async def acquire(self, specs: Any, now: float) -> float:
        if self.acquire_fails:
            raise ConnectionError("store down")
        return 0.0

    async def pause(self, spec: Any, seconds: float, now: float) -> None:
        raise ConnectionError("store down")

    async def close(self) -> None:
        raise AssertionError("a store passed in is the caller's to close")


async def test_a_placed_call_is_never_lost_to_limiter_bookkeeping(mock: aioresponses) -> None:
    mock.post(
        START_URL,
        payload={"callId": "cl_1", "status": "ringing"},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "5"},
    )
    async with ca.AsyncSession(api_key=KEY, rate_limit_store=BrokenStore(acquire_fails=False)) as s:
        call = await s.calls.start(agent_id="ag_123", to="+903121234567")
    assert call.call_id == "cl_1"


async def test_an_unreachable_limiter_store_fails_before_sending(mock: aioresponses) -> None:
    async with ca.AsyncSession(
        api_key=KEY, rate_limit_store=BrokenStore(acquire_fails=True), max_retries=0
    ) as s:
        with pytest.raises(ca.APIConnectionError, match="rate limit store") as info:
            await s.calls.start(agent_id="ag_123", to="+903121234567")
    assert info.value.request_sent is False
    assert not mock.requests


async def test_a_retry_after_longer_than_max_wait_is_raised_at_once_not_slept_through(
    mock: aioresponses,
) -> None:
    mock.get(CALL_URL, status=429, payload={"message": "slow"}, headers={"Retry-After": "30"})
    mock.get(CALL_URL, payload={"callId": "cl_8f2a"})
    async with ca.AsyncSession(api_key=KEY, max_wait=5.0, max_retries=3) as s:
        sleeps = Sleeps()
        s._sleep = sleeps
        with pytest.raises(ca.RateLimitError) as info:
            await s.calls.get("cl_8f2a")
    assert info.value.retry_after == 30.0
    assert sleeps == []  # nothing slept: the caller decides what 30 s are worth
    assert len(sent(mock, "GET", CALL_URL)) == 1
