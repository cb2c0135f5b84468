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
        # seed 002's platform operations
        "POST /v1/contacts",
        "PATCH /v1/contacts/{contact_id}",
        "POST /v1/contacts/bulk",
        "POST /v1/campaigns/{campaign_id}/launch",
        "POST /v1/campaigns/{campaign_id}/stop",
        "POST /api/voice/calls/{call_id}/transfer",
        "POST /api/voice/calls/{call_id}/end",
        "POST /api/voice/calls/{call_id}/metadata",
        "GET /api/voice/calls/agent-availability",
    }
    assert ROUTES["calls.start"].creates_call and not ROUTES["calls.start"].idempotent
    assert ROUTES["calls.get"].idempotent


def test_seed_002_routes_carry_its_per_endpoint_limits_and_calleagues_carry_none() -> None:
    limits = {name: r.documented_limit for name, r in ROUTES.items()}
    assert all(limits[n] is None for n in ("calls.start", "calls.get", "webhooks.create"))
    expected = {
        "contacts.create": "60/minute",
        "contacts.update": "60/minute",
        "contacts.bulk_create": "10/minute",
        "campaigns.launch": "5/minute",
        "campaigns.stop": "5/minute",
        "calls.transfer": "10/minute",
        "calls.end": "10/minute",
        "calls.set_metadata": "30/minute",
        "agents.availability": "30/minute",
    }
    for name, rate in expected.items():
        limit = limits[name]
        assert limit is not None and limit.rate == rate and limit.shared == "100/minute"
    # Launching, transferring and importing are never blindly repeated.
    assert not any(ROUTES[n].idempotent for n in ("contacts.create", "campaigns.launch"))
    assert not ROUTES["calls.transfer"].idempotent


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
    assert table.url_path(table["calls.get"], {"call_id": call_id}) == path


@pytest.mark.parametrize("bad", ["", "  ", ".", "..", "a\nb", "a\x00", 12, None])
def test_unsafe_ids_are_refused(bad: object) -> None:
    table = RouteTable()
    with pytest.raises(ca.ValidationError) as info:
        table.url_path(table["calls.get"], {"call_id": bad})  # type: ignore[dict-item]
    assert info.value.field == "call_id"


def test_an_id_cannot_turn_into_the_list_route() -> None:
    table = RouteTable()
    with pytest.raises(ca.ValidationError, match="another route"):
        table.url_path(table["calls.get"], {"call_id": "list"})
    with pytest.raises(ca.ValidationError, match="another route"):
        table.url_path(table["agents.get"], {"agent_id": "list"})


def test_path_overrides_apply_and_are_checked() -> None:
    table = RouteTable({"calls.get": "/api/v1/calls/{call_id}", "calls.start": "/api/v1/calls"})
    assert table.url_path(table["calls.get"], {"call_id": "c1"}) == "/api/v1/calls/c1"
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


def test_a_filled_path_is_reused_and_the_cache_stays_bounded() -> None:
    table = RouteTable()
    route = table["calls.get"]
    first = table.url_path(route, {"call_id": "cl_1"})
    assert table.url_path(route, {"call_id": "cl_1"}) is first  # built once, read after
    for n in range(3000):  # many distinct ids: the cache starts over instead of growing
        assert table.url_path(route, {"call_id": f"c{n}"}) == f"/api/core/voice/call/c{n}"
    assert len(table._filled[route.key]) <= 1024
    # A cached id is still refused where it would address another route.
    with pytest.raises(ca.ValidationError):
        table.url_path(route, {"call_id": "list"})
    with pytest.raises(ca.ValidationError):
        table.url_path(route, {"call_id": "list"})
    assert table.url_path(route, {"call_id": "a b"}) == "/api/core/voice/call/a%20b"
