"""Export benchmark: calls/s at concurrency 1 vs 8, and peak memory as the export grows 10x.

Run: ``nox -s bench -- export`` or ``python -m benchmarks.bench_export [--quick]``.
The sandbox runs in its own process with added latency (like a real API), so the figures are
the client's; each export runs in a fresh child process so its peak RSS is its own.
Writes ``benchmarks/results/export.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._util import write


async def _child(base_url: str, key: str, concurrency: int, out: str) -> dict[str, Any]:
    import calleague_async as ca
    from calleague_async.export import export_calls

    async with ca.AsyncSession(key, base_url=base_url, rate_limits=None) as s:
        started = time.perf_counter()
        result = await export_calls(s, out, page_size=100, concurrency=concurrency)
        seconds = time.perf_counter() - started
    return {
        "written": result.written,
        "seconds": round(seconds, 2),
        "calls_per_s": round(result.written / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _start_sandbox(calls: int, latency: float) -> tuple[subprocess.Popen[str], str, str]:
    key = "sk_test_" + secrets.token_hex(8)
    proc = subprocess.Popen(
        [sys.executable, "-m", "calleague_async.testing", "--port", "0", "--calls", str(calls),
         "--latency", str(latency), "--api-key", key],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    url = next(w for w in banner.split() if w.startswith("http://"))
    return proc, url, key


def _export(url: str, key: str, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "calls.jsonl")
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_export", "--child", url, key,
             str(concurrency), out],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    row: dict[str, Any] = json.loads(child.stdout)
    return row


def main(quick: bool) -> dict[str, Any]:
    """Export N and 10N calls at concurrency 1 and 8; return the figures."""
    small, large, latency = (20_000, 200_000, 0.01) if quick else (100_000, 1_000_000, 0.02)
    results: dict[str, Any] = {"latency_s": latency, "page_size": 100, "runs": []}
    for calls, concurrencies in ((small, (1, 8)), (large, (8,))):
        proc, url, key = _start_sandbox(calls, latency)
        try:
            for concurrency in concurrencies:
                row = {"calls": calls, "concurrency": concurrency, **_export(url, key, concurrency)}
                print(row, flush=True)
                results["runs"].append(row)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    runs = {(r["calls"], r["concurrency"]): r for r in results["runs"]}
    results["speedup_8_vs_1"] = round(
        runs[(small, 8)]["calls_per_s"] / runs[(small, 1)]["calls_per_s"], 2
    )
    results["rss_growth_10x_calls"] = round(
        runs[(large, 8)]["peak_rss_mb"] / runs[(small, 8)]["peak_rss_mb"], 3
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k/200k calls (smoke test)")
    parser.add_argument("--child", nargs=4, metavar=("URL", "KEY", "CONCURRENCY", "OUT"))
    args = parser.parse_args()
    if args.child:
        url, key, conc, out = args.child
        print(json.dumps(asyncio.run(_child(url, key, int(conc), out))))
    else:
        figures = main(args.quick)
        print(json.dumps({k: v for k, v in figures.items() if k != "runs"}))
        print("wrote", write("export", figures))
