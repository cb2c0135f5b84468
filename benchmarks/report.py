"""Render the results JSON files as the Markdown tables in README.md and benchmarks/README.md.

Run after the benchmarks: ``python -m benchmarks.report``. Text between the
``<!-- perf:start -->`` and ``<!-- perf:end -->`` markers is replaced; nothing else is touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks._util import RESULTS

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- perf:start -->", "<!-- perf:end -->"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _check(ok: bool) -> str:
    return "held" if ok else "**missed**"


def http_table(r: dict[str, Any]) -> list[str]:
    """Requests/s and CPU per request by client and concurrency."""
    rows = r["rows"]
    clients = list(dict.fromkeys(x["client"] for x in rows))
    lines = [
        "| client | c=1 req/s | c=16 req/s | c=64 req/s | ratio to aiohttp at c=64 "
        "| client CPU µs/req at c=64 |",
        "|---|---|---|---|---|---|",
    ]
    for client in clients:
        by = {x["concurrency"]: x for x in rows if x["client"] == client}
        lines.append(
            f"| {client} | {by[1]['req_per_s']:,} | {by[16]['req_per_s']:,} | "
            f"{by[64]['req_per_s']:,} | {by[64]['ratio_to_aiohttp']:.2f}x | "
            f"{by[64]['cpu_us_per_req']} |"
        )
    return lines


def claims(http: dict[str, Any] | None, limiter: dict[str, Any] | None,
           export: dict[str, Any] | None) -> list[str]:  # fmt: skip
    """The product's targets against this run's figures."""
    lines = ["| claim | target | measured | |", "|---|---|---|---|"]
    if http:
        off, on = http["ratio_limiter_off_c64"], http["ratio_limiter_on_c64"]
        peer = http["ours_vs_fastest_peer_c64"]
        lines += [
            f"| throughput vs raw aiohttp + json, c=64, limiter off | ≥ 0.90x | {off:.2f}x "
            f"| {_check(off >= 0.90)} |",
            f"| same, limiter on (never reached) | ≥ 0.85x | {on:.2f}x | {_check(on >= 0.85)} |",
            f"| vs the fastest peer SDK ({http['fastest_peer_c64']}), c=64 | ≥ 5x | {peer:.1f}x "
            f"| {_check(peer >= 5)} |",
        ]
    if limiter:
        k = limiter["known_limit"]
        lines.append(
            f"| use of a configured limit, steady state | ≥ 95%, 0 x 429 | "
            f"{k['steady_state_use']:.1%}, {k['http_429']} x 429 "
            f"| {_check(k['steady_state_use'] >= 0.95 and k['http_429'] == 0)} |"
        )
    if export:
        growth = export["rss_growth_10x_calls"]
        lines.append(
            f"| export memory from 100k to 1M calls | within 20% | {growth:.3f}x "
            f"| {_check(growth <= 1.2)} |"
        )
    return lines


def performance_section() -> str:
    """The README's Performance section body."""
    http, limiter, export = _load("http"), _load("limiter"), _load("export")
    out = [
        "Figures from one run on one machine (2 vCPU, loopback); ratios are measured side by "
        "side in that run, absolute numbers describe only that machine. How to run them and "
        "what each measures: [benchmarks/README.md](benchmarks/README.md).",
        "",
        *claims(http, limiter, export),
        "",
        "On this 2-core machine the HTTP ratios depend on what else runs: the same code "
        "measured 0.85x (limiter off, c=64) and 4.7x the fastest peer in a run while another "
        "job loaded the machine, and the figures below on a quiet one. Each table is one run, "
        "all clients interleaved, medians of three rounds.",
    ]
    if http:
        out += [
            "",
            "`s.calls.get` against nginx serving fixed JSON for each SDK's own path, every "
            "client in one process, alternating (`python -m benchmarks.bench_http`):",
            "",
            *http_table(http),
            "",
            "![requests/s by client](benchmarks/results/http.png)",
            "",
            f"Decoding pages of 100 calls: {http['decoding']['models_per_s']:,} calls/s into "
            f"typed models vs {http['decoding']['raw_dicts_per_s']:,}/s for raw dicts "
            f"({http['decoding']['model_cost_us_per_call']} µs per call for the model).",
        ]
    return "\n".join(out)


def details_section() -> str:
    """benchmarks/README.md's figures: limiter and export tables."""
    limiter, export = _load("limiter"), _load("export")
    out = ["Machine: 2 vCPU, Python 3.11, Debian 12, loopback only.", ""]
    if limiter:
        k, u = limiter["known_limit"], limiter["unknown_stricter_limit"]
        qm, qr = limiter["queued_memory"], limiter.get("queued_redis")
        out += [
            "`python -m benchmarks.bench_limiter` (12 s per rate scenario, 64 callers):",
            "",
            "| scenario | result |",
            "|---|---|",
            f"| known limit {k['server_limit_per_s']}/s | {k['steady_state_use']:.1%} of it "
            f"used in steady state ({k['use_of_server_limit']:.1%} overall), "
            f"{k['http_429']} x 429 in {k['requests']} requests |",
            f"| unknown stricter limit (server {u['server_limit_per_s']}/s, client told "
            f"{u['client_limit_per_s']}/s) | {u['steady_state_use']:.1%} of the real limit in "
            f"steady state, {u['http_429']} x 429 in {u['requests']} requests |",
            f"| acquisition, no contention, in memory | "
            f"{limiter['overhead_memory']['us_per_acquisition']} µs (absolute) |",
        ]
        if qr is not None:
            out.append(
                f"| acquisition, no contention, Redis on loopback | "
                f"{limiter['overhead_redis']['us_per_acquisition']} µs (absolute: one round trip) |"
            )
        for name, q in (("in memory", qm), ("Redis", qr)):
            if q is not None:
                out.append(
                    f"| 10,000 waiters queued at once, {q['rate_per_s']:,}/s, {name} | drained at "
                    f"{q['use_of_limit']:.1%} of the limit; loop lag p50 {q['loop_lag_ms_p50']} "
                    f"ms, p99 {q['loop_lag_ms_p99']} ms, max {q['loop_lag_ms_max']} ms |"
                )
        out.append("")
    if export:
        out += [
            f"`python -m benchmarks.bench_export` (sandbox in its own process, "
            f"{int(export['latency_s'] * 1000)} ms latency, pages of {export['page_size']}):",
            "",
            "| calls | concurrency | seconds | calls/s (absolute) | peak RSS |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {r['calls']:,} | {r['concurrency']} | {r['seconds']} | {r['calls_per_s']:,} "
            f"| {r['peak_rss_mb']} MB |"
            for r in export["runs"]
        ]
        out += [
            "",
            f"Concurrency 8 exports {export['speedup_8_vs_1']}x faster than 1; ten times the "
            f"calls take {export['rss_growth_10x_calls']}x the memory.",
        ]
    return "\n".join(out)


def replace(path: Path, body: str) -> None:
    """Put ``body`` between the markers in ``path``."""
    text = path.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{body}\n{END}{tail}")


if __name__ == "__main__":
    replace(ROOT / "README.md", performance_section())
    replace(ROOT / "benchmarks" / "README.md", details_section())
    print("README.md and benchmarks/README.md updated from benchmarks/results/")
