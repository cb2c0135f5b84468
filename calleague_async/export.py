"""Bulk export of calls: streaming JSONL/CSV writers and a resumable, atomic file export.

>>> result = await export_calls(s, "calls.jsonl", concurrency=8)
>>> result.written, result.path
(1042, PosixPath('calls.jsonl'))
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import attrs

from calleague_async._client import AsyncSession
from calleague_async._pagination import ListCursor
from calleague_async.errors import ValidationError

__all__ = [
    "CALL_COLUMNS",
    "CsvWriter",
    "ExportResult",
    "JsonlWriter",
    "export_calls",
    "partial_paths",
]

Format = Literal["jsonl", "csv"]

CALL_COLUMNS: tuple[str, ...] = (
    "callId",
    "status",
    "direction",
    "agentId",
    "to",
    "durationSec",
    "endedReason",
    "language",
    "recordingReady",
    "transcriptReady",
    "createdAt",
    "endedAt",
    "metadata",
)
"""The CSV header: the documented call fields under their wire names, then ``extra``."""


class JsonlWriter:
    """Writes records one JSON object per line, exactly as the API sent them (lossless).

    >>> with open("calls.jsonl", "w", encoding="utf-8") as fp:
    ...     writer = JsonlWriter(fp)
    ...     async for record in s.calls.list(page_size=100).raw():
    ...         writer.write(record)
    """

    def __init__(self, fp: IO[str]) -> None:
        self._fp = fp

    def write_header(self) -> None:
        """JSONL has no header; here so both writers can be driven alike."""

    def write(self, record: Mapping[str, Any]) -> None:
        """Write one record as one line (UTF-8; escaped where a string cannot be UTF-8)."""
        try:
            self._fp.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        except UnicodeEncodeError:
            # A lone surrogate cannot be UTF-8; as a \u escape the JSON is still lossless.
            self._fp.write(json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


class CsvWriter:
    """Writes call records as CSV with a stable header (``CALL_COLUMNS`` plus ``extra``).

    Nested values (``metadata``) are JSON; fields outside the documented ones go, as one JSON
    object, into the ``extra`` column, so nothing the API sent is dropped.
    """

    def __init__(self, fp: IO[str], columns: Sequence[str] = CALL_COLUMNS) -> None:
        self._columns = tuple(columns)
        self._known = frozenset(self._columns)
        self._writer = csv.writer(fp, lineterminator="\n")

    def write_header(self) -> None:
        """Write the header row (once, at the top of a new file)."""
        self._writer.writerow((*self._columns, "extra"))

    def write(self, record: Mapping[str, Any]) -> None:
        """Write one record as one row."""
        extra = {k: v for k, v in record.items() if k not in self._known}
        row = [_cell(record.get(c)) for c in self._columns]
        row.append(_cell(extra) if extra else "")
        self._writer.writerow(row)


def _writer(fmt: Format, fp: IO[str]) -> JsonlWriter | CsvWriter:
    return JsonlWriter(fp) if fmt == "jsonl" else CsvWriter(fp)


@attrs.frozen
class ExportResult:
    """What :func:`export_calls` did.

    ``written`` records in all (``resumed_from`` of them in an earlier run), ``total`` as the
    API reported it, and the finished file's ``path``.
    """

    path: Path
    written: int
    total: int | None
    resumed_from: int
    seconds: float


def partial_paths(path: Path) -> tuple[Path, Path]:
    """The in-progress file and its checkpoint for an export to ``path``."""
    return path.with_name(path.name + ".part"), path.with_name(path.name + ".checkpoint.json")


def _save_checkpoint(
    state: Path, fp: IO[str], cursor: ListCursor, meta: dict[str, Any], written: int
) -> None:
    # The checkpoint may only name bytes that are on disk: flush and fsync them first, then
    # replace the checkpoint atomically.
    fp.flush()
    os.fsync(fp.fileno())
    data = {**meta, "bytes": fp.tell(), "written": written, "cursor": json.loads(cursor.to_json())}
    tmp = state.with_name(state.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(json.dumps(data))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, state)


def _load_checkpoint(state: Path, part: Path, meta: dict[str, Any]) -> tuple[ListCursor, int, int]:
    """The saved cursor, byte offset and count, checked against the ``.part`` file."""
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
        cursor = ListCursor.from_json(json.dumps(saved["cursor"]))
        offset, written = int(saved["bytes"]), int(saved["written"])
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ValidationError(
            "resume", f"the checkpoint {state} is unreadable ({exc}); export again without resume"
        ) from None
    if saved.get("format") != meta["format"] or saved.get("filters") != meta["filters"]:
        raise ValidationError(
            "resume",
            f"the unfinished export was {saved.get('format')} with filters "
            f"{saved.get('filters')}; run it with the same options, or without resume",
        )
    if offset > part.stat().st_size:
        raise ValidationError(
            "resume", f"{part} is shorter than its checkpoint says; export again without resume"
        )
    return cursor, offset, written


async def export_calls(
    session: AsyncSession,
    path: str | os.PathLike[str],
    *,
    fmt: Format = "jsonl",
    status: str | None = None,
    agent_id: str | None = None,
    page_size: int = 100,
    concurrency: int = 8,
    resume: bool = False,
    checkpoint_every: float = 0.5,
    progress: Callable[[int, int | None], None] | None = None,
) -> ExportResult:
    """Export every call (matching the filters) to ``path`` as JSONL or CSV, atomically.

    The file is written as ``path.part`` with a checkpoint beside it and renamed to ``path``
    only when complete, so a partial export never looks finished. If the export stops (an
    error, Ctrl-C), ``resume=True`` continues from the checkpoint without repeating or losing a
    record. A server that does not page as it says (ignores ``page``, repeats its pages) fails
    the export with :class:`~calleague_async.errors.InvalidResponseError`, the same way: never
    a short file renamed as complete. ``progress(written, total)`` is called as records are
    written.
    """
    if fmt not in ("jsonl", "csv"):
        raise ValidationError("format", f"must be 'jsonl' or 'csv' (got {fmt!r})")
    target = Path(path)
    part, state = partial_paths(target)
    meta: dict[str, Any] = {
        "version": 1,
        "format": fmt,
        "filters": {"status": status, "agent_id": agent_id},
    }
    cursor: ListCursor | None = None
    offset = done_before = 0
    if resume and state.exists() and part.exists():
        cursor, offset, done_before = _load_checkpoint(state, part, meta)
    elif resume and target.exists():  # noqa: ASYNC240 - one stat, not worth a thread
        raise ValidationError("resume", f"{target} is already complete: nothing to resume")
    else:
        # A fresh export: a checkpoint left by an earlier run describes another file.
        state.unlink(missing_ok=True)
    pager = session.calls.list(
        status=status,
        agent_id=agent_id,
        page_size=page_size,
        concurrency=concurrency,
        cursor=cursor,
    )
    started = time.monotonic()
    resumed_from = written = done_before
    total: int | None = cursor.snapshot_total if cursor is not None else None
    mode = "r+" if cursor is not None else "w"
    # Records go to a buffered local file (memory copies); the fsyncs of the checkpoints,
    # which can block, run in a thread.
    # CSV cells are text: a string that cannot be UTF-8 is written escaped, not refused.
    errors = "backslashreplace" if fmt == "csv" else "strict"
    with open(part, mode, encoding="utf-8", errors=errors, newline="") as fp:  # noqa: ASYNC230
        if cursor is not None:
            fp.seek(offset)
            fp.truncate()  # drop anything written after the last checkpoint
        writer = _writer(fmt, fp)
        if cursor is None:
            writer.write_header()
            _save_checkpoint(state, fp, pager.cursor, meta, written)
        last_save = time.monotonic()
        write_failed = False
        try:
            async with contextlib.aclosing(pager.raw()) as records:
                async for record in records:
                    try:
                        writer.write(record)
                    except BaseException:
                        # The file may hold part of this line: the last checkpoint, which
                        # names neither, stays the place to resume from.
                        write_failed = True
                        raise
                    written += 1
                    if total is None:
                        total = pager.cursor.snapshot_total
                    if progress is not None:
                        progress(written, total)
                    if time.monotonic() - last_save >= checkpoint_every:
                        await asyncio.to_thread(
                            _save_checkpoint, state, fp, pager.cursor, meta, written
                        )
                        last_save = time.monotonic()
        except BaseException:
            # Whatever stopped us (an error, Ctrl-C, cancellation) between two records:
            # everything handed out is written, so checkpoint here.
            if not write_failed:
                _save_checkpoint(state, fp, pager.cursor, meta, written)
            raise
        fp.flush()
        os.fsync(fp.fileno())
    os.replace(part, target)
    state.unlink(missing_ok=True)
    return ExportResult(
        path=target,
        written=written,
        total=total,
        resumed_from=resumed_from,
        seconds=time.monotonic() - started,
    )
