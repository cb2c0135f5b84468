"""Seed 002's operations with aioresponses: contacts, bulk import, campaigns, call control."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import attrs
import pytest
from aioresponses import CallbackResult, aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

import calleague_async as ca
from calleague_async._convert import structure
from calleague_async.resources import Campaigns, Contacts
from calleague_async.resources.contacts import read_bulk_reply
from tests.conftest import VirtualClock

BASE = "https://app.calleague.ai"
CONTACTS = f"{BASE}/v1/contacts"
BULK = f"{BASE}/v1/contacts/bulk"
CALL = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
TRANSFER = f"{BASE}/api/voice/calls/{CALL}/transfer"
END = f"{BASE}/api/voice/calls/{CALL}/end"
METADATA = f"{BASE}/api/voice/calls/{CALL}/metadata"
AVAILABILITY = f"{BASE}/api/voice/calls/agent-availability"
LAUNCH = f"{BASE}/v1/campaigns/cmp_1/launch"
STOP = f"{BASE}/v1/campaigns/cmp_1/stop"


def _key() -> str:
    # A fresh key per session: limiter buckets are per key and live for the whole process.
    return f"sk_test_{uuid.uuid4().hex}"


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def session() -> AsyncIterator[ca.AsyncSession]:
    async with ca.AsyncSession(api_key=_key(), rate_limits=None) as s:
        s._sleep = _no_sleep
        yield s


def sent(m: aioresponses, method: str, url: str) -> list[Any]:
    return list(m.requests.get((method, URL(url)), []))


def body(call: Any) -> Any:
    data = call.kwargs.get("data")
    return None if data is None else json.loads(data)


def _rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"phone": f"+9055512{i:05d}", "metadata": {"lead": i}} for i in range(start, start + n)]


def _bulk_reply(url: Any, **kwargs: Any) -> CallbackResult:
    contacts = json.loads(kwargs["data"])["contacts"]
    created = [{"id": f"ct_{c['phone'][-5:]}", **c} for c in contacts]
    return CallbackResult(status=201, payload={"created": len(created), "contacts": created})


# --- contacts -------------------------------------------------------------------------------


async def test_create_posts_phone_metadata_and_pass_through_fields_to_v1_contacts(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    reply = {
        "id": "ct_1",
        "phone": "+905551230001",
        "metadata": {"crm_id": "L-1"},
        "name": "Ada",
        "status": "pending",
        "created_at": "2026-01-01T12:00:00.000Z",
    }
    mock.post(CONTACTS, status=201, payload=reply)
    contact = await session.contacts.create(
        phone="+905551230001", metadata={"crm_id": "L-1"}, name="Ada", campaign_id="cmp_1"
    )
    [request] = sent(mock, "POST", CONTACTS)
    assert body(request) == {
        "phone": "+905551230001",
        "metadata": {"crm_id": "L-1"},
        "name": "Ada",
        "campaign_id": "cmp_1",
    }
    assert request.kwargs["headers"]["Idempotency-Key"]  # not idempotent: a key is sent
    assert isinstance(contact, ca.Contact)
    assert (contact.contact_id, contact.phone, contact.metadata) == (
        "ct_1",
        "+905551230001",
        {"crm_id": "L-1"},
    )
    assert contact.created_at is not None and contact.created_at.year == 2026
    assert contact.extra == {"name": "Ada", "status": "pending"}  # lenient: kept, not lost


async def test_option_names_are_options_not_body_fields(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(re.compile(rf"^{re.escape(CONTACTS)}(\?.*)?$"), payload={"id": "ct_1"})
    await session.contacts.create(
        phone="+905551230001",
        timeout=5,
        extra_query={"dry_run": True},
        extra_body={"timeout": "a body field of that name goes here"},
    )
    [(url, request)] = [
        (u, c) for (m, u), calls in mock.requests.items() for c in calls if m == "POST"
    ]
    assert request.kwargs["timeout"].total == 5
    assert dict(url.query) == {"dry_run": "true"}
    assert body(request) == {
        "phone": "+905551230001",
        "timeout": "a body field of that name goes here",
    }


@pytest.mark.parametrize(
    "phone", ["05551230001", "+0905551230001", "+90 555 123", "", 905551230001]
)
async def test_a_phone_not_in_e164_is_refused_before_anything_is_sent(
    mock: aioresponses, session: ca.AsyncSession, phone: Any
) -> None:
    with pytest.raises(ca.ValidationError, match=r"E\.164") as info:
        await session.contacts.create(phone=phone)
    assert info.value.field == "phone" and info.value.attempts == 0
    with pytest.raises(ca.ValidationError, match=r"E\.164"):
        await session.contacts.update("ct_1", phone=phone)
    assert mock.requests == {}


async def test_pass_through_fields_must_be_json_and_name_the_field(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    with pytest.raises(ca.ValidationError) as info:
        await session.contacts.create(phone="+905551230001", tags={"a", "b"})
    assert info.value.field == "tags"
    with pytest.raises(ca.ValidationError):
        await session.calls.transfer(CALL, score=float("nan"))
    with pytest.raises(ca.ValidationError, match="JSON object"):
        await session.calls.set_metadata(CALL, ["not", "an", "object"])  # type: ignore[arg-type]
    assert mock.requests == {}


async def test_update_patches_only_the_fields_given(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    url = f"{CONTACTS}/ct_1"
    mock.patch(url, payload={"id": "ct_1", "phone": "+905551230002", "metadata": {"stage": "won"}})
    contact = await session.contacts.update("ct_1", metadata={"stage": "won"}, email="a@b.c")
    [request] = sent(mock, "PATCH", url)
    assert body(request) == {"metadata": {"stage": "won"}, "email": "a@b.c"}
    assert contact.contact_id == "ct_1" and contact.metadata == {"stage": "won"}
    with pytest.raises(ca.ValidationError, match="at least one field"):
        await session.contacts.update("ct_1")
    with pytest.raises(ca.ValidationError):
        await session.contacts.update("..", metadata={})
    assert len(sent(mock, "PATCH", url)) == 1


async def test_an_update_answered_with_no_body_keeps_the_contact_id(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.patch(f"{CONTACTS}/ct_9", status=204, body=b"")
    contact = await session.contacts.update("ct_9", name="Grace")
    assert contact == ca.Contact(contact_id="ct_9")


async def test_detail_errors_become_the_right_classes_with_their_messages(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.patch(f"{CONTACTS}/ct_404", status=404, payload={"detail": "Contact not found"})
    mock.post(CONTACTS, status=400, payload={"detail": "phone must be in E.164 format"})
    mock.post(
        CONTACTS,
        status=403,
        payload={"detail": "Insufficient permissions. Required scopes: voice:calls:write"},
    )
    with pytest.raises(ca.NotFoundError) as missing:
        await session.contacts.update("ct_404", name="x")
    assert missing.value.message == "Contact not found" and missing.value.status_code == 404
    with pytest.raises(ca.BadRequestError) as bad:
        await session.contacts.create(phone="+905551230001")
    assert bad.value.message == "phone must be in E.164 format"
    with pytest.raises(ca.PermissionDeniedError, match="voice:calls:write"):
        await session.contacts.create(phone="+905551230001")


# --- bulk import ----------------------------------------------------------------------------


async def test_bulk_sends_bounded_batches_with_a_result_per_batch(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(BULK, callback=_bulk_reply, repeat=True)
    results = [r async for r in session.contacts.bulk_create(_rows(250), batch_size=100)]
    requests = sent(mock, "POST", BULK)
    assert [len(body(r)["contacts"]) for r in requests] == [100, 100, 50]
    assert body(requests[0])["contacts"][0] == {"phone": "+905551200000", "metadata": {"lead": 0}}
    assert [r.batch for r in results] == [0, 1, 2]
    assert [r.created for r in results] == [100, 100, 50]
    assert [r.sent for r in results] == [100, 100, 50]
    assert results[2].indexes == tuple(range(200, 250))
    assert all(r.ok and not r.rejected and not r.outcome_unknown for r in results)
    assert results[0].contacts[0].contact_id == "ct_00000"
    assert isinstance(results[0].contacts[0], ca.Contact)
    assert isinstance(results[0].reply, dict)


async def test_bulk_reports_an_invalid_phone_in_its_batch_without_sending_it(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(BULK, callback=_bulk_reply, repeat=True)
    rows: list[Any] = _rows(3)
    rows[1] = {"phone": "0555 123 45 67", "metadata": {"lead": 1}}
    rows.append(ca.ContactRequest(phone="+905551239999", fields={"name": "Ada"}))
    rows.append({"metadata": {"no": "phone"}})
    rows.append("not a row")
    rows.append(ca.ContactRequest(phone="+905551239998", fields=["x"]))  # type: ignore[arg-type]
    [result] = [r async for r in session.contacts.bulk_create(rows)]
    [request] = sent(mock, "POST", BULK)
    phones = [c["phone"] for c in body(request)["contacts"]]
    assert phones == ["+905551200000", "+905551200002", "+905551239999"]
    assert body(request)["contacts"][2] == {"phone": "+905551239999", "name": "Ada"}
    assert result.indexes == (0, 2, 3)
    assert [r.index for r in result.rejected] == [1, 4, 5, 6]
    assert all(isinstance(r.error, ca.ValidationError) for r in result.rejected)
    assert "E.164" in str(result.rejected[0].error)
    assert result.rejected[0].contact == rows[1]
    assert result.ok and result.created == 3


async def test_a_batch_with_no_valid_row_sends_nothing(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    results = [r async for r in session.contacts.bulk_create([{"phone": "x"}, {"phone": "y"}])]
    assert mock.requests == {}
    [result] = results
    assert result.sent == 0 and len(result.rejected) == 2 and result.ok


async def test_bulk_reads_rows_lazily_and_stops_at_once_on_break(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(BULK, callback=_bulk_reply, repeat=True)
    read = 0
    closed = False

    def endless() -> Generator[dict[str, Any], None, None]:
        nonlocal read, closed
        try:
            while True:
                read += 1
                yield {"phone": f"+9055512{read % 100000:05d}"}
        finally:
            closed = True

    source = endless()
    batches = session.contacts.bulk_create(source, batch_size=50)
    async for result in batches:
        if result.batch == 1:
            break
    await batches.aclose()
    assert len(sent(mock, "POST", BULK)) == 2
    assert read == 100  # one batch in memory at a time, nothing read ahead
    source.close()
    assert closed


async def test_bulk_takes_an_async_iterable(mock: aioresponses, session: ca.AsyncSession) -> None:
    mock.post(BULK, callback=_bulk_reply, repeat=True)

    async def leads() -> AsyncIterator[ca.ContactRequest]:
        for i in range(5):
            await asyncio.sleep(0)
            yield ca.ContactRequest(phone=f"+9055512{i:05d}", metadata={"lead": i})

    results = [r async for r in session.contacts.bulk_create(leads(), batch_size=2)]
    assert [r.indexes for r in results] == [(0, 1), (2, 3), (4,)]


async def test_a_failed_batch_carries_its_error_and_the_import_goes_on(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(BULK, callback=_bulk_reply)
    mock.post(BULK, status=500, payload={"detail": "Internal Server Error"})
    mock.post(BULK, status=422, payload={"detail": "contacts must be a list"})
    mock.post(BULK, callback=_bulk_reply)
    results = [r async for r in session.contacts.bulk_create(_rows(4), batch_size=1)]
    assert len(sent(mock, "POST", BULK)) == 4  # the 500 was not retried: it may have imported
    ok, unknown, refused, last = results
    assert ok.ok and last.ok and last.created == 1
    assert isinstance(unknown.error, ca.ServerError) and unknown.outcome_unknown
    assert unknown.indexes == (1,) and unknown.created is None and not unknown.ok
    assert isinstance(refused.error, ca.UnprocessableEntityError)
    assert not refused.outcome_unknown  # a 4xx: nothing was imported


async def test_a_bulk_429_is_retried_because_it_proves_nothing_was_imported(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(BULK, status=429, payload={"detail": "Rate limit exceeded: 10/minute"})
    mock.post(BULK, callback=_bulk_reply)
    [result] = [r async for r in session.contacts.bulk_create(_rows(2))]
    assert result.ok and result.created == 2
    assert len(sent(mock, "POST", BULK)) == 2


async def test_bulk_arguments_are_checked_when_called(session: ca.AsyncSession) -> None:
    with pytest.raises(ca.ValidationError, match="batch_size"):
        session.contacts.bulk_create(_rows(1), batch_size=0)
    with pytest.raises(ca.ValidationError, match="batch_size"):
        session.contacts.bulk_create(_rows(1), batch_size=100_000)
    with pytest.raises(ca.ValidationError, match="contacts"):
        session.contacts.bulk_create({"phone": "+905551230001"})  # type: ignore[dict-item]
    with pytest.raises(ca.ValidationError, match="contacts"):
        session.contacts.bulk_create(_rows(1), extra_body={"contacts": []})
    with pytest.raises(ca.ValidationError, match="max_wait"):
        session.contacts.bulk_create(_rows(1), max_wait=-1)


@pytest.mark.parametrize(
    ("reply", "created", "contacts", "failed"),
    [
        ({"created": 2, "failed": [{"index": 1, "detail": "bad"}]}, 2, 0, 1),
        ({"contacts": [{"id": "ct_1"}, {"id": "ct_2"}]}, 2, 2, 0),
        ([{"id": "ct_1"}], 1, 1, 0),
        ({"imported": 7, "errors": ["row 3"]}, 7, 0, 1),
        ({"job_id": "j1", "status": "queued"}, None, 0, 0),
        (None, None, 0, 0),
        ({"created": True}, None, 0, 0),
    ],
)
def test_bulk_replies_of_any_shape_are_read(
    reply: object, created: int | None, contacts: int, failed: int
) -> None:
    got = read_bulk_reply(reply)
    assert (got[0], len(got[1]), len(got[2])) == (created, contacts, failed)


# --- campaigns ------------------------------------------------------------------------------


async def test_launch_and_stop_post_without_a_body_and_read_the_campaign(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(LAUNCH, payload={"id": "cmp_1", "status": "running", "config": {"script": "a"}})
    mock.post(STOP, status=204, body=b"")
    launched = await session.campaigns.launch("cmp_1")
    stopped = await session.campaigns.stop("cmp_1")
    assert isinstance(launched, ca.Campaign)
    assert (launched.campaign_id, launched.status, launched.config) == (
        "cmp_1",
        "running",
        {"script": "a"},
    )
    assert stopped == ca.Campaign(campaign_id="cmp_1")
    [launch] = sent(mock, "POST", LAUNCH)
    [stop] = sent(mock, "POST", STOP)
    assert body(launch) is None and body(stop) is None
    assert "Idempotency-Key" in launch.kwargs["headers"]  # launching is not idempotent
    assert "Idempotency-Key" not in stop.kwargs["headers"]


async def test_a_launch_that_conflicts_is_a_conflict_error_and_is_not_retried(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(LAUNCH, status=409, payload={"detail": "Campaign is already running"}, repeat=True)
    with pytest.raises(ca.ConflictError, match="already running"):
        await session.campaigns.launch("cmp_1", extra_body={"dry_run": False})
    [request] = sent(mock, "POST", LAUNCH)
    assert body(request) == {"dry_run": False}


# --- call control ---------------------------------------------------------------------------


async def test_transfer_posts_its_fields_and_returns_the_call(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(TRANSFER, payload={"status": "transferred", "agent": "Sam"})
    call = await session.calls.transfer(CALL, queue="sales", warm=True)
    [request] = sent(mock, "POST", TRANSFER)
    assert body(request) == {"queue": "sales", "warm": True}
    assert "Idempotency-Key" in request.kwargs["headers"]
    assert isinstance(call, ca.Call)
    assert (call.call_id, call.status, call.extra) == (CALL, "transferred", {"agent": "Sam"})


async def test_a_call_that_is_not_active_is_a_conflict_error(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    detail = {"detail": "Call is not currently active"}
    mock.post(TRANSFER, status=409, payload=detail)
    mock.post(END, status=409, payload=detail)
    for action in (session.calls.transfer(CALL), session.calls.end(CALL)):
        with pytest.raises(ca.ConflictError) as info:
            await action
        assert info.value.message == "Call is not currently active"
        assert info.value.status_code == 409
    assert len(sent(mock, "POST", TRANSFER)) == len(sent(mock, "POST", END)) == 1


async def test_no_agents_available_is_a_server_error_with_that_message(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(
        TRANSFER,
        status=503,
        payload={"detail": "No agents available in target queue"},
        repeat=True,
    )
    with pytest.raises(ca.ServerError) as info:
        await session.calls.transfer(CALL, queue="sales")
    assert not isinstance(info.value, ca.OutcomeUnknownError)
    assert info.value.message == "No agents available in target queue"
    assert info.value.status_code == 503
    # A 503 proves nothing happened, so even a transfer is tried again (max_retries=2).
    assert len(sent(mock, "POST", TRANSFER)) == 3


async def test_end_and_set_metadata_return_the_call(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(END, payload={"id": CALL, "status": "completed", "ended_reason": "ended-by-api"})
    mock.post(METADATA, payload={"callId": CALL, "metadata": {"intent": "callback"}})
    ended = await session.calls.end(CALL)
    annotated = await session.calls.set_metadata(CALL, {"intent": "callback"})
    assert ended.call_id == CALL and ended.status == ca.CallStatus.COMPLETED
    assert annotated.metadata == {"intent": "callback"}
    [end] = sent(mock, "POST", END)
    [meta] = sent(mock, "POST", METADATA)
    assert body(end) is None
    assert body(meta) == {"intent": "callback"}  # the body is the metadata: the path says so
    assert "Idempotency-Key" not in meta.kwargs["headers"]  # setting a value is repeatable


async def test_end_is_retried_like_a_read_since_ending_twice_does_no_harm(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.post(END, status=502, payload={"detail": "Bad Gateway"})
    mock.post(END, status=204, body=b"")
    call = await session.calls.end(CALL)
    assert call == ca.Call(call_id=CALL)
    assert len(sent(mock, "POST", END)) == 2


async def test_agent_availability_reads_counts_and_queues(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    mock.get(
        re.compile(rf"^{re.escape(AVAILABILITY)}(\?.*)?$"),
        payload={
            "available": 2,
            "busy": 1,
            "queues": [{"name": "sales", "available": 2, "busy": 1}],
            "updated": "now",
        },
    )
    availability = await session.agents.availability(extra_query={"queue": "sales"})
    assert isinstance(availability, ca.AgentAvailability)
    assert availability.available == 2 and availability.busy == 1
    assert availability.queues == [{"name": "sales", "available": 2, "busy": 1}]
    assert availability.extra == {"updated": "now"}
    [(method, url)] = mock.requests
    assert method == "GET" and url.query == {"queue": "sales"}


async def test_call_ids_are_checked_before_sending(
    mock: aioresponses, session: ca.AsyncSession
) -> None:
    for action in (
        session.calls.end(".."),
        session.calls.transfer(""),
        session.calls.set_metadata("a\nb", {}),
        session.campaigns.launch(".."),
    ):
        with pytest.raises(ca.ValidationError):
            await action
    assert mock.requests == {}


# --- the route table: paths, limits ---------------------------------------------------------


async def test_paths_are_overridable_per_session(mock: aioresponses) -> None:
    paths = {
        "contacts.create": "/api/v2/contacts",
        "calls.end": "/api/v2/calls/{call_id}/hangup",
        "agents.availability": "/api/v2/availability",
    }
    mock.post(f"{BASE}/api/v2/contacts", payload={"id": "ct_1"})
    mock.post(f"{BASE}/api/v2/calls/{CALL}/hangup", payload={})
    mock.get(f"{BASE}/api/v2/availability", payload={"available": 0})
    async with ca.AsyncSession(api_key=_key(), rate_limits=None, paths=paths) as s:
        await s.contacts.create(phone="+905551230001")
        await s.calls.end(CALL)
        assert (await s.agents.availability()).available == 0
    assert len(mock.requests) == 3
    with pytest.raises(ca.ConfigurationError, match="placeholders"):
        ca.AsyncSession(api_key=_key(), paths={"calls.end": "/api/v2/calls/end"})


def test_seed_002_limits_are_applied_by_default_and_overridable() -> None:
    s = ca.AsyncSession(api_key=_key())
    assert s._limiter is not None
    route = s._routes["contacts.bulk_create"]
    assert s._limiter.buckets(route) == ("POST /v1/contacts/bulk", "api:seed-002")
    assert s._limiter._fixed["POST /v1/contacts/bulk"].target.per_second == pytest.approx(10 / 60)
    assert s._limiter._fixed["api:seed-002"].target.per_second == pytest.approx(100 / 60)
    launch = s._routes["campaigns.launch"]
    assert s._limiter._fixed[s._limiter.buckets(launch)[0]].target.per_second == pytest.approx(
        5 / 60
    )
    # Calleague's own routes are not paced by seed 002's "100/minute".
    assert s._limiter.buckets(s._routes["calls.get"]) == ()
    faster = ca.AsyncSession(api_key=_key(), rate_limits={"POST /v1/contacts/bulk": "60/minute"})
    assert faster._limiter is not None
    bucket = faster._limiter._fixed["POST /v1/contacts/bulk"]
    assert bucket.target.per_second == pytest.approx(1.0)


async def test_launches_are_paced_at_five_a_minute_on_fake_time(
    mock: aioresponses, vclock: VirtualClock
) -> None:
    times: list[float] = []

    def launched(url: Any, **kwargs: Any) -> CallbackResult:
        times.append(vclock.now)
        return CallbackResult(payload={"id": "cmp_1", "status": "running"})

    mock.post(LAUNCH, callback=launched, repeat=True)
    async with ca.AsyncSession(api_key=_key(), max_wait=None) as s:
        assert s._limiter is not None
        s._limiter._clock, s._limiter._sleep = vclock.time, vclock.sleep
        await vclock.run(*(s.campaigns.launch("cmp_1") for _ in range(4)))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4 and all(12.0 <= gap < 13.0 for gap in gaps)


async def test_bulk_batches_queue_behind_ten_a_minute_instead_of_failing_max_wait(
    mock: aioresponses, vclock: VirtualClock
) -> None:
    times: list[float] = []

    def imported(url: Any, **kwargs: Any) -> CallbackResult:
        times.append(vclock.now)
        return _bulk_reply(url, **kwargs)

    mock.post(BULK, callback=imported, repeat=True)
    # max_wait=1 would fail a lone request held 6 s; a bulk import queues by design.
    async with ca.AsyncSession(api_key=_key(), max_wait=1) as s:
        assert s._limiter is not None
        s._limiter._clock, s._limiter._sleep = vclock.time, vclock.sleep

        async def run() -> list[ca.BulkResult]:
            return [r async for r in s.contacts.bulk_create(_rows(5), batch_size=1)]

        [results] = await vclock.run(run())
    assert all(r.ok for r in results) and len(times) == 5
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(6.0 <= gap < 6.5 for gap in gaps)  # 10/minute, less the small safety margin


# --- raw responses, groups, models ----------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "method", "args", "kwargs", "verb", "url"),
    [
        ("contacts", "create", (), {"phone": "+905551230001", "name": "A"}, "post", CONTACTS),
        ("contacts", "update", ("ct_1",), {"name": "A"}, "patch", f"{CONTACTS}/ct_1"),
        ("campaigns", "launch", ("cmp_1",), {}, "post", LAUNCH),
        ("campaigns", "stop", ("cmp_1",), {}, "post", STOP),
        ("calls", "transfer", (CALL,), {"queue": "sales"}, "post", TRANSFER),
        ("calls", "end", (CALL,), {}, "post", END),
        ("calls", "set_metadata", (CALL, {"a": 1}), {}, "post", METADATA),
        ("agents", "availability", (), {}, "get", AVAILABILITY),
    ],
)
async def test_every_new_method_has_a_raw_response(
    mock: aioresponses,
    session: ca.AsyncSession,
    group: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    verb: str,
    url: str,
) -> None:
    getattr(mock, verb)(url, status=201, payload={"id": "x_1"}, headers={"X-Request-Id": "r1"})
    raw = await getattr(getattr(session, group).with_raw_response, method)(*args, **kwargs)
    assert (raw.status, raw.request_id, raw.attempts) == (201, "r1", 1)
    assert raw.parse() is not None


async def test_the_new_groups_hang_on_the_session() -> None:
    assert ca.AsyncSession.contacts is Contacts and ca.AsyncSession.campaigns is Campaigns
    async with ca.AsyncSession(api_key=_key(), rate_limits=None) as s:
        assert isinstance(s.contacts, Contacts) and s.contacts is s.contacts
        assert isinstance(s.campaigns, Campaigns)


def test_models_are_lenient_and_serialise_back() -> None:
    contact = structure(
        {"contactId": "ct_1", "phone": 905551230001, "createdAt": "2026-01-01T12:00:00Z"},
        ca.Contact,
    )
    assert contact.contact_id == "ct_1"
    assert contact.phone == 905551230001  # type: ignore[comparison-overlap]  # raw kept
    assert contact.to_dict()["created_at"] == "2026-01-01T12:00:00.000Z"
    assert contact.to_dict(wire=True)["id"] == "ct_1"
    availability = structure({"queues": {"sales": 1}}, ca.AgentAvailability)
    assert availability.available is None and availability.queues == {"sales": 1}  # type: ignore[comparison-overlap]
    campaign = ca.Campaign(campaign_id="cmp_1", status="running", extra={"name": "Daily"})
    assert campaign.to_dict(wire=True) == {
        "id": "cmp_1",
        "status": "running",
        "config": None,
        "name": "Daily",
    }
    result = ca.BulkResult(batch=0, indexes=(0,))
    assert result.ok and result.sent == 1 and attrs.evolve(result, batch=2).batch == 2


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def _names(cls: type[Any]) -> list[str]:
    return sorted({w for f in attrs.fields(cls) for w in (*f.metadata.get("wire", ()), f.name)})


@pytest.mark.parametrize("cls", [ca.Contact, ca.Campaign, ca.AgentAvailability])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_to_dict_wire_decodes_back_to_an_equal_model(cls: type[Any], data: st.DataObject) -> None:
    keys = st.sampled_from(_names(cls)) | st.text(max_size=8)
    model = structure(data.draw(st.dictionaries(keys, _values, max_size=10)), cls)
    wire = model.to_dict(wire=True)
    assert structure(wire, cls) == model
    for out in (wire, model.to_dict()):
        assert json.loads(json.dumps(out)) == out
