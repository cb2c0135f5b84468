"""Proxies (the environment's and explicit ones) and other event loops, against the sandbox.

The proxy is a real forward proxy written here on raw asyncio sockets: it reads absolute-form
requests (``GET http://127.0.0.1:PORT/... HTTP/1.1``), records them, and forwards each on a new
connection to the sandbox.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl

import calleague_async as ca
from calleague_async.export import export_calls
from calleague_async.testing import SandboxServer
from tests.rawserver import RawServer, Request, read_request, response


class ForwardProxy:
    """A plain-HTTP forward proxy that records every request it forwards."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self._server = RawServer(self._handle)

    @property
    def url(self) -> str:
        return self._server.base_url

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        request = await read_request(reader, n)
        if request is None:
            return
        self.seen.append(request)
        target = yarl.URL(request.target)
        if not target.absolute or target.host is None:
            writer.write(response(400, b"not a proxy request"))
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(target.host, target.port)
        hop_by_hop = {"connection", "proxy-connection", "proxy-authorization", "keep-alive"}
        lines = [f"{request.method} {target.raw_path_qs} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in request.headers.items() if k not in hop_by_hop]
        lines += ["Connection: close", "", ""]
        upstream_writer.write("\r\n".join(lines).encode("latin-1") + request.body)
        await upstream_writer.drain()
        reply = await upstream_reader.read()  # to EOF: one request per upstream connection
        upstream_writer.close()
        writer.write(reply)  # says Connection: close, so the client opens a new one next
        await writer.drain()

    async def __aenter__(self) -> ForwardProxy:
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.__aexit__(None, None, None)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable of the machine's (any case) leaks into a test."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in {"REQUEST_METHOD", "NETRC"}:
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(calls=30) as sb:
        yield sb


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as p:
        yield p


def session(sb: SandboxServer, **kw: Any) -> ca.AsyncSession:
    kw.setdefault("rate_limits", None)
    return ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url, timeout=5, **kw)


async def exercise(s: ca.AsyncSession) -> None:
    """A read, a page of a list, and a dial."""
    assert (await s.calls.get("cl_8f2a")).call_id == "cl_8f2a"
    assert len([c async for c in s.calls.list(max_items=5)]) == 5
    assert (await s.calls.start(agent_id="ag_123", to="+905551112233")).call_id


def targets(proxy: ForwardProxy) -> list[str]:
    return [f"{r.method} {r.target}" for r in proxy.seen]


# --- the proxy environment -------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_the_proxy_environment_is_honoured_by_default(
    variable: str, clean_env: pytest.MonkeyPatch, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    # Loopback is not exempt by default: NO_PROXY is empty here, as on most machines.
    clean_env.setenv(variable, proxy.url)
    async with session(sandbox) as s:
        await exercise(s)
    assert targets(proxy)[0] == f"GET {sandbox.base_url}/api/core/voice/call/cl_8f2a"
    assert len(proxy.seen) == 3 and len(sandbox.requests) == 3
    assert [r.method for r in proxy.seen] == ["GET", "GET", "POST"]
    assert all(r.target.startswith(sandbox.base_url + "/") for r in proxy.seen)


async def test_a_proxy_variable_without_a_scheme_is_read_as_http(
    clean_env: pytest.MonkeyPatch, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url.removeprefix("http://"))
    async with session(sandbox) as s:
        await s.calls.get("cl_8f2a")
    assert len(proxy.seen) == 1


async def test_trust_env_false_ignores_the_proxy_environment(
    clean_env: pytest.MonkeyPatch, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url)
    async with session(sandbox, trust_env=False) as s:
        await exercise(s)
    assert proxy.seen == [] and len(sandbox.requests) == 3


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.1"])
async def test_no_proxy_sends_listed_hosts_direct(
    no_proxy: str, clean_env: pytest.MonkeyPatch, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url)
    clean_env.setenv("NO_PROXY", no_proxy)
    async with session(sandbox) as s:
        await exercise(s)
    assert proxy.seen == []


