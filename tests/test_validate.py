"""Client-side input checks: each bad value refused with a message naming the field."""

from __future__ import annotations

import math

import pytest

import calleague_async as ca
from calleague_async import _validate


@pytest.mark.parametrize("good", ["+903121234567", "+15551234567", "+4420794600"])
def test_e164_numbers_pass(good: str) -> None:
    assert _validate.phone_number("to", good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "903121234567",
        "+0312123456",
        "+90 312 123 4567",
        "+90312...",
        "+1234",
        "+1" + "2" * 15,
        905,
        None,
    ],
)
def test_non_e164_numbers_are_refused(bad: object) -> None:
    with pytest.raises(ca.ValidationError) as info:
        _validate.phone_number("to", bad)
    assert info.value.field == "to"
    assert "E.164" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("value", "ok"), [(1, True), (100, True), (0, False), (101, False), (True, False), ("5", False)]
)
def test_page_size_range(value: object, ok: bool) -> None:
    if ok:
        assert _validate.positive_int("page_size", value, maximum=100) == value
    else:
        with pytest.raises(ca.ValidationError, match="page_size"):
            _validate.positive_int("page_size", value, maximum=100)


@pytest.mark.parametrize(
    "bad", [{"when": object()}, {"x": math.nan}, {1: "a"}, ["a"], "text", {"s": {1, 2}}]
)
def test_metadata_must_be_a_json_object(bad: object) -> None:
    with pytest.raises(ca.ValidationError, match="metadata"):
        _validate.json_object("metadata", bad)


def test_metadata_copy_is_returned() -> None:
    meta = {"orderId": "A-1042", "n": [1, 2]}
    assert _validate.json_object("metadata", meta) == meta


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/hook", True),
        ("http://127.0.0.1:9000/hook", True),
        ("http://example.com/hook", False),
        ("example.com/hook", False),
        ("ftp://example.com", False),
    ],
)
def test_webhook_url(url: str, ok: bool) -> None:
    if ok:
        assert _validate.webhook_url("url", url) == url
    else:
        with pytest.raises(ca.ValidationError, match="url"):
            _validate.webhook_url("url", url)


@pytest.mark.parametrize("bad", [[], "call.ended", [""], [1], None])
def test_events_must_be_a_non_empty_list_of_strings(bad: object) -> None:
    with pytest.raises(ca.ValidationError, match="events"):
        _validate.string_list("events", bad)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("api.localhost", True),
        ("127.0.0.1.attacker.example", False),
        ("localhost.attacker.example", False),
        ("10.0.0.1", False),
        (None, False),
    ],
)
def test_loopback_detection(host: str | None, loopback: bool) -> None:
    assert _validate.is_loopback(host) is loopback
