"""``calleague dial`` and ``calls start`` as a user runs them, stopped, killed and resumed.

Each test starts the sandbox in its own event loop and runs the installed ``calleague``
command as a subprocess against it (asyncio subprocesses, so the loop keeps serving while the
command runs); ``sb.dials`` is the sandbox's own count of who was dialed.
"""

from __future__ import annotations

import asyncio
import collections
import csv
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import calleague_async as ca
from calleague_async.testing import Fault, SandboxServer

CALLEAGUE = Path(sys.executable).with_name("calleague")
AGENT = "ag_123"
CALLS_PATH_LIMIT = "POST /api/core/voice/agent/call=30/minute"  # 1 call / 2 s


# --- helpers ----------------------------------------------------------------------------------


@attrs.frozen
class Done:
    code: int
    out: str
    err: str

    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]

    def warnings(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("warning:")]

    def no_traceback(self) -> None:
        assert "Traceback" not in self.err and "Traceback" not in self.out, self.err


_STARTED: list[Running] = []


@pytest.fixture(autouse=True)
async def _no_leftover_processes() -> AsyncIterator[None]:
    """A test that failed half-way leaves no ``calleague`` running: kill what it started."""
    yield
    while _STARTED:
        running = _STARTED.pop()
        if running.proc.returncode is None:
            running.proc.kill()
        await running.proc.wait()
        await running._output


