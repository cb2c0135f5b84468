"""Limiter benchmark: use of a known limit, learning unknown ones, overhead, 10k waiters.

Run: ``nox -s bench -- limiter`` or ``python -m benchmarks.bench_limiter [--quick]``.
Writes ``benchmarks/results/limiter.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import calleague_async as ca
from benchmarks._util import write
from calleague_async._limits import Limiter, MemoryStore, RedisStore, Store, parse_limits
from calleague_async._routes import ROUTES, RouteTable
from calleague_async.testing import SandboxServer, redis_server

GET = ROUTES["calls.get"]
START = ROUTES["calls.start"]


async def use_of_limit(
    server_limit: int, client_limit: int | None, seconds: float
) -> dict[str, Any]:
    """Hammer calls.get from 64 tasks for ``seconds``; count successes and 429s.

    ``client_limit`` None: a default session, which knows no limit and learns it.
    """
    limits = {} if client_limit is None else {"default": f"{client_limit}/second"}
    async with (
        SandboxServer(calls=5, rate_limit=f"{server_limit}/1") as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits=limits,
            rate_limit_store=MemoryStore(),
            max_retries=10,
        ) as s,
    ):
        done: list[float] = []
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                await s.calls.get("cl_8f2a")
                done.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(64)))
        elapsed = time.monotonic() - started
        requests, limited = len(sb.requests), sb.rate_limited
    steady = [t for t in done if t >= started + seconds / 2]
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    return {
        "server_limit_per_s": server_limit,
        "client_limit_per_s": client_limit,
        "seconds": round(elapsed, 2),
        "ok": len(done),
        "requests": requests,
        "http_429": limited,
        "fraction_429": round(limited / max(1, requests), 4),
        "use_of_server_limit": round(len(done) / (server_limit * elapsed), 4),
        "steady_state_use": round(steady_rate / server_limit, 4),
    }


async def learn_dial_limit(
    dials: int, concurrency: int, limits: dict[str, str] | None = None
) -> dict[str, Any]:
    """``calls.start_many`` against a 20/s dial limit the client does not know.

    Counts the 429s it costs to learn it, and checks every number was dialed exactly once.
    """
    numbers = [f"+90555{i:07d}" for i in range(dials)]
    async with (
        SandboxServer(calls=5, route_rate_limits={"calls.start": "20/1"}) as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits=limits if limits is not None else ca.DEFAULT_RATE_LIMITS,
            rate_limit_store=MemoryStore(),
        ) as s,
    ):
        started = time.monotonic()
        placed: list[float] = []
        failed = 0
        leads = [{"agent_id": "ag_123", "to": to} for to in numbers]
        async for result in s.calls.start_many(leads, concurrency=concurrency):
            if result.ok:
                placed.append(time.monotonic() - started)
            else:
                failed += 1
        elapsed = time.monotonic() - started
        requests, limited = len(sb.requests), sb.rate_limited
        dialed = [sb.dials[to] for to in numbers]
    # After the first second (the burst that taught the limit, and its pause), the pace.
    later = [t for t in placed if t >= 1.5]
    steady = (len(later) - 1) / (later[-1] - later[0]) if len(later) > 1 else 0.0
    return {
        "client_limits": limits if limits is not None else "default (adaptive)",
        "dials": dials,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "placed": len(placed),
        "failed": failed,
        "requests": requests,
        "http_429": limited,
        "fraction_429": round(limited / max(1, requests), 4),
        "lost_dials": sum(1 for n in dialed if n == 0),
        "doubled_dials": sum(1 for n in dialed if n > 1),
        "steady_dials_per_s": round(steady, 2),
        "steady_use_of_limit": round(steady / 20, 4),
    }


async def unpaced_burst(n: int) -> dict[str, Any]:
    """``n`` concurrent calls.get on a default session, against a server that never limits."""
    async with (
        SandboxServer(calls=5) as sb,
        ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url) as s,
    ):
        slept: list[float] = []
        assert s._limiter is not None
        real_sleep = s._limiter._sleep

        async def recording_sleep(seconds: float) -> None:
            slept.append(seconds)
            await real_sleep(seconds)

        s._limiter._sleep = recording_sleep
        started = time.monotonic()
        await asyncio.gather(*(s.calls.get("cl_8f2a") for _ in range(n)))
        elapsed = time.monotonic() - started
        requests = len(sb.requests)
    return {
        "calls": n,
        "seconds": round(elapsed, 3),
        "requests": requests,
        "limiter_sleeps": len(slept),
        "limiter_slept_s": round(sum(slept), 3),
    }


def _limiter(store: Store, limit: str | None) -> Limiter:
    limits = parse_limits({"default": limit} if limit is not None else {})
    return Limiter(limits, routes=RouteTable(), scope=f"bench-{limit}", store=store)


async def overhead(store: Store, n: int, limit: str | None = "1000000000/second") -> dict[str, Any]:
    """Microseconds per acquisition when the limit is never reached (no waiting).

    ``limit`` None: a route with no known limit, not paced (a default session's usual case).
    """
    limiter = _limiter(store, limit)

    async def noop() -> None:
        return None

    started = time.perf_counter()
    for _ in range(n):
        await noop()
    base = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(n):
        await limiter.acquire(GET)
    spent = time.perf_counter() - started
    await limiter.close()
    return {"acquisitions": n, "us_per_acquisition": round((spent - base) / n * 1e6, 2)}


async def queued_waiters(store: Store, waiters: int, rate: int) -> dict[str, Any]:
    """``waiters`` tasks queue at once; measure event-loop lag while they drain at ``rate``/s."""
    limiter = _limiter(store, f"{rate}/second")
    lags: list[float] = []
    stop = asyncio.Event()

    async def monitor() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - t - 0.005)

    watcher = asyncio.ensure_future(monitor())
    grants: list[float] = []

    async def one() -> None:
        await limiter.acquire(GET)
        grants.append(time.perf_counter())

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(waiters)))
    elapsed = time.perf_counter() - started
    stop.set()
    await watcher
    await limiter.close()
    lags.sort()
    ideal = (waiters - 1) / (rate * 0.97)
    return {
        "waiters": waiters,
        "rate_per_s": rate,
        "seconds": round(elapsed, 3),
        "ideal_seconds": round(ideal, 3),
        "use_of_limit": round(ideal / elapsed, 4),
        "loop_lag_ms_p50": round(statistics.median(lags) * 1000, 3),
        "loop_lag_ms_p99": round(lags[int(len(lags) * 0.99)] * 1000, 3),
        "loop_lag_ms_max": round(lags[-1] * 1000, 3),
    }


async def main(quick: bool) -> dict[str, Any]:
    """Run every limiter measurement; return the results."""
    seconds = 4.0 if quick else 12.0
    results: dict[str, Any] = {
        "known_limit": await use_of_limit(50, 50, seconds),
        "unknown_stricter_limit": await use_of_limit(20, 100, seconds),
        "unknown_limit_default_session": await use_of_limit(20, None, seconds),
        "learn_dial_limit": await learn_dial_limit(100, 16),
        "learn_dial_limit_1000": await learn_dial_limit(200 if quick else 1000, 16),
        "dial_limit_set_too_high": await learn_dial_limit(
            100, 16, {"POST /api/core/voice/agent/call": "100/second"}
        ),
        "unpaced_burst": await unpaced_burst(60),
        "overhead_unpaced": await overhead(MemoryStore(), 20_000 if quick else 200_000, None),
        "overhead_memory": await overhead(MemoryStore(), 20_000 if quick else 200_000),
        "queued_memory": await queued_waiters(MemoryStore(), 10_000, 5_000 if quick else 2_000),
    }
    with redis_server() as url:
        if url is None:
            results["redis"] = "skipped: redis-server not installed"
        else:
            results["overhead_redis"] = await overhead(RedisStore(url), 2_000 if quick else 10_000)
            results["queued_redis"] = await queued_waiters(
                RedisStore(url), 10_000, 5_000 if quick else 2_000
            )
    return results


def report(results: dict[str, Any]) -> None:
    """Print the results as a table."""
    for name, row in results.items():
        print(
            f"{name:24} "
            + (", ".join(f"{k}={v}" for k, v in row.items()) if isinstance(row, dict) else row)
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke test)")
    args = parser.parse_args()
    out = asyncio.run(main(args.quick))
    report(out)
    print("wrote", write("limiter", out))
