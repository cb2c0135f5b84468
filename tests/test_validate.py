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


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "bad", ["\ud800", "cl_\udfff", "a\nb", "a\rb", "a\x00", "a\x7f", "a\x85b", "a\u2028b"]
)
def test_ids_with_surrogates_or_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(ca.ValidationError, match="call_id"):
        _validate.identifier("call_id", bad)


@pytest.mark.parametrize("good", ["cl_8f2a", "çağr\u0131-1", "a b", "a/b?c"])
def test_ids_that_percent_encoding_can_carry_pass(good: str) -> None:
    assert _validate.identifier("call_id", good) == good


@pytest.mark.parametrize("depth", [_validate.MAX_JSON_DEPTH + 1, 5000])
def test_metadata_nested_too_deeply_is_refused(depth: int) -> None:
    with pytest.raises(ca.ValidationError, match="nests deeper"):
        _validate.json_object("metadata", nested(depth))


def test_metadata_at_the_depth_limit_passes() -> None:
    meta = nested(_validate.MAX_JSON_DEPTH)
    assert _validate.json_object("metadata", meta) == meta


def test_deep_lists_in_metadata_are_refused() -> None:
    value: list[object] = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(ca.ValidationError, match="nests deeper"):
        _validate.json_object("metadata", {"x": value})


def test_circular_metadata_is_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    loop.append(loop)
    with pytest.raises(ca.ValidationError, match="metadata"):
        _validate.json_object("metadata", {"x": loop})


@pytest.mark.parametrize(
    "bad", [{"s": "\ud800"}, {"\udfff": 1}, {"n": [{"s": "x\ud83d"}]}, {"n": {1: "a"}}]
)
def test_metadata_with_surrogates_or_nested_non_string_keys_is_refused(bad: object) -> None:
    with pytest.raises(ca.ValidationError, match="metadata"):
        _validate.json_object("metadata", bad)


@pytest.mark.parametrize(
    "bad",
    [
        "https://[::1",
        "https://example.com:99999/h",
        "https://example.com:abc/h",
        "https://exa\nmple.com/h",
        "https://example.com/h\t",
        "https://example.com/h ook",
        "https://example.com/\ud800",
        "https://example.com/\x00",
    ],
)
def test_webhook_urls_that_are_no_urls_are_refused(bad: str) -> None:
    with pytest.raises(ca.ValidationError, match="url"):
        _validate.webhook_url("url", bad)


@pytest.mark.parametrize("bad", [["call.ended\n"], ["\ud800"], ["a", "b\x00"]])
def test_event_names_with_control_characters_or_surrogates_are_refused(bad: object) -> None:
    with pytest.raises(ca.ValidationError, match="events"):
        _validate.string_list("events", bad)


@pytest.mark.parametrize("bad", ["\ud800", "completed\r\n", "x\x00"])
def test_filters_with_control_characters_or_surrogates_are_refused(bad: str) -> None:
    with pytest.raises(ca.ValidationError, match="status"):
        _validate.optional_str("status", bad)


def deep_list(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "bad", [deep_list(5000), deep_list(40), math.inf, {"k": {2: 1}}, "\ud800", {1, 2}]
)
def test_any_json_value_follows_the_rules_of_metadata(bad: object) -> None:
    with pytest.raises(ca.ValidationError, match="json"):
        _validate.json_value("json", bad)


def test_a_plain_json_value_passes() -> None:
    assert _validate.json_value("json", [1, "a", {"b": None}]) == [1, "a", {"b": None}]


@pytest.mark.parametrize("bad", ["GE T", "GET\r\n", "", 5, "G\u00c9T"])
def test_http_methods_must_be_tokens(bad: object) -> None:
    with pytest.raises(ca.ValidationError, match="method"):
        _validate.http_method("method", bad)


def test_http_method_is_upper_cased() -> None:
    assert _validate.http_method("method", "patch") == "PATCH"


@pytest.mark.parametrize(
    "bad", ["x", "/x y", "/x\r\nX-Injected: 1", "/\ud800", "/çağr\u0131", "/x#top", 5, None]
)
def test_request_paths_must_be_visible_ascii(bad: object) -> None:
    with pytest.raises(ca.ValidationError, match="path"):
        _validate.request_path("path", bad)


def test_request_paths_may_carry_a_query() -> None:
    assert _validate.request_path("path", "/api/x%20y?page=1") == "/api/x%20y?page=1"
