"""Per-request cost of ``s.calls.get``: ours vs raw aiohttp vs the peers' official async SDKs.

Run: ``nox -s bench -- http`` or ``python -m benchmarks.bench_http [--quick]``.
nginx on loopback serves fixed JSON for each SDK's call-detail path; every client runs in this
process, alternating, at concurrency 1, 16 and 64. Reported: requests/s (absolute, this machine),
the ratio to raw aiohttp + json measured in the same rounds, and client CPU microseconds per
request. Also list decoding: calls/s for pages of 100, models vs raw dicts. And the cost of
observability: the same ``calls.get`` with hooks, logging and OpenTelemetry off (the default),
with one no-op hook, with INFO and DEBUG logging to a NullHandler, and with an OpenTelemetry SDK
provider exporting to nowhere; plus the microseconds that event work alone takes per call.
Writes ``benchmarks/results/http.json`` (not with ``--only``, which prints a partial run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp

import calleague_async as ca
from benchmarks._nginx import CALL_ID, call_page, nginx
from benchmarks._util import write
from calleague_async import _wire
from calleague_async._convert import structure_many
from calleague_async._events import Events, RequestEvent

FAST_LOADS = _wire._loads  # orjson where it is exact, when installed

Call = Callable[[], Awaitable[Any]]
KEY = "sk_bench_key"


async def _raw_aiohttp(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    http = aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {KEY}"},
        connector=aiohttp.TCPConnector(limit=100),
    )
    url = f"{base}/api/core/voice/call/{CALL_ID}"

    async def call() -> Any:
        async with http.get(url) as resp:
            return json.loads(await resp.read())

    return call, http.close


async def _ours(
    base: str, *, limiter: bool, stdlib_json: bool = False, hooks: dict[str, Any] | None = None
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    limits = {"default": "10000000/second"} if limiter else None  # on, never reached
    s = ca.AsyncSession(KEY, base_url=base, rate_limits=limits, max_retries=0, hooks=hooks)
    parse = _wire._stdlib_loads if stdlib_json else FAST_LOADS

    async def call() -> Any:
        _wire._loads = parse  # each client runs alone: this picks its parser
        return await s.calls.get(CALL_ID)

    return call, s.close


async def _retell(base: str, *, aio: bool) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from retell import AsyncRetell, DefaultAioHttpClient

    kwargs: dict[str, Any] = {"http_client": DefaultAioHttpClient()} if aio else {}
    client = AsyncRetell(api_key=KEY, base_url=base, max_retries=0, **kwargs)

    async def call() -> Any:
        return await client.call.retrieve(CALL_ID)

    return call, client.close


async def _vapi(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from vapi import AsyncVapi

    client = AsyncVapi(token=KEY, base_url=base)

    async def call() -> Any:
        return await client.calls.get(CALL_ID)

    async def close() -> None:
        await client._client_wrapper.httpx_client.httpx_client.aclose()

    return call, close


def _noop_hook(event: RequestEvent) -> None:
    pass


@contextlib.contextmanager
def _logging_at(level: int) -> Iterator[None]:
    """The package logger at ``level`` with only its NullHandler: records made, never shown."""
    logger = logging.getLogger("calleague_async")
    saved = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(saved)


@contextlib.contextmanager
def _otel_provider() -> Iterator[None]:
    """An OpenTelemetry SDK provider, configured globally, whose exporter drops every span."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Nowhere(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Nowhere()))  # spans end in the caller
    # OpenTelemetry lets a process set its global provider once; to configure it for this
    # client's runs only, it is swapped in and out the way OpenTelemetry's own test helpers do.
    saved = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider
    try:
        yield
    finally:
        trace._TRACER_PROVIDER = saved


OFF = "calleague-async, hooks+logging+otel off (default)"
HOOK = "calleague-async, one no-op hook"
INFO = "calleague-async, INFO logging to a NullHandler"
DEBUG = "calleague-async, DEBUG logging to a NullHandler"
OTEL = "calleague-async, OTel SDK provider + no-op exporter"

