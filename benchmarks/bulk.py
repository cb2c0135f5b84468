"""Bulk reads: a whole listing, page after page, by hand and through the SDK's pager.

Run: ``python -m benchmarks.bulk [--rounds 5] [--no-write]``; needs nginx and valgrind.
nginx serves a listing of 20 pages of 100 calls (``?page=N``). Each client reads it whole, one
page at a time: ``read+orjson`` (aiohttp, a prebuilt URL per page, ``read()`` and orjson,
then a plain ``for`` over the records: the fastest hand-written loop), ``sdk-raw``
(``s.calls.list(page_size=100).raw()``: the records as sent, exactly once), ``sdk-models``
(``async for call in s.calls.list(page_size=100)``, typed)
and ``sdk-models-lenient`` (the same with the C-speed page and record readers switched off:
the decoder every record took before them). Reported: instructions per page under callgrind
((Ir(N2) - Ir(N1)) over the pages between, as ``benchmarks.instructions`` measures requests),
and pages/s and records/s measured natively, clients alternating in each round, with the median
per-round ratio to ``read+orjson``. ``--against REF`` also measures typed listing records/s
against the package as it was at git ``REF`` (each version in its own process, alternating).
Writes ``benchmarks/results/bulk.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yarl

import calleague_async as ca
from benchmarks._nginx import LISTING_PAGES, nginx
from benchmarks._util import machine, write
from benchmarks.instructions import per_request, read_total_ir
from calleague_async import _convert

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_bench_key"
BASELINE = "read+orjson"
Read = Callable[[], Awaitable[int]]
Close = Callable[[], Awaitable[None]]


async def _by_hand(base: str) -> tuple[Read, Close]:
    http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"})
    urls = [
        yarl.URL(f"{base}/api/core/voice/call/list?page={p}&pageSize=100")
        for p in range(1, LISTING_PAGES + 1)
    ]

    async def read() -> int:
        records = 0
        for url in urls:
            resp = await http.get(url)
            body = await resp.read()
            resp.release()
            for _ in orjson.loads(body)["list"]:  # each record, as the SDK hands each out
                records += 1
        return records

    return read, http.close


async def _sdk(base: str, kind: str) -> tuple[Read, Close]:
    s = ca.AsyncSession(KEY, base_url=base, rate_limits=None, max_retries=0)
    saved, saved_pages = dict(_convert.FAST_CONVERTERS), dict(_convert.FAST_PAGES)

    async def raw() -> int:
        records = 0
        async for _ in s.calls.list(page_size=100).raw():
            records += 1
        return records

    async def models() -> int:
        records = 0
        async for _ in s.calls.list(page_size=100):
            records += 1
        return records

    async def lenient() -> int:
        _convert.FAST_CONVERTERS.clear()  # each client runs alone: this one without them
        _convert.FAST_PAGES.clear()
        try:
            return await models()
        finally:
            _convert.FAST_CONVERTERS.update(saved)
            _convert.FAST_PAGES.update(saved_pages)

    return {"raw": raw, "models": models, "lenient": lenient}[kind], s.close


CLIENTS: dict[str, Callable[[str], Awaitable[tuple[Read, Close]]]] = {
    BASELINE: _by_hand,
    "sdk-raw": lambda b: _sdk(b, "raw"),
    "sdk-models": lambda b: _sdk(b, "models"),
    "sdk-models-lenient": lambda b: _sdk(b, "lenient"),
}


async def child(client: str, base: str, n: int) -> None:
    """Read the listing once to warm up, then ``n`` times: all the measured process does."""
    read, close = await CLIENTS[client](base)
    try:
        for _ in range(1 + n):
            assert await read() == LISTING_PAGES * 100
    finally:
        await close()


def _instructions(base: str, client: str, n1: int, n2: int) -> float:
    irs = []
    for n in (n1, n2):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            subprocess.run(
                ["valgrind", "--tool=callgrind", "-q", f"--callgrind-out-file={out}",
                 sys.executable, "-m", "benchmarks.bulk", "--child", client, "--url", base,
                 "--n", str(n)],
                cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True,
            )  # fmt: skip
            irs.append(read_total_ir(out))
    return per_request(irs[0], irs[1], n1 * LISTING_PAGES, n2 * LISTING_PAGES)


async def _paired(base: str, rounds: int) -> dict[str, dict[str, float]]:
    made = {name: await make(base) for name, make in CLIENTS.items()}
    rates: dict[str, list[float]] = {name: [] for name in CLIENTS}
    try:
        for read, _ in made.values():
            await read()
        for r in range(rounds):
            for name in list(CLIENTS) if r % 2 == 0 else list(reversed(CLIENTS)):
                started = time.perf_counter()
                for _ in range(5):
                    await made[name][0]()
                rates[name].append(5 * LISTING_PAGES / (time.perf_counter() - started))
    finally:
        for _, close in made.values():
            await close()
    return {
        name: {
            "pages_per_s": round(statistics.median(rates[name])),
            "records_per_s": round(statistics.median(rates[name]) * 100),
            "ratio_to_read_orjson": round(
                statistics.median(a / b for a, b in zip(rates[name], rates[BASELINE], strict=True)),
                3,
            ),
        }
        for name in CLIENTS
    }


# A typed listing read with nothing but the public API, so that any version of the package runs
# it: records/s over ``secs`` after one warm-up read, and the package file it imported.
_TYPED_CHILD = """
import asyncio, sys, time
import calleague_async as ca

