"""Webhook events in (``_webhook.py``): Standard Webhooks verification and lenient parsing.

Signatures are checked against the scheme's published test vector and against an HMAC
computed here, independently of the SDK's own signing code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

import calleague_async as ca
from calleague_async import _webhook
from calleague_async._convert import structure
from calleague_async.testing import SandboxServer
from calleague_async.webhooks import sign_webhook
from tests.test_fuzz import fuzz

NOW = 1_767_268_800  # 2026-01-01T12:00:00Z
FULLWIDTH_NOW = "".join(chr(0xFF10 + int(d)) for d in str(NOW))  # digits, but not ASCII ones
SECRET = "whsec_" + base64.b64encode(b"calleague-webhook-test-key-24b").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-key-for-rotation").decode()

CALL_ENDED: dict[str, Any] = {
    "id": "evt_1",
    "type": "call.ended",
    "createdAt": "2026-01-01T12:01:24.000Z",
    "data": {
        "callId": "cl_8f2a",
        "status": "completed",
        "durationSec": 84,
        "endedReason": "completed",
        "transcriptReady": True,
        "transcript": [
            {"role": "agent", "text": "Merhaba, Calleague'den ar\u0131yorum."},
            {"role": "user", "text": "Evet?"},
        ],
        "metadata": {"orderId": "A-1042"},
    },
}


def reference_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The scheme written out here, from its text, not from the SDK."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def delivery(
    payload: Any = CALL_ENDED,
    *,
    secret: str = SECRET,
    msg_id: str = "msg_1",
    timestamp: int = NOW,
) -> tuple[bytes, dict[str, str]]:
    body = (
        payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    )
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": reference_signature(secret, msg_id, timestamp, body),
    }
    return body, headers


def parse(body: bytes | str, headers: Any, **kwargs: Any) -> ca.WebhookEvent:
    kwargs.setdefault("secret", SECRET)
    return ca.parse_webhook(body, headers, now=lambda: NOW, **kwargs)


def refused(body: bytes | str, headers: Any, **kwargs: Any) -> ca.WebhookVerificationError:
    with pytest.raises(ca.WebhookVerificationError) as caught:
        parse(body, headers, **kwargs)
    assert SECRET.removeprefix("whsec_") not in repr(caught.value)
    return caught.value


# --- the signature scheme ------------------------------------------------------------------


def test_sign_reproduces_the_published_standard_webhooks_test_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert _webhook.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    assert reference_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": expected,
    }
    event = ca.parse_webhook(body, headers, secret=secret, now=lambda: 1614265330)
    assert event.id == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert event.payload == {"test": 2432232314}


def test_sign_and_sign_webhook_agree_with_the_scheme_written_out() -> None:
    body = json.dumps(CALL_ENDED).encode()
    assert _webhook.sign(SECRET, "msg_1", NOW, body) == reference_signature(
        SECRET, "msg_1", NOW, body
    )
    headers = sign_webhook(body, SECRET, msg_id="msg_7", timestamp=NOW)
    assert headers["webhook-signature"] == reference_signature(
        SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), body
    )


def test_new_secrets_are_whsec_base64_and_different_each_time() -> None:
    first, second = _webhook.new_secret(), _webhook.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(_webhook.secret_key(first)) == 24


def test_a_delivery_signed_by_the_scheme_verifies_and_parses() -> None:
    event = parse(*delivery())
    assert event.id == "evt_1"
    assert event.type == "call.ended"
    assert event.created_at == datetime(2026, 1, 1, 12, 1, 24, tzinfo=UTC)
    assert event.data == CALL_ENDED["data"]
    assert event.payload == CALL_ENDED


def test_the_default_clock_is_now() -> None:
    body = json.dumps(CALL_ENDED).encode()
    event = ca.parse_webhook(body, sign_webhook(body, SECRET), secret=SECRET)
    assert event.type == "call.ended"


def test_one_valid_signature_among_several_is_enough() -> None:
    body, headers = delivery()
    valid = headers["webhook-signature"]
    headers["webhook-signature"] = " ".join(
        [
            "v1,bm9wZQ==",  # base64, wrong digest
            "v1,not base64!",
            "v1,çok",  # not even ASCII
            "v1,",
            "garbage",
            valid,
        ]
    )
    assert parse(body, headers).id == "evt_1"


def test_a_sender_rotating_its_secret_signs_with_both_and_either_verifies() -> None:
    body, headers = delivery()
    rotated = reference_signature(OTHER_SECRET, "msg_1", NOW, body)
    headers["webhook-signature"] = f"{rotated} {headers['webhook-signature']}"
    assert parse(body, headers, secret=SECRET).id == "evt_1"
    assert parse(body, headers, secret=OTHER_SECRET).id == "evt_1"


def test_a_receiver_mid_rotation_accepts_the_old_or_the_new_secret() -> None:
    for signer in (SECRET, OTHER_SECRET):
        body, headers = delivery(secret=signer)
        assert parse(body, headers, secret=[OTHER_SECRET, SECRET]).type == "call.ended"
    body, headers = delivery(secret=_webhook.new_secret())
    assert refused(body, headers, secret=[OTHER_SECRET, SECRET]).reason == "no signature matched"


def test_the_secret_prefix_is_optional() -> None:
    assert parse(*delivery(), secret=SECRET.removeprefix("whsec_")).id == "evt_1"


def test_only_v1_signatures_count() -> None:
    body, headers = delivery()
    digest = headers["webhook-signature"].removeprefix("v1,")
    headers["webhook-signature"] = f"v1a,{digest} v2,{digest}"
    assert refused(body, headers).reason == "no signature matched"


def test_a_tampered_body_fails() -> None:
    body, headers = delivery()
    tampered = body.replace(b"completed", b"failed")
    assert refused(tampered, headers).reason == "no signature matched"


def test_a_body_signed_with_another_secret_fails() -> None:
    assert refused(*delivery(secret=OTHER_SECRET)).reason == "no signature matched"


@pytest.mark.parametrize(
    ("header", "value"),
    [("webhook-id", "msg_2"), ("webhook-timestamp", str(NOW + 1))],
)
def test_a_tampered_id_or_timestamp_fails(header: str, value: str) -> None:
    body, headers = delivery()
    headers[header] = value
    assert refused(body, headers).reason == "no signature matched"


@pytest.mark.parametrize("offset", [-301, 301, -86_400 * 365, 10**9])
def test_timestamps_outside_the_tolerance_fail_both_ways(offset: int) -> None:
    # Signed correctly, at that time: only the clock check can refuse it.
    body, headers = delivery(timestamp=NOW + offset)
    assert refused(body, headers).reason == "timestamp outside tolerance"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_the_tolerance_pass(offset: int) -> None:
    assert parse(*delivery(timestamp=NOW + offset)).id == "evt_1"


def test_the_tolerance_is_the_callers() -> None:
    body, headers = delivery(timestamp=NOW - 3600)
    assert parse(body, headers, tolerance=7200).id == "evt_1"
    assert refused(body, headers, tolerance=60).reason == "timestamp outside tolerance"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    body, headers = delivery()
    del headers[missing]
    assert refused(body, headers).reason == f"missing header {missing}"
    headers[missing] = ""
    assert refused(body, headers).reason == f"missing header {missing}"


def test_no_headers_at_all_with_a_secret_is_a_missing_header() -> None:
    body, _ = delivery()
    assert refused(body, None).reason == "missing header webhook-id"
    assert refused(body, {}).reason == "missing header webhook-id"


@pytest.mark.parametrize("stamp", ["soon", "-5", "1.5e9", FULLWIDTH_NOW, "9" * 5000, "²"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(stamp: str) -> None:
    body, headers = delivery()
    headers["webhook-timestamp"] = stamp
    assert refused(body, headers).reason == "invalid header webhook-timestamp"


@pytest.mark.parametrize(
    "make",
    [
        lambda h: {k.upper(): v for k, v in h.items()},
        lambda h: {k.title(): v for k, v in h.items()},
        lambda h: CIMultiDict({k.title(): v for k, v in h.items()}),
    ],
    ids=["upper", "title", "multidict"],
)
def test_headers_are_found_whatever_their_case_and_mapping(make: Any) -> None:
    body, headers = delivery()
    assert parse(body, make(headers)).id == "evt_1"


def test_a_str_body_is_verified_over_its_utf8_bytes() -> None:
    body, headers = delivery()
    assert "\u0131" in body.decode()  # non-ASCII, so a wrong encoding would not verify
    event = parse(body.decode("utf-8"), headers)
    assert event.call is not None and event.call.transcript == CALL_ENDED["data"]["transcript"]


def test_a_str_body_that_no_bytes_decode_to_is_refused() -> None:
    body, headers = delivery()
    assert refused(body.decode() + "\ud800", headers).reason == "no signature matched"


@pytest.mark.parametrize(
    "secret",
    ["whsec_not base64!", "whsec_abc", "whsec_", "", "whsec_çok", b"whsec_abcd", []],
    ids=["spaces", "padding", "empty-key", "empty", "non-ascii", "bytes", "no-secrets"],
)
def test_a_secret_that_is_not_whsec_base64_is_a_configuration_error(secret: Any) -> None:
    body, headers = delivery()
    with pytest.raises(ca.ConfigurationError) as caught:
        ca.parse_webhook(body, headers, secret=secret, now=lambda: NOW)
    text = str(caught.value)
    assert "webhook secret" in text
    if isinstance(secret, str) and secret.removeprefix("whsec_"):
        assert secret.removeprefix("whsec_") not in text
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


@pytest.mark.parametrize("tolerance", [-1, float("nan"), "300"])
def test_a_tolerance_that_is_no_number_of_seconds_is_a_configuration_error(
    tolerance: Any,
) -> None:
    with pytest.raises(ca.ConfigurationError, match="tolerance"):
        parse(*delivery(), tolerance=tolerance)


def test_verification_errors_pickle_and_never_carry_the_secret_or_the_expected_digest() -> None:
    body, headers = delivery()
    expected = headers["webhook-signature"].removeprefix("v1,")
    headers["webhook-signature"] = "v1,bm9wZQ=="
    error = refused(body, headers)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ca.WebhookVerificationError
    assert copy.reason == "no signature matched" and str(copy) == str(error)
    text = repr(error) + str(error) + repr(vars(error))
    assert SECRET not in text and expected not in text
    assert isinstance(error, ca.CalleagueError)
    invalid = pickle.loads(pickle.dumps(ca.InvalidWebhookError("not JSON")))
    assert invalid.reason == "not JSON" and isinstance(invalid, ValueError)


def test_without_a_secret_nothing_is_verified() -> None:
    body, headers = delivery(secret=OTHER_SECRET)
    event = ca.parse_webhook(body, headers)
    assert event.id == "evt_1"
    assert ca.parse_webhook(body).type == "call.ended"


# --- the body ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"not json",
        b'{"type": "call.ended"',  # cut off
        b"[1, 2]",
        b"42",
        b'"call.ended"',
        b"null",
        b"\xff\xfe\x00",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
    ],
    ids=[
        "empty",
        "blank",
        "text",
        "cut",
        "array",
        "number",
        "string",
        "null",
        "binary",
        "deep",
        "deep-obj",
    ],
)
def test_a_body_that_is_no_json_object_is_an_invalid_webhook_error(body: bytes) -> None:
    with pytest.raises(ca.InvalidWebhookError) as caught:
        ca.parse_webhook(body)
    assert isinstance(caught.value, ca.CalleagueError)
    assert len(str(caught.value)) < 300


def test_a_signed_body_that_is_no_json_object_is_invalid_after_it_verified() -> None:
    body, headers = delivery(b"[1, 2]")
    with pytest.raises(ca.InvalidWebhookError, match="expected a JSON object, got list"):
        parse(body, headers)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "type",
                    "event",
                    "data",
                    "call",
                    "callId",
                    "status",
                    "createdAt",
                    "timestamp",
                ]
            )
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@pytest.mark.fuzz
@fuzz(default=300)
@given(body=st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_are_an_event_or_a_calleague_error(body: bytes) -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW)}
    try:
        event = ca.parse_webhook(body, headers)
    except ca.CalleagueError:
        return
    assert isinstance(event, ca.WebhookEvent)
    assert isinstance(event.payload, dict)
    assert event.call is None or isinstance(event.call, ca.Call)
    repr(event)


@pytest.mark.fuzz
@fuzz(default=200)
@given(body=st.binary(max_size=200), stamp=st.text(max_size=12), signature=st.text(max_size=40))
def test_any_signed_looking_delivery_is_an_event_or_a_calleague_error(
    body: bytes, stamp: str, signature: str
) -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": stamp, "webhook-signature": signature}
    with pytest.raises(ca.WebhookVerificationError):
        ca.parse_webhook(body, headers, secret=SECRET, now=lambda: NOW)


# --- the envelope --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["type", "event"])
def test_the_type_is_read_from_type_or_event(key: str) -> None:
    event = ca.parse_webhook(json.dumps({key: "call.started", "data": {}}))
    assert event.type == "call.started"


def test_an_unknown_type_is_kept_as_it_came_and_no_type_is_none() -> None:
    assert ca.parse_webhook(b'{"type": "agent.updated", "data": {}}').type == "agent.updated"
    assert ca.parse_webhook(b'{"data": {}}').type is None


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ({"createdAt": "2026-01-01T12:00:00Z"}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ({"created_at": "2026-01-01T15:00:00+03:00"}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ({"createdAt": NOW}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ({"timestamp": NOW * 1000}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ({"timestamp": "2026-01-01T12:00:00"}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
    ],
    ids=["iso-z", "iso-offset", "epoch", "epoch-ms", "naive-is-utc"],
)
def test_created_at_is_read_from_iso_or_epoch(stamp: dict[str, Any], expected: datetime) -> None:
    event = ca.parse_webhook(json.dumps({"type": "call.queued", **stamp, "data": {}}))
    assert event.created_at == expected


def test_created_at_falls_back_to_the_delivery_timestamp() -> None:
    body = b'{"type": "call.queued", "createdAt": "yesterday", "data": {}}'
    event = ca.parse_webhook(body, {"webhook-timestamp": str(NOW)})
    assert event.created_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert ca.parse_webhook(body).created_at is None


def test_the_id_is_the_envelopes_else_the_webhook_id_header() -> None:
    with_id = json.dumps({"id": "evt_9", "type": "call.ended", "data": {}})
    assert ca.parse_webhook(with_id, {"webhook-id": "msg_9"}).id == "evt_9"
    without = json.dumps({"type": "call.ended", "data": {}})
    assert ca.parse_webhook(without, {"Webhook-Id": "msg_9"}).id == "msg_9"
    assert ca.parse_webhook(without).id is None
    assert ca.parse_webhook(json.dumps({"id": 42, "type": "x"})).id == "42"


@pytest.mark.parametrize("key", ["data", "call"])
def test_the_call_comes_from_data_or_call(key: str) -> None:
    event = ca.parse_webhook(json.dumps({"type": "call.ended", key: CALL_ENDED["data"]}))
    assert event.data == CALL_ENDED["data"]
    assert event.call is not None
    assert event.call.call_id == "cl_8f2a"
    assert event.call.status is ca.CallStatus.COMPLETED


def test_call_ended_carries_the_call_with_its_transcript() -> None:
    call = parse(*delivery()).call
    assert call == structure(CALL_ENDED["data"], ca.Call)
    assert call.transcript == CALL_ENDED["data"]["transcript"]
    assert call.duration_sec == 84 and call.metadata == {"orderId": "A-1042"}
    assert call.extra == {}
    assert "Merhaba" not in repr(call)  # what was said stays out of logs


def test_a_transcript_may_be_one_text() -> None:
    event = ca.parse_webhook(
        json.dumps({"type": "call.ended", "data": {"callId": "c", "transcript": "Hello?"}})
    )
    assert event.call is not None and event.call.transcript == "Hello?"


def test_seed_003s_call_record_in_a_call_queued_event() -> None:
    record = {
        "id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "direction": "outbound",
        "status": "queued",
        "to_number": "+15551234567",
        "metadata": {"crm_id": "lead_8821"},
        "transcript": None,
        "created_at": "2026-06-01T14:00:01Z",
    }
    event = ca.parse_webhook(json.dumps({"event": "call.queued", "data": record}))
    assert event.call is not None
    assert event.call.call_id == "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    assert event.call.status is ca.CallStatus.QUEUED and event.call.transcript is None
    assert event.call.extra == {"to_number": "+15551234567"}


def test_a_call_nested_under_data_is_found() -> None:
    body = {"type": "call.started", "data": {"call": {"callId": "cl_1"}, "queue": "sales"}}
    event = ca.parse_webhook(json.dumps(body))
    assert event.call is not None and event.call.call_id == "cl_1"
    assert event.data == body["data"]


def test_a_flat_envelope_keeps_its_own_id_apart_from_the_calls() -> None:
    body = {"id": "evt_3", "type": "call.ended", "callId": "cl_3", "status": "completed"}
    event = ca.parse_webhook(json.dumps(body))
    assert event.id == "evt_3"
    assert event.call is not None and event.call.call_id == "cl_3"
    assert event.call.extra == {}
    assert event.data == body


def test_a_bare_call_record_is_a_call_with_the_deliverys_id() -> None:
    body = {"id": "cl_4", "status": "completed", "createdAt": "2025-01-01T00:00:00Z"}
    event = ca.parse_webhook(
        json.dumps(body), {"webhook-id": "msg_4", "webhook-timestamp": str(NOW)}
    )
    assert event.id == "msg_4" and event.type is None
    assert event.call is not None and event.call.call_id == "cl_4"
    assert event.created_at == datetime(
        2026, 1, 1, 12, tzinfo=UTC
    )  # the delivery's, not the call's


@pytest.mark.parametrize(
    "body",
    [
        {"type": "agent.updated", "data": {"id": "ag_1", "name": "Support"}},
        {"type": "call.ended", "data": {"status": "completed"}},  # no id
        {"type": "call.ended", "data": ["cl_1"]},
        {"type": "call.ended", "data": None},
        {"type": "ping", "id": "evt_5"},
        {"type": "call.ended", "call": {"status": "completed"}},
    ],
    ids=["agent", "no-id", "list", "null", "ping", "call-without-id"],
)
def test_data_that_is_not_a_call_gives_no_call(body: dict[str, Any]) -> None:
    assert ca.parse_webhook(json.dumps(body)).call is None


def test_a_call_event_whose_data_has_only_an_id_is_still_a_call() -> None:
    event = ca.parse_webhook(b'{"type": "call.queued", "data": {"id": "cl_6"}}')
    assert event.call is not None and event.call.call_id == "cl_6"


def test_the_event_repr_leaves_out_the_raw_data() -> None:
    event = parse(*delivery())
    assert "Merhaba" not in repr(event) and "evt_1" in repr(event)


# --- what the server returns ---------------------------------------------------------------


def test_a_calls_transcript_round_trips_through_to_dict() -> None:
    call = structure(CALL_ENDED["data"], ca.Call)
    assert call.to_dict()["transcript"] == CALL_ENDED["data"]["transcript"]
    assert structure(call.to_dict(wire=True), ca.Call) == call
    odd = structure({"callId": "c", "transcript": 5}, ca.Call)
    kept: object = odd.transcript
    assert kept == 5  # kept raw, as any field of the wrong type


async def test_the_secret_webhooks_create_returns_verifies_its_deliveries() -> None:
    async with (
        SandboxServer() as sb,
        ca.AsyncSession(api_key=sb.api_key, base_url=sb.base_url, rate_limits=None) as s,
    ):
        hook = await s.webhooks.create(url="https://example.com/hooks", events=["call.ended"])
    assert hook.secret is not None and hook.secret.startswith("whsec_")
    assert hook.secret not in repr(hook)
    body = json.dumps(CALL_ENDED).encode()
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": _webhook.sign(hook.secret, "msg_1", stamp, body),
    }
    assert ca.parse_webhook(body, headers, secret=hook.secret).type == "call.ended"
    with pytest.raises(ca.WebhookVerificationError):
        ca.parse_webhook(body, headers, secret=_webhook.new_secret())
