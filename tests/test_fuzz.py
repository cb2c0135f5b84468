"""Fuzzing the decoders: any reply is data or a CalleagueError, any record a model.

Fast enough for the normal suite. ``CALLEAGUE_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py``
(what ``nox -s fuzz`` runs) tries many more examples per test.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import calleague_async as ca
from calleague_async import _wire
from calleague_async._convert import structure
from calleague_async._wire import ListPayload, Reply, decode
from calleague_async.errors import scrub_error

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("CALLEAGUE_FUZZ_EXAMPLES", "0")) or None


def fuzz(default: int) -> settings:
    """Hypothesis settings: ``default`` examples, or ``CALLEAGUE_FUZZ_EXAMPLES``."""
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        database=None,  # nothing written into the working tree; failures print their example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- what servers send --------------------------------------------------------------------

# The keys the decoders look at, so shaped bodies (envelopes, error bodies, lists) come often.
KEYS = [
    "code",
    "statusText",
    "data",
    "message",
    "detail",
    "error",
    "title",
    "request_id",
    "requestId",
    "total",
    "list",
    "items",
    "loc",
    "msg",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["²", "١٢", "-1", "0", "7", "1" * 30, "ok", "success", "", "\ud800", 404])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _deep(depth: int, closed: bool, wrap: str) -> bytes:
    inner = "[" * depth + ("]" * depth if closed else "")
    return wrap.replace("@", inner).encode()


deep_bodies = st.builds(
    _deep,
    st.integers(min_value=1, max_value=100_000),
    st.booleans(),
    st.sampled_from(
        [
            "@",
            '{"message": "x", "detail": @}',
            '{"code": 200, "data": @}',
            '{"code": 500, "statusText": "x", "data": @}',
            '{"total": 1, "list": [@]}',
        ]
    ),
)


def _encode(value: Any, how: str) -> bytes:
    if how == "nan":
        return json.dumps(value, allow_nan=True).encode()
    text = json.dumps(value, ensure_ascii=how == "ascii")
    return text.encode("utf-8", "surrogatepass") if how == "raw" else text.encode()


bodies = st.one_of(
    st.builds(_encode, json_values, st.sampled_from(["ascii", "raw", "nan"])),
    st.binary(max_size=64),
    deep_bodies,
    st.sampled_from(
        [b"", b"   ", b"null", b"NaN", b"1e999", b'"\\ud800"', b"\xef\xbb\xbf{}", b"1" * 5000]
    ),
)
header_names = st.sampled_from(
    ["Retry-After", "Content-Type", "X-Request-Id", "Request-Id", "X-RateLimit-Reset"]
) | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=10)
header_values = st.text(max_size=30) | st.sampled_from(
    [
        "1e400",
        "nan",
        "-inf",
        "-5",
        "99999999999999999999",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Mon, 01 Jan 99999 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 -2359",
        "text/html; charset=\x00",
        "application/json; charset=utf-16",
    ]
)
replies = st.builds(
    Reply,
    st.integers(min_value=100, max_value=599),
    st.dictionaries(header_names, header_values, max_size=4),
    bodies,
    st.text(max_size=10),
)


@contextmanager
def loader(name: str) -> Iterator[None]:
    """Decode with orjson (when installed) or with the stdlib parser alone."""
    saved = _wire._loads
    if name == "stdlib":
        _wire._loads = _wire._stdlib_loads
    try:
        yield
    finally:
        _wire._loads = saved


# --- the properties -----------------------------------------------------------------------


def check_decode(reply: Reply, expect: Any) -> None:
    error: ca.CalleagueError | None = None
    try:
        data = decode(reply, method="GET", path="/fuzz", expect=expect, now=1_000_000.0)
    except ca.CalleagueError as exc:
        error = exc
    if error is not None:
        # An error must also travel and print: pickled, scrubbed, shown.
        assert isinstance(error, ca.APIError)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        repr(scrub_error(error, ["sk_fuzz"]).__dict__)
        wait = getattr(error, "retry_after", None)
        assert wait is None or wait >= 0
        return
    assert 200 <= reply.status < 300
    if expect == "object":
        assert isinstance(data, dict)
    elif expect == "list":
        assert isinstance(data, ListPayload)
        assert all(isinstance(item, dict) for item in data.items)
        assert data.total is None or (isinstance(data.total, int) and data.total >= 0)


@fuzz(default=400)
@given(reply=replies)
def test_any_reply_decodes_to_data_or_our_error(reply: Reply) -> None:
    # Each example is tried on both parsers and for every expected shape: six decodes.
    for parser in ("fast", "stdlib"):
        with loader(parser):
            for expect in ("any", "object", "list"):
                check_decode(reply, expect)


wire_names = st.sampled_from(
    [
        "callId",
        "id",
        "call_id",
        "status",
        "direction",
        "agentId",
        "agent_id",
        "to",
        "metadata",
        "durationSec",
        "endedReason",
        "language",
        "recordingReady",
        "transcriptReady",
        "createdAt",
        "endedAt",
        "name",
        "webhookId",
        "url",
        "events",
        "secret",
        "extra",
    ]
)
field_values = json_values | st.sampled_from(
    [
        "2026-01-01T12:00:00Z",
        "2026-13-01",
        1e300,
        -1e300,
        10**20,
        1767268800000,
        ["call.ended"],
        "in-progress",
    ]
)
records = st.dictionaries(wire_names | st.text(max_size=8), field_values, max_size=12)


@fuzz(default=400)
@given(raw=records)
def test_any_json_object_decodes_to_a_model(raw: dict[str, Any]) -> None:
    for cls in (ca.Call, ca.Agent, ca.Webhook):
        model = structure(raw, cls)
        assert type(model) is cls
        repr(model)


@fuzz(default=100)
@given(raw=json_values.filter(lambda v: not isinstance(v, dict)))
def test_anything_but_an_object_is_an_invalid_response(raw: Any) -> None:
    for cls in (ca.Call, ca.Agent, ca.Webhook):
        with pytest.raises(ca.InvalidResponseError):
            structure(raw, cls)
