"""The transport against raw-socket servers: headers, pools, a caller's aiohttp session, loops.

Each server is scripted here on plain asyncio sockets (tests/rawserver.py), so what arrives on
the wire is what is asserted, not what aiohttp was asked to send.
"""

from __future__ import annotations

import ast
import asyncio
import gc
import json
import platform
import threading
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st

import calleague_async as ca
from calleague_async import _session, _transport
from tests.rawserver import RawServer, Request, read_request, response

KEY = "sk_live_transport_key_77"
CALL = json.dumps({"callId": "cl_1", "status": "ringing"}).encode()
PYTHON = ".".join(platform.python_version_tuple()[:2])
AIOHTTP = ".".join(aiohttp.__version__.split(".")[:2])


def session(base_url: str, **kw: Any) -> ca.AsyncSession:
    kw.setdefault("rate_limits", None)
    kw.setdefault("max_retries", 0)
    return ca.AsyncSession(api_key=KEY, base_url=base_url, **kw)


async def start(s: ca.AsyncSession) -> ca.Call:
    return await s.calls.start(agent_id="ag_1", to="+905551112233")


def serve(
    log: list[Request], reply: Callable[[Request], bytes] = lambda _: response(200, CALL)
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Any]:
    """A keep-alive handler recording each request and answering it with ``reply``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while (request := await read_request(reader, n)) is not None:
            log.append(request)
            writer.write(reply(request))
            await writer.drain()
            if request.headers.get("connection", "").lower() == "close":
                return

    return handler


@pytest.fixture
def log() -> list[Request]:
    return []


@pytest.fixture
async def server(log: list[Request]) -> AsyncIterator[RawServer]:
    async with RawServer(serve(log)) as srv:
        yield srv


# --- User-Agent ------------------------------------------------------------------------------


async def test_user_agent_names_the_sdk_python_and_aiohttp(
    server: RawServer, log: list[Request]
) -> None:
    async with session(server.base_url) as s:
        await s.calls.get("cl_1")
        await start(s)
    expected = f"calleague-async/{ca.__version__} python/{PYTHON} aiohttp/{AIOHTTP}"
    assert [r.headers["user-agent"] for r in log] == [expected, expected]


async def test_app_info_is_appended_to_the_user_agent(
    server: RawServer, log: list[Request]
) -> None:
    async with session(server.base_url, app_info="acme-dialer/2.1") as s:
        await s.calls.get("cl_1")
    assert log[0].headers["user-agent"] == (
        f"calleague-async/{ca.__version__} python/{PYTHON} aiohttp/{AIOHTTP} acme-dialer/2.1"
    )


@pytest.mark.parametrize(
    "app_info", ["acme\r\nX-Evil: 1", "acme\n", "", "  ", " acme/1", "acme\t1", "açme/1", 21]
)
def test_app_info_that_could_corrupt_the_header_is_refused(app_info: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="app_info"):
        session("http://127.0.0.1:1", app_info=app_info)


# --- our own pool ----------------------------------------------------------------------------


async def test_an_idle_connection_is_dropped_after_keepalive_timeout(
    server: RawServer, log: list[Request]
) -> None:
    async with session(server.base_url, keepalive_timeout=0.25) as s:
        await s.calls.get("cl_1")
        await s.calls.get("cl_1")  # at once: the same connection
        await asyncio.sleep(0.6)  # past the keep-alive time: a new connection
        await s.calls.get("cl_1")
    assert [r.connection for r in log] == [1, 1, 2]


async def test_the_default_keepalive_reuses_a_connection_idle_for_a_while(
    server: RawServer, log: list[Request]
) -> None:
    async with session(server.base_url) as s:
        await s.calls.get("cl_1")
        await asyncio.sleep(0.3)
        await s.calls.get("cl_1")
    assert [r.connection for r in log] == [1, 1]


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "15", None])
def test_keepalive_timeout_is_checked(value: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="keepalive_timeout"):
        session("http://127.0.0.1:1", keepalive_timeout=value)


async def test_pool_size_caps_the_connections_open_at_once(log: list[Request]) -> None:
    open_now = peak = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            while (request := await read_request(reader, n)) is not None:
                log.append(request)
                await asyncio.sleep(0.05)
                writer.write(response(200, CALL))
                await writer.drain()
        finally:
            open_now -= 1

    async with RawServer(slow) as srv, session(srv.base_url, pool_size=2) as s:
        await asyncio.gather(*(s.calls.get("cl_1") for _ in range(6)))
    assert len(log) == 6 and peak == 2


# --- a caller's aiohttp session --------------------------------------------------------------


def tracing() -> tuple[aiohttp.TraceConfig, list[str]]:
    seen: list[str] = []
    trace = aiohttp.TraceConfig()

    async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        seen.append(f"{params.method} {params.url.path}")

    trace.on_request_start.append(on_start)
    return trace, seen


async def test_a_callers_http_session_carries_every_request_and_stays_open(
    server: RawServer, log: list[Request]
) -> None:
    trace, seen = tracing()
    async with aiohttp.ClientSession(
        headers={"X-Mine": "1", "User-Agent": "theirs/1", "Authorization": "Bearer theirs"},
        trace_configs=[trace],
    ) as http:
        async with session(server.base_url, http_session=http, app_info="acme/2") as s:
            await s.calls.get("cl_1")
            await start(s)
        assert s.closed and not http.closed  # theirs: never closed by us
        async with http.get(server.base_url + "/still/works") as resp:  # and still usable
            assert resp.status == 200
    assert seen == [
        "GET /api/core/voice/call/cl_1",
        "POST /api/core/voice/agent/call",
        "GET /still/works",
    ]
    for request in log[:2]:
        # Our headers ride each request over the session's own defaults, which still apply.
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["user-agent"].endswith(f"aiohttp/{AIOHTTP} acme/2")
        assert request.headers["accept"] == "application/json"
        assert request.headers["x-mine"] == "1"


async def test_a_dial_through_a_callers_session_asks_for_connection_close(
    server: RawServer, log: list[Request]
) -> None:
    async with aiohttp.ClientSession() as http, session(server.base_url, http_session=http) as s:
        await s.calls.get("cl_1")
        await start(s)
        await s.calls.get("cl_1")
    get, post, get2 = log
    assert post.headers["connection"] == "close"
    assert "connection" not in get.headers or get.headers["connection"] != "close"
    # The dial reused the idle pooled connection (the caller's pool, not a fresh one: the
    # guarantee needs the SDK's own pool), and its connection was never pooled afterwards.
    assert post.connection == get.connection
    assert get2.connection != post.connection


async def test_our_timeout_and_status_handling_win_over_the_callers_defaults(
    log: list[Request],
) -> None:
    async def slow_404(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while (request := await read_request(reader, n)) is not None:
            log.append(request)
            await asyncio.sleep(0.2)
            writer.write(response(404, b'{"message": "no such call"}'))
            await writer.drain()

    async with (
        RawServer(slow_404) as srv,
        aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=0.05), raise_for_status=True, auto_decompress=False
        ) as http,
        session(srv.base_url, http_session=http, timeout=5) as s,
    ):
        with pytest.raises(ca.NotFoundError, match="no such call"):
            await s.calls.get("cl_1")


@pytest.mark.parametrize("value", [object(), "aiohttp", 1])
def test_http_session_must_be_an_aiohttp_client_session(value: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="http_session must be an aiohttp"):
        session("http://127.0.0.1:1", http_session=value)


async def test_a_callers_session_with_its_own_auth_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp deprecates auth= itself
        http = aiohttp.ClientSession(auth=aiohttp.BasicAuth("u", "p"))
    async with http:
        with pytest.raises(ca.ConfigurationError, match="auth"):
            session("http://127.0.0.1:1", http_session=http)


async def test_a_closed_callers_session_is_a_clear_error(server: RawServer) -> None:
    http = aiohttp.ClientSession()
    s = session(server.base_url, http_session=http)
    await http.close()
    with pytest.raises(ca.ConfigurationError, match="http_session is closed"):
        await s.calls.get("cl_1")
    await s.close()


async def test_a_session_on_a_callers_http_session_never_warns_when_dropped(
    server: RawServer,
) -> None:
    async with aiohttp.ClientSession() as http:
        s = session(server.base_url, http_session=http)
        await s.calls.get("cl_1")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del s
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert not http.closed


# --- event loops -----------------------------------------------------------------------------


def test_a_session_used_on_a_new_loop_after_asyncio_run_raises_a_clear_error(
    server_in_thread: str,
) -> None:
    s = session(server_in_thread, rate_limits=ca.DEFAULT_RATE_LIMITS)  # the limiter on, too
    with asyncio.Runner() as first:
        assert first.run(s.calls.get("cl_1")).call_id == "cl_1"
    with asyncio.Runner() as second:
        with pytest.raises(ca.ConfigurationError, match="another event loop"):
            second.run(s.calls.get("cl_1"))
        with pytest.raises(ca.ConfigurationError, match="one session per loop"):
            second.run(start(s))  # dials too, on either pool
        second.run(s.close())  # closing from there is fine
    assert s.closed


def test_a_session_used_from_another_threads_loop_raises_instead_of_hanging(
    server_in_thread: str, background_loop: asyncio.AbstractEventLoop
) -> None:
    s = session(server_in_thread)
    opened = asyncio.run_coroutine_threadsafe(s.calls.get("cl_1"), background_loop)
    assert opened.result(5).call_id == "cl_1"

    async def elsewhere() -> None:
        with pytest.raises(ca.ConfigurationError, match="another event loop"):
            await asyncio.wait_for(s.calls.get("cl_1"), 5)
        await s.close()  # closed on the loop it was opened on, through that loop

    asyncio.run(elsewhere())
    assert s.closed and not s._transport.opened


@pytest.fixture
def background_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def server_in_thread(background_loop: asyncio.AbstractEventLoop) -> Iterator[str]:
    """A raw server on a loop of its own, so tests can open and close loops around it."""
    srv = RawServer(serve([]))
    asyncio.run_coroutine_threadsafe(srv.__aenter__(), background_loop).result(5)
    try:
        yield srv.base_url
    finally:
        stop = srv.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(stop, background_loop).result(5)


# --- a session dropped unclosed --------------------------------------------------------------


async def test_an_unclosed_session_warns_once_schedules_nothing_and_its_sockets_close(
    log: list[Request],
) -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await serve(log)(reader, writer, n)
        closed.set()  # the client closed its end

    async with RawServer(handler) as srv:
        s = session(srv.base_url)
        await s.calls.get("cl_1")  # leaves an idle pooled connection
        loop = asyncio.get_running_loop()
        tasks = asyncio.all_tasks()
        scheduled: list[str] = []
        create_task = loop.create_task

        def spy(*args: Any, **kwargs: Any) -> Any:
            scheduled.append("create_task")
            return create_task(*args, **kwargs)

        loop.create_task = spy  # type: ignore[method-assign]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                del s
                gc.collect()
        finally:
            del loop.create_task
        assert scheduled == [] and asyncio.all_tasks() == tasks
        ours = [w for w in caught if srv.base_url in str(w.message)]
        assert len(ours) == 1 and issubclass(ours[0].category, ResourceWarning)
        assert KEY not in str(ours[0].message)
        await asyncio.wait_for(closed.wait(), 5)  # aiohttp's connector closed the socket


def test_a_session_collected_after_its_loop_closed_warns_once_and_raises_nothing(
    server_in_thread: str,
) -> None:
    s = session(server_in_thread)
    with asyncio.Runner() as runner:
        runner.run(s.calls.get("cl_1"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del s
        gc.collect()
    ours = [w for w in caught if server_in_thread in str(w.message)]
    assert len(ours) == 1 and "Unclosed AsyncSession" in str(ours[0].message)


def test_the_transport_uses_no_private_aiohttp_api() -> None:
    """Private aiohttp names change without notice; the transport keeps to the public API."""
    tree = ast.parse(Path(_transport.__file__).read_text())
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
    ]
    named = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("_")
        and node.value.isidentifier()
    ]
    assert private == [] and named == []


# --- the query string ---------------------------------------------------------------------------


async def test_a_query_arrives_on_the_wire_exactly_as_given(
    server: RawServer, log: list[Request]
) -> None:
    odd = "a b&c=d+é/?#%"
    async with session(server.base_url) as s:
        await s.request("GET", "/api/core/voice/call/list", params={"page": 2, "to": odd, "x": 1})
        await s.calls.get("cl_1", extra_query={"dryRun": True, "skip": None})
        await s.request("GET", "/api/core/voice/call/list?status=queued", params={"page": 3})
    first, second, third = (urllib.parse.urlsplit(r.target) for r in log)
    assert third.query == "status=queued&page=3"  # a path's own query is kept, ours appended
    assert urllib.parse.parse_qsl(first.query, keep_blank_values=True) == [
        ("page", "2"),
        ("to", odd),
        ("x", "1"),
    ]
    assert first.path == "/api/core/voice/call/list" and "+" not in first.query
    assert (second.path, second.query) == ("/api/core/voice/call/cl_1", "dryRun=true")


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4))
def test_the_query_text_reads_back_as_the_query(query: dict[str, str]) -> None:
    text = _session._query_text(query)
    assert urllib.parse.parse_qsl(text, keep_blank_values=True) == list(query.items())
    assert dict(yarl.URL(f"http://h/p?{text}", encoded=True).query) == query
