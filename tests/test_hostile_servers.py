"""The SDK against servers we did not write: raw sockets that inflate, stream, redirect, stall.

Each server is scripted in the test on plain asyncio sockets (tests/rawserver.py), so these
cover what our own well-behaved sandbox never does.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import calleague_async as ca
from calleague_async._retry import MAX_REDIRECTS, redirect_target
from calleague_async._routes import ROUTES
from tests.rawserver import RawServer, Request, read_request, reset, response
from tests.rawserver import unanswered_port as hung_port

KEY = "sk_live_hostile_server_key_42"
CALL = json.dumps({"callId": "cl_1", "status": "ringing"}).encode()
CAP = 1 << 20  # 1 MiB: small enough that the tests move little data


def session(base_url: str, **kw: Any) -> ca.AsyncSession:
    kw.setdefault("rate_limits", None)
    kw.setdefault("max_retries", 2)
    s = ca.AsyncSession(api_key=KEY, base_url=base_url, **kw)

    async def no_sleep(_: float) -> None:
        return None

    s._sleep = no_sleep
    return s


async def start(s: ca.AsyncSession) -> ca.Call:
    return await s.calls.start(agent_id="ag_1", to="+905551112233")


def gzip_bomb(size: int) -> bytes:
    """A gzip body that inflates to ``size`` bytes of JSON-looking filler."""
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [out.compress(b'{"callId":"cl_1","pad":"')]
    for _ in range(size // len(chunk)):
        parts.append(out.compress(chunk))
    parts.append(out.compress(b'"}') + out.flush())
    return b"".join(parts)


def serve(
    replies: Callable[[Request], bytes | None], log: list[Request]
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Any]:
    """A keep-alive handler answering each request with ``replies(request)`` (None: reset)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while (request := await read_request(reader, n)) is not None:
            log.append(request)
            data = replies(request)
            if data is None:
                reset(writer)
                return
            writer.write(data)
            await writer.drain()

    return handler


@pytest.fixture
def log() -> list[Request]:
    return []


# --- bounded replies -----------------------------------------------------------------------


async def test_a_gzip_bomb_stops_at_the_cap_and_a_safe_read_is_retried_once(
    log: list[Request],
) -> None:
    bomb = gzip_bomb(64 * CAP)  # inflates to 64 MiB
    assert len(bomb) < CAP // 4
    reply = response(200, bomb, {"Content-Encoding": "gzip"})
    async with (
        RawServer(serve(lambda _: reply, log)) as srv,
        session(srv.base_url, max_response_size=CAP) as s,
    ):
        with pytest.raises(ca.ResponseTooLargeError) as info:
            await s.calls.get("cl_1")
    assert isinstance(info.value, ca.InvalidResponseError)
    assert info.value.limit == CAP and "max_response_size" in str(info.value)
    assert len(log) == 2  # the first attempt and one retry, not max_retries + 1


async def test_a_gzip_bomb_answering_a_dial_is_an_unknown_outcome(log: list[Request]) -> None:
    reply = response(200, gzip_bomb(8 * CAP), {"Content-Encoding": "gzip"})
    async with (
        RawServer(serve(lambda _: reply, log)) as srv,
        session(srv.base_url, max_response_size=CAP) as s,
    ):
        with pytest.raises(ca.OutcomeUnknownError) as info:
            await start(s)
    assert isinstance(info.value.cause, ca.ResponseTooLargeError)
    assert len(log) == 1  # never re-dialed


async def test_an_endless_chunked_body_is_cut_at_the_cap() -> None:
    sent = 0

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(response(200, headers={"Transfer-Encoding": "chunked"}, length=False))
        chunk = b" " * 65536
        for _ in range(10_000):  # bounded: 640 MiB at most, never reached
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            await writer.drain()

    async with (
        RawServer(endless) as srv,
        session(srv.base_url, max_response_size=CAP, max_retries=0) as s,
    ):
        with pytest.raises(ca.ResponseTooLargeError):
            await s.calls.get("cl_1")
    assert sent < 64 * CAP  # the client stopped reading long before the server stopped


async def test_a_declared_length_past_the_cap_is_refused_before_reading() -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(response(200, b"{}", {"Content-Length": str(10**12)}))
        await writer.drain()
        await asyncio.sleep(5)  # never sends the promised terabyte

    async with (
        RawServer(liar) as srv,
        session(srv.base_url, max_response_size=CAP, max_retries=0, timeout=3) as s,
    ):
        with pytest.raises(ca.ResponseTooLargeError, match="Content-Length"):
            await s.calls.get("cl_1")


async def test_a_huge_error_body_keeps_its_status(log: list[Request]) -> None:
    body = json.dumps({"message": "nope", "pad": "x" * (4 * CAP)}).encode()
    reply = response(404, body)
    async with (
        RawServer(serve(lambda _: reply, log)) as srv,
        session(srv.base_url, max_response_size=CAP) as s,
    ):
        with pytest.raises(ca.NotFoundError) as info:
            await s.calls.get("cl_1")
    assert len(str(info.value.body)) < CAP


def test_max_response_size_is_checked() -> None:
    for bad in (0, -1, 1.5, True, "1MB"):
        with pytest.raises(ca.ConfigurationError, match="max_response_size"):
            ca.AsyncSession(api_key=KEY, max_response_size=bad)  # type: ignore[arg-type]


# --- redirects -----------------------------------------------------------------------------


