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
            f"| throughput vs raw aiohttp + json, c=64, limiter off (bench_http, below) "
            f"| ≥ 0.90x | {off:.2f}x "
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


_NAMES = {
    "handwritten-best": "hand-written best (prebuilt `yarl.URL`, `read()` + orjson)",
    "plain-json": "plain aiohttp (`async with session.get(url) as r: await r.json()`)",
    "sdk": "calleague-async `s.calls.get` (typed `Call`), limiter off",
    "sdk-limiter": "calleague-async, limiter on (never reached)",
}


def _at_most(label: str, limit: float, value: float, form: str = ".3f") -> str:
    return f"| {label} | ≤ {limit:.2f}x | {value:{form}}x | {_check(value <= limit)} |"


def _at_least(label: str, floor: float, value: float, form: str = ".3f", more: str = "") -> str:
    return f"| {label} | ≥ {floor:.2f}x | {value:{form}}x{more} | {_check(value >= floor)} |"


def cost_claims(asyncio_run: dict[str, Any] | None, bulk: dict[str, Any] | None) -> list[str]:
    """The hot path's targets (instructions and paired req/s at c=64) against this run."""
    lines: list[str] = []
    if asyncio_run:
        rows = {r["client"]: r for r in asyncio_run["rows"]}
        off, on = rows["sdk"], rows["sdk-limiter"]
        vs = "vs plain aiohttp `r.json()`"
        lines += [
            _at_most(f"instructions per request {vs}, limiter off", 1.0,
                     off["instr_ratio_to_plain_json"]),
            _at_most("same, limiter on", 1.05, on["instr_ratio_to_plain_json"]),
        ]  # fmt: skip
        for key, how in (
            ("req_per_s_ratio_to_plain_json", "paired req/s {vs}, c=64, limiter off, clients "
             "sharing one process"),
            ("own_process_ratio_to_plain_json", "req/s {vs}, c=64, limiter off, each client "
             "in its own process"),
        ):  # fmt: skip
            if key in off:
                lines += [
                    _at_least(how.format(vs=vs), 0.97, off[key]),
                    _at_least("same, limiter on", 0.93, on[key]),
                ]
    if bulk:
        raw = bulk["rows"]["sdk-raw"]["ratio_to_read_orjson"]
        lines.append(
            _at_least("bulk `.raw()` pages/s vs `read()` + orjson by hand", 0.8, raw, ".2f")
        )
        typed = bulk.get("typed_against")
        if typed:
            lines.append(
                _at_least(
                    f"typed listing records/s vs the package before this work "
                    f"(`{typed['ref']}`), each in its own process",
                    1.5,
                    typed["ratio"],
                    ".2f",
                    f" ({typed['records_per_s']:,} vs {typed['records_per_s_before']:,})",
                )
            )
    return lines


def instructions_table(run: dict[str, Any]) -> list[str]:
    """Instructions per request and paired req/s, by client, from one run of both."""
    lines = [
        "| client | instructions / request | vs plain aiohttp | req/s, one process "
        "| vs plain aiohttp | req/s, own process | vs plain aiohttp | CPU µs / request |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(value: Any, form: str, unit: str = "") -> str:
        return format(value, form) + unit if value is not None else "-"

    for r in run["rows"]:
        lines.append(
            f"| {_NAMES.get(r['client'], r['client'])} | {r['instr_per_req']:,} "
            f"| {r['instr_ratio_to_plain_json']:.3f}x | {cell(r.get('req_per_s'), ',')} "
            f"| {cell(r.get('req_per_s_ratio_to_plain_json'), '.3f', 'x')} "
            f"| {cell(r.get('own_process_req_per_s'), ',')} "
            f"| {cell(r.get('own_process_ratio_to_plain_json'), '.3f', 'x')} "
            f"| {cell(r.get('own_process_cpu_us_per_req'), '')} |"
        )
    return lines


def bulk_table(bulk: dict[str, Any]) -> list[str]:
    """A whole listing of 20 pages of 100: instructions per page and paired pages/s."""
    lines = [
        "| client | instructions / page | vs by hand | pages/s (paired) | records/s "
        "| pages/s vs by hand |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in bulk["rows"].items():
        lines.append(
            f"| {name} | {r['instr_per_page']:,} | {r['instr_ratio']:.2f}x | {r['pages_per_s']:,} "
            f"| {r['records_per_s']:,} | {r['ratio_to_read_orjson']:.2f}x |"
        )
    return lines


def performance_section() -> str:
    """The README's Performance section body."""
    http, limiter, export = _load("http"), _load("limiter"), _load("export")
    on_asyncio, on_uvloop, bulk = _load("instructions"), _load("instructions-uvloop"), _load("bulk")
    out = [
        "Figures from one run on one machine (2 vCPU, loopback); ratios are measured side by "
        "side in that run, absolute numbers describe only that machine. How to run them and "
        "what each measures: [benchmarks/README.md](benchmarks/README.md).",
        "",
        *claims(http, limiter, export),
        *cost_claims(on_asyncio, bulk),
        "",
    ]
    for run, loop in ((on_asyncio, "asyncio"), (on_uvloop, "uvloop")):
        if run:
            p = run["params"]
            out += [
                f"Instructions per request under callgrind (`python -m benchmarks.instructions"
                f"{' --uvloop' if loop == 'uvloop' else ''}`: (Ir(N2) - Ir(N1)) / (N2 - N1), "
                f"N1={p['n1']:,}, N2={p['n2']:,}, c={p['concurrency']}, {loop}; a cost that does "
                "not drift with the machine's load) beside req/s from the same run, clients "
                f"alternating, median of {p['rps_rounds']} rounds with all clients in one process"
                + (
                    f" and of {p['own_process_rounds']} rounds with each client alone in its "
                    "own process (as an application runs one)"
                    if p.get("own_process_rounds")
                    else ""
                )
                + ":",
                "",
                *instructions_table(run),
                "",
            ]
    if bulk:
        out += [
            "A whole listing, 20 pages of 100 calls, read page after page (`python -m "
            "benchmarks.bulk`; `sdk-models-lenient` is the decoder every record took before "
            "the C-speed paths; paired pages/s move by a few percent from run to run, the "
            "instructions per page do not):",
            "",
            *bulk_table(bulk),
            "",
        ]
    out += [
        "On this 2-core machine the HTTP ratios depend on what else runs: the same code "
        "measured 0.85x (limiter off, c=64) and 4.7x the fastest peer in a run while another "
        "job loaded the machine, and the figures below on a quiet one. Each table is one run, "
        "all clients interleaved, medians of three rounds.",
    ]
    if http:
        out += [
            "",
            f"Against the peers (measured {http.get('machine', {}).get('date', 'earlier')}, "
            "on the same code): "
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
