"""Instructions per request: a cost per client that does not drift with the machine's load.

Run: ``python -m benchmarks.instructions [--clients a,b,...] [--concurrency 64] [--n1 2000]
[--n2 6000] [--warmup 500] [--repeat 1] [--jobs 2] [--uvloop] [--json] [--no-write]``.
Needs valgrind (``apt-get install valgrind``) and nginx (``apt-get install nginx-light``).

On a shared 2-core machine wall-clock req/s moves 15-25% between periods; the number of
instructions a request costs does not. For each client a child process runs under valgrind's
callgrind twice, identical but for the number of requests: start-up, imports, session set-up,
``--warmup`` requests, then N1 or N2 requests from a fixed pool of ``--concurrency`` workers
pulling from one counter, against nginx on loopback (started once, here). Both runs pay the
same start-up and warm-up, so ``(Ir(N2) - Ir(N1)) / (N2 - N1)`` is what one more request
costs the client: user-space instructions in the client process, the interpreter and its C
extensions included; the kernel (system calls, the loopback TCP stack) and nginx are not
counted. ``--repeat 2`` runs each pair twice and reports how far apart the repeats land.

Reported per client: Ir(N1), Ir(N2), instructions per request and their ratio to
``plain-json``; beside them req/s measured natively (no valgrind) at the same concurrency,
all clients in one process, alternating, the order reversed every other round ("paired"),
with the median of the per-round ratios to ``plain-json`` (``--rps-rounds 0`` skips it).

Clients: ``handwritten-best`` (aiohttp, one ``yarl.URL`` built once, ``read()`` + orjson),
``plain-json`` (aiohttp, ``async with http.get(url) as r: await r.json()``), ``sdk``
(``s.calls.get``, typed model, limiter off) and ``sdk-limiter`` (the limiter on, at a limit
never reached). Also ``aiohttp-json``: bench_http's ceiling client (``read()`` + stdlib json).

Writes ``benchmarks/results/instructions.json`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yarl

import calleague_async as ca
from benchmarks._nginx import CALL_ID, nginx
from benchmarks._util import machine, write
from benchmarks.bench_http import KEY, Call, _drive, _ours, _raw_aiohttp
from calleague_async._wire import _loads

ROOT = Path(__file__).resolve().parent.parent
Close = Callable[[], Awaitable[None]]
Factory = Callable[[str], Awaitable[tuple[Call, Close]]]
BASELINE = "plain-json"


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {KEY}"},
        connector=aiohttp.TCPConnector(limit=100),
    )


async def _handwritten_best(base: str) -> tuple[Call, Close]:
    """The fastest hand-written client found: a prebuilt URL, ``read()`` and orjson."""
    http = _session()
    url = yarl.URL(f"{base}/api/core/voice/call/{CALL_ID}")  # parsed once, reused

    async def call() -> Any:
        resp = await http.get(url)
        body = await resp.read()
        resp.release()
        return orjson.loads(body)

    return call, http.close


async def _plain_json(base: str) -> tuple[Call, Close]:
    """What most code does: a string URL and ``resp.json()`` (stdlib json)."""
    http = _session()
    url = f"{base}/api/core/voice/call/{CALL_ID}"

    async def call() -> Any:
        async with http.get(url) as r:
            return await r.json()

    return call, http.close


async def _sdk_layer(base: str, layer: str) -> tuple[Call, Close]:
    """The SDK cut at one layer, to see where its cost goes (not a way to use it).

    ``transport``: the transport's one exchange and the JSON parse; ``send``: the whole
    pipeline (options, path, limiter off, transport, decode), without the model.
    """
    s = ca.AsyncSession(KEY, base_url=base, rate_limits=None, max_retries=0)
    route = s._routes["calls.get"]
    path = f"/api/core/voice/call/{CALL_ID}"
    transport = s._transport
    ids = {"call_id": CALL_ID}

    async def transport_only() -> Any:
        reply = await transport.send("GET", path)
        return _loads(reply.body)

    async def send() -> Any:
        return await s._send(route, ids=ids, expect="object")

    return (transport_only if layer == "transport" else send), s.close


CLIENTS: dict[str, Factory] = {
    "handwritten-best": _handwritten_best,
    "plain-json": _plain_json,
    "sdk": lambda b: _ours(b, limiter=False),
    "sdk-limiter": lambda b: _ours(b, limiter=True),
    "aiohttp-json": _raw_aiohttp,
    "sdk-transport": lambda b: _sdk_layer(b, "transport"),
    "sdk-send": lambda b: _sdk_layer(b, "send"),
}
DEFAULT_CLIENTS = ("handwritten-best", "plain-json", "sdk", "sdk-limiter")


# --- callgrind output and the arithmetic ------------------------------------------------------


def read_total_ir(path: Path) -> int:
    """The total ``Ir`` (instructions executed) recorded in a callgrind output file.

    The ``summary:`` line covers the whole file; without one, the ``totals:`` lines of its parts
    are summed. Values follow the order of the ``events:`` line.
    """
    events: list[str] | None = None
    summary: list[str] | None = None
    totals: list[list[str]] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split(":", 1)[1].split()
            elif line.startswith("summary:"):
                summary = line.split(":", 1)[1].split()
            elif line.startswith("totals:"):
                totals.append(line.split(":", 1)[1].split())
    if events is None:
        raise ValueError(f"{path}: no 'events:' line; not a callgrind output file")
    if "Ir" not in events:
        raise ValueError(f"{path}: events {events} do not include Ir")
    index = events.index("Ir")
    rows = [summary] if summary is not None else totals
    if not rows:
        raise ValueError(f"{path}: no 'summary:' or 'totals:' line; was the run cut short?")
    total = 0
    for values in rows:
        if len(values) <= index:
            raise ValueError(f"{path}: no Ir value in {values}")
        total += int(values[index])
    return total


def per_request(ir1: int, ir2: int, n1: int, n2: int) -> float:
    """Instructions one request costs: ``(Ir(N2) - Ir(N1)) / (N2 - N1)``."""
    if n2 <= n1:
        raise ValueError(f"N2 ({n2}) must be greater than N1 ({n1})")
    if ir2 <= ir1:
        raise ValueError(f"Ir(N2) = {ir2:,} is not above Ir(N1) = {ir1:,}: the runs differ")
    return (ir2 - ir1) / (n2 - n1)


def spread(values: Sequence[float]) -> float:
    """How far apart repeats land: (max - min) / mean; 0 for a single value."""
    if not values:
        raise ValueError("no values")
    return (max(values) - min(values)) / statistics.fmean(values)


def summarize(
    irs: dict[str, list[tuple[int, int]]],
    n1: int,
    n2: int,
    rps: dict[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Per client: the Ir pairs of each repeat, instructions per request and the ratios."""
    rows: list[dict[str, Any]] = []
    for client, pairs in irs.items():
        each = [per_request(a, b, n1, n2) for a, b in pairs]
        row: dict[str, Any] = {
            "client": client,
            "ir_n1": [a for a, _ in pairs],
            "ir_n2": [b for _, b in pairs],
            "instr_per_req_runs": [round(x) for x in each],
            "instr_per_req": round(statistics.fmean(each)),
            "repeat_spread": round(spread(each), 5) if len(each) > 1 else None,
        }
        if rps and client in rps:
            row.update(rps[client])
        rows.append(row)
    base = next((r for r in rows if r["client"] == BASELINE), None)
    for row in rows:
        row["instr_ratio_to_plain_json"] = (
            round(row["instr_per_req"] / base["instr_per_req"], 3) if base else None
        )
    return rows


