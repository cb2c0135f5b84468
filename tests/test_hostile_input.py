"""Hostile input from the caller: refused up front as our own errors, never as a crash later."""

from __future__ import annotations

import math
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from aioresponses import aioresponses

import calleague_async as ca

KEY = "sk_live_SECRET_do_not_leak_123"
BASE = "https://app.calleague.ai"
TO = "+903121234567"


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# --- the session's options ----------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        KEY + "\x7f",
        KEY + "\x00",
        KEY + "\n",
        KEY + "\u00a0",
        "sk_çok_gizli",
        "sk_\ud800",
        "Bearer " + KEY,
        KEY.encode(),
    ],
)
def test_an_api_key_a_header_cannot_carry_is_refused_without_showing_it(key: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="API key") as info:
        ca.AsyncSession(api_key=key, rate_limits=None)
    shown = str(info.value) + repr(info.value.args)
    assert KEY not in shown and "gizli" not in shown


@pytest.mark.parametrize(
    "url",
    [
        "https://app.calleague.ai:99999",
        "https://app.calleague.ai:abc",
        "https://app.calleague.ai:0",
        "https://app.calleague.ai:-1",
        "https://[::1",
        "https://app.calleague.ai/\ud800",
        "https://app.calleague.ai/\x00",
        "https://app.calleague.ai/a b",
        "https://app.calleague.ai\n.evil.example",
        "https://bücher.example",
        "https://app.calleague.ai/?",
        "https://app.calleague.ai/#",
        "https://",
        5,
    ],
)
def test_a_base_url_that_is_no_usable_url_is_refused(url: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="base_url"):
        ca.AsyncSession(api_key=KEY, rate_limits=None, base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2secret@app.calleague.ai",
        "https://:hunter2secret@app.calleague.ai",
        "https://hunter2secret@app.calleague.ai/api",
        "https://user:hunter2/secret@app.calleague.ai",
        "https://user:hunter2@secret@app.calleague.ai",
        "http://user:hunter2secret@127.0.0.1:8000",
    ],
)
def test_credentials_in_the_base_url_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ca.ConfigurationError, match="credentials") as info:
        ca.AsyncSession(api_key=KEY, rate_limits=None, base_url=url)
    shown = str(info.value) + repr(info.value)
    assert "hunter2" not in shown and "secret" not in shown


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Team": "dialer\r\nX-Injected: 1"},
        {"X-Team": "a\nb"},
        {"X-Team": "a\x00"},
        {"X-Team\r\nX-Injected": "1"},
        {"X Team": "1"},
        {"": "1"},
        {"X-Team": 5},
        {"X-Team": None},
        {5: "1"},
        {"X-Team": "ünicode"},
        {"X-Team": "\ud800"},
        {"Authorization": "Bearer sk_other"},
        {"authorization": "Bearer sk_other"},
        {"Content-Length": "0"},
        {"Transfer-Encoding": "chunked"},
        [("X-Team", "dialer")],
    ],
)
def test_default_headers_that_would_corrupt_a_request_are_refused(headers: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="default_headers") as info:
        ca.AsyncSession(api_key=KEY, rate_limits=None, default_headers=headers)
    assert "sk_other" not in str(info.value)  # a header's value is never shown


async def test_a_default_header_replaces_ours_whatever_its_case(mock: aioresponses) -> None:
    mock.get(f"{BASE}/api/core/voice/call/cl_1", payload={"callId": "cl_1"})
    async with ca.AsyncSession(
        api_key=KEY, rate_limits=None, default_headers={"user-agent": "my-dialer/1.0"}
    ) as s:
        await s.calls.get("cl_1")
        http = s._transport._http
        assert http is not None
        assert http.headers.getall("User-Agent") == ["my-dialer/1.0"]
        assert http.headers.getall("Authorization") == [f"Bearer {KEY}"]


