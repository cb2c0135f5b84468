"""Writers with plain data, and the atomic, resumable export against the sandbox."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

import calleague_async as ca
from calleague_async.export import (
    CALL_COLUMNS,
    CsvWriter,
    JsonlWriter,
    export_calls,
    partial_paths,
)
from calleague_async.testing import Fault, SandboxServer

RECORD = {
    "callId": "cl_1",
    "status": "completed",
    "durationSec": 84.5,
    "recordingReady": True,
    "metadata": {"orderId": "A-1042", "name": "Ayşe", "n": [1, 2]},
    "sipTrunk": "t-9",
    "big": 12345678901234567890,
}


def test_jsonl_is_the_record_exactly_as_sent() -> None:
    out = io.StringIO()
    JsonlWriter(out).write(RECORD)
    line = out.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == RECORD
    assert "Ayşe" in line  # not escaped: readable and lossless


def test_csv_has_a_stable_header_json_cells_and_an_extra_column() -> None:
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.write_header()
    writer.write(RECORD)
    writer.write({"callId": "cl_2"})
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == [*CALL_COLUMNS, "extra"]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["callId"] == "cl_1"
    assert first["recordingReady"] == "true"
    assert first["durationSec"] == "84.5"
    assert json.loads(first["metadata"]) == RECORD["metadata"]
    assert json.loads(first["extra"]) == {"sipTrunk": "t-9", "big": 12345678901234567890}
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["status"] == "" and second["extra"] == ""


async def _session(sb: SandboxServer) -> ca.AsyncSession:
    return ca.AsyncSession(sb.api_key, base_url=sb.base_url, rate_limits=None, max_retries=4)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["callId"] for line in path.read_text().splitlines()]


async def test_export_writes_every_call_once_and_atomically(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    async with SandboxServer(calls=2345) as sb, await _session(sb) as s:
        seen: list[int] = []
        result = await export_calls(s, target, concurrency=8, progress=lambda d, t: seen.append(d))
        expected = list(sb.calls.keys())
    assert _ids(target) == expected
    assert result.written == 2345 and result.total == 2345
    assert seen[-1] == 2345
    part, checkpoint = partial_paths(target)
    assert not part.exists() and not checkpoint.exists()


async def test_export_is_exact_under_head_inserts_faults_and_truncated_pages(
    tmp_path: Path,
) -> None:
    target = tmp_path / "calls.jsonl"
    async with SandboxServer(calls=3000) as sb, await _session(sb) as s:
        s._sleep = _no_sleep
        snapshot = list(sb.calls.keys())
        list_path = sb.path("calls.list")

        def hostile(done: int, total: int | None) -> None:
            if done % 250 == 0:
                sb.add_calls(17)  # new calls arrive newest-first while we read
                sb.fail_next(1, Fault.TRUNCATED, path=list_path)
                sb.fail_next(1, Fault.SERVER_ERROR, path=list_path)
                sb.fail_next(1, Fault.DROP, path=list_path)

        await export_calls(s, target, concurrency=8, progress=hostile)
    assert _ids(target) == snapshot  # each call that existed once, in order; no newcomers


async def _no_sleep(_: float) -> None:
    return None


async def test_an_interrupted_export_resumes_without_loss_or_repeats(tmp_path: Path) -> None:
    for fmt in ("jsonl", "csv"):
        target = tmp_path / f"calls.{fmt}"
        async with SandboxServer(calls=1500) as sb, await _session(sb) as s:
            snapshot = list(sb.calls.keys())

            def stop_midway(done: int, total: int | None) -> None:
                if done == 700:
                    raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                await export_calls(s, target, fmt=fmt, concurrency=4, progress=stop_midway)
            part, checkpoint = partial_paths(target)
            assert part.exists() and checkpoint.exists() and not target.exists()
            saved = json.loads(checkpoint.read_text())
            assert saved["written"] == 700
            sb.add_calls(40)  # more calls arrive while the export is stopped
            result = await export_calls(s, target, fmt=fmt, concurrency=4, resume=True)
        assert result.resumed_from == 700 and result.written == 1500
        if fmt == "jsonl":
            assert _ids(target) == snapshot
        else:
            rows = list(csv.DictReader(target.open(encoding="utf-8")))
            assert [r["callId"] for r in rows] == snapshot


async def test_cancellation_leaves_a_resumable_state(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    async with SandboxServer(calls=4000, latency=0.002) as sb, await _session(sb) as s:
        snapshot = list(sb.calls.keys())
        reached = asyncio.Event()

        def note(done: int, total: int | None) -> None:
            if done >= 500:
                reached.set()

        task = asyncio.ensure_future(export_calls(s, target, concurrency=2, progress=note))
        await reached.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert partial_paths(target)[1].exists() and not target.exists()
        await export_calls(s, target, resume=True)
    assert _ids(target) == snapshot


async def test_resume_refuses_other_options_and_finished_files(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    async with SandboxServer(calls=300) as sb, await _session(sb) as s:

        def stop(done: int, total: int | None) -> None:
            if done == 100:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            await export_calls(s, target, progress=stop)
        with pytest.raises(ca.ValidationError, match="same options"):
            await export_calls(s, target, status="failed", resume=True)
        await export_calls(s, target, resume=True)
        with pytest.raises(ca.ValidationError, match="already complete"):
            await export_calls(s, target, resume=True)
        with pytest.raises(ca.ValidationError, match="format"):
            await export_calls(s, target, fmt="xml")  # type: ignore[arg-type]


def test_a_lone_surrogate_is_written_escaped_and_losslessly() -> None:
    out = io.StringIO()
    record = {"callId": "c", "metadata": {"name": "broken \ud83d"}}
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        JsonlWriter(devnull).write(record)  # a real UTF-8 file: must not raise
    JsonlWriter(out).write(record)
    assert json.loads(out.getvalue()) == record


async def test_a_failed_write_loses_no_record_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "calls.jsonl"
    real_write = JsonlWriter.write
    count = [0]

    def disk_full_at_800(self: JsonlWriter, record: Any) -> None:
        count[0] += 1
        if count[0] == 800:
            self._fp.write('{"callId": "half a li')  # a partial line, then the disk is full
            raise OSError(28, "No space left on device")
        real_write(self, record)

    async with SandboxServer(calls=1200) as sb, await _session(sb) as s:
        snapshot = list(sb.calls.keys())
        monkeypatch.setattr(JsonlWriter, "write", disk_full_at_800)
        with pytest.raises(OSError, match="No space"):
            await export_calls(s, target, concurrency=4, checkpoint_every=0.0)
        assert not [t for t in asyncio.all_tasks() if "fetch" in repr(t.get_coro())]
        monkeypatch.setattr(JsonlWriter, "write", real_write)
        await export_calls(s, target, concurrency=4, resume=True)
    assert _ids(target) == snapshot


async def test_a_stale_checkpoint_never_applies_to_a_fresh_export(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    checkpoint = partial_paths(target)[1]
    async with SandboxServer(calls=400) as sb, await _session(sb) as s:

        def stop(done: int, total: int | None) -> None:
            if done == 300:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            await export_calls(s, target, progress=stop)
        stale = checkpoint.read_text()

        def die_early(done: int, total: int | None) -> None:
            raise KeyboardInterrupt  # a fresh run that stops at its first record

        with pytest.raises(KeyboardInterrupt):
            await export_calls(s, target, progress=die_early)
        assert checkpoint.read_text() != stale
        await export_calls(s, target, resume=True)
        assert _ids(target) == list(sb.calls.keys())


async def test_an_unreadable_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    part, checkpoint = partial_paths(target)
    part.write_text("")
    checkpoint.write_text("{not json")
    async with SandboxServer(calls=10) as sb, await _session(sb) as s:
        with pytest.raises(ca.ValidationError, match="unreadable"):
            await export_calls(s, target, resume=True)
        cursor = json.loads(ca.ListCursor(position=5, snapshot_total=10).to_json())
        filters = {"status": None, "agent_id": None}
        checkpoint.write_text(
            json.dumps(
                {"format": "jsonl", "filters": filters, "bytes": 10_000, "written": 5,
                 "cursor": cursor}
            )
        )  # fmt: skip
        with pytest.raises(ca.ValidationError, match="shorter"):
            await export_calls(s, target, resume=True)
