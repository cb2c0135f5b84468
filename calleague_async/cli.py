"""The ``calleague`` command: calls, agents, bulk export and CSV campaigns from the shell.

``calleague --sandbox calls export -o calls.jsonl`` runs against an embedded sandbox server;
without ``--sandbox`` the key and URL come from flags or ``CALLEAGUE_API_KEY`` /
``CALLEAGUE_BASE_URL``. Bad input gives a one-line error and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import json
import math
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table
except ImportError as _missing:  # the SDK installs without rich; only this command needs it
    print(
        "error: the calleague command needs the [cli] extra: "
        f"pip install 'calleague-async[cli]' ({_missing})",
        file=sys.stderr,
    )
    raise SystemExit(2) from None

import calleague_async as ca
from calleague_async import _results as results
from calleague_async import _validate
from calleague_async._limits import DEFAULT_RATE_LIMITS
from calleague_async.export import Format, export_calls, partial_paths
from calleague_async.resources.calls import _normalised_number as _normalised
from calleague_async.testing import SandboxServer

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# The embedded sandbox enforces limits like a real workspace, and the client is told them, so
# a demo shows pacing with no 429s. Against the real API the defaults apply: Calleague documents
# no limits, so the limiter learns them from the server (DEFAULT_RATE_LIMITS is empty for it).
SANDBOX_LIMITS = {"default": "50/second", "POST /api/core/voice/agent/call": "20/second"}
_PHONE_COLUMNS = ("to", "phone", "number", "phone_number")


# Exit 2: input refused locally, or a 400/404/422, the API saying the input is wrong (an
# unknown agent or call, a bad value). Any other API or network failure exits 1.
_INVALID_INPUT = (
    ca.ValidationError,
    ca.ConfigurationError,
    ca.BadRequestError,
    ca.NotFoundError,
    ca.UnprocessableEntityError,
)


def _exit_code(exc: ca.CalleagueError) -> int:
    return EXIT_USAGE if isinstance(exc, _INVALID_INPUT) else EXIT_FAILED


def _message(exc: ca.CalleagueError) -> str:
    # The session's hint names its keyword argument; here the switch is a flag.
    return str(exc).replace("pass allow_insecure_http=True", "pass --allow-insecure-http")


# Set by a command that said what its interruption left behind: main() adds nothing then.
_EXPLAINED: list[bool] = []
# The error of a results row whose number another dialer holds in the campaign's ledger.
_LEDGER_HELD = "ledger: "


class CommandError(Exception):
    """A one-line error for the user, with the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calleague",
        description="The Calleague voice-assistant API from the shell.",
        epilog="Example: calleague --sandbox calls export -o calls.jsonl",
    )
    parser.add_argument("--api-key", help="API key (default: $CALLEAGUE_API_KEY)")
    parser.add_argument("--base-url", help="API base URL (default: $CALLEAGUE_BASE_URL)")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run against an embedded sandbox server with seeded data (no account needed)",
    )
    parser.add_argument(
        "--sandbox-calls", type=int, default=1000, metavar="N", help="calls in the sandbox (1000)"
    )
    parser.add_argument(
        "--sandbox-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds the sandbox waits before each reply (0)",
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// base URL that is not this machine (the key travels in clear)",
    )
    parser.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="KEY=RATE",
        help="override a client-side limit, e.g. 'default=200/minute' (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--version", action="version", version=f"calleague {ca.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    calls = commands.add_parser("calls", help="start, read and export calls")
    calls_cmd = calls.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = calls_cmd.add_parser("export", help="export every call to JSONL or CSV")
    export.add_argument(
        "--status", help=f"only calls with this status ({', '.join(ca.CallStatus)}, ...)"
    )
    export.add_argument("--agent-id", help="only calls of this assistant")
    export.add_argument("--format", choices=("jsonl", "csv"), default=None)
    export.add_argument("-o", "--output", help="file to write (calls.jsonl / calls.csv)")
    export.add_argument("--concurrency", type=int, default=8, help="pages in flight (8)")
    export.add_argument(
        "--resume", action="store_true", help="continue an interrupted export of the same file"
    )
    start = calls_cmd.add_parser("start", help="start one outbound call")
    start.add_argument("--agent-id", required=True)
    start.add_argument("--to", required=True, help="number in E.164 format, e.g. +903121234567")
    start.add_argument("--metadata", help="a JSON object echoed back on the call")
    get = calls_cmd.add_parser("get", help="show one call")
    get.add_argument("call_id")

    agents = commands.add_parser("agents", help="read voice assistants")
    agents_cmd = agents.add_subparsers(dest="action", metavar="ACTION", required=True)
    agents_cmd.add_parser("list", help="list assistants")

    dial = commands.add_parser("dial", help="run a campaign from a CSV of numbers")
    dial.add_argument("leads", help="CSV with a 'to' (or phone/number) column; others: metadata")
    dial.add_argument("--agent-id", required=True)
    dial.add_argument("--concurrency", type=int, default=16, help="calls in flight (16)")
    dial.add_argument("-o", "--output", help="results CSV (LEADS.results.csv)")
    dial.add_argument(
        "--resume",
        action="store_true",
        help="continue from the results file: dial only the rows not sent (or absent)",
    )
    dial.add_argument(
        "--redial-unknown",
        action="store_true",
        help="with --resume (or --ledger): also dial rows whose outcome is unknown, with the "
        "Idempotency-Key each was first sent with",
    )
    dial.add_argument(
        "--campaign",
        metavar="NAME",
        help="the campaign's name: keys each row's Idempotency-Key and the ledger (LEADS' stem)",
    )
    dial.add_argument(
        "--ledger",
        metavar="URL",
        help="a redis:// URL shared by every dialer of the campaign: each person dialed once",
    )

    ledger = commands.add_parser(
        "ledger", help="a campaign's ledger: who was dialed, and what needs review"
    )
    ledger.add_argument("--ledger", required=True, metavar="URL", help="its redis:// URL")
    ledger.add_argument("--campaign", required=True, metavar="NAME")

    commands.add_parser(
        "sandbox", help="serve the sandbox for other tools (see 'calleague sandbox --help')"
    )
    return parser


