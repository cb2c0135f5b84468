"""Attacks: hostile servers written on raw sockets, each tried many times; what the SDK did.

Run: ``python -m benchmarks.attacks [--tries 20]``. Prints a table (attack, tries, outcomes)
and writes ``benchmarks/results/attacks.json``. Exits 1 if any try ended in anything but the
expected outcome. The same attacks are regression tests in ``tests/test_hostile_servers.py``
and ``tests/test_pager_hostile.py``; this is the tally for the record.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import pickle
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import calleague_async as ca
from benchmarks._util import write
from benchmarks.soak import rss_mb
from tests.rawserver import RawServer, Request, read_request, reset, response, unanswered_port
from tests.test_hostile_servers import CALL, serve
from tests.test_hostile_servers import gzip_bomb as _gzip_bomb

KEY = "sk_live_attack_key_0123456789"
_keys = iter(range(10**9))
Attack = Callable[[], Awaitable[str]]
gzip_bomb = functools.cache(_gzip_bomb)  # compressing 1 GiB once is enough


def _session(base_url: str, **kw: Any) -> ca.AsyncSession:
    kw.setdefault("rate_limits", None)
    return ca.AsyncSession(api_key=KEY, base_url=base_url, **kw)


def _fresh_key() -> str:
    """A key of its own per try: what one try teaches the limiter must not reach the next."""
    return f"{KEY}_{next(_keys)}"


async def _outcome(coro: Awaitable[Any]) -> str:
    try:
        await coro
    except ca.OutcomeUnknownError as exc:
        return f"OutcomeUnknownError({type(exc.cause).__name__})"
    except ca.CalleagueError as exc:
        sent = getattr(exc, "request_sent", None)
        return type(exc).__name__ + (f"(request_sent={sent})" if sent is not None else "")
    except Exception as exc:
        return f"UNTYPED {type(exc).__name__}"
    return "ok"


async def gzip_bomb_get() -> str:
    """A 1 MiB gzip body inflating to 1 GiB, answering a read; RSS growth reported."""
    bomb = response(200, gzip_bomb(1 << 30), {"Content-Encoding": "gzip"})
    log: list[Request] = []
    before = rss_mb()
    async with RawServer(serve(lambda _: bomb, log)) as srv, _session(srv.base_url) as s:
        outcome = await _outcome(s.calls.get("cl_1"))
    grew = rss_mb() - before
    return f"{outcome}, {len(log)} attempts" + (" RSS GREW > 200 MB" if grew > 200 else "")


async def gzip_bomb_dial() -> str:
    """The same bomb answering a dial."""
    bomb = response(200, gzip_bomb(64 << 20), {"Content-Encoding": "gzip"})
    log: list[Request] = []
    async with RawServer(serve(lambda _: bomb, log)) as srv, _session(srv.base_url) as s:
        outcome = await _outcome(s.calls.start(agent_id="ag_1", to="+905551112233"))
    return f"{outcome}, {len(log)} dial(s)"


async def endless_chunked() -> str:
    """A chunked body that never ends."""

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(response(200, headers={"Transfer-Encoding": "chunked"}, length=False))
        chunk = b" " * 65536
        for _ in range(100_000):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()

    async with RawServer(endless) as srv, _session(srv.base_url, max_retries=0) as s:
        return await _outcome(s.calls.get("cl_1"))


async def length_lie() -> str:
    """Content-Length: 10^12, then silence."""

    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(response(200, b"{}", {"Content-Length": str(10**12)}))
        await writer.drain()
        await asyncio.sleep(10)

    async with RawServer(liar) as srv, _session(srv.base_url, max_retries=0, timeout=5) as s:
        started = time.monotonic()
        outcome = await _outcome(s.calls.get("cl_1"))
    return outcome + (" (waited)" if time.monotonic() - started > 1 else "")


def _redirect_attack(status: int, dial: bool, cross_origin: bool) -> Attack:
    async def attack() -> str:
        seen: list[Request] = []
        log: list[Request] = []
        async with RawServer(serve(lambda _: response(200, CALL), seen)) as other:
            where = other.base_url if cross_origin else ""
            reply = response(status, b"", {"Location": where + "/api/core/voice/call/x"})
            async with RawServer(serve(lambda _: reply, log)) as srv, _session(srv.base_url) as s:
                if dial:
                    outcome = await _outcome(s.calls.start(agent_id="ag_1", to="+905551112233"))
                else:
                    outcome = await _outcome(s.calls.get("cl_1"))
        leaked = [r for r in seen if KEY in r.headers.get("authorization", "")]
        return f"{outcome}, {len(log)} request(s) here, {len(seen)} elsewhere" + (
            " KEY LEAKED" if leaked else ""
        )

    attack.__doc__ = (
        f"{status} redirect of a {'dial' if dial else 'read'}"
        f"{' to another origin' if cross_origin else ' (same origin, loop)'}"
    )
    return attack


async def connect_stall() -> str:
    """A host that never completes the TCP handshake, answering a dial."""
    with unanswered_port() as port:
        async with _session(f"http://127.0.0.1:{port}", timeout=0.2, max_retries=0) as s:
            return await _outcome(s.calls.start(agent_id="ag_1", to="+905551112233"))


async def stale_keepalive() -> str:
    """A keep-alive connection the server resets when it is next used, then a dial."""
    log: list[Request] = []

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        first = await read_request(reader, n)
        if first is None:
            return
        log.append(first)
        writer.write(response(200, CALL))
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        reset(writer)

    async with RawServer(one) as srv, _session(srv.base_url) as s:
        await s.calls.get("cl_1")
        outcome = await _outcome(s.calls.start(agent_id="ag_1", to="+905551112233"))
    return f"{outcome}, {sum(r.method == 'POST' for r in log)} dial(s) seen"


async def key_echo() -> str:
    """An error body, header and message echoing the API key."""
    body = json.dumps({"message": f"Invalid API key {KEY}", "detail": {"key": KEY}}).encode()
    reply = response(401, body, {"X-Echo": f"Bearer {KEY}"})
    log: list[Request] = []
    async with RawServer(serve(lambda _: reply, log)) as srv, _session(srv.base_url) as s:
        try:
            await s.calls.get("cl_1")
        except ca.CalleagueError as exc:
            text = (
                "".join(
                    (str(exc), repr(exc), repr(getattr(exc, "body", "")), repr(exc.args)),
                )
                + repr(dict(getattr(exc, "headers", {})))
                + repr(pickle.dumps(exc))
            )
            return f"{type(exc).__name__}, key " + ("SHOWN" if KEY in text else "absent")
    return "no error"


async def long_retry_after() -> str:
    """A 429 with Retry-After: 3600, then the next call."""
    replies = iter([response(429, b'{"message":"slow down"}', {"Retry-After": "3600"})])
    log: list[Request] = []
    async with (
        RawServer(serve(lambda _: next(replies, response(200, CALL)), log)) as srv,
        ca.AsyncSession(api_key=_fresh_key(), base_url=srv.base_url, max_retries=0) as s,
    ):
        first = await _outcome(s.calls.get("cl_1"))
        started = time.monotonic()
        second = await _outcome(s.calls.get("cl_1"))
        waited = time.monotonic() - started
    return f"{first}, then {second} after {waited:.1f}s"


async def year_policy() -> str:
    """``RateLimit-Policy: 1;w=31536000`` on a 200, then 20 more reads."""
    reply = response(200, CALL, {"RateLimit-Policy": "1;w=31536000"})
    log: list[Request] = []
    async with (
        RawServer(serve(lambda _: reply, log)) as srv,
        ca.AsyncSession(api_key=_fresh_key(), base_url=srv.base_url, max_retries=0) as s,
    ):
        started = time.monotonic()
        outcomes = Counter([await _outcome(s.calls.get("cl_1")) for _ in range(21)])
        waited = time.monotonic() - started
    return f"{dict(outcomes)} in {'under 1' if waited < 1 else f'{waited:.0f}'}s"


async def _pager_attack(total: int, cycle: int) -> str:
    """A list server that ignores ``page`` (cycle=1) or cycles through ``cycle`` pages."""
    log: list[Request] = []

    def replies(request: Request) -> bytes:
        page = int(request.target.split("page=")[1].split("&")[0])
        k = (page - 1) % cycle
        items = [{"callId": f"c{k * 20 + i}"} for i in range(20)]
        return response(200, json.dumps({"total": total, "list": items}).encode())

    async with RawServer(serve(replies, log)) as srv, _session(srv.base_url) as s:
        ids: list[str] = []

        async def collect() -> None:
            async for call in s.calls.list(page_size=20):
                ids.append(call.call_id)

        outcome = await _outcome(collect())
    repeats = len(ids) - len(set(ids))
    return f"{outcome}, {len(log)} requests, {len(ids)} yielded, {repeats} repeats"


async def ignores_page() -> str:
    """A list server that ignores ``page``, claiming total=1000."""
    return await _pager_attack(1000, 1)


async def cycling_pages() -> str:
    """A list server whose pages cycle through 20 pages, claiming total=100000."""
    return await _pager_attack(100_000, 20)


ATTACKS: dict[str, Attack] = {
    "gzip bomb (1 GiB inflated) on a read": gzip_bomb_get,
    "gzip bomb on a dial": gzip_bomb_dial,
    "endless chunked body": endless_chunked,
    "Content-Length 10^12, then silence": length_lie,
    **{
        f"{status} on a dial, to another origin": _redirect_attack(status, True, True)
        for status in (302, 307, 308)
    },
    "302 on a read, to another origin": _redirect_attack(302, False, True),
    "302 loop on a read, same origin": _redirect_attack(302, False, False),
    "TCP handshake never completes, on a dial": connect_stall,
    "keep-alive connection reset when reused, then a dial": stale_keepalive,
    "server echoes the key in an error": key_echo,
    "429 with Retry-After: 3600, then a read": long_retry_after,
    "RateLimit-Policy 1 per year on a 200": year_policy,
    "list ignores page, total=1000": ignores_page,
    "list pages cycle, total=100000": cycling_pages,
}


async def run(tries: int) -> list[dict[str, Any]]:
    """Try each attack ``tries`` times; tally the outcomes."""
    rows = []
    for name, attack in ATTACKS.items():
        outcomes: Counter[str] = Counter()
        for _ in range(tries):
            outcomes[await attack()] += 1
        rows.append({"attack": name, "tries": tries, "outcomes": dict(outcomes)})
        print(f"| {name} | {tries} | {'; '.join(f'{k} x{v}' for k, v in outcomes.items())} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tries", type=int, default=20)
    args = parser.parse_args(argv)
    print("| attack | tries | outcome |\n|---|---|---|")
    rows = asyncio.run(run(args.tries))
    write("attacks", {"attacks": rows})
    bad = [
        r["attack"]
        for r in rows
        if any(w in k for k in r["outcomes"] for w in ("UNTYPED", "LEAKED", "SHOWN", "GREW"))
    ]
    if bad:
        print("FAILED:", bad, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
