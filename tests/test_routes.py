"""The route table: ids encoded into one segment, overrides checked, no route reaches another."""

from __future__ import annotations

import pytest

import calleague_async as ca
from calleague_async._routes import ROUTES, RouteTable, adhoc


def test_every_documented_operation_is_in_the_table() -> None:
    assert {r.key for r in ROUTES.values()} == {
        "POST /api/core/voice/agent/call",
        "GET /api/core/voice/call/{call_id}",
        "GET /api/core/voice/call/list",
        "GET /api/core/voice/agent/list",
        "GET /api/core/voice/agent/{agent_id}",
        "POST /api/core/webhook",
    }
    assert ROUTES["calls.start"].creates_call and not ROUTES["calls.start"].idempotent
    assert ROUTES["calls.get"].idempotent


@pytest.mark.parametrize(
    ("call_id", "path"),
    [
        ("cl_8f2a", "/api/core/voice/call/cl_8f2a"),
        ("../agent/list", "/api/core/voice/call/..%2Fagent%2Flist"),
        ("a?b=c#d", "/api/core/voice/call/a%3Fb%3Dc%23d"),
        ("x y%", "/api/core/voice/call/x%20y%25"),
        ("ç", "/api/core/voice/call/%C3%A7"),
    ],
)
def test_ids_are_percent_encoded_into_one_segment(call_id: str, path: str) -> None:
    table = RouteTable()
    assert table.url_path(table["calls.get"], call_id=call_id) == path


@pytest.mark.parametrize("bad", ["", "  ", ".", "..", "a\nb", "a\x00", 12, None])
def test_unsafe_ids_are_refused(bad: object) -> None:
    table = RouteTable()
    with pytest.raises(ca.ValidationError) as info:
        table.url_path(table["calls.get"], call_id=bad)  # type: ignore[arg-type]
    assert info.value.field == "call_id"


def test_an_id_cannot_turn_into_the_list_route() -> None:
    table = RouteTable()
    with pytest.raises(ca.ValidationError, match="another route"):
        table.url_path(table["calls.get"], call_id="list")
    with pytest.raises(ca.ValidationError, match="another route"):
        table.url_path(table["agents.get"], agent_id="list")


def test_path_overrides_apply_and_are_checked() -> None:
    table = RouteTable({"calls.get": "/api/v1/calls/{call_id}", "calls.start": "/api/v1/calls"})
    assert table.url_path(table["calls.get"], call_id="c1") == "/api/v1/calls/c1"
    assert table["calls.start"].path == "/api/v1/calls"
    # An override keeps the route's retry safety.
    assert not table["calls.start"].idempotent
    with pytest.raises(ca.ConfigurationError, match="unknown operation"):
        RouteTable({"calls.delete": "/x"})
    with pytest.raises(ca.ConfigurationError, match="placeholders"):
        RouteTable({"calls.get": "/api/v1/calls/{id}"})
    with pytest.raises(ca.ConfigurationError, match="start with"):
        RouteTable({"calls.list": "api/v1/calls"})


def test_adhoc_routes_are_literal_and_retry_only_safe_methods() -> None:
    route = adhoc("get", "/api/x/{weird}")
    assert route.method == "GET" and route.idempotent
    assert RouteTable().url_path(route) == "/api/x/{weird}"
    assert not adhoc("POST", "/api/x").idempotent
    with pytest.raises(ca.ValidationError):
        adhoc("GET", "api/x")