def _rate_limits(args: argparse.Namespace) -> dict[str, str]:
    limits = dict(SANDBOX_LIMITS if args.sandbox else DEFAULT_RATE_LIMITS)
    for item in args.rate_limit:
        key, sep, rate = item.partition("=")
        if not sep:
            raise CommandError(f"--rate-limit {item!r}: write it as KEY=RATE", EXIT_USAGE)
        limits[key.strip()] = rate.strip()
    return limits


@contextlib.asynccontextmanager
async def _session(args: argparse.Namespace) -> AsyncIterator[ca.AsyncSession]:
    limits = _rate_limits(args)
    if not args.sandbox and not (args.api_key or os.environ.get("CALLEAGUE_API_KEY")):
        raise CommandError(
            "no API key: pass --api-key or set CALLEAGUE_API_KEY (or try --sandbox)", EXIT_USAGE
        )
    if not args.sandbox:
        async with ca.AsyncSession(
            args.api_key,
            base_url=args.base_url,
            rate_limits=limits,
            allow_insecure_http=args.allow_insecure_http,
        ) as session:
            yield session
        return
    async with SandboxServer(
        calls=args.sandbox_calls,
        rate_limit="50/1",
        route_rate_limits={"calls.start": "20/1"},
        latency=args.sandbox_latency,
        record_requests=False,
    ) as sb:
        _err(f"sandbox: {sb.base_url} ({args.sandbox_calls} seeded calls)")
        async with ca.AsyncSession(sb.api_key, base_url=sb.base_url, rate_limits=limits) as s:
            yield s


_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _err(message: str) -> None:
    _console.print(message, markup=False)


def _record(model: ca.Call | ca.Agent) -> dict[str, Any]:
    # One convention for every command: records as the API sends them (its names, unknown
    # fields kept), exactly the form `calls export` writes, and camelCase for our own keys.
    return model.to_dict(wire=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _print_one(args: argparse.Namespace, record: dict[str, Any], title: str) -> None:
    if args.json:
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    table = Table(title=title, show_header=False)
    for key, value in record.items():
        table.add_row(key, _cell(value))
    Console(highlight=False).print(table)


def _print_records(args: argparse.Namespace, records: list[dict[str, Any]], title: str) -> None:
    if args.json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    columns = list(dict.fromkeys(k for r in records for k in r))
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for r in records:
        table.add_row(*(_cell(r.get(c)) for c in columns))
    Console(highlight=False).print(table)


def _check_output(path: Path, *, resume: bool = False) -> None:
    """Refuse an output path that cannot be written, before any request is made."""
    if path.is_dir():
        raise CommandError(f"{path} is a directory; -o needs a file name", EXIT_USAGE)
    if path.exists() and not resume:
        raise CommandError(f"{path} exists; remove it or choose another -o", EXIT_USAGE)
    folder = path.parent
    if not folder.is_dir():
        raise CommandError(f"{path}: directory {folder} does not exist", EXIT_USAGE)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"{path}: directory {folder} is not writable", EXIT_USAGE)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=_console,
        transient=False,
    )


