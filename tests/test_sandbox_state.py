"""The sandbox's rooms without a server: state and rules as plain classes, knobs on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calleague_async._routes import ROUTES
from calleague_async.testing import DEFAULT_PATHS
from calleague_async.testing._handlers import HANDLERS
from calleague_async.testing._knobs import Fault, Faults, Limit, RateLimiter, seed_002_limits
from calleague_async.testing._replies import ApiError
from calleague_async.testing._state import (
    AgentQueues,
    Backend,
    CampaignStore,
    ConflictError,
    ContactStore,
    Event,
    InvalidError,
    NotFoundError,
    UnavailableError,
    WebhookRegistry,
    next_step,
)

TESTING = Path(__file__).resolve().parents[1] / "calleague_async" / "testing"
ROOMS = sorted(p for p in TESTING.rglob("*.py") if "__pycache__" not in p.parts)


def backend(**options: Any) -> tuple[Backend, list[Event]]:
    events: list[Event] = []
    return Backend(
        calls=5, clock_ms=lambda: 1_767_268_800_000, on_event=events.append, **options
    ), events


# --- the split itself -------------------------------------------------------------------------


@pytest.mark.parametrize("room", ROOMS, ids=[str(p.relative_to(TESTING)) for p in ROOMS])
def test_every_room_of_the_sandbox_is_under_400_lines(room: Path) -> None:
    assert len(room.read_text().splitlines()) <= 400


def test_the_sandbox_serves_exactly_the_route_table() -> None:
    assert set(HANDLERS) == set(ROUTES)
    assert dict(DEFAULT_PATHS) == {name: route.path for name, route in ROUTES.items()}


def test_the_state_rooms_import_no_http() -> None:
    for room in (TESTING / "_state").glob("*.py"):
        assert "aiohttp" not in room.read_text(), room.name


# --- calls and their progression --------------------------------------------------------------


def test_a_started_call_moves_queued_started_ended_with_a_transcript() -> None:
    state, events = backend()
    call, replayed = state.start_call({"agentId": "ag_123", "to": "+905551112233"}, "k1")
    assert not replayed and call["status"] == "ringing"
    assert state.moving == [call["callId"]]
    assert state.advance(call["callId"]) is not None
    assert state.calls[call["callId"]]["status"] == "in-progress"
    ended = state.advance(call["callId"])
    assert ended is not None and ended.type == "call.ended"
    assert state.advance(call["callId"]) is None  # nothing after the end
    assert [e.type for e in events] == ["call.queued", "call.started", "call.ended"]
    assert [e.call["status"] for e in events] == ["ringing", "in-progress", "completed"]
    data = events[-1].body()["data"]
    assert data["endedReason"] == "completed" and 30 <= data["durationSec"] < 210
    assert {t["role"] for t in data["transcript"]} == {"agent", "user"}
    assert "Support Assistant" in data["transcript"][0]["text"]
    assert state.moving == []
    assert state.start_call({"agentId": "ag_123", "to": "+905551112233"}, "k1") == (
        state.calls[call["callId"]],
        True,
    )


def test_events_carry_snapshots_not_the_live_call() -> None:
    state, events = backend()
    call, _ = state.start_call({"agentId": "ag_123", "to": "+905551112233"})
    state.advance(call["callId"])
    assert events[0].call["status"] == "ringing"
    assert events[0].body()["id"].startswith("evt_") and events[0].body()["type"] == "call.queued"


def test_next_step_is_a_pure_rule() -> None:
    assert next_step({"status": "queued"}, 0)[0] == "call.started"  # type: ignore[index]
    assert next_step({"status": "in-progress", "callId": "cl_1"}, 0)[0] == "call.ended"  # type: ignore[index]
    assert next_step({"status": "completed"}, 0) is None
    assert next_step({"status": "failed"}, 0) is None


@pytest.mark.parametrize(
    ("body", "error", "status"),
    [
        ({"to": "+905551112233"}, InvalidError, 400),
        ({"agentId": "ag_nope", "to": "+905551112233"}, NotFoundError, 404),
        ({"agentId": "ag_123", "to": "0555"}, InvalidError, 422),
    ],
)
def test_start_call_rules(body: dict[str, Any], error: type[Exception], status: int) -> None:
    state, events = backend()
    with pytest.raises(error) as caught:
        state.start_call(body)
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert not events and not state.dials


def test_end_transfer_and_metadata_rules() -> None:
    state, events = backend(queues={"sales": 1})
    call, _ = state.start_call({"agentId": "ag_123", "to": "+905551112233", "metadata": {"a": 1}})
    cid = call["callId"]
    with pytest.raises(ConflictError, match="Call is not currently active"):
        state.end_call(cid)
    with pytest.raises(ConflictError, match="Call is not currently active"):
        state.transfer(cid, {})
    state.advance(cid)
    with pytest.raises(NotFoundError, match="Queue not found"):
        state.transfer(cid, {"queue": "billing"})
    assert state.transfer(cid, {})["transfer"]["queue"] == "sales"
    assert state.availability() == {
        "available": 0,
        "busy": 1,
        "queues": [{"name": "sales", "available": 0, "busy": 1}],
    }
    other, _ = state.start_call({"agentId": "ag_123", "to": "+905551112244"})
    state.advance(other["callId"])
    with pytest.raises(UnavailableError, match="No agents available in target queue"):
        state.transfer(other["callId"], {"queue": "sales"})
    assert state.set_metadata(cid, {"intent": "buy"})["metadata"] == {"a": 1, "intent": "buy"}
    ended = state.end_call(cid)
    assert (ended["status"], ended["endedReason"]) == ("completed", "ended-by-api")
    assert state.availability()["available"] == 1  # the agent is free again
    assert state.set_metadata(cid, {"score": 3})["metadata"]["score"] == 3  # after the end too
    with pytest.raises(NotFoundError, match="Call not found"):
        state.end_call("cl_000000000000")
    assert [e.type for e in events].count("call.ended") == 1


def test_seeded_live_calls_can_be_ended_too() -> None:
    state, events = backend()
    live = next(cid for cid, c in state.calls.items() if c["status"] == "in-progress")
    assert state.end_call(live)["status"] == "completed"
    assert state.calls[live]["endedReason"] == "ended-by-api"
    assert [e.type for e in events] == ["call.ended"]


# --- contacts -------------------------------------------------------------------------------------


def test_contacts_create_update_and_validate() -> None:
    contacts = ContactStore(seed=0, campaign_exists=lambda c: c == "cmp_1", clock_ms=lambda: 0)
    made = contacts.create({"phone": "+15551234567", "name": "Jane", "metadata": {"crm": "x"}})
    assert made["id"].startswith("ct_") and made["status"] == "pending"
    assert made["campaign_id"] is None and made["created_at"] == "1970-01-01T00:00:00.000Z"
    for bad in ({}, {"phone": "5551234567"}, {"phone": 15551234567}):
        with pytest.raises(InvalidError, match=r"^phone must be in E\.164 format$"):
            contacts.create(bad)
    with pytest.raises(NotFoundError, match="Campaign not found"):
        contacts.create({"phone": "+15551234567", "campaign_id": "cmp_9"})
    updated = contacts.update(made["id"], {"name": "Jane Doe", "metadata": {"y": 1}})
    assert (updated["name"], updated["metadata"], updated["phone"]) == (
        "Jane Doe",
        {"y": 1},
        "+15551234567",
    )
    with pytest.raises(InvalidError):
        contacts.update(made["id"], {"phone": "nope"})
    with pytest.raises(NotFoundError, match=r"^Contact not found$"):
        contacts.update("ct_missing", {"name": "x"})
    assert list(contacts) == [made["id"]]


def test_bulk_create_reports_each_failure_and_keeps_the_rest() -> None:
    contacts = ContactStore(seed=0)
    result = contacts.bulk_create(
        [{"phone": "+15550000001"}, {"phone": "bad"}, "not an object", {"phone": "+15550000002"}]
    )
    assert result["created"] == 2 and len(result["contacts"]) == 2
    assert result["failed"] == [
        {"index": 1, "detail": "phone must be in E.164 format"},
        {"index": 2, "detail": "contact must be an object"},
    ]
    with pytest.raises(InvalidError, match="at most 1000"):
        contacts.bulk_create([{"phone": "+15550000001"}] * 1001)
    with pytest.raises(InvalidError, match="must be a list"):
        contacts.bulk_create({"phone": "+15550000001"})


# --- campaigns ------------------------------------------------------------------------------------


def test_campaign_launch_dials_its_pending_contacts_once() -> None:
    state, events = backend()
    assert state.campaigns["cmp_1"]["status"] == "draft"
    with pytest.raises(ConflictError, match="no contacts"):
        state.launch("cmp_1")
    state.contacts.bulk_create(
        [{"phone": "+15550000001", "name": "Ada"}, {"phone": "+15550000002"}]
    )
    state.campaigns.add("cmp_2", name="Other", agent_id="ag_123")
    state.contacts.create({"phone": "+15550000003", "campaign_id": "cmp_2"})
    launched = state.launch("cmp_1")
    assert launched["status"] == "running" and len(launched["call_ids"]) == 2
    calls = [state.calls[c] for c in launched["call_ids"]]
    assert {c["to"] for c in calls} == {"+15550000001", "+15550000002"}
    assert all(c["status"] == "queued" and c["campaignId"] == "cmp_1" for c in calls)
    assert [e.type for e in events] == ["call.queued", "call.queued"]
    with pytest.raises(ConflictError, match=r"^Campaign is already running$"):
        state.launch("cmp_1")
    for call_id in launched["call_ids"]:
        state.advance(call_id)
        state.advance(call_id)
    assert state.campaigns["cmp_1"]["status"] == "completed"
    assert all(c["status"] == "called" for c in state.contacts.values() if c["campaign_id"] is None)
    with pytest.raises(ConflictError, match="no contacts"):
        state.launch("cmp_1")  # everyone was called
    with pytest.raises(NotFoundError, match="Campaign not found"):
        state.launch("cmp_404")


def test_stopping_a_campaign_ends_the_calls_not_yet_connected() -> None:
    state, events = backend()
    state.contacts.bulk_create([{"phone": "+15550000001"}, {"phone": "+15550000002"}])
    first, second = state.launch("cmp_1")["call_ids"]
    state.advance(first)  # connected: runs on
    stopped = state.stop("cmp_1")
    assert stopped["status"] == "stopped" and stopped["stopped_at"]
    assert state.calls[second]["status"] == "failed"
    assert state.calls[second]["endedReason"] == "campaign-stopped"
    assert state.calls[first]["status"] == "in-progress"
    assert state.stop("cmp_1")["status"] == "stopped"  # stopping again changes nothing
    pending = [c for c in state.contacts.values() if c["status"] == "pending"]
    assert [c["last_call_id"] for c in pending] == [second]
    relaunched = state.launch("cmp_1")  # dials the one that never connected
    assert [state.calls[c]["to"] for c in relaunched["call_ids"]] == ["+15550000002"]
    assert [e.type for e in events].count("call.ended") == 1


def test_campaign_store_rules_alone() -> None:
    store = CampaignStore(agent_id="ag_1", clock_ms=lambda: 0)
    store.launched("cmp_1", ["cl_a"])
    store.call_ended("cmp_1", "cl_unknown")
    assert store["cmp_1"]["status"] == "running"
    store.call_ended("cmp_1", "cl_a")
    assert store["cmp_1"]["status"] == "completed" and store["cmp_1"]["active_calls"] == 0
    with pytest.raises(ValueError, match="already exists"):
        store.add("cmp_1", name="x", agent_id="ag_1")


# --- webhooks and agent queues --------------------------------------------------------------------


def test_webhook_registry_checks_urls_and_routes_events_by_type() -> None:
    hooks = WebhookRegistry(seed=0)
    ended = hooks.register("https://example.com/h", ["call.ended"])
    local = hooks.register("http://127.0.0.1:9/h", ["*"])
    assert ended["secret"].startswith("whsec_") and ended["secret"] != local["secret"]
    assert hooks.register("http://localhost:9/h", ["call.queued"])["url"].startswith("http://")
    for url in ("http://example.com/h", "ftp://127.0.0.1/h", "https:///nohost", 42):
        with pytest.raises(InvalidError) as caught:
            hooks.register(url, ["call.ended"])
        assert caught.value.status == 422
    with pytest.raises(InvalidError) as missing:
        hooks.register(None, ["call.ended"])
    assert missing.value.status == 400
    assert [h["webhookId"] for h in hooks.subscribers("call.ended")] == [
        ended["webhookId"],
        local["webhookId"],
    ]
    assert [h["webhookId"] for h in hooks.subscribers("call.started")] == [local["webhookId"]]
    assert hooks.remove(local["webhookId"]) and not hooks.remove(local["webhookId"])


def test_agent_queues_take_and_release() -> None:
    queues = AgentQueues({"default": 1, "vip": 0})
    assert queues.take(None, "cl_1") == "default"
    with pytest.raises(UnavailableError):
        queues.take("default", "cl_2")
    with pytest.raises(UnavailableError):
        queues.take("vip", "cl_2")
    with pytest.raises(ConflictError):
        queues.take("default", "cl_1")
    queues.release("cl_1")
    queues.release("cl_1")  # twice is harmless
    assert queues.snapshot()["queues"][0] == {"name": "default", "available": 1, "busy": 0}
    with pytest.raises(ValueError):
        queues.set("default", -1)


# --- knobs ----------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_sliding_window_on_a_fake_clock() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, headers=True)
    limit = Limit.parse("2/minute")
    assert limiter.check("k", limit)["X-RateLimit-Remaining"] == "1"
    clock.now = 10
    assert limiter.check("k", limit)["X-RateLimit-Remaining"] == "0"
    with pytest.raises(ApiError) as caught:
        limiter.check("k", limit)
    assert caught.value.status == 429 and caught.value.message == "Rate limit exceeded: 2/minute"
    assert caught.value.headers["Retry-After"] == "50"
    assert limiter.check("other", limit)  # per key
    clock.now = 60
    assert limiter.check("k", limit)["X-RateLimit-Remaining"] == "0"
    assert limiter.rejected == 1


def test_faults_are_used_in_order_and_match_path_and_method() -> None:
    faults = Faults()
    faults.add(1, Fault.SERVER_ERROR, path="/a", method="post")
    faults.add(2, "drop")
    assert faults.pending == 3
    first = faults.take("GET", "/a")
    assert first is not None and first.fault is Fault.DROP
    second = faults.take("POST", "/a")
    assert second is not None and second.fault is Fault.SERVER_ERROR
    assert faults.pending == 1
    faults.clear()
    assert faults.take("GET", "/a") is None


def test_seed_002_limits_come_from_the_route_table() -> None:
    own, shared = seed_002_limits()
    assert own["campaigns.launch"] == "5/minute" and own["contacts.bulk_create"] == "10/minute"
    assert own["agents.availability"] == "30/minute"
    assert "calls.start" not in own and "calls.start" not in shared  # Calleague's: undocumented
    assert set(shared) == set(own) and set(shared.values()) == {("seed-002", "100/minute")}
