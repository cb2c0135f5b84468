"""The instructions-per-request benchmark's bookkeeping: callgrind totals, arithmetic, arguments.

No valgrind here (CI machines may lack it): the callgrind files are written by hand in the
format callgrind 3.19 writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks import instructions as ins

# A callgrind.out as callgrind 3.19 writes it (cost lines shortened).
REAL = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 5489
cmd:  /work/main/.venv/bin/python -m benchmarks.instructions --child sdk --n 100
part: 1


desc: I1 cache:
desc: D1 cache:
desc: LL cache:

desc: Timerange: Basic block 0 - 492888770
desc: Trigger: Program termination

positions: line
events: Ir
summary: 2181423094


ob=(1) /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
fl=(28) ./elf/./elf/dl-minimal-malloc.c
fn=(158) __minimal_free
97 19
-2 1

totals: 2181423094
"""


def _write(tmp_path: Path, text: str, name: str = "callgrind.out") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_the_summary_of_a_real_file(tmp_path: Path) -> None:
    assert ins.read_total_ir(_write(tmp_path, REAL)) == 2_181_423_094


def test_picks_ir_among_several_events(tmp_path: Path) -> None:
    text = "events: Dr Ir Dw\nsummary: 5 12345 7\n"
    assert ins.read_total_ir(_write(tmp_path, text)) == 12345


def test_summary_wins_over_the_totals_of_parts(tmp_path: Path) -> None:
    text = "events: Ir\nsummary: 100\npart: 1\ntotals: 60\npart: 2\ntotals: 40\n"
    assert ins.read_total_ir(_write(tmp_path, text)) == 100