async def _calls_export(args: argparse.Namespace, s: ca.AsyncSession) -> int:
    fmt: Format = args.format or ("csv" if (args.output or "").endswith(".csv") else "jsonl")
    output = Path(args.output or f"calls.{fmt}")
    if args.concurrency < 1 or args.concurrency > 64:
        raise CommandError("--concurrency must be in 1..64", EXIT_USAGE)
    _check_output(output, resume=args.resume)
    if args.status is not None and args.status not in set(ca.CallStatus):
        # Servers add statuses: an unknown one may be new, so it is asked for all the same.
        _err(
            f"warning: --status {args.status!r} is not a known status "
            f"({', '.join(ca.CallStatus)}); exporting the calls that have it, if any"
        )
    written = [0]
    with _progress() as progress:
        task = progress.add_task("exporting", total=None, rate="")

        def report(done: int, total: int | None) -> None:
            written[0] = done
            speed = progress.tasks[0].speed
            progress.update(
                task, completed=done, total=total, rate=f"{speed:,.0f} calls/s" if speed else ""
            )

        try:
            result = await export_calls(
                s,
                output,
                fmt=fmt,
                status=args.status,
                agent_id=args.agent_id,
                concurrency=args.concurrency,
                resume=args.resume,
                progress=report,
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            part, _ = partial_paths(output)
            _err(
                f"interrupted: {written[0]} calls are in {part}; run the same command with "
                "--resume to continue"
            )
            _EXPLAINED.append(True)
            return EXIT_INTERRUPTED
        except (ca.ValidationError, ca.ConfigurationError):
            raise
        except ca.CalleagueError as exc:
            part, _ = partial_paths(output)
            hint = (
                f" ({written[0]} calls are in {part}; --resume continues)" if part.exists() else ""
            )
            raise CommandError(f"{_message(exc)}{hint}", _exit_code(exc)) from None
    summary = {
        "path": str(result.path),
        "written": result.written,
        "total": result.total,
        "resumedFrom": result.resumed_from,
        "seconds": round(result.seconds, 2),
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        _err(f"wrote {result.written} calls to {result.path} in {result.seconds:.1f}s")
    return EXIT_OK


async def _calls_start(args: argparse.Namespace, s: ca.AsyncSession) -> int:
    metadata = None
    if args.metadata is not None:
        try:
            metadata = json.loads(args.metadata)
        except ValueError as exc:
            raise CommandError(f"--metadata is not JSON: {exc}", EXIT_USAGE) from None
        if not isinstance(metadata, dict):
            raise CommandError("--metadata must be a JSON object, like '{\"orderId\": 1}'", 2)
    key = uuid.uuid4().hex
    request = ca.CallRequest(
        agent_id=args.agent_id, to=args.to, metadata=metadata, idempotency_key=key
    )
    # A batch of one: stopped by Ctrl-C, it says whether the request had been sent.
    batch = s.calls.start_many([request], concurrency=1)
    result: ca.StartPlaced | ca.StartFailed | None = None
    try:
        async with batch:
            async for result in batch:  # noqa: B007 - the one result, read below
                pass
    except (asyncio.CancelledError, KeyboardInterrupt):
        stopped = batch.unyielded[0] if batch.unyielded else None
        if stopped is not None and stopped.call is not None:
            _print_one(args, _record(stopped.call), "call started")
        elif stopped is not None and stopped.status == "unknown":
            _err(
                "interrupted after the request was sent: the call may have been placed; check "
                f"before starting it again (Idempotency-Key {key})"
            )
        elif stopped is not None and stopped.sent:
            _err(
                "interrupted while waiting to retry: the server refused every attempt in a way "
                "that proves no call was placed"
            )
        else:
            _err("interrupted before the request was sent: nothing was sent, no call placed")
        _EXPLAINED.append(True)
        raise
    assert result is not None
    if result.error is not None:
        raise result.error
    _print_one(args, _record(result.call), "call started")
    return EXIT_OK


async def _calls_get(args: argparse.Namespace, s: ca.AsyncSession) -> int:
    _print_one(args, _record(await s.calls.get(args.call_id)), "call")
    return EXIT_OK


async def _agents_list(args: argparse.Namespace, s: ca.AsyncSession) -> int:
    agents = [_record(a) async for a in s.agents.list(page_size=100)]
    _print_records(args, agents, "assistants")
    return EXIT_OK


def _leads(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of the leads CSV, numbered from 1 (the header is row 0)."""
    with open(path, encoding="utf-8-sig", newline="") as fp:
        reader = csv.DictReader(fp)
        for number, row in enumerate(reader, start=1):
            yield number, {k.strip(): (v or "").strip() for k, v in row.items() if k}


def _lead_request(row: Mapping[str, str], phone: str, agent_id: str, key: str) -> ca.CallRequest:
    metadata = {k: v for k, v in row.items() if k != phone and v != ""}
    return ca.CallRequest(
        agent_id=agent_id, to=row.get(phone, ""), metadata=metadata or None, idempotency_key=key
    )


def _same_number(a: str, b: str) -> bool:
    return a == b or (_normalised(a) or a) == (_normalised(b) or b)


def _dial_output(args: argparse.Namespace, leads: Path) -> tuple[Path, dict[int, results.Row]]:
    """The results file, and with ``--resume`` what it says of each row so far."""
    output = Path(args.output or leads.with_name(leads.stem + ".results.csv"))
    if args.redial_unknown and not (args.resume or args.ledger):
        raise CommandError("--redial-unknown goes with --resume (or --ledger)", EXIT_USAGE)
    if not args.resume:
        if output.exists() and not output.is_dir():
            # It records who was dialed: overwriting it would invite dialing them again.
            raise CommandError(
                f"{output} exists: pass --resume to continue that campaign, or choose another -o",
                EXIT_USAGE,
            )
        _check_output(output)
        return output, {}
    if not output.is_file():
        raise CommandError(f"--resume: {output} does not exist; nothing to resume", EXIT_USAGE)
    _check_output(output, resume=True)
    try:
        prior = results.read(output)
    except results.ResultsFileError as exc:
        raise CommandError(f"--resume: {exc}", EXIT_USAGE) from None
    return output, prior


async def _dial(args: argparse.Namespace, s: ca.AsyncSession) -> int:
    leads = Path(args.leads)
    try:
        with open(leads, encoding="utf-8-sig", newline="") as fp:
            header = next(csv.reader(fp), [])
        rows = list(_leads(leads))
    except OSError as exc:
        raise CommandError(f"cannot read {leads}: {exc.strerror or exc}", EXIT_USAGE) from None
    phone = next((c.strip() for c in header if c.strip().lower() in _PHONE_COLUMNS), None)
    if phone is None:
        raise CommandError(f"{leads} has no 'to' (or phone/number) column", EXIT_USAGE)
    if args.concurrency < 1:
        raise CommandError("--concurrency must be >= 1", EXIT_USAGE)
    campaign = _validate.identifier("--campaign", args.campaign or leads.stem)
    output, prior = _dial_output(args, leads)
    for number, row in rows:
        before = prior.get(number)
        if before is not None and not _same_number(before.to, row.get(phone, "")):
            raise CommandError(
                f"--resume: row {number} of {leads} is {row.get(phone, '')!r} but {output} has "
                f"{before.to!r} for it: the leads changed since; use a new -o",
                EXIT_USAGE,
            )
    try:
        await s.agents.get(args.agent_id)
    except ca.NotFoundError:
        raise CommandError(f"unknown agent {args.agent_id!r}", EXIT_USAGE) from None

    # What this run dials: rows never sent (or absent), and unknown ones if asked to. A
    # number an earlier run placed, tried or may have placed is a duplicate here.
    redial = {"not_sent", "unknown"} if args.redial_unknown else {"not_sent"}

    def offered(before: results.Row) -> bool:
        if before.outcome in redial:
            return True
        # Held by another dialer when last asked: with the ledger, ask it again (it answers
        # "duplicate" again while the number is dialed or done elsewhere).
        return (
            bool(args.ledger)
            and before.outcome == "duplicate"
            and (before.error.startswith(_LEDGER_HELD))
        )

    final: dict[int, results.Row] = dict(prior)
    taken: dict[str, int] = {}
    for number, entry in sorted(prior.items()):
        if entry.outcome in {"placed", "failed", "unknown"} and not offered(entry):
            taken.setdefault(_normalised(entry.to) or entry.to, number)
    todo: list[tuple[int, ca.CallRequest]] = []
    skipped: list[tuple[results.Row, int]] = []  # with the row it duplicates
    for number, row in rows:
        before = prior.get(number)
        if before is not None and not offered(before):
            continue
        to = row.get(phone, "")
        first = taken.get(_normalised(to) or to)
        if first is not None and first != number:
            row_of = results.Row(number, to, "duplicate", error=f"duplicate of row {first}")
            skipped.append((row_of, first))
            continue
        key = (before.idempotency_key if before is not None else "") or (
            ca.campaign_idempotency_key(campaign, to)
        )
        todo.append((number, _lead_request(row, phone, args.agent_id, key)))

    counts = results.counts(())  # this run's outcomes, every one named
    batch_rows: list[int] = []  # the batch's index -> the row number
    interrupted = False

    answered: set[int] = set()  # rows with an outcome from this run

    def note(entry: results.Row) -> None:
        answered.add(entry.row)
        final[entry.row] = entry
        counts[entry.outcome] += 1
        log.write(entry)

    def requests() -> Iterator[ca.CallRequest]:
        for number, request in todo:
            batch_rows.append(number)
            # Handed to the batch: from here it may be dialed. A crash leaves it in_flight.
            log.write(
                results.Row(
                    number, request.to, results.IN_FLIGHT,
                    idempotency_key=request.idempotency_key or "",
                )
            )  # fmt: skip
            yield request

    def outcome(r: ca.StartPlaced | ca.StartFailed) -> results.Row:
        number = batch_rows[r.index]
        status: str = r.status
        error = "" if r.error is None else _message(r.error)
        if r.duplicate_of is not None:
            error = f"duplicate of row {batch_rows[r.duplicate_of]}"
            _err(f"warning: row {number}: {r.request.to} duplicates row "
                 f"{batch_rows[r.duplicate_of]}; not dialed again")  # fmt: skip
        elif status == "duplicate":  # the ledger holds the number: asked again on --resume
            error = f"{_LEDGER_HELD}{error}"
        elif status == "unknown":
            error = f"{error}: check before redialing"
        return results.Row(
            number,
            r.request.to,
            status,
            call_id=r.call.call_id if r.call is not None else "",
            idempotency_key=r.request.idempotency_key or "",
            error=error,
        )

    # Made first: its arguments are checked before the results file is touched.
    batch = s.calls.start_many(
        requests(),
        concurrency=args.concurrency,
        dedupe=True,
        campaign=campaign,
        ledger=args.ledger,
        redial_unknown=bool(args.redial_unknown and args.ledger),
    )
    log = results.Log(output, append=bool(args.resume))
    for entry, first in skipped:
        _err(f"warning: row {entry.row}: {entry.to} duplicates row {first}; "
             "not dialed again")  # fmt: skip
        note(entry)
    try:
        with _progress() as progress:
            task = progress.add_task("dialing", total=len(todo), rate="")
            async with batch:
                async for r in batch:
                    note(outcome(r))
                    progress.update(
                        task,
                        advance=1,
                        rate=f"{counts['placed']} placed, {counts['failed']} failed, "
                        f"{counts['unknown']} unknown",
                    )
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
        raise
    finally:
        for r in batch.unyielded:
            entry = outcome(r)
            if isinstance(r.error, ca.NotSentError):
                entry.error = "interrupted before it was sent; --resume dials it"
            elif entry.outcome == "unknown":
                entry.error = f"interrupted: {entry.error}"
            note(entry)
        # Taken in, yet neither yielded nor reported (a batch that failed): may have been sent.
        for number, (_, handed) in zip(batch_rows, todo, strict=False):
            if number not in answered:
                note(results.Row(number, handed.to, "unknown",
                                 idempotency_key=handed.idempotency_key or "",
                                 error="the run stopped without its outcome: it may have been "
                                 "placed; check before redialing"))  # fmt: skip
        why = "interrupted" if interrupted else "the run stopped on an error"
        for number, request in todo[len(batch_rows) :]:
            note(results.Row(number, request.to, "not_sent",
                             idempotency_key=request.idempotency_key or "",
                             error=f"{why} before its turn; --resume dials it"))  # fmt: skip
        log.close()
        for number, row in rows:  # every input row has a line
            if number not in final:
                final[number] = results.Row(number, row.get(phone, ""), "not_sent")
        results.compact(output, final.values())
        _dial_summary(args, output, counts, final, interrupted)
    return EXIT_OK


def _dial_summary(
    args: argparse.Namespace,
    output: Path,
    run: dict[str, int],
    final: dict[int, results.Row],
    interrupted: bool,
) -> None:
    total = results.counts(final.values())
    if args.json:
        summary = {**total, "thisRun": run, "interrupted": interrupted, "results": str(output)}
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    words = (
        f"{total['placed']} placed, {total['failed']} failed, {total['unknown']} outcome "
        f"unknown (check before redialing), {total['not_sent']} not sent, "
        f"{total['duplicate']} duplicate"
    )
    if interrupted:
        _EXPLAINED.append(True)
        _err(f"interrupted: {words}; results in {output}; run the same command with --resume "
             "to dial the rows not sent")  # fmt: skip
    else:
        _err(f"{words}; results in {output}")


async def _ledger(args: argparse.Namespace) -> int:
    ledger = ca.open_ledger(args.ledger)
    try:
        entries = [e async for e in ledger.entries(args.campaign)]
    except ca.CalleagueError:
        raise
    except Exception as exc:  # the store's own errors (Redis down)
        raise CommandError(f"ledger unavailable: {type(exc).__name__}: {exc}") from None
    finally:
        await ledger.close()
    states = collections.Counter("review" if e.needs_review else e.state for e in entries)
    review = sorted((e for e in entries if e.needs_review), key=lambda e: e.number)
    if args.json:
        records = [
            {"number": e.number, "state": e.state, "owner": e.owner, "at": e.at,
             "idempotencyKey": e.idempotency_key, "callId": e.call_id, "reason": e.reason}
            for e in review
        ]  # fmt: skip
        sys.stdout.write(json.dumps({"counts": dict(states), "review": records}) + "\n")
        return EXIT_OK
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no entries"
    _err(f"campaign {args.campaign!r}: {counts}")
    if review:
        rows = [
            {"number": e.number, "state": e.state, "owner": e.owner,
             "at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at)),
             "idempotency_key": e.idempotency_key or "", "reason": e.reason or ""}
            for e in review
        ]  # fmt: skip
        _print_records(args, rows, "needs review: may have been dialed, no outcome recorded")
    return EXIT_OK


_HANDLERS = {
    ("calls", "export"): _calls_export,
    ("calls", "start"): _calls_start,
    ("calls", "get"): _calls_get,
    ("agents", "list"): _agents_list,
    ("dial", None): _dial,
}


async def _run(args: argparse.Namespace) -> int:
    if args.sandbox_calls < 0:
        raise CommandError("--sandbox-calls must be >= 0", EXIT_USAGE)
    if not (math.isfinite(args.sandbox_latency) and args.sandbox_latency >= 0):
        raise CommandError("--sandbox-latency must be a number of seconds >= 0", EXIT_USAGE)
    if args.command == "ledger":  # Redis only: no API key, no session
        return await _ledger(args)
    handler = _HANDLERS[(args.command, getattr(args, "action", None))]
    async with _session(args) as session:
        return await handler(args, session)


def _serve_sandbox(argv: Sequence[str]) -> int:
    """``calleague sandbox``: the ``python -m calleague_async.testing`` server, named as such."""
    from calleague_async.testing import __main__ as server

    parser = server._build_parser()
    parser.prog = "calleague sandbox"
    args = parser.parse_args(argv)
    config, key_source = server._config(args, parser)
    try:
        asyncio.run(server._serve(config, args.host, args.port, key_source))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        _err(f"calleague sandbox: cannot serve on {args.host}:{args.port}: {error}")
        return EXIT_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``calleague`` command; return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _EXPLAINED.clear()
    if argv[:1] == ["sandbox"]:
        return _serve_sandbox(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "sandbox":  # global options before it mean nothing to the server
        return _serve_sandbox([])
    try:
        return asyncio.run(_run(args))
    except CommandError as exc:
        _err(f"error: {exc}")
        return exc.code
    except ca.CalleagueError as exc:
        _err(f"error: {_message(exc)}")
        return _exit_code(exc)
    except OSError as exc:
        _err(f"error: {exc.filename or ''}: {exc.strerror or exc}")
        return EXIT_FAILED
    except (csv.Error, ValueError) as exc:  # a leads file that is not the CSV it should be
        _err(f"error: {type(exc).__name__}: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        if not _EXPLAINED:
            _err("interrupted")
        return EXIT_INTERRUPTED


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