CLIENTS: dict[str, Callable[[str], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]] = {
    "aiohttp+json (ceiling)": _raw_aiohttp,
    "calleague-async, limiter off": lambda b: _ours(b, limiter=False),
    "calleague-async, limiter on": lambda b: _ours(b, limiter=True),
    "calleague-async, limiter off, no orjson": lambda b: _ours(b, limiter=False, stdlib_json=True),
    # The observability rows: each is the "limiter off" client with one thing switched on; OFF
    # is that client again, so OFF vs "limiter off" shows the noise of the run.
    OFF: lambda b: _ours(b, limiter=False),
    HOOK: lambda b: _ours(b, limiter=False, hooks={"response_received": _noop_hook}),
    INFO: lambda b: _ours(b, limiter=False),
    DEBUG: lambda b: _ours(b, limiter=False),
    OTEL: lambda b: _ours(b, limiter=False),
    "retell-sdk (httpx)": lambda b: _retell(b, aio=False),
    "retell-sdk (aiohttp)": lambda b: _retell(b, aio=True),
    "vapi-server-sdk (httpx)": _vapi,
}

# Process-wide switches, on only while their client runs (clients run one at a time).
AROUND: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    INFO: lambda: _logging_at(logging.INFO),
    DEBUG: lambda: _logging_at(logging.DEBUG),
    OTEL: _otel_provider,
}


async def _drive(call: Call, requests: int, concurrency: int) -> tuple[float, float]:
    """Run ``requests`` calls from ``concurrency`` workers: (wall seconds, CPU seconds)."""
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def throughput(
    base: str, rounds: int, requests: int, only: str | None = None
) -> list[dict[str, Any]]:
    """Every client at every concurrency, alternating within each round; medians reported.

    ``only``: just the clients whose name contains it, and the ceiling.
    """
    clients = {
        name: await make(base)
        for name, make in CLIENTS.items()
        if only is None or only in name or name == "aiohttp+json (ceiling)"
    }
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
    try:
        for name, (call, _) in clients.items():  # warm up connections, caches, imports
            with AROUND.get(name, contextlib.nullcontext)():
                await _drive(call, 300, 16)
        for round_no in range(rounds):
            order = list(clients) if round_no % 2 == 0 else list(reversed(clients))
            for concurrency in (1, 16, 64):
                for name in order:
                    # The peers run 5-30x slower: fewer requests keep each run near a second.
                    n = requests // (8 if "sdk" in name else 1) // (4 if concurrency == 1 else 1)
                    with AROUND.get(name, contextlib.nullcontext)():
                        wall, cpu = await _drive(clients[name][0], n, concurrency)
                    samples.setdefault((name, concurrency), []).append((n / wall, cpu / n))
    finally:
        for _, close in clients.values():
            await close()
    rows: list[dict[str, Any]] = []
    for (name, concurrency), runs in samples.items():
        rows.append(
            {
                "client": name,
                "concurrency": concurrency,
                "req_per_s": round(statistics.median(r for r, _ in runs)),
                "cpu_us_per_req": round(statistics.median(c for _, c in runs) * 1e6, 1),
            }
        )
    for row in rows:
        ceiling = next(
            r["req_per_s"]
            for r in rows
            if r["client"] == "aiohttp+json (ceiling)" and r["concurrency"] == row["concurrency"]
        )
        row["ratio_to_aiohttp"] = round(row["req_per_s"] / ceiling, 3)
    return rows


def decoding(pages: int) -> dict[str, Any]:
    """Calls/s turning pages of 100 wire records into models, against json.loads alone."""
    body = json.dumps(call_page()).encode()
    started = time.perf_counter()
    for _ in range(pages):
        json.loads(body)
    raw = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(pages):
        structure_many(json.loads(body)["list"], ca.Call)
    models = time.perf_counter() - started
    n = pages * 100
    return {
        "raw_dicts_per_s": round(n / raw),
        "models_per_s": round(n / models),
        "model_cost_us_per_call": round((models - raw) / n * 1e6, 2),
    }


