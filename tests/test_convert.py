"""Wire records to models, with plain data: renames, aware datetimes, extra, lenient fields."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

import calleague_async as ca
from calleague_async._convert import structure, structure_many

SEED_000_DETAIL = {
    "callId": "cl_8f2a",
    "status": "completed",
    "direction": "outbound",
    "durationSec": 84,
    "endedReason": "completed",
    "language": "tr",
    "recordingReady": True,
    "transcriptReady": True,
    "createdAt": "2026-01-01T12:00:00.000Z",
    "endedAt": "2026-01-01T12:01:24.000Z",
}


def test_seed_000_call_detail_decodes_to_snake_case() -> None:
    call = structure(SEED_000_DETAIL, ca.Call)
    assert call.call_id == "cl_8f2a"
    assert call.status is ca.CallStatus.COMPLETED
    assert str(call.status) == "completed"
    assert call.duration_sec == 84
    assert call.recording_ready is True
    assert call.created_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert call.ended_at is not None and call.ended_at.tzinfo is not None
    assert call.to is None and call.agent_id is None and call.metadata is None
    assert call.extra == {}


def test_unknown_fields_are_kept_in_extra_under_wire_names() -> None:
    call = structure({"callId": "c", "sipTrunk": "t1", "cost": {"usd": 0.2}}, ca.Call)
    assert call.extra == {"sipTrunk": "t1", "cost": {"usd": 0.2}}


def test_unknown_status_is_kept_as_plain_string() -> None:
    call = structure({"callId": "c", "status": "voicemail"}, ca.Call)
    assert call.status == "voicemail"
    assert not isinstance(call.status, ca.CallStatus)


def test_id_alias_and_snake_case_wire_names_are_read() -> None:
    assert structure({"id": "c1"}, ca.Call).call_id == "c1"
    assert structure({"call_id": "c2", "agent_id": "a"}, ca.Call).agent_id == "a"


def test_naive_timestamp_is_read_as_utc() -> None:
    call = structure({"callId": "c", "createdAt": "2026-01-01T12:00:00"}, ca.Call)
    assert call.created_at == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_epoch_millis_timestamp() -> None:
    call = structure({"callId": "c", "createdAt": 1767268800000}, ca.Call)
    assert call.created_at == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_wrong_type_keeps_raw_value_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="calleague_async")
    bad = [
        {"callId": "a", "recordingReady": "yes", "createdAt": "not a date"},
        {"callId": "b", "recordingReady": "no"},
        {"callId": "c", "recordingReady": True},
    ]
    calls = structure_many(bad, ca.Call)
    assert [c.call_id for c in calls] == ["a", "b", "c"]
    assert calls[0].recording_ready == "yes"  # type: ignore[comparison-overlap]
    assert calls[0].created_at == "not a date"
    assert calls[2].recording_ready is True
    ready_logs = [r for r in caplog.records if "recording_ready" in r.getMessage()]
    assert len(ready_logs) <= 1  # once per process for this field, at most


def test_bool_is_not_accepted_as_a_number() -> None:
    call = structure({"callId": "c", "durationSec": True}, ca.Call)
    assert call.duration_sec is True  # kept raw, not silently 1


def test_missing_id_keeps_the_record() -> None:
    assert structure({"status": "failed"}, ca.Call).call_id == ""


@pytest.mark.parametrize("raw", [["callId"], "cl_1", None, 3])
def test_a_record_that_is_no_object_is_an_invalid_response(raw: object) -> None:
    with pytest.raises(ca.InvalidResponseError, match="expected a JSON object for Call"):
        structure(raw, ca.Call)  # type: ignore[arg-type]
    with pytest.raises(ca.InvalidResponseError):
        structure_many([{"callId": "a"}, raw], ca.Call)


def test_agent_and_webhook() -> None:
    agent = structure({"agentId": "ag_123", "name": "Support", "voice": "v1"}, ca.Agent)
    assert (agent.agent_id, agent.name, agent.extra) == ("ag_123", "Support", {"voice": "v1"})
    hook = structure(
        {
            "webhookId": "wh_1",
            "url": "https://e.x/h",
            "events": ["call.ended"],
            "secret": "whsec_s",
        },
        ca.Webhook,
    )
    assert hook.events == ["call.ended"]
    assert hook.secret == "whsec_s"
    assert "whsec_s" not in repr(hook)