async def test_a_netrc_entry_never_replaces_the_api_key(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-pass\n")
    netrc.chmod(0o600)
    clean_env.setenv("NETRC", str(netrc))
    clean_env.setenv("HTTP_PROXY", proxy.url)
    async with session(sandbox) as s:
        await exercise(s)  # the sandbox answers 401 to anything but the key's Bearer header
    assert all("authorization" in r.headers for r in proxy.seen)
    assert not any("Basic" in r.headers["authorization"] for r in proxy.seen)


# --- an explicit proxy -----------------------------------------------------------------------


async def test_an_explicit_proxy_is_used_whatever_the_environment(
    clean_env: pytest.MonkeyPatch, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    clean_env.setenv("NO_PROXY", "*")
    async with session(sandbox, proxy=proxy.url, trust_env=False) as s:
        await exercise(s)
    assert len(proxy.seen) == 3


async def test_a_proxy_password_reaches_the_proxy_and_nowhere_else(
    clean_env: pytest.MonkeyPatch, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    port = yarl.URL(proxy.url).port
    async with session(sandbox, proxy=f"http://dialer:s3cr3t-pw@127.0.0.1:{port}") as s:
        assert "s3cr3t-pw" not in repr(s)
        await s.calls.get("cl_8f2a")
    expected = "Basic " + base64.b64encode(b"dialer:s3cr3t-pw").decode()
    assert proxy.seen[0].headers["proxy-authorization"] == expected
    assert "proxy-authorization" not in sandbox.requests[0].headers


async def test_an_unreachable_proxy_is_a_connection_error_without_its_password(
    clean_env: pytest.MonkeyPatch, sandbox: SandboxServer
) -> None:
    async with RawServer(lambda *_: asyncio.sleep(0)) as dead:
        port = dead.port
    async with session(sandbox, proxy=f"http://u:s3cr3t-pw@127.0.0.1:{port}", max_retries=0) as s:
        with pytest.raises(ca.APIConnectionError, match="proxy") as info:
            await s.calls.start(agent_id="ag_123", to="+905551112233")
    assert info.value.request_sent is False  # so not an unknown outcome: nothing was sent
    assert "s3cr3t-pw" not in str(info.value) and "s3cr3t-pw" not in repr(info.value)
    assert sandbox.requests == []


@pytest.mark.parametrize(
    "value",
    [
        "socks5://u:s3cr3t-pw@127.0.0.1:1080",
        "ftp://u:s3cr3t-pw@127.0.0.1",
        "http://u:s3cr3t-pw@",
        "http://u:s3cr3t-pw@127.0.0.1:99999",
        "http://u:s3cr3t-pw@127.0.0.1:3128/path",
        "127.0.0.1:3128",
        42,
    ],
)
def test_a_bad_proxy_is_refused_without_showing_its_password(value: Any) -> None:
    with pytest.raises(ca.ConfigurationError, match="proxy") as info:
        ca.AsyncSession(api_key="sk_test_x", proxy=value)
    assert "s3cr3t-pw" not in str(info.value)


def test_a_bad_proxy_in_the_environment_names_the_variable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("HTTPS_PROXY", "socks5://u:s3cr3t-pw@proxy.example:1080")
    with pytest.raises(ca.ConfigurationError, match=r"HTTPS_PROXY.*trust_env=False") as info:
        ca.AsyncSession(api_key="sk_test_x")
    assert "s3cr3t-pw" not in str(info.value)
    assert ca.AsyncSession(api_key="sk_test_x", trust_env=False).base_url


async def test_a_callers_session_takes_an_explicit_proxy_and_keeps_its_own_trust_env(
    clean_env: pytest.MonkeyPatch, sandbox: SandboxServer, proxy: ForwardProxy
) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url)
    async with aiohttp.ClientSession() as http:  # aiohttp's default: trust_env=False
        async with session(sandbox, http_session=http) as s:
            await s.calls.get("cl_8f2a")
        assert proxy.seen == []
        async with session(sandbox, http_session=http, proxy=proxy.url) as s:
            await exercise(s)
        assert len(proxy.seen) == 3 and not http.closed


# --- uvloop ----------------------------------------------------------------------------------


@pytest.fixture
def uvloop_runner() -> Iterator[asyncio.Runner]:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        yield runner


def test_list_export_and_start_many_work_under_uvloop(
    uvloop_runner: asyncio.Runner, tmp_path: Path
) -> None:
    async def main() -> tuple[str, int, int, list[bool], int]:
        loop = type(asyncio.get_running_loop()).__module__
        async with SandboxServer(calls=250) as sb, session(sb) as s:
            listed = len([c async for c in s.calls.list(page_size=50)])
            exported = await export_calls(s, tmp_path / "calls.jsonl", page_size=50, concurrency=4)
            leads = [{"agent_id": "ag_123", "to": f"+9055511122{i:02d}"} for i in range(20)]
            results = [r async for r in s.calls.start_many(leads, concurrency=8)]
            return loop, listed, exported.written, [r.ok for r in results], sum(sb.dials.values())

    loop, listed, written, placed, dials = uvloop_runner.run(main())
    assert loop.startswith("uvloop")
    assert listed == written == 250
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 250
    assert placed == [True] * 20 and dials == 20


def test_a_session_moved_to_a_uvloop_loop_raises_the_same_clear_error(
    uvloop_runner: asyncio.Runner,
) -> None:
    async def open_sandbox() -> SandboxServer:
        return await SandboxServer().__aenter__()

    sb = uvloop_runner.run(open_sandbox())
    s = session(sb)
    uvloop_runner.run(s.calls.get("cl_8f2a"))
    try:
        with asyncio.Runner() as plain, pytest.raises(ca.ConfigurationError, match="event loop"):
            plain.run(s.calls.get("cl_8f2a"))
    finally:
        uvloop_runner.run(s.close())
        uvloop_runner.run(sb.__aexit__(None, None, None))