# --- the child: the measured process ----------------------------------------------------------


def _run(coro: Coroutine[Any, Any, Any], use_uvloop: bool) -> Any:
    if use_uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


async def child(
    client: str, base: str, n: int, concurrency: int, warmup: int, timed: bool = False
) -> None:
    """Set the client up, warm it up, run ``n`` requests, close: all the measured process does.

    ``timed`` prints the measured requests' req/s and CPU microseconds per request.
    """
    call, close = await CLIENTS[client](base)
    try:
        if warmup:
            await _drive(call, warmup, concurrency)
        wall, cpu = time.perf_counter(), time.process_time()
        await _drive(call, n, concurrency)
        if timed:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(json.dumps({"req_per_s": n / wall, "cpu_us": cpu / n * 1e6}))
    finally:
        await close()


def own_process_rps(args: argparse.Namespace, base: str) -> dict[str, dict[str, float]]:
    """Native req/s with each client alone in its own process, as an application runs one.

    Rounds alternate the clients' order; medians over the rounds, and the median per-round
    ratio to the baseline.
    """
    got: dict[str, list[dict[str, float]]] = {name: [] for name in args.clients}
    for round_no in range(args.own_process_rounds):
        order = args.clients if round_no % 2 == 0 else list(reversed(args.clients))
        for name in order:
            argv = [*_child_argv(args, name, base, args.n2), "--timed"]
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
            got[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    out: dict[str, dict[str, float]] = {}
    for name, runs in got.items():
        row = {
            "own_process_req_per_s": round(statistics.median(r["req_per_s"] for r in runs)),
            "own_process_cpu_us_per_req": round(statistics.median(r["cpu_us"] for r in runs), 1),
        }
        if BASELINE in got:
            pairs = zip(runs, got[BASELINE], strict=True)
            ratio = statistics.median(a["req_per_s"] / b["req_per_s"] for a, b in pairs)
            row["own_process_ratio_to_plain_json"] = round(ratio, 3)
        out[name] = row
    return out


# --- the parent -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One callgrind run: a client, a request count, a repeat number."""

    client: str
    n: int
    repeat: int


def _child_argv(args: argparse.Namespace, client: str, base: str, n: int) -> list[str]:
    argv = [sys.executable, "-m", "benchmarks.instructions", "--child", client, "--url", base]
    argv += ["--n", str(n), "--concurrency", str(args.concurrency), "--warmup", str(args.warmup)]
    return argv + (["--uvloop"] if args.uvloop else [])


def _env() -> dict[str, str]:
    # Same hash seed in every run (dict and set layouts, so the same work); no .pyc written
    # during the measured runs, so neither compiles a module the other then loads compiled.
    return {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _preflight(args: argparse.Namespace, base: str) -> None:
    """Each client once, natively and briefly: it works (before minutes under valgrind), and its
    imports' bytecode is cached where this environment lets Python write it."""
    for client in args.clients:
        argv = _child_argv(args, client, base, args.concurrency)
        argv[argv.index("--warmup") + 1] = "0"
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"client {client} failed natively:\n{done.stderr[-3000:]}")


def _callgrind(args: argparse.Namespace, base: str, job: Job, out: Path) -> int:
    started = time.perf_counter()
    command = [args.valgrind, "--tool=callgrind", "-q", f"--callgrind-out-file={out}"]
    command += _child_argv(args, job.client, base, job.n)
    done = subprocess.run(
        command, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{job} exited {done.returncode}:\n{done.stderr[-3000:]}")
    ir = read_total_ir(out)
    _say(f"  {job.client} n={job.n} repeat {job.repeat}: Ir {ir:,} "
         f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    return ir


def measure_instructions(args: argparse.Namespace, base: str) -> dict[str, list[tuple[int, int]]]:
    """Every (client, N, repeat) under callgrind, ``--jobs`` at a time, longest first."""
    jobs = [
        Job(client, n, r)
        for r in range(args.repeat)
        for client in args.clients
        for n in (args.n2, args.n1)
    ]
    jobs.sort(key=lambda j: -j.n)  # the long runs first, so the two cores finish together
    _say(f"{len(jobs)} callgrind runs, {args.jobs} at a time")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)

        def one(job: Job) -> int:
            return _callgrind(
                args, base, job, folder / f"callgrind.{job.client}.{job.n}.r{job.repeat}"
            )

        with ThreadPoolExecutor(args.jobs) as pool:
            found = dict(zip(jobs, pool.map(one, jobs), strict=True))
    return {
        client: [(found[Job(client, args.n1, r)], found[Job(client, args.n2, r)])
                 for r in range(args.repeat)]
        for client in args.clients
    }  # fmt: skip


async def paired_rps(
    clients: Sequence[str], base: str, requests: int, concurrency: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Native req/s, clients alternating within each round; medians over the rounds."""
    made = {name: await CLIENTS[name](base) for name in clients}
    rates: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for call, _ in made.values():
            await _drive(call, 500, concurrency)
        for round_no in range(rounds):
            order = list(clients) if round_no % 2 == 0 else list(reversed(clients))
            for name in order:
                wall, _ = await _drive(made[name][0], requests, concurrency)
                rates[name].append(requests / wall)
    finally:
        for _, close in made.values():
            await close()
    out: dict[str, dict[str, float]] = {}
    for name in clients:
        row: dict[str, float] = {"req_per_s": round(statistics.median(rates[name]))}
        if BASELINE in rates:  # each round's ratio to the baseline, then the median of those
            paired = [a / b for a, b in zip(rates[name], rates[BASELINE], strict=True)]
            row["req_per_s_ratio_to_plain_json"] = round(statistics.median(paired), 3)
        out[name] = row
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| client | Ir(N1) | Ir(N2) | instr/req | vs plain-json | repeat spread | req/s "
        "| req/s vs plain-json |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def fmt(value: Any, spec: str, unit: str = "") -> str:
        return "-" if value is None else format(value, spec) + unit

    for r in rows:
        lines.append(
            f"| {r['client']} | {r['ir_n1'][0]:,} | {r['ir_n2'][0]:,} | {r['instr_per_req']:,} "
            f"| {fmt(r['instr_ratio_to_plain_json'], '.3f', 'x')} "
            f"| {fmt(r['repeat_spread'], '.2%')} | {fmt(r.get('req_per_s'), ',')} "
            f"| {fmt(r.get('req_per_s_ratio_to_plain_json'), '.3f', 'x')} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, validated (``parser.error`` exits with status 2 on a bad value)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--clients",
        default=",".join(DEFAULT_CLIENTS),
        help=f"comma-separated, from {', '.join(CLIENTS)} (default: %(default)s)",
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--n1", type=int, default=2000, help="requests in the shorter run")
    parser.add_argument("--n2", type=int, default=6000, help="requests in the longer run")
    parser.add_argument("--warmup", type=int, default=500, help="requests before the measured N")
    parser.add_argument("--repeat", type=int, default=1, help="run each pair this many times")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="callgrind runs at a time"
    )
    parser.add_argument(
        "--rps-rounds", type=int, default=3, help="rounds of native paired req/s (0: none)"
    )
    parser.add_argument(
        "--own-process-rounds",
        type=int,
        default=0,
        help="rounds of native req/s with each client alone in its own process (0: none)",
    )
    parser.add_argument("--uvloop", action="store_true", help="run the clients on uvloop")
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-write", action="store_true", help="write no results file")
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind output files in DIR")
    parser.add_argument("--valgrind", default=shutil.which("valgrind") or "/usr/bin/valgrind")
    parser.add_argument("--child", metavar="CLIENT", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in args.clients if c not in CLIENTS]
    if unknown:
        parser.error(f"unknown client(s) {', '.join(unknown)}; choose from {', '.join(CLIENTS)}")
    if not args.clients:
        parser.error("--clients is empty")
    if len(set(args.clients)) != len(args.clients):
        parser.error("--clients names a client twice")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    if args.own_process_rounds < 0:
        parser.error("--own-process-rounds must not be negative")
    if args.child is not None:
        if args.child not in CLIENTS:
            parser.error(f"unknown client {args.child}")
        if not args.url or args.n is None or args.n < 0:
            parser.error("--child needs --url and --n (>= 0)")
        return args
    if args.n1 < 1:
        parser.error("--n1 must be at least 1")
    if args.n2 <= args.n1:
        parser.error(f"--n2 ({args.n2}) must be greater than --n1 ({args.n1})")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.rps_rounds < 0:
        parser.error("--rps-rounds must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the child, or the whole measurement; print and write the results."""
    args = parse_args(argv)
    if args.child is not None:
        _run(
            child(args.child, args.url, args.n, args.concurrency, args.warmup, args.timed),
            args.uvloop,
        )
        return 0
    if not Path(args.valgrind).exists():
        print(f"valgrind not found at {args.valgrind}: apt-get install valgrind", file=sys.stderr)
        return 1
    started = time.perf_counter()
    with nginx() as base:
        _preflight(args, base)
        rps = None
        if args.rps_rounds:
            _say(f"paired req/s: {args.rps_rounds} rounds of {args.n2} requests per client")
            rps = _run(
                paired_rps(args.clients, base, args.n2, args.concurrency, args.rps_rounds),
                args.uvloop,
            )
        if args.own_process_rounds:
            _say(f"own-process req/s: {args.own_process_rounds} rounds of {args.n2} requests")
            own = own_process_rps(args, base)
            rps = {name: {**(rps or {}).get(name, {}), **own[name]} for name in args.clients}
        irs = measure_instructions(args, base)
    rows = summarize(irs, args.n1, args.n2, rps)
    result: dict[str, Any] = {
        "params": {
            "concurrency": args.concurrency,
            "n1": args.n1,
            "n2": args.n2,
            "warmup": args.warmup,
            "repeat": args.repeat,
            "rps_rounds": args.rps_rounds,
            "own_process_rounds": args.own_process_rounds,
            "loop": "uvloop" if args.uvloop else "asyncio",
            "valgrind": subprocess.run(
                [args.valgrind, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
        "rows": rows,
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps({"machine": machine(), **result}, indent=2))
    else:
        print(table(rows))
        print(f"runtime {result['runtime_s']} s")
    if not args.no_write:
        name = "instructions-uvloop" if args.uvloop else "instructions"
        _say(f"wrote {write(name, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