async def events_overhead(calls: int) -> dict[str, float]:
    """Microseconds of event work per logical call, no HTTP: what the pipeline adds to one reply.

    The pipeline's part for a call answered at once: read ``enabled``; if on, open the span,
    emit ``request_sent`` and ``response_received`` and record the span. Best of 5 runs.
    """
    route = "GET /api/core/voice/call/{call_id}"
    # "Off" with OpenTelemetry imported (by an instrumentation, say) but not configured: the
    # dearer kind of off, as ``enabled`` then asks OpenTelemetry for its provider.
    import opentelemetry.trace  # noqa: F401

    async def one_call(events: Events) -> None:
        if events.enabled:
            with events.span("calls.get", route) as span:
                for kind, status in (("request_sent", None), ("response_received", 200)):
                    await events.emit(
                        RequestEvent(
                            event=kind,
                            operation="calls.get",
                            method="GET",
                            route=route,
                            attempt=1,
                            status=status,
                            elapsed=0.001 if status else None,
                            request_id="req_1" if status else None,
                        )
                    )
                span.record(attempts=1, limiter_wait=0.0, status=200, error=None)

    cases: dict[str, tuple[Events, Callable[[], contextlib.AbstractContextManager[None]]]] = {
        "off (default)": (Events(), contextlib.nullcontext),
        "one no-op hook": (Events({"response_received": _noop_hook}), contextlib.nullcontext),
        "INFO logging to a NullHandler": (Events(), AROUND[INFO]),
        "DEBUG logging to a NullHandler": (Events(), AROUND[DEBUG]),
        "OTel SDK provider + no-op exporter": (Events(), AROUND[OTEL]),
    }
    out: dict[str, float] = {}
    for name, (events, around) in cases.items():
        best = float("inf")
        with around():
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(calls):
                    await one_call(events)
                best = min(best, time.perf_counter() - started)
        out[name] = round(best / calls * 1e6, 3)
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The product's claims, computed from the rows (those of a partial run, as far as it went)."""
    at = {(r["client"], r["concurrency"]): r for r in rows}
    out: dict[str, Any] = {}
    ours_off = at.get(("calleague-async, limiter off", 64))
    if ours_off:
        out["ratio_limiter_off_c64"] = ours_off["ratio_to_aiohttp"]
    if ("calleague-async, limiter on", 64) in at:
        out["ratio_limiter_on_c64"] = at[("calleague-async, limiter on", 64)]["ratio_to_aiohttp"]
    peers = [r for r in rows if r["concurrency"] == 64 and "sdk" in r["client"]]
    if peers and ours_off:
        best_peer = max(peers, key=lambda r: r["req_per_s"])
        out["fastest_peer_c64"] = best_peer["client"]
        out["ours_vs_fastest_peer_c64"] = round(ours_off["req_per_s"] / best_peer["req_per_s"], 2)
    off = at.get((OFF, 64))
    if off and ours_off:
        # Two identical clients: how far apart they land is the noise of this run.
        out["events_off_vs_limiter_off_c64"] = round(off["req_per_s"] / ours_off["req_per_s"], 3)
    if off:
        out["events_on_vs_off_c64"] = {
            name: {
                "req_per_s_ratio": round(at[(name, 64)]["req_per_s"] / off["req_per_s"], 3),
                "cpu_us_per_req_delta": round(
                    at[(name, 64)]["cpu_us_per_req"] - off["cpu_us_per_req"], 1
                ),
            }
            for name in (HOOK, INFO, DEBUG, OTEL)
            if (name, 64) in at
        }
    return out


async def main(quick: bool, only: str | None = None, rounds: int | None = None) -> dict[str, Any]:
    """Run the HTTP, decoding and event-overhead benchmarks."""
    with nginx() as base:
        rows = await throughput(
            base,
            rounds=rounds or (1 if quick else 3),
            requests=800 if quick else 4000,
            only=only,
        )
    result = {
        "rows": rows,
        "decoding": decoding(200 if quick else 2000),
        "events_overhead_us_per_call": await events_overhead(2000 if quick else 20000),
        **summarize(rows),
    }
    return result


def plot(result: dict[str, Any], path: str) -> None:
    """Bar chart of requests/s by client and concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    clients = list(dict.fromkeys(r["client"] for r in rows))
    levels = (1, 16, 64)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(clients)
    for i, client in enumerate(clients):
        values = [
            next(r["req_per_s"] for r in rows if r["client"] == client and r["concurrency"] == c)
            for c in levels
        ]
        ax.bar([x + i * width for x in range(len(levels))], values, width, label=client)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(levels))])
    ax.set_xticklabels([f"concurrency {c}" for c in levels])
    ax.set_ylabel("requests/s (absolute, one 2-core machine)")
    ax.set_title("calls.get against nginx on loopback: one run, all clients alternating")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="only the clients whose name contains TEXT (and the aiohttp ceiling), e.g. "
        "'calleague' (no peer SDKs needed); prints the figures, writes no results file",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds to take medians over (default 3; 1 with --quick)"
    )
    args = parser.parse_args()
    figures = asyncio.run(main(args.quick, args.only, args.rounds))
    for row in figures["rows"]:
        print(row)
    print(json.dumps({k: v for k, v in figures.items() if k != "rows"}, indent=1))
    if args.only is None:
        print("wrote", write("http", figures))
        plot(figures, "benchmarks/results/http.png")