def test_without_a_summary_the_parts_are_summed(tmp_path: Path) -> None:
    text = "events: Ir Dr\npart: 1\ntotals: 60 1\npart: 2\ntotals: 40 2\n"
    assert ins.read_total_ir(_write(tmp_path, text)) == 100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("summary: 10\n", "no 'events:' line"),
        ("events: Dr Dw\nsummary: 1 2\n", "do not include Ir"),
        ("events: Ir\nfn=(1) main\n1 5\n", "cut short"),
        ("events: Dr Ir\nsummary: 5\n", "no Ir value"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ins.read_total_ir(_write(tmp_path, text))


def test_the_ir_line_must_start_the_line(tmp_path: Path) -> None:
    # A function named "summary:" inside a cost line must not be taken for the summary.
    text = "events: Ir\nfn=(3) summary: 999\nsummary: 42\n"
    assert ins.read_total_ir(_write(tmp_path, text)) == 42


def test_per_request_is_the_difference_over_the_extra_requests() -> None:
    # Start-up and warm-up (here 2e9) cancel; 4000 extra requests cost 4000 * 399_000.
    ir1 = 2_000_000_000 + 2000 * 399_000
    ir2 = 2_000_000_000 + 6000 * 399_000
    assert ins.per_request(ir1, ir2, 2000, 6000) == 399_000
    assert ins.per_request(100, 350, 10, 20) == 25.0


@pytest.mark.parametrize(("n1", "n2"), [(6000, 2000), (2000, 2000)])
def test_per_request_needs_n2_above_n1(n1: int, n2: int) -> None:
    with pytest.raises(ValueError, match="must be greater"):
        ins.per_request(1, 2, n1, n2)


def test_per_request_refuses_a_longer_run_that_cost_less() -> None:
    with pytest.raises(ValueError, match="not above"):
        ins.per_request(500, 400, 1, 2)


def test_spread() -> None:
    assert ins.spread([100.0]) == 0.0
    assert ins.spread([99.0, 101.0]) == pytest.approx(0.02)
    with pytest.raises(ValueError):
        ins.spread([])


def test_summarize_ratios_and_repeats() -> None:
    irs = {
        "plain-json": [(1000 + 10 * 400, 1000 + 30 * 400)],
        "sdk": [(1000 + 10 * 500, 1000 + 30 * 500), (1000 + 10 * 505, 1000 + 30 * 505)],
    }
    rps = {"plain-json": {"req_per_s": 8000.0}, "sdk": {"req_per_s": 7000.0}}
    rows = {r["client"]: r for r in ins.summarize(irs, 10, 30, rps)}
    assert rows["plain-json"]["instr_per_req"] == 400
    assert rows["plain-json"]["instr_ratio_to_plain_json"] == 1.0
    assert rows["plain-json"]["repeat_spread"] is None
    assert rows["sdk"]["instr_per_req_runs"] == [500, 505]
    assert rows["sdk"]["instr_per_req"] == 502  # the mean of the repeats, rounded
    assert rows["sdk"]["repeat_spread"] == pytest.approx(5 / 502.5, abs=1e-5)
    assert rows["sdk"]["instr_ratio_to_plain_json"] == pytest.approx(502 / 400, abs=1e-3)
    assert rows["sdk"]["ir_n1"] == [1000 + 10 * 500, 1000 + 10 * 505]
    assert rows["sdk"]["req_per_s"] == 7000.0


def test_summarize_without_the_baseline_has_no_ratio() -> None:
    (row,) = ins.summarize({"sdk": [(10, 30)]}, 1, 3)
    assert row["instr_per_req"] == 10
    assert row["instr_ratio_to_plain_json"] is None
    assert "req_per_s" not in row
    assert "| sdk | 10 | 30 | 10 | - | - | - | - |" in ins.table([row])


def test_defaults() -> None:
    args = ins.parse_args([])
    assert args.clients == ["handwritten-best", "plain-json", "sdk", "sdk-limiter"]
    assert (args.concurrency, args.n1, args.n2, args.warmup) == (64, 2000, 6000, 500)
    assert args.child is None
    assert not args.uvloop


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n1", "6000", "--n2", "2000"], "--n2 (2000) must be greater than --n1 (6000)"),
        (["--n1", "100", "--n2", "100"], "must be greater"),
        (["--n1", "0"], "--n1 must be at least 1"),
        (["--concurrency", "0"], "--concurrency must be at least 1"),
        (["--warmup", "-1"], "--warmup must not be negative"),
        (["--repeat", "0"], "--repeat must be at least 1"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--clients", "sdk,nope"], "unknown client(s) nope"),
        (["--clients", ","], "--clients is empty"),
        (["--clients", "sdk,sdk"], "twice"),
        (["--child", "sdk", "--n", "5"], "--child needs --url"),
        (["--child", "nope", "--url", "http://x", "--n", "5"], "unknown client nope"),
        (["--warm", "3"], "unrecognized arguments: --warm"),  # no abbreviations
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        ins.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_child_arguments_skip_the_parent_checks() -> None:
    args = ins.parse_args(["--child", "plain-json", "--url", "http://127.0.0.1:1", "--n", "0"])
    assert (args.child, args.url, args.n) == ("plain-json", "http://127.0.0.1:1", 0)


def test_the_two_runs_differ_only_in_n() -> None:
    args = ins.parse_args(["--concurrency", "8", "--warmup", "30", "--uvloop"])
    short = ins._child_argv(args, "sdk", "http://127.0.0.1:9", 2000)
    long = ins._child_argv(args, "sdk", "http://127.0.0.1:9", 6000)
    assert [i for i, (a, b) in enumerate(zip(short, long, strict=True)) if a != b] == [
        short.index("--n") + 1
    ]
    # What the child is told parses back to the same client, loop and workload.
    child = ins.parse_args(short[3:])
    assert (child.child, child.n, child.concurrency, child.warmup, child.uvloop) == (
        "sdk", 2000, 8, 30, True
    )  # fmt: skip


def test_each_ir_lands_in_its_clients_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs finish in any order, two at a time; each Ir is paired by client, N and repeat."""
    seen: list[ins.Job] = []

    def fake(args: argparse.Namespace, base: str, job: ins.Job, out: Path) -> int:
        seen.append(job)
        client_no: int = args.clients.index(job.client)
        return 1_000_000 * client_no + 10 * job.n + job.repeat

    monkeypatch.setattr(ins, "_callgrind", fake)
    args = ins.parse_args(["--clients", "sdk,plain-json", "--n1", "3", "--n2", "7"])
    args.repeat = 2
    irs = ins.measure_instructions(args, "http://127.0.0.1:9")
    assert irs == {
        "sdk": [(30, 70), (31, 71)],
        "plain-json": [(1_000_030, 1_000_070), (1_000_031, 1_000_071)],
    }
    assert len(seen) == 8
    assert {j.n for j in seen[:4]} == {7}  # the long runs are started first