@pytest.mark.parametrize(
    "paths",
    [
        {"calls.get": "/x/{call_id"},
        {"calls.get": "/x/call_id}"},
        {"calls.get": "/x/{call_id!r}"},
        {"calls.get": "/x/{call_id:>9}"},
        {"calls.get": "/x/{call_id.real}"},
        {"calls.get": "/x/{0}"},
        {"calls.get": "/x/{{call_id}}"},
        {"calls.get": "/x/\n{call_id}"},
        {"calls.get": "/x/\ud800/{call_id}"},
        {"calls.get": "/x/{call_id}?page=1"},
        {"calls.get": "/x/{call_id}#top"},
        {"calls.get": None},
        {"calls.get": 5},
        {5: "/x/{call_id}"},
        ["calls.get"],
    ],
)
def test_path_overrides_that_are_no_clean_paths_are_refused(paths: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="path"):
        ca.AsyncSession(api_key=KEY, rate_limits=None, paths=paths)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": math.nan},
        {"timeout": math.inf},
        {"timeout": True},
        {"timeout": "30"},
        {"max_retries": True},
        {"max_retries": 2.0},
        {"max_wait": math.nan},
        {"max_wait": -1},
        {"max_wait": False},
        {"rate_limit_burst": "2"},
        {"rate_limit_burst": 0},
        {"rate_limit_burst": True},
        {"pool_size": "10"},
        {"pool_size": -1},
        {"rate_limit_scope": "\ud800"},
        {"rate_limit_scope": "team\n1"},
        {"rate_limit_scope": 5},
    ],
)
def test_options_of_the_wrong_kind_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ca.ConfigurationError, match=next(iter(kwargs))):
        ca.AsyncSession(api_key=KEY, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": ""},
        {"base_url": "https://app.calleague.ai:99999"},
        {"timeout": math.nan},
        {"default_headers": {"X-A": "\r\n"}},
        {"paths": {"calls.get": "/x/{call_id"}},
    ],
)
def test_a_traceback_with_locals_of_a_refused_session_can_be_printed(
    kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLEAGUE_API_KEY", raising=False)
    kwargs.setdefault("api_key", KEY)
    try:
        ca.AsyncSession(rate_limits=None, **kwargs)
    except ca.ConfigurationError as exc:
        # Every frame's locals are repr()'d, the half-built session's ``self`` included.
        texts = [
            "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format()),
            "".join(
                traceback.TracebackException(
                    type(exc), exc, exc.__traceback__, capture_locals=True
                ).format()
            ),
            traceback.format_exc(),
        ]
        last_line = f"ConfigurationError: {exc}"
    else:
        pytest.fail("the session was built")
    for text in texts[:2]:
        assert "self = <AsyncSession base_url=" in text
    for text in texts:
        assert text.strip().endswith(last_line)


def test_a_half_built_session_reprs_without_its_attributes() -> None:
    half = ca.AsyncSession.__new__(ca.AsyncSession)
    assert repr(half) == "<AsyncSession base_url=None api_key=*** not set up>"


# --- arguments of each operation, refused before anything is sent ------------------------


class Exploding(Mapping[str, Any]):
    """A mapping that fails when read: not ours to fix, but never an unknown outcome."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


@pytest.fixture
async def session() -> Any:
    async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=0) as s:
        yield s


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("agent_id", {"agent_id": "\ud800"}),
        ("agent_id", {"agent_id": "ag\r\n1"}),
        ("agent_id", {"agent_id": 123}),
        ("to", {"to": "+90312\ud8001234"}),
        ("to", {"to": "+903121234567\n"}),
        ("metadata", {"metadata": nested(5000)}),
        ("metadata", {"metadata": nested(ca._validate.MAX_JSON_DEPTH + 1)}),
        ("metadata", {"metadata": {"note": "\udfff"}}),
        ("metadata", {"metadata": {"n": math.inf}}),
        ("idempotency_key", {"idempotency_key": "lead\r\nX-Injected: 1"}),
        ("idempotency_key", {"idempotency_key": "\ud800"}),
        ("idempotency_key", {"idempotency_key": ""}),
    ],
)
async def test_start_refuses_hostile_arguments_before_sending(
    mock: aioresponses, session: ca.AsyncSession, field: str, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"agent_id": "ag_123", "to": TO, **kwargs}
    with pytest.raises(ca.ValidationError) as info:
        await session.calls.start(**args)
    assert info.value.field == field
    assert not mock.requests


@pytest.mark.parametrize("bad", ["\ud800", "cl\n1", "\x85", "\u2028", ".", "", 7])
async def test_ids_are_refused_before_sending(
    mock: aioresponses, session: ca.AsyncSession, bad: Any
) -> None:
    with pytest.raises(ca.ValidationError, match="call_id"):
        await session.calls.get(bad)
    with pytest.raises(ca.ValidationError, match="agent_id"):
        await session.agents.get(bad)
    assert not mock.requests


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("url", {"url": "https://[::1/hook"}),
        ("url", {"url": "https://example.com:99999/hook"}),
        ("url", {"url": "https://exam\nple.com/hook"}),
        ("url", {"url": "https://example.com/\ud800"}),
        ("events", {"events": ["call.ended\r\n"]}),
        ("events", {"events": ["\ud800"]}),
    ],
)
async def test_webhooks_refuse_hostile_arguments_before_sending(
    mock: aioresponses, session: ca.AsyncSession, field: str, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"url": "https://example.com/hook", "events": ["call.ended"], **kwargs}
    with pytest.raises(ca.ValidationError) as info:
        await session.webhooks.create(**args)
    assert info.value.field == field
    assert not mock.requests


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("status", {"status": "\ud800"}),
        ("status", {"status": "completed\r\n"}),
        ("agent_id", {"agent_id": "ag\x00"}),
        ("agent_id", {"agent_id": "\udfff"}),
    ],
)
def test_list_filters_are_refused_when_the_listing_is_made(
    mock: aioresponses, session: ca.AsyncSession, field: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ca.ValidationError) as info:
        session.calls.list(**kwargs)
    assert info.value.field == field
    assert not mock.requests


async def test_start_many_reports_refused_rows_as_plain_failures(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(f"{BASE}/api/core/voice/agent/call", payload={"callId": "cl_ok"})
    rows: list[Any] = [
        {"agent_id": "ag_1", "to": TO},
        {"agent_id": "\ud800", "to": TO},
        {"agent_id": "ag_1", "to": TO, "metadata": nested(5000)},
        {"agent_id": "ag_1", "to": TO, "idempotency_key": "k\r\n"},
        {"agent_id": "ag_1", "to": TO, "metadata": Exploding()},
        {"agent_id": "ag_1", "to": "\ud800"},
        {"agent_id": "ag_1"},
        "not a row",
    ]
    results = {r.index: r async for r in session.calls.start_many(rows)}
    assert results[0].ok
    for index in range(1, len(rows)):
        result = results[index]
        assert not result.ok and not result.outcome_unknown, index
        assert isinstance(result.error, ca.ValidationError), index
    assert isinstance(results[4].error.__cause__, RuntimeError)  # type: ignore[union-attr]
    assert results[4].request.agent_id == "ag_1"  # the row as read, for the report
    assert sum(len(v) for v in mock.requests.values()) == 1


_DEEP: list[object] = []
for _ in range(5000):
    _DEEP = [_DEEP]


@pytest.mark.parametrize(
    ("method", "path", "options"),
    [
        ("GE T", "/api/x", {}),
        (1, "/api/x", {}),
        ("GET", "api/x", {}),
        ("GET", "/api/x\r\nX-Injected: 1", {}),
        ("GET", "/api/\ud800", {}),
        ("GET", b"/api/x", {}),
        ("POST", "/api/x", {"json": {"deep": _DEEP}}),
        ("POST", "/api/x", {"json": {1: "non-string key"}}),
        ("POST", "/api/x", {"json": {"nan": float("nan")}}),
        ("GET", "/api/x", {"params": {"q": "a\x00b"}}),
        ("GET", "/api/x", {"params": {"q": "\ud800"}}),
        ("GET", "/api/x", {"params": {"q": object()}}),
        ("GET", "/api/x", {"params": [("q", "1")]}),
    ],
)
async def test_the_escape_hatch_refuses_what_it_cannot_send(
    method: Any, path: Any, options: dict[str, Any]
) -> None:
    async with ca.AsyncSession(api_key=KEY, rate_limits=None) as s:
        with pytest.raises(ca.ValidationError):
            await s.request(method, path, **options)