class Running:
    """A ``calleague`` subprocess whose output is read while it runs (no full pipes)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._output = asyncio.ensure_future(proc.communicate())

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def done(self) -> Done:
        async with asyncio.timeout(60):
            out, err = await self._output
        assert self.proc.returncode is not None
        return Done(self.proc.returncode, out.decode(), err.decode())


async def spawn(sb: SandboxServer | None, *args: str, cwd: Path) -> Running:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLEAGUE_")}
    where = (
        ["--base-url", sb.base_url, "--api-key", sb.api_key]
        if sb is not None
        else ["--base-url", "http://127.0.0.1:9", "--api-key", "sk_x"]
    )
    proc = await asyncio.create_subprocess_exec(
        str(CALLEAGUE),
        *where,
        *args,
        cwd=cwd,
        env=clean,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    running = Running(proc)
    _STARTED.append(running)
    return running


async def run(sb: SandboxServer | None, *args: str, cwd: Path) -> Done:
    return await (await spawn(sb, *args, cwd=cwd)).done()


async def until(condition: Callable[[], bool], what: str, within: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def write_leads(path: Path, numbers: list[str]) -> None:
    path.write_text("phone,name\n" + "".join(f"{n},Lead {i}\n" for i, n in enumerate(numbers)))


def lines(path: Path) -> list[dict[str, str]]:
    """Every line of a results file, as written (a killed run's log included)."""
    with path.open(encoding="utf-8", newline="") as fp:
        return list(csv.DictReader(fp))


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def placed_lines(path: Path) -> int:
    return text(path).count(",placed,")


def start_posts(sb: SandboxServer) -> list[Any]:
    start = sb.path("calls.start")
    return [r for r in sb.requests if r.method == "POST" and r.path == start]


def key_of(request: Any) -> str:
    headers = {k.lower(): v for k, v in request.headers.items()}
    return str(headers.get("idempotency-key", ""))


def dialed_to(sb: SandboxServer) -> list[str]:
    return [str(r.json["to"]) for r in start_posts(sb)]


# --- 1. Ctrl-C while the limiter holds leads, then --resume -----------------------------------


async def test_ctrl_c_mid_campaign_then_resume_dials_everyone_once(tmp_path: Path) -> None:
    numbers = [f"+9055520{i:05d}" for i in range(1, 41)]
    write_leads(tmp_path / "leads.csv", numbers)
    results = tmp_path / "leads.results.csv"
    dial = ["dial", "leads.csv", "--agent-id", AGENT]
    async with SandboxServer(calls=5) as sb:
        running = await spawn(sb, "--rate-limit", CALLS_PATH_LIMIT, *dial, cwd=tmp_path)
        await until(lambda: placed_lines(results) >= 2, "two placed rows")
        running.signal(signal.SIGINT)
        stopped = await running.done()

        stopped.no_traceback()
        assert stopped.code == 130, stopped.err
        assert "interrupted:" in stopped.err and "--resume" in stopped.err
        rows = lines(results)
        assert [int(r["row"]) for r in rows] == list(range(1, 41))  # one line each, in order
        assert [r["to"] for r in rows] == numbers
        by_outcome = collections.defaultdict(set)
        for r in rows:
            by_outcome[r["outcome"]].add(r["to"])
        assert set(by_outcome) <= {"placed", "unknown", "not_sent"}, dict(by_outcome)
        assert len(by_outcome["placed"]) >= 2
        assert by_outcome["placed"] == set(sb.dials)  # placed rows are who the sandbox dialed
        assert set(sb.dials.values()) == {1}
        assert by_outcome["unknown"] <= set(dialed_to(sb))  # unknown only if it was sent
        assert len(by_outcome["not_sent"]) >= 40 - 16  # the limiter held the rest
        assert all("--resume" in r["error"] for r in rows if r["outcome"] == "not_sent")

        # An unknown row (the interrupt landing mid-request) is not redialed by a plain
        # --resume; it is sent again, with its key, only when asked.
        again = ["--redial-unknown"] if by_outcome["unknown"] else []
        resumed = await run(sb, *dial, "--resume", *again, cwd=tmp_path)
        resumed.no_traceback()
        assert resumed.code == 0, resumed.err
        rows = lines(results)
        assert [int(r["row"]) for r in rows] == list(range(1, 41))
        assert [r["outcome"] for r in rows] == ["placed"] * 40, rows
        assert set(sb.dials) == set(numbers)
        assert set(sb.dials.values()) == {1}  # nobody dialed twice
        for r in rows:
            assert r["idempotency_key"] == ca.campaign_idempotency_key("leads", r["to"])

        before = collections.Counter(sb.dials)
        posts = len(start_posts(sb))
        third = await run(sb, *dial, "--resume", cwd=tmp_path)
        third.no_traceback()
        assert third.code == 0, third.err
        assert sb.dials == before
        assert len(start_posts(sb)) == posts
        assert [r["outcome"] for r in lines(results)] == ["placed"] * 40


# --- 2. duplicates in one leads file ------------------------------------------------------------


async def test_one_person_in_three_formats_is_dialed_once(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text(
        "phone,name\n+905551110001,Ayse\n+90 555 111 0001,Ayse again\n+905551110001,Ayse 3\n"
    )
    async with SandboxServer(calls=5) as sb:
        done = await run(sb, "dial", "leads.csv", "--agent-id", AGENT, cwd=tmp_path)
    done.no_traceback()
    assert done.code == 0, done.err
    assert sb.dials == collections.Counter({"+905551110001": 1})
    rows = lines(tmp_path / "leads.results.csv")
    assert [(r["row"], r["outcome"]) for r in rows] == [
        ("1", "placed"),
        ("2", "duplicate"),
        ("3", "duplicate"),
    ]
    assert rows[1]["error"] == rows[2]["error"] == "duplicate of row 1"
    assert rows[1]["to"] == "+90 555 111 0001"
    warnings = done.warnings()
    assert sorted(w.split(":")[1].strip() for w in warnings) == ["row 2", "row 3"], done.err
    assert all("duplicates row 1" in w for w in warnings), done.err


# --- 3. a killed dialer leaves in_flight rows; --resume does not redial them --------------------


async def test_a_killed_dialer_is_resumed_without_dialing_anyone_twice(tmp_path: Path) -> None:
    numbers = [f"+9055530{i:05d}" for i in range(1, 9)]
    write_leads(tmp_path / "leads.csv", numbers)
    results = tmp_path / "leads.results.csv"
    dial = ["dial", "leads.csv", "--agent-id", AGENT, "--concurrency", "5"]
    async with SandboxServer(calls=5) as sb:
        start = sb.path("calls.start")
        sb.fail_next(5, Fault.SLOW, path=start, method="POST", delay=5)
        running = await spawn(sb, *dial, cwd=tmp_path)
        await until(lambda: len(start_posts(sb)) == 5, "five calls in flight")
        running.signal(signal.SIGKILL)
        killed = await running.done()
        assert killed.code == -signal.SIGKILL

        log = lines(results)
        in_flight = {r["to"]: r for r in log if r["outcome"] == "in_flight"}
        hung = set(dialed_to(sb))
        assert set(in_flight) == hung and len(hung) == 5, log
        assert {r["outcome"] for r in log} == {"in_flight"}  # nothing else was recorded
        first_key = {str(r.json["to"]): key_of(r) for r in start_posts(sb)}
        for to, r in in_flight.items():
            assert r["idempotency_key"] == first_key[to] != ""

        # The hung requests finish on the server (the client is gone): wait for them to settle.
        await until(lambda: sb.pending_faults == 0 and set(sb.dials) >= hung, "slow requests", 10)
        await asyncio.sleep(0.2)
        settled = collections.Counter(sb.dials)
        posts = len(start_posts(sb))

        resumed = await run(sb, *dial, "--resume", cwd=tmp_path)
        resumed.no_traceback()
        assert resumed.code == 0, resumed.err
        rows = {r["to"]: r for r in lines(results)}
        assert [int(r["row"]) for r in lines(results)] == list(range(1, 9))
        for to in numbers:
            expected = "unknown" if to in hung else "placed"
            assert rows[to]["outcome"] == expected, rows[to]
        new = [str(r.json["to"]) for r in start_posts(sb)[posts:]]
        assert sorted(new) == sorted(set(numbers) - hung)  # the in_flight rows were not sent
        assert all(sb.dials[to] == settled[to] for to in hung)

        posts = len(start_posts(sb))
        redial = await run(sb, *dial, "--resume", "--redial-unknown", cwd=tmp_path)
        redial.no_traceback()
        assert redial.code == 0, redial.err
        again = start_posts(sb)[posts:]
        assert sorted(str(r.json["to"]) for r in again) == sorted(hung)
        for r in again:
            assert key_of(r) == first_key[str(r.json["to"])]  # the key of the first attempt
        assert [r["outcome"] for r in lines(results)] == ["placed"] * 8
        assert set(sb.dials) == set(numbers)
        assert set(sb.dials.values()) == {1}  # the server replayed, nobody dialed twice


# --- 4. two processes, one Redis ledger ---------------------------------------------------------


@pytest.fixture
async def ledger_url(redis_url: str) -> str:
    import redis.asyncio as aioredis

    url = redis_url.rsplit("/", 1)[0] + "/11"  # a database of its own, emptied first
    client: Any = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return url


async def test_two_dialers_on_one_ledger_dial_each_person_once(
    tmp_path: Path, ledger_url: str
) -> None:
    numbers = [f"+9055540{i:05d}" for i in range(1, 61)]
    write_leads(tmp_path / "leads.csv", numbers)
    common = ["dial", "leads.csv", "--agent-id", AGENT, "--ledger", ledger_url,
              "--campaign", "spring-2026"]  # fmt: skip
    async with SandboxServer(calls=5) as sb:
        # Each reply takes 0.1 s, so neither dialer is done before the other starts.
        sb.set_latency(0.1)
        runs = [
            await spawn(sb, *common, "--concurrency", "4", "-o", out, cwd=tmp_path)
            for out in ("a.csv", "b.csv")
        ]
        a, b = [await r.done() for r in runs]
        a.no_traceback()
        b.no_traceback()
        assert a.code == b.code == 0, a.err + b.err
        assert set(sb.dials) == set(numbers)
        assert set(sb.dials.values()) == {1}
        rows_a, rows_b = lines(tmp_path / "a.csv"), lines(tmp_path / "b.csv")
        for rows in (rows_a, rows_b):
            assert [int(r["row"]) for r in rows] == list(range(1, 61))
            assert [r["to"] for r in rows] == numbers
        for ra, rb in zip(rows_a, rows_b, strict=True):
            assert {ra["outcome"], rb["outcome"]} == {"placed", "duplicate"}, (ra, rb)
        placed_by = [sum(r["outcome"] == "placed" for r in rows) for rows in (rows_a, rows_b)]
        assert min(placed_by) > 0, placed_by  # they did dial at the same time
        for r in rows_a + rows_b:
            assert r["idempotency_key"] == ca.campaign_idempotency_key("spring-2026", r["to"])

        before = collections.Counter(sb.dials)
        third = await run(sb, *common, "-o", "c.csv", cwd=tmp_path)
        third.no_traceback()
        assert third.code == 0, third.err
        assert sb.dials == before
        assert [r["outcome"] for r in lines(tmp_path / "c.csv")] == ["duplicate"] * 60


# --- 5. --resume and the results file -----------------------------------------------------------


async def test_resume_refuses_what_it_cannot_resume(tmp_path: Path) -> None:
    numbers = ["+905555000001", "+905555000002", "+905555000003"]
    leads = tmp_path / "leads.csv"
    results = tmp_path / "leads.results.csv"
    dial = ["dial", "leads.csv", "--agent-id", AGENT]
    async with SandboxServer(calls=5) as sb:
        write_leads(leads, numbers)
        missing = await run(sb, *dial, "--resume", cwd=tmp_path)
        missing.no_traceback()
        assert missing.code == 2, missing.err
        assert len(missing.errors()) == 1 and "does not exist" in missing.errors()[0]
        assert not results.exists() and not sb.dials

        first = await run(sb, *dial, cwd=tmp_path)
        assert first.code == 0, first.err
        recorded = text(results)
        dialed = collections.Counter(sb.dials)

        plain = await run(sb, *dial, cwd=tmp_path)
        plain.no_traceback()
        assert plain.code == 2, plain.err
        assert len(plain.errors()) == 1 and "--resume" in plain.errors()[0]

        write_leads(leads, [numbers[0], "+905555000099", numbers[2]])
        changed = await run(sb, *dial, "--resume", cwd=tmp_path)
        changed.no_traceback()
        assert changed.code == 2, changed.err
        assert len(changed.errors()) == 1 and "row 2" in changed.errors()[0]

        redial = await run(sb, *dial, "-o", "other.csv", "--redial-unknown", cwd=tmp_path)
        redial.no_traceback()
        assert redial.code == 2, redial.err
        assert len(redial.errors()) == 1 and "--redial-unknown" in redial.errors()[0]

        assert text(results) == recorded  # nothing refused touched the results
        assert not (tmp_path / "other.csv").exists()
        assert sb.dials == dialed


# --- 6. calls start, interrupted ----------------------------------------------------------------


async def test_calls_start_interrupted_after_sending_names_its_key(tmp_path: Path) -> None:
    async with SandboxServer(calls=5) as sb:
        sb.fail_next(1, Fault.SLOW, path=sb.path("calls.start"), method="POST", delay=10)
        running = await spawn(sb, "calls", "start", "--agent-id", AGENT, "--to", "+905556000001",
                              cwd=tmp_path)  # fmt: skip
        await until(lambda: len(start_posts(sb)) == 1, "the POST")
        running.signal(signal.SIGINT)
        done = await running.done()
        key = key_of(start_posts(sb)[0])
    done.no_traceback()
    assert done.code == 130, done.err
    assert "may have been placed" in done.err
    assert key and key in done.err


async def test_calls_start_interrupted_while_waiting_to_retry(tmp_path: Path) -> None:
    async with SandboxServer(calls=5) as sb:
        sb.fail_next(3, Fault.RATE_LIMITED, path=sb.path("calls.start"), method="POST")
        running = await spawn(sb, "calls", "start", "--agent-id", AGENT, "--to", "+905556000002",
                              cwd=tmp_path)  # fmt: skip
        await until(lambda: len(start_posts(sb)) == 1, "the first POST")
        # Let its 429 reach the client (it then waits Retry-After: 1 s before trying again).
        await asyncio.sleep(0.3)
        running.signal(signal.SIGINT)
        done = await running.done()
        assert not sb.dials
    done.no_traceback()
    assert done.code == 130, done.err
    assert "refused every attempt" in done.err or "nothing was sent" in done.err, done.err
    assert "may have been placed" not in done.err


# --- 7. a ledger that is not Redis ------------------------------------------------------------


@pytest.mark.parametrize("ledger", ["http://x", "http://user:hunter2@x"])
async def test_a_ledger_that_is_not_redis_exits_2_without_its_password(
    tmp_path: Path, ledger: str
) -> None:
    write_leads(tmp_path / "leads.csv", ["+905557000001"])
    async with SandboxServer(calls=5) as sb:
        done = await run(sb, "dial", "leads.csv", "--agent-id", AGENT, "--ledger", ledger,
                         cwd=tmp_path)  # fmt: skip
        assert not sb.dials
    done.no_traceback()
    assert done.code == 2, done.err
    assert len(done.errors()) == 1 and "redis://" in done.errors()[0], done.err
    assert "hunter2" not in done.err + done.out
    assert not (tmp_path / "leads.results.csv").exists()


async def test_resume_with_the_ledger_asks_again_for_leads_another_dialer_held(
    tmp_path: Path, ledger_url: str
) -> None:
    numbers = ["+905556000001", "+905556000002"]
    write_leads(tmp_path / "leads.csv", numbers)
    common = ["dial", "leads.csv", "--agent-id", AGENT, "--ledger", ledger_url,
              "--campaign", "held"]  # fmt: skip
    other = ca.RedisLedger(ledger_url)
    try:
        # Another dialer, alive, holds the second lead (it is dialing it right now).
        await other.heartbeat("held", "other:1:beef")
        key = ca.campaign_idempotency_key("held", numbers[1])
        assert await other.claim("held", numbers[1], owner="other:1:beef",
                                 idempotency_key=key) is None  # fmt: skip
        async with SandboxServer(calls=5) as sb:
            first = await run(sb, *common, cwd=tmp_path)
            assert first.code == 0, first.err
            rows = lines(tmp_path / "leads.results.csv")
            assert [r["outcome"] for r in rows] == ["placed", "duplicate"]
            assert rows[1]["error"].startswith("ledger: ") and "being dialed" in rows[1]["error"]
            # That dialer stopped before sending: it released its claim. A resume asks the
            # ledger again and dials the lead; the placed one is not touched.
            await other.release("held", numbers[1], owner="other:1:beef")
            again = await run(sb, *common, "--resume", cwd=tmp_path)
            assert again.code == 0, again.err
            assert [r["outcome"] for r in lines(tmp_path / "leads.results.csv")] == ["placed"] * 2
            assert sb.dials == collections.Counter({numbers[0]: 1, numbers[1]: 1})
            # Without the ledger, a resume never redials what was a duplicate.
            posts = len(start_posts(sb))
            last = await run(sb, "dial", "leads.csv", "--agent-id", AGENT, "--resume",
                             cwd=tmp_path)  # fmt: skip
            assert last.code == 0 and len(start_posts(sb)) == posts
    finally:
        await other.close()
