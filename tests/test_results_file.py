"""The results file of ``calleague dial``: a write-ahead log, read back row by row, compacted."""

from __future__ import annotations

from pathlib import Path

import pytest

import calleague_async as ca
from calleague_async import _results as results
from calleague_async.errors import CalleagueError


def test_the_last_line_of_a_row_wins_and_in_flight_reads_as_unknown(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    log = results.Log(path, append=False)
    log.write(results.Row(1, "+905551230001", results.IN_FLIGHT, idempotency_key="k1"))
    log.write(results.Row(2, "+905551230002", results.IN_FLIGHT, idempotency_key="k2"))
    log.write(results.Row(1, "+905551230001", "placed", call_id="cl_1", idempotency_key="k1"))
    log.close()  # a crash here: row 2 never got its outcome
    rows = results.read(path)
    assert rows[1].outcome == "placed" and rows[1].call_id == "cl_1"
    assert rows[2].outcome == "unknown" and "may have been placed" in rows[2].error
    assert rows[2].idempotency_key == "k2"


def test_appending_keeps_one_header_and_compacting_orders_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    first = results.Log(path, append=False)
    first.write(results.Row(3, "+905551230003", "not_sent"))
    first.close()
    again = results.Log(path, append=True)
    again.write(results.Row(3, "+905551230003", "placed", call_id="cl_3"))
    again.write(results.Row(1, "+905551230001", "failed", error='bad, "quoted"'))
    again.close()
    assert path.read_text().count("row,to,outcome") == 1
    rows = results.read(path)
    results.compact(path, rows.values())
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(results.COLUMNS)
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "3"]
    assert results.read(path)[1].error == 'bad, "quoted"'
    assert results.counts(results.read(path).values())["placed"] == 1
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_a_header_only_file_can_be_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    results.Log(path, append=False).close()
    log = results.Log(path, append=True)
    log.write(results.Row(1, "+905551230001", "placed"))
    log.close()
    assert path.read_text().count("row,to") == 1 and results.read(path)[1].outcome == "placed"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,phone\nx,y\n", "not a results file"),
        ("row,to,outcome\nfirst,+905551230001,placed\n", "line 2"),
        ("row,to,outcome\n1,+905551230001,dialed\n", "unknown outcome 'dialed'"),
    ],
)
def test_a_file_that_is_not_ours_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(results.ResultsFileError, match=message):
        results.read(path)


def _failed(error: CalleagueError) -> ca.StartFailed:
    return ca.StartResult(index=0, request=ca.CallRequest(agent_id="a", to="+1"), error=error)


def _refused(error: CalleagueError, *, sent: bool, acted: bool = False) -> CalleagueError:
    error.sent, error.may_have_acted = sent, acted
    return error


@pytest.mark.parametrize(
    ("error", "status", "sent"),
    [
        (ca.NotSentError("stopped first"), "not_sent", False),
        (_refused(ca.RateLimitError("slow", status_code=429), sent=True), "not_sent", True),
        (_refused(ca.ServerError("busy", status_code=503), sent=True), "not_sent", True),
        (_refused(ca.QuotaExceededError("spent", status_code=402), sent=True), "not_sent", True),
        (ca.LimiterTimeoutError("POST /x", 60.0, 1.0), "not_sent", False),
        (ca.APIConnectionError("refused", method="POST", path="/x", request_sent=False),
         "not_sent", False),
        (_refused(ca.ServerError("oops", status_code=500), sent=True), "failed", True),
        (_refused(ca.UnprocessableEntityError("bad", status_code=422), sent=True), "failed", True),
        (_refused(ca.NotFoundError("no agent", status_code=404), sent=True), "failed", True),
        (ca.ValidationError("to", "not E.164"), "failed", False),
        (ca.DuplicateError("again", number="+1", duplicate_of=0), "duplicate", False),
        (ca.DuplicateError("placed elsewhere", number="+1", ledger_state="placed"), "duplicate",
         False),
        (_refused(ca.OutcomeUnknownError(method="POST", path="/x", request={}, idempotency_key="k",
                                         cause=ca.CalleagueError("500")), sent=True, acted=True),
         "unknown", True),
        # A 429 after an attempt that may have acted proves nothing about that first attempt.
        (_refused(ca.RateLimitError("slow", status_code=429), sent=True, acted=True), "failed",
         True),
    ],
)  # fmt: skip
def test_every_error_sorts_into_one_status(error: CalleagueError, status: str, sent: bool) -> None:
    result = _failed(error)
    assert result.status == status
    assert result.sent is sent
    assert result.duplicate is (status == "duplicate")


def test_a_placed_call_is_placed_and_sent() -> None:
    call = ca.Call(call_id="cl_1")
    placed = ca.StartResult(index=0, request=ca.CallRequest(agent_id="a", to="+1"), call=call)
    assert (placed.status, placed.sent, placed.duplicate) == ("placed", True, False)


def test_campaign_keys_are_stable_per_person_and_campaign() -> None:
    key = ca.campaign_idempotency_key("spring", "+905551230001")
    assert key == ca.campaign_idempotency_key("spring", "+90 555 123 0001")
    assert key != ca.campaign_idempotency_key("autumn", "+905551230001")
    assert key != ca.campaign_idempotency_key("spring", "+905551230002")
    assert key.startswith("cmp-") and len(key) == 44