async def main(base, secs):
    s = ca.AsyncSession("sk_bench_key", base_url=base, rate_limits=None, max_retries=0)
    async def once():
        n = 0
        async for _ in s.calls.list(page_size=100):
            n += 1
        return n
    await once()
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < secs:
        n += await once()
    print(n / (time.perf_counter() - started), ca.__file__)
    await s.close()

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def _against(base: str, ref: str, rounds: int) -> dict[str, Any]:
    """Typed listing records/s, this tree against ``ref`` (a git worktree), each process alone.

    Two versions of the package cannot share a process: each round runs each version in a
    process of its own, alternating which goes first; the ratio is the median of the rounds'.
    """
    rates: dict[str, list[float]] = {"now": [], "before": []}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(tree), ref], cwd=ROOT, check=True
        )
        try:
            order = [("now", ROOT), ("before", tree)]
            for r in range(rounds):
                for name, where in order if r % 2 == 0 else order[::-1]:
                    out = subprocess.run(
                        [sys.executable, "-c", _TYPED_CHILD, base, "2"],
                        cwd=tmp,  # not ROOT: `-c` puts the working directory on sys.path
                        env={**os.environ, "PYTHONPATH": str(where)},
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    rate, module = out.stdout.split()
                    if not Path(module).resolve().is_relative_to(where.resolve()):
                        raise RuntimeError(f"{name} imported {module}, not the tree at {where}")
                    rates[name].append(float(rate))
        finally:
            remove = ["git", "worktree", "remove", "--force", str(tree)]
            subprocess.run(remove, cwd=ROOT, check=True)
    return {
        "ref": ref,
        "rounds": rounds,
        "records_per_s": round(statistics.median(rates["now"])),
        "records_per_s_before": round(statistics.median(rates["before"])),
        "ratio": round(
            statistics.median(a / b for a, b in zip(rates["now"], rates["before"], strict=True)), 3
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the child, or the whole measurement; print and write the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk", allow_abbrev=False)
    parser.add_argument("--child", choices=sorted(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--n1", type=int, default=2, help="listings read in the short run (2)")
    parser.add_argument("--n2", type=int, default=6, help="listings read in the long run (6)")
    parser.add_argument("--rounds", type=int, default=5, help="paired native rounds (5)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--against",
        metavar="REF",
        help="also compare typed listing records/s with the package at git REF (own processes)",
    )
    parser.add_argument("--against-rounds", type=int, default=5, help="rounds for --against (5)")
    args = parser.parse_args(argv)
    if args.child is not None:
        asyncio.run(child(args.child, args.url, args.n))
        return 0
    if not 0 < args.n1 < args.n2:
        parser.error("need 0 < --n1 < --n2")
    with nginx() as base:
        rows = asyncio.run(_paired(base, args.rounds))
        for name in CLIENTS:
            print(f"  callgrind: {name}", file=sys.stderr, flush=True)
            rows[name]["instr_per_page"] = round(_instructions(base, name, args.n1, args.n2))
        against = _against(base, args.against, args.against_rounds) if args.against else None
    for row in rows.values():
        row["instr_ratio"] = round(row["instr_per_page"] / rows[BASELINE]["instr_per_page"], 3)
    result: dict[str, Any] = {"params": vars(args), "rows": rows}
    if against is not None:
        result["typed_against"] = against
        print(json.dumps(against, indent=2))
    print(json.dumps(rows, indent=2))
    if not args.no_write:
        print(f"wrote {write('bulk', {'machine': machine(), **result})}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
