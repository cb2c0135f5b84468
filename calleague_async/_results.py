"""The results file of ``calleague dial``: one line per lead, written as outcomes arrive.

A write-ahead log first, a table at the end. Each lead gets an ``in_flight`` line when the batch
takes it in and a second line with its outcome; when the run stops (done, failed, Ctrl-C) the
file is rewritten as one line per input row, in row order. A run killed outright leaves the log:
the last line of each row wins, and a lead still ``in_flight`` is read as ``unknown`` (it may have
been placed), so ``--resume`` never dials it again on its own.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Final, get_args

import attrs

from calleague_async.resources.calls import Outcome

COLUMNS: Final = ("row", "to", "outcome", "call_id", "idempotency_key", "error")
STATUSES: Final[tuple[str, ...]] = get_args(Outcome)
"""A row's outcomes: ``start_many``'s statuses, in that order."""
IN_FLIGHT: Final = "in_flight"
_STOPPED = "the dialer stopped before recording an outcome: it may have been placed"


class ResultsFileError(ValueError):
    """A results file that cannot be resumed: not ours, damaged, or of other leads."""


@attrs.define
class Row:
    """One lead's line of a results file."""

    row: int
    to: str
    outcome: str
    call_id: str = ""
    idempotency_key: str = ""
    error: str = ""

    def cells(self) -> list[str]:
        """The line's cells, in :data:`COLUMNS` order."""
        return [
            str(self.row),
            self.to,
            self.outcome,
            self.call_id,
            self.idempotency_key,
            self.error,
        ]


def read(path: Path) -> dict[int, Row]:
    """Each row's last line in ``path``; a row left ``in_flight`` reads as ``unknown``."""
    rows: dict[int, Row] = {}
    with open(path, encoding="utf-8", newline="") as fp:
        reader = csv.DictReader(fp)
        missing = {"row", "to", "outcome"} - set(reader.fieldnames or ())
        if missing:
            raise ResultsFileError(
                f"{path} is not a results file of calleague dial (no {', '.join(sorted(missing))} "
                "column)"
            )
        for line, record in enumerate(reader, start=2):
            try:
                number = int(record["row"] or "")
            except ValueError:
                raise ResultsFileError(f"{path}, line {line}: row {record['row']!r}") from None
            outcome = record["outcome"] or ""
            if outcome not in STATUSES and outcome != IN_FLIGHT:
                raise ResultsFileError(f"{path}, line {line}: unknown outcome {outcome!r}")
            rows[number] = Row(
                row=number,
                to=record.get("to") or "",
                outcome=outcome,
                call_id=record.get("call_id") or "",
                idempotency_key=record.get("idempotency_key") or "",
                error=record.get("error") or "",
            )
    for entry in rows.values():
        if entry.outcome == IN_FLIGHT:
            entry.outcome, entry.error = "unknown", _STOPPED
    return rows


class Log:
    """The results file while a run writes it: every line flushed as it is written."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._fp: IO[str] = open(path, "a" if append else "x", encoding="utf-8", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._fp, lineterminator="\n")
        if not append or self._fp.tell() == 0:
            self._writer.writerow(COLUMNS)
            self._fp.flush()

    def write(self, row: Row) -> None:
        """Append ``row`` and put it on disk: nothing is lost if the process dies next."""
        self._writer.writerow(row.cells())
        self._fp.flush()

    def close(self) -> None:
        """Close the file (the log stays as written; :func:`compact` makes it a table)."""
        self._fp.close()


def compact(path: Path, rows: Iterable[Row]) -> None:
    """Replace ``path`` with one line per row, in row order, atomically."""
    ordered = sorted(rows, key=lambda r: r.row)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fp:
            writer = csv.writer(fp, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(r.cells() for r in ordered)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def counts(rows: Iterable[Row]) -> dict[str, int]:
    """How many rows have each outcome (every outcome named, zeros included)."""
    tally = dict.fromkeys(STATUSES, 0)
    for row in rows:
        tally[row.outcome] = tally.get(row.outcome, 0) + 1
    return tally