@pytest.fixture
async def elsewhere() -> AsyncIterator[tuple[RawServer, list[Request]]]:
    """Another origin, counting what reaches it."""
    seen: list[Request] = []
    async with RawServer(serve(lambda _: response(200, CALL), seen)) as srv:
        yield srv, seen


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_dial_is_never_redirected(
    status: int, log: list[Request], elsewhere: tuple[RawServer, list[Request]]
) -> None:
    other, other_log = elsewhere
    target = other.base_url + "/steal"
    reply = response(status, b"", {"Location": target})
    async with RawServer(serve(lambda _: reply, log)) as srv, session(srv.base_url) as s:
        with pytest.raises(ca.RedirectError) as info:
            await start(s)
    assert info.value.location == target and str(status) in str(info.value)
    assert len(log) == 1 and other_log == []  # nothing re-sent, anywhere


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_safe_read_follows_a_same_origin_redirect(status: int, log: list[Request]) -> None:
    def replies(request: Request) -> bytes:
        if request.target.endswith("/old"):
            return response(status, b"", {"Location": "/api/core/voice/call/new"})
        return response(200, CALL)

    async with (
        RawServer(serve(replies, log)) as srv,
        session(srv.base_url, paths={"calls.get": "/api/core/voice/call/{call_id}/old"}) as s,
    ):
        call = await s.calls.get("cl_1")
    assert call.call_id == "cl_1"
    assert [r.target for r in log] == ["/api/core/voice/call/cl_1/old", "/api/core/voice/call/new"]
    assert log[1].headers["authorization"] == f"Bearer {KEY}"


async def test_a_cross_origin_redirect_is_refused_and_the_key_stays_home(
    log: list[Request], elsewhere: tuple[RawServer, list[Request]]
) -> None:
    other, other_log = elsewhere
    reply = response(302, b"", {"Location": other.base_url + "/api/core/voice/call/cl_1"})
    async with RawServer(serve(lambda _: reply, log)) as srv, session(srv.base_url) as s:
        with pytest.raises(ca.RedirectError, match="another origin"):
            await s.calls.get("cl_1")
    assert other_log == []


async def test_a_redirect_loop_stops_after_a_few_hops(log: list[Request]) -> None:
    reply = response(302, b"", {"Location": "/api/core/voice/call/cl_1"})
    async with RawServer(serve(lambda _: reply, log)) as srv, session(srv.base_url) as s:
        with pytest.raises(ca.RedirectError, match="redirects"):
            await s.calls.get("cl_1")
    assert len(log) == MAX_REDIRECTS + 1


def test_https_never_follows_to_plain_http_or_another_port() -> None:
    get = ROUTES["calls.get"]
    base = "https://app.calleague.ai/api/core/voice/call/x"

    def target(location: str) -> str:
        return redirect_target(
            route=get,
            url=base,
            status=302,
            headers={"Location": location},
            hops=0,
            method="GET",
            path="/x",
        )

    assert target("/y") == "https://app.calleague.ai/y"
    assert target("https://APP.calleague.ai:443/z") == "https://APP.calleague.ai:443/z"
    for bad in (
        "http://app.calleague.ai/y",
        "https://app.calleague.ai:8443/y",
        "https://evil.example/y",
        "//evil.example/y",
        "https://app.calleague.ai:99999/y",
    ):
        with pytest.raises(ca.RedirectError):
            target(bad)
    with pytest.raises(ca.RedirectError, match="Location"):
        redirect_target(
            route=get, url=base, status=302, headers={}, hops=0, method="GET", path="/x"
        )


# --- where a failure struck: sent or not ----------------------------------------------------


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    with hung_port() as port:
        yield port


async def test_a_connect_timeout_proves_nothing_was_sent(unanswered_port: int) -> None:
    async with session(f"http://127.0.0.1:{unanswered_port}", timeout=0.5, max_retries=0) as s:
        with pytest.raises(ca.APITimeoutError) as info:
            await start(s)  # not OutcomeUnknownError: the request never left
        assert info.value.request_sent is False
        with pytest.raises(ca.APITimeoutError) as info:
            await s.calls.get("cl_1")
        assert info.value.request_sent is False


async def test_a_dial_never_rides_a_connection_the_server_dropped_while_idle(
    log: list[Request],
) -> None:
    # The server serves one request per connection and resets a connection's second request
    # before reading it, as a server whose keep-alive timer just fired does.
    async def one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        first = await read_request(reader, n)
        if first is None:
            return
        log.append(first)
        writer.write(response(200, CALL))
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the next request's head: never acted on
        reset(writer)

    async with RawServer(one_per_connection) as srv, session(srv.base_url) as s:
        await s.calls.get("cl_1")  # leaves a pooled keep-alive connection
        call = await start(s)
        call2 = await start(s)
    assert call.call_id == call2.call_id == "cl_1"
    posts = [r for r in log if r.method == "POST"]
    assert len(posts) == 2 and len({r.connection for r in posts}) == 2
    assert all(r.connection != log[0].connection for r in posts)


async def test_a_timeout_after_sending_a_dial_is_still_an_unknown_outcome(
    log: list[Request],
) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        request = await read_request(reader, n)
        if request is not None:
            log.append(request)
        await asyncio.sleep(5)

    async with RawServer(stall) as srv, session(srv.base_url, timeout=0.3) as s:
        with pytest.raises(ca.OutcomeUnknownError) as info:
            await start(s)
    assert isinstance(info.value.cause, ca.APITimeoutError)
    assert info.value.cause.request_sent is True
    assert len(log) == 1
