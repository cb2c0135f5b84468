"""Soak: many requests through one session under random injected faults; correctness and leaks.

Run: ``nox -s soak`` (100,000 requests) or ``python -m benchmarks.soak --requests 5000`` (CI's
bounded form). Every reply is checked against the sandbox's own record, every number must be
dialed at most once, and after the session closes its file descriptors must be back to the
baseline. Resident memory is sampled as it goes and printed (a figure, not a pass mark).
Exits 1 when a check fails. Writes ``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import time
from collections import Counter
from typing import Any

import calleague_async as ca
from benchmarks._util import write
from calleague_async.testing import Fault, SandboxServer

# Faults a request meets: retries on 5xx, disconnects, cut-off and non-JSON bodies, and for
# dials the ambiguous ones. Left out: SLOW, and 429/503 with Retry-After, which pause a whole
# bucket for a second each: they measure waiting, which tests/test_limits.py covers.
_READ_FAULTS = (
    Fault.SERVER_ERROR,
    Fault.BAD_GATEWAY,
    Fault.DROP,
    Fault.TRUNCATED,
    Fault.NOT_JSON,
)
_DIAL_FAULTS = (Fault.SERVER_ERROR, Fault.COMMIT_THEN_500, Fault.COMMIT_THEN_DROP, Fault.DROP)


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux)."""
    with open("/proc/self/statm") as fp:
        pages = int(fp.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def open_fds() -> int:
    """File descriptors open in this process now (Linux)."""
    return len(os.listdir("/proc/self/fd"))


async def soak(requests: int, concurrency: int, fault_rate: float, seed: int) -> dict[str, Any]:
    """Run the soak; return its figures and the list of failed checks."""
    rng = random.Random(seed)
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    memory: list[float] = []
    # The sandbox runs in this process: it must not keep a record of every request, or the
    # memory figures would measure its log instead of the client.
    async with SandboxServer(calls=2000, seed=seed, record_requests=False) as sb:
        ids = list(sb.calls.keys())[:500]
        fds_before = open_fds()
        s = ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url, max_retries=4, timeout=10.0)
        s._sleep = _short_sleep  # retry waits, capped: this measures work, not backoff
        started = time.monotonic()
        queue = iter(range(requests))
        dial_no = 0

        async def one(n: int) -> None:
            nonlocal dial_no
            dial = n % 50 == 0
            if rng.random() < fault_rate:
                if dial:
                    sb.fail_next(1, rng.choice(_DIAL_FAULTS), path=sb.path("calls.start"))
                else:
                    sb.fail_next(1, rng.choice(_READ_FAULTS), method="GET")
            try:
                if dial:
                    dial_no += 1
                    number = f"+9055{dial_no:08d}"
                    call = await s.calls.start(agent_id="ag_123", to=number)
                    if call.to not in (None, number):
                        problems.append(f"dial {number} came back as {call.to}")
                    outcomes["dial placed"] += 1
                elif n % 10 == 0:
                    page = rng.randint(1, 20)
                    body = await s.request(
                        "GET", sb.path("calls.list"), params={"page": page, "pageSize": 20}
                    )
                    if len(body["list"]) != 20:
                        problems.append(f"page {page} had {len(body['list'])} calls")
                    outcomes["list page"] += 1
                else:
                    call_id = rng.choice(ids)
                    call = await s.calls.get(call_id)
                    expected = sb.calls[call_id]
                    if call.call_id != call_id or call.status != expected["status"]:
                        problems.append(f"{call_id} came back as {call.call_id}/{call.status}")
                    outcomes["get"] += 1
            except ca.OutcomeUnknownError:
                outcomes["dial outcome unknown (reported, not retried)"] += 1
            except ca.CalleagueError as exc:
                outcomes[f"typed error: {type(exc).__name__}"] += 1
            except Exception as exc:  # anything else escaping is a bug
                problems.append(f"untyped {type(exc).__name__}: {exc}")

        async def worker() -> None:
            for n in queue:
                await one(n)
                if n % max(1, requests // 20) == 0:
                    memory.append(round(rss_mb(), 1))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        await s.close()
        gc.collect()
        await asyncio.sleep(0.1)  # let closed sockets finish closing
        fds_after = open_fds()
        doubled = {number: n for number, n in sb.dials.items() if n > 1}
        if doubled:
            problems.append(f"numbers dialed more than once: {doubled}")
        if fds_after > fds_before:
            problems.append(f"file descriptors leaked: {fds_before} before, {fds_after} after")
    return {
        "requests": requests,
        "concurrency": concurrency,
        "fault_rate": fault_rate,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(requests / elapsed),
        "outcomes": dict(outcomes),
        "rss_mb_samples": memory,
        "rss_mb_first_last": [memory[0], memory[-1]] if memory else [],
        "fds_before_after": [fds_before, fds_after],
        "problems": problems[:20],
        "problem_count": len(problems),
    }


async def _short_sleep(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 0.01))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = asyncio.run(soak(args.requests, args.concurrency, args.fault_rate, args.seed))
    write("soak", result)
    for key, value in result.items():
        if key != "rss_mb_samples":
            print(f"{key:>22}: {value}")
    if result["problem_count"]:
        print("SOAK FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
