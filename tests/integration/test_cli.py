"""The ``calleague`` command through its installed entry point, as a user runs it."""

from __future__ import annotations

import collections
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CALLEAGUE = Path(sys.executable).with_name("calleague")


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLEAGUE_")}
    return subprocess.run(
        [str(CALLEAGUE), *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def test_the_entry_point_is_installed() -> None:
    assert CALLEAGUE.exists()


def test_export_jsonl_on_the_sandbox(tmp_path: Path) -> None:
    proc = run(
        "--sandbox", "--sandbox-calls", "700", "calls", "export", "-o", "c.jsonl", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    ids = [json.loads(line)["callId"] for line in lines]
    assert len(ids) == len(set(ids)) == 700
    assert ids[0] == "cl_8f2a"
    assert "wrote 700 calls" in proc.stderr
    assert "700/700" in proc.stderr  # the progress bar's count/total


def test_export_csv_with_filters_and_json_summary(tmp_path: Path) -> None:
    proc = run(
        "--sandbox", "--json", "calls", "export", "--status", "completed", "--format", "csv",
        "-o", "done.csv", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    rows = list(csv.DictReader((tmp_path / "done.csv").open(encoding="utf-8")))
    assert summary["written"] == len(rows) > 0
    assert summary["resumedFrom"] == 0  # camelCase like the API's records
    assert {r["status"] for r in rows} == {"completed"}


def test_export_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "calls.jsonl").write_text("precious\n")
    proc = run("--sandbox", "calls", "export", cwd=tmp_path)
    assert proc.returncode == 2
    assert "exists" in proc.stderr
    assert (tmp_path / "calls.jsonl").read_text() == "precious\n"


def test_ctrl_c_leaves_a_resumable_export(tmp_path: Path) -> None:
    args = ["--sandbox", "--sandbox-calls", "25000", "calls", "export", "-o", "big.jsonl"]
    proc = subprocess.Popen(
        [str(CALLEAGUE), *args], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    part = tmp_path / "big.jsonl.part"
    deadline = time.monotonic() + 60
    while (not part.exists() or part.stat().st_size < 100_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert not (tmp_path / "big.jsonl").exists()
    resumed = run(*args, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    ids = [json.loads(line)["callId"] for line in (tmp_path / "big.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 25000


def test_calls_start_get_and_agents_list(tmp_path: Path) -> None:
    start = run(
        "--sandbox", "--json", "calls", "start", "--agent-id", "ag_123", "--to", "+903121234567",
        "--metadata", '{"orderId": "A-1042"}', cwd=tmp_path,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    call = json.loads(start.stdout)
    assert call["status"] == "ringing" and call["metadata"] == {"orderId": "A-1042"}
    got = run("--sandbox", "calls", "get", "cl_8f2a", cwd=tmp_path)
    assert got.returncode == 0 and "84" in got.stdout and "completed" in got.stdout
    agents = run("--sandbox", "--json", "agents", "list", cwd=tmp_path)
    listed = json.loads(agents.stdout)
    assert listed[0]["agentId"] == "ag_123"
    assert all("agent_id" not in a and "createdAt" in a for a in listed)  # one convention


def test_calls_get_json_is_the_record_the_export_writes(tmp_path: Path) -> None:
    export = run(
        "--sandbox", "--sandbox-calls", "5", "calls", "export", "-o", "c.jsonl", cwd=tmp_path
    )
    assert export.returncode == 0, export.stderr
    exported = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])
    got = run("--sandbox", "--sandbox-calls", "5", "--json", "calls", "get", exported["callId"],
              cwd=tmp_path)  # fmt: skip
    assert got.returncode == 0, got.stderr
    shown = json.loads(got.stdout)
    # The same names and values; fields the record left out are shown as null.
    assert {k: v for k, v in shown.items() if v is not None} == {
        k: v for k, v in exported.items() if v is not None
    }
    assert set(exported) <= set(shown)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--sandbox", "calls", "start", "--agent-id", "ag_123", "--to", "0312"], 2, "E.164"),
        (["--sandbox", "calls", "start", "--agent-id", "ag_123", "--to", "+903121234567",
          "--metadata", "{oops"], 2, "not JSON"),
        (["--sandbox", "calls", "start", "--agent-id", "ag_nope", "--to", "+903121234567"], 2,
         "Agent not found"),
        (["--sandbox", "calls", "get", "cl_nope"], 2, "404"),
        (["calls", "get", "cl_8f2a"], 2, "no API key"),
        (["--base-url", "http://api.example.com", "--api-key", "sk_x", "calls", "get", "c"], 2,
         "pass --allow-insecure-http"),
        (["--sandbox", "--rate-limit", "nonsense", "agents", "list"], 2, "KEY=RATE"),
        (["--sandbox", "--rate-limit", "GET /nope=1/second", "agents", "list"], 2, "unknown"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    proc = run(*args, cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == code, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]


def test_a_missing_key_never_shows_a_key(tmp_path: Path) -> None:
    proc = run("--api-key", "sk_live_SECRET", "--base-url", "http://127.0.0.1:9", "calls", "get",
               "c", cwd=tmp_path)  # fmt: skip
    no_traceback(proc)
    assert proc.returncode == 1
    assert "sk_live_SECRET" not in proc.stderr + proc.stdout


def test_dial_a_campaign_from_csv(tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "phone,name,lead_id\n+905551110001,Ayse,L1\n+905551110002,Mehmet,L2\nnot-a-number,Bad,L3\n"
    )
    proc = run("--sandbox", "dial", "leads.csv", "--agent-id", "ag_123", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["row"]: r for r in csv.DictReader((tmp_path / "leads.results.csv").open())}
    assert rows["1"]["outcome"] == rows["2"]["outcome"] == "placed"
    assert rows["1"]["call_id"].startswith("cl_")
    assert rows["3"]["outcome"] == "failed" and "E.164" in rows["3"]["error"]
    assert "2 placed, 1 failed" in proc.stderr


def test_dial_skips_duplicate_numbers_with_a_warning(tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text("phone,name\n+905551110001,Ayse\n+90 555 111 0001,Ayse again\n")
    proc = run("--sandbox", "dial", "leads.csv", "--agent-id", "ag_123", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["row"]: r for r in csv.DictReader((tmp_path / "leads.results.csv").open())}
    assert sorted(rows) == ["1", "2"]
    assert rows["1"]["outcome"] == "placed" and rows["1"]["call_id"].startswith("cl_")
    assert rows["2"]["outcome"] == "duplicate" and rows["2"]["error"] == "duplicate of row 1"
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "row 2" in warnings[0] and "row 1" in warnings[0]
    assert "1 placed, 0 failed" in proc.stderr and "1 duplicate" in proc.stderr


def test_dial_refuses_unknown_agents_and_csvs_without_numbers(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("phone\n+905551110001\n")
    (tmp_path / "names.csv").write_text("name\nAyse\n")
    unknown = run("--sandbox", "dial", "leads.csv", "--agent-id", "ag_nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown agent" in unknown.stderr
    no_column = run("--sandbox", "dial", "names.csv", "--agent-id", "ag_123", cwd=tmp_path)
    assert no_column.returncode == 2 and "column" in no_column.stderr
    missing = run("--sandbox", "dial", "nope.csv", "--agent-id", "ag_123", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    no_traceback(missing)


def test_sandbox_command_serves_other_tools(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(CALLEAGUE), "sandbox", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = banner.split()[3]
        key = banner.split()[-1]
        got = run("--base-url", url, "--api-key", key, "--json", "calls", "get", "cl_8f2a",
                  cwd=tmp_path)  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["durationSec"] == 84
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_dial_never_overwrites_a_results_file(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("phone\n+905551110001\n")
    (tmp_path / "leads.results.csv").write_text("row,to,outcome\n1,+905551110001,placed\n")
    proc = run("--sandbox", "dial", "leads.csv", "--agent-id", "ag_123", cwd=tmp_path)
    assert proc.returncode == 2 and "exists" in proc.stderr
    assert "placed" in (tmp_path / "leads.results.csv").read_text()


@pytest.mark.parametrize(
    ("args", "content"),
    [
        (["--sandbox", "--sandbox-calls", "-1", "agents", "list"], None),
        (["--sandbox", "dial", "leads.csv", "--agent-id", "ag_123"], "phone\n+9055\xe71110001\n"),
    ],
)
def test_more_bad_input_without_tracebacks(
    tmp_path: Path, args: list[str], content: str | None
) -> None:
    if content is not None:
        (tmp_path / "leads.csv").write_bytes(content.encode("latin-1"))
    proc = run(*args, cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")


def test_ctrl_c_during_dial_accounts_for_every_call_in_flight(tmp_path: Path) -> None:
    numbers = [f"+9055511{i:05d}" for i in range(300)]
    (tmp_path / "leads.csv").write_text("phone\n" + "\n".join(numbers) + "\n")
    proc = subprocess.Popen(
        [str(CALLEAGUE), "--sandbox", "dial", "leads.csv", "--agent-id", "ag_123",
         "--concurrency", "8"],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    results = tmp_path / "leads.results.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_text().count(",placed,") >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    no_traceback(subprocess.CompletedProcess([], 130, "", err))
    rows = list(csv.DictReader(results.open()))
    # Every input row, once, in order; what was not sent says so, and only calls that were
    # on the wire (at most --concurrency of them) may be unknown.
    assert [int(r["row"]) for r in rows] == list(range(1, 301))
    assert [r["to"] for r in rows] == numbers
    outcomes = collections.Counter(r["outcome"] for r in rows)
    assert set(outcomes) <= {"placed", "unknown", "not_sent"}, outcomes
    assert outcomes["placed"] >= 10 and outcomes["not_sent"] > 0, outcomes
    assert outcomes["unknown"] <= 8, outcomes
    assert all("interrupted" in r["error"] for r in rows if r["outcome"] != "placed")
    assert "--resume" in err


def test_an_unknown_agent_exits_2_in_every_command(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("phone\n+905551110001\n")
    start = run("--sandbox", "calls", "start", "--agent-id", "ag_nope", "--to", "+903121234567",
                cwd=tmp_path)  # fmt: skip
    dial = run("--sandbox", "dial", "leads.csv", "--agent-id", "ag_nope", cwd=tmp_path)
    assert start.returncode == dial.returncode == 2, start.stderr + dial.stderr
    assert not (tmp_path / "leads.results.csv").exists()


def test_an_api_or_network_failure_exits_1(tmp_path: Path) -> None:
    # Port 9 on this machine: nothing listens, the connection is refused (no traffic leaves).
    proc = run("--base-url", "http://127.0.0.1:9", "--api-key", "sk_x", "calls", "get", "c",
               cwd=tmp_path)  # fmt: skip
    no_traceback(proc)
    assert proc.returncode == 1, proc.stderr


def test_an_unknown_status_is_a_warning_not_an_error(tmp_path: Path) -> None:
    proc = run("--sandbox", "--sandbox-calls", "20", "calls", "export", "--status", "bogus",
               "-o", "c.jsonl", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "--status 'bogus' is not a known status" in warnings[0]
    assert "completed" in warnings[0]  # it names the known ones
    assert (tmp_path / "c.jsonl").read_text() == ""
    known = run("--sandbox", "--sandbox-calls", "20", "calls", "export", "--status", "completed",
                "-o", "d.jsonl", cwd=tmp_path)  # fmt: skip
    assert known.returncode == 0 and "warning:" not in known.stderr


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("missing/calls.jsonl", "does not exist"),
        ("adir", "is a directory"),
    ],
)
def test_a_bad_output_path_exits_2_before_any_work(
    tmp_path: Path, output: str, message: str
) -> None:
    (tmp_path / "adir").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = run("--sandbox", "calls", "export", "-o", output, cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")
    assert message in proc.stderr
    assert "exporting" not in proc.stderr  # refused before the progress bar (and any request)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no partial files
    (tmp_path / "leads.csv").write_text("phone\n+905551110001\n")
    # dial checks its -o before asking for the agent: an unknown agent is not what it reports
    dial = run("--sandbox", "dial", "leads.csv", "--agent-id", "ag_nope", "-o", output,
               cwd=tmp_path)  # fmt: skip
    assert dial.returncode == 2 and message in dial.stderr and "agent" not in dial.stderr


def test_allow_insecure_http_lifts_the_plain_http_refusal(tmp_path: Path) -> None:
    # No traffic: the number is refused locally, after the session accepted the URL.
    args = ["--base-url", "http://api.example.invalid", "--api-key", "sk_x",
            "calls", "start", "--agent-id", "ag_123", "--to", "0312"]  # fmt: skip
    refused = run(*args, cwd=tmp_path)
    assert refused.returncode == 2 and "--allow-insecure-http" in refused.stderr
    assert "allow_insecure_http=True" not in refused.stderr
    allowed = run("--allow-insecure-http", *args, cwd=tmp_path)
    no_traceback(allowed)
    assert allowed.returncode == 2, allowed.stderr
    assert "clear text" not in allowed.stderr and "E.164" in allowed.stderr


def test_allow_insecure_http_works_on_loopback(tmp_path: Path) -> None:
    proc = run("--allow-insecure-http", "--base-url", "http://127.0.0.1:9", "--api-key", "sk_x",
               "calls", "get", "c", cwd=tmp_path)  # fmt: skip
    no_traceback(proc)
    assert proc.returncode == 1, proc.stderr  # connection refused: a network failure


def test_sandbox_latency(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run("--sandbox", "--sandbox-latency", "0.6", "--json", "calls", "get", "cl_8f2a",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started >= 0.6
    assert json.loads(proc.stdout)["callId"] == "cl_8f2a"


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_sandbox_latency_must_be_seconds(tmp_path: Path, value: str) -> None:
    proc = run("--sandbox", f"--sandbox-latency={value}", "agents", "list", cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --sandbox-latency")


def test_sandbox_help_names_calleague_sandbox(tmp_path: Path) -> None:
    proc = run("sandbox", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: calleague sandbox ")
    assert "python -m" not in proc.stdout
    bad = run("sandbox", "--port", "x", cwd=tmp_path)
    assert bad.returncode == 2 and "usage: calleague sandbox" in bad.stderr


def test_ledger_lists_what_a_crashed_dialer_left_for_review(tmp_path: Path, redis_url: str) -> None:
    import asyncio

    import calleague_async as ca

    async def crash() -> None:
        ledger = ca.RedisLedger(redis_url, heartbeat_ttl=0.2)
        await ledger.heartbeat("spring", "gone:1:abcd")
        for n in ("1", "2", "3"):
            await ledger.claim("spring", f"+90555123000{n}", owner="gone:1:abcd",
                               idempotency_key=f"key-{n}")  # fmt: skip
        await ledger.record("spring", "+905551230002", "placed", owner="gone:1:abcd",
                            call_id="cl_2")  # fmt: skip
        await ledger.record("spring", "+905551230003", "unknown", owner="gone:1:abcd",
                            reason="500 after sending")  # fmt: skip
        await ledger.close()
        await asyncio.sleep(0.4)  # the heartbeat expires: the dialer is gone

    asyncio.run(crash())
    proc = run("--json", "ledger", "--ledger", redis_url, "--campaign", "spring", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["counts"] == {"placed": 1, "review": 2}
    review = {e["number"]: e for e in shown["review"]}
    assert sorted(review) == ["+905551230001", "+905551230003"]
    assert review["+905551230001"]["state"] == "claimed"
    assert review["+905551230001"]["idempotencyKey"] == "key-1"
    assert review["+905551230003"]["reason"] == "500 after sending"
    table = run("ledger", "--ledger", redis_url, "--campaign", "spring", cwd=tmp_path)
    assert "1 placed, 2 review" in table.stderr and "key-1" in table.stdout
    bad = run("ledger", "--ledger", "http://user:hunter2@x", "--campaign", "c", cwd=tmp_path)
    assert bad.returncode == 2 and "hunter2" not in bad.stderr + bad.stdout
    no_traceback(bad)
