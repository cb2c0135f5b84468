"""Models and their way back to JSON (``to_dict``), and the two kinds of ``start_many`` result."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calleague_async as ca
from calleague_async._convert import structure
from calleague_async.testing import SandboxServer

RECORD = {
    "callId": "cl_8f2a",
    "status": "completed",
    "agentId": "ag_123",
    "metadata": {"orderId": "A-1042"},
    "durationSec": 84,
    "createdAt": "2026-01-01T12:00:00.000Z",
    "endedAt": "2026-01-01T14:01:24.250+02:00",
    "sipTrunk": "t1",
}


def test_to_dict_is_snake_case_json_with_unknown_fields_under_extra() -> None:
    call = structure(RECORD, ca.Call)
    out = call.to_dict()
    assert out["call_id"] == "cl_8f2a" and out["agent_id"] == "ag_123"
    assert out["status"] == "completed" and type(out["status"]) is str
    assert out["created_at"] == "2026-01-01T12:00:00.000Z"
    assert out["to"] is None and "language" in out  # every field, None ones included
    assert out["extra"] == {"sipTrunk": "t1"}
    assert "callId" not in out and "sipTrunk" not in out
    assert json.loads(json.dumps(out)) == out


def test_to_dict_wire_gives_the_api_names_with_unknown_fields_at_the_top() -> None:
    call = structure(RECORD, ca.Call)
    out = call.to_dict(wire=True)
    assert {k: v for k, v in out.items() if v is not None} == RECORD
    assert "extra" not in out and "call_id" not in out
    assert structure(out, ca.Call) == call


@pytest.mark.parametrize(
    ("stamp", "shown"),
    [
        (datetime(2026, 1, 1, 12, tzinfo=UTC), "2026-01-01T12:00:00.000Z"),
        (datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC), "2026-01-01T12:00:00.123Z"),
        (datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC), "2026-01-01T12:00:00.123456Z"),
        (
            datetime(2026, 1, 1, 15, tzinfo=timezone(timedelta(hours=3))),
            "2026-01-01T15:00:00.000+03:00",
        ),
    ],
)
def test_datetimes_are_iso_8601_with_utc_as_z_and_other_offsets_kept(
    stamp: datetime, shown: str
) -> None:
    call = ca.Call(call_id="c", created_at=stamp)
    assert call.to_dict()["created_at"] == shown
    assert call.to_dict(wire=True)["createdAt"] == shown
    assert datetime.fromisoformat(shown) == stamp


def test_a_webhook_secret_is_serialised_but_never_shown_in_repr() -> None:
    hook = structure(
        {"webhookId": "wh_1", "secret": "whsec_42", "events": ["call.ended"]}, ca.Webhook
    )
    assert "whsec_42" not in repr(hook)
    assert hook.to_dict()["secret"] == "whsec_42"
    assert hook.to_dict(wire=True)["secret"] == "whsec_42"
    assert hook.to_dict(wire=True)["webhookId"] == "wh_1"


def test_agents_serialise_too() -> None:
    agent = structure({"agentId": "ag_123", "name": "Support", "voice": "nova"}, ca.Agent)
    assert agent.to_dict() == {"agent_id": "ag_123", "name": "Support", "extra": {"voice": "nova"}}
    assert agent.to_dict(wire=True) == {"agentId": "ag_123", "name": "Support", "voice": "nova"}


def test_changing_what_to_dict_returned_leaves_the_model_alone() -> None:
    call = structure(RECORD, ca.Call)
    out = call.to_dict()
    out["metadata"]["orderId"] = "changed"
    out["extra"]["sipTrunk"] = "changed"
    assert call.metadata == {"orderId": "A-1042"} and call.extra == {"sipTrunk": "t1"}


def test_a_stray_duplicate_in_extra_never_replaces_a_field() -> None:
    call = ca.Call(call_id="c1", extra={"callId": "other", "id": "alias"})
    assert call.to_dict(wire=True)["callId"] == "c1"
    assert call.to_dict(wire=True)["id"] == "alias"


# Any wire record: the known names (and their aliases), unknown ones, values of every JSON type,
# of the right type and of the wrong one.
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_stamps = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.none(), st.timezones()),
).map(lambda d: d.isoformat())
_epochs = st.integers(min_value=-(10**13), max_value=10**14) | st.floats(
    min_value=-1e13, max_value=1e14, allow_nan=False
)
_values = (
    _json
    | _stamps
    | _epochs
    | st.sampled_from([s.value for s in ca.CallStatus])
    | st.lists(st.text(max_size=8), max_size=3)
)


def _names(cls: type[Any]) -> list[str]:
    return sorted({w for f in attrs.fields(cls) for w in (*f.metadata.get("wire", ()), f.name)})


def _records(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(_names(cls)) | st.text(max_size=8)
    return st.dictionaries(keys, _values, max_size=12)


@pytest.mark.parametrize("cls", [ca.Call, ca.Agent, ca.Webhook])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_to_dict_wire_decodes_back_to_an_equal_model(cls: type[Any], data: st.DataObject) -> None:
    model = structure(data.draw(_records(cls)), cls)
    wire = model.to_dict(wire=True)
    assert structure(wire, cls) == model
    for out in (wire, model.to_dict()):
        assert json.loads(json.dumps(out)) == out  # JSON-ready, and nothing lost on the way


def test_start_result_builds_the_kind_its_arguments_describe() -> None:
    request = ca.CallRequest(agent_id="ag_123", to="+905551230001")
    placed = ca.StartResult(index=0, request=request, call=ca.Call(call_id="c1"))
    failed = ca.StartResult(index=1, request=request, error=ca.ValidationError("to", "bad"))
    assert type(placed) is ca.StartPlaced and placed.ok and not placed.outcome_unknown
    assert type(failed) is ca.StartFailed and not failed.ok and not failed.outcome_unknown
    assert isinstance(placed, ca.StartResult) and isinstance(failed, ca.StartResult)
    assert placed.error is None and failed.call is None
    for result in (placed, failed):
        assert pickle.loads(pickle.dumps(result)).index == result.index
        assert type(copy.deepcopy(result)) is type(result)
    assert attrs.evolve(placed, index=5).index == 5
    with pytest.raises(TypeError, match="one of call="):
        ca.StartResult(index=0, request=request)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="one of call="):
        ca.StartResult(  # type: ignore[call-overload]
            index=0, request=request, call=ca.Call(call_id="c"), error=ca.CalleagueError("x")
        )


async def test_start_many_yields_placed_and_failed_results() -> None:
    leads: list[ca.CallRequestDict] = [
        {"agent_id": "ag_123", "to": "+905551230001"},
        {"agent_id": "ag_123", "to": "not-a-number"},
    ]
    async with SandboxServer(calls=1) as sb, sb.session(rate_limits=None) as s:
        results = sorted([r async for r in s.calls.start_many(leads)], key=lambda r: r.index)
    assert [type(r) for r in results] == [ca.StartPlaced, ca.StartFailed]
    placed, failed = results
    assert placed.ok and placed.call is not None and placed.call.call_id
    assert not failed.ok and isinstance(failed.error, ca.ValidationError)
