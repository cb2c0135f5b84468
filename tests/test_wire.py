"""Reply decoding with plain data: both success shapes, every error body shape, bad bodies."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

import calleague_async as ca
from calleague_async._wire import ListPayload, Reply, decode, error_from_response, parse_retry_after


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(status, headers or {"Content-Type": "application/json"}, raw)


def test_bare_object_is_returned_as_is() -> None:
    data = decode(reply(200, {"callId": "cl_8f2a", "status": "ringing"}), expect="object")
    assert data == {"callId": "cl_8f2a", "status": "ringing"}


def test_envelope_is_unwrapped() -> None:
    body = {"code": 200, "statusText": "", "data": {"callId": "c1", "status": "queued"}}
    assert decode(reply(200, body), expect="object") == {"callId": "c1", "status": "queued"}


def test_envelope_list_is_unwrapped() -> None:
    body = {"code": 200, "data": {"total": 0, "list": []}}
    assert decode(reply(200, body), expect="list") == ListPayload(items=[], total=0)


@pytest.mark.parametrize(
    ("body", "items", "total"),
    [
        ({"total": 2, "list": [{"a": 1}, {"a": 2}]}, [{"a": 1}, {"a": 2}], 2),
        ({"total": 1, "items": [{"a": 1}]}, [{"a": 1}], 1),
        ([{"a": 1}], [{"a": 1}], None),  # a bare array says nothing of a total
        ({"total": 0}, [], 0),
        ({"list": [{"a": 1}]}, [{"a": 1}], None),
        ({"total": "7", "list": []}, [], 7),
        ({"total": "many", "list": []}, [], None),
    ],
)
def test_list_shapes(body: Any, items: list[Any], total: int | None) -> None:
    assert decode(reply(200, body), expect="list") == ListPayload(items=items, total=total)


def test_envelope_with_failure_code_is_an_error_despite_http_200() -> None:
    body = {"code": 404, "statusText": "Call not found", "data": None}
    with pytest.raises(ca.NotFoundError) as info:
        decode(reply(200, body), method="GET", path="/x")
    assert info.value.status_code == 404
    assert info.value.message == "Call not found"


def test_envelope_with_non_http_failure_code_is_a_bad_request() -> None:
    with pytest.raises(ca.BadRequestError) as info:
        decode(reply(200, {"code": 10012, "statusText": "agent busy", "data": None}))
    assert info.value.code == 10012
    assert "agent busy" in str(info.value)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ca.BadRequestError),
        (401, ca.AuthenticationError),
        (403, ca.PermissionDeniedError),
        (404, ca.NotFoundError),
        (409, ca.ConflictError),
        (422, ca.UnprocessableEntityError),
        (429, ca.RateLimitError),
        (500, ca.ServerError),
        (502, ca.ServerError),
        (503, ca.ServerError),
        (418, ca.APIError),
    ],
)
def test_every_status_maps_to_its_class(status: int, cls: type[ca.APIError]) -> None:
    with pytest.raises(cls) as info:
        decode(reply(status, {"code": status, "message": "nope"}), method="GET", path="/p")
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.message == "nope"
    assert err.code == status
    assert "GET /p" in str(err)


def test_seed_000_error_body() -> None:
    err = error_from_response(401, {}, {"code": 401, "message": "Invalid or missing API key"})
    assert isinstance(err, ca.AuthenticationError)
    assert (err.code, err.message) == (401, "Invalid or missing API key")


def test_detail_error_body_seed_002() -> None:
    err = error_from_response(
        429, {"Retry-After": "7"}, {"detail": "Rate limit exceeded: 10/minute"}
    )
    assert isinstance(err, ca.RateLimitError)
    assert err.message == "Rate limit exceeded: 10/minute"
    assert err.retry_after == 7.0


def test_fastapi_validation_detail_list_is_readable() -> None:
    body = {"detail": [{"loc": ["body", "to"], "msg": "bad phone"}, {"msg": "other"}]}
    err = error_from_response(422, {}, body)
    assert err.message == "to: bad phone; other"


def test_structured_error_body_seed_004() -> None:
    body = {
        "message": "Invalid API key.",
        "error": "Unauthorized",
        "code": "api_key_invalid",
        "statusCode": 401,
        "request_id": "3fa85f64",
    }
    err = error_from_response(401, {}, body)
    assert isinstance(err, ca.AuthenticationError)
    assert (err.message, err.code, err.request_id) == (
        "Invalid API key.",
        "api_key_invalid",
        "3fa85f64",
    )
    assert err.body == body


def test_request_id_comes_from_header_when_body_has_none() -> None:
    err = error_from_response(500, {"x-request-id": "req_1"}, {"message": "boom"})
    assert err.request_id == "req_1"


def test_non_json_error_body_still_gives_a_message() -> None:
    with pytest.raises(ca.ServerError) as info:
        decode(
            Reply(502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>", "Bad Gateway")
        )
    assert info.value.message == "<html>Bad Gateway</html>"


def test_empty_error_body_uses_reason_phrase() -> None:
    with pytest.raises(ca.ServerError) as info:
        decode(Reply(503, {}, b"", "Service Unavailable"))
    assert info.value.message == "Service Unavailable"


@pytest.mark.parametrize("body", [b'{"callId": "cl_1", "sta', b"<html>oops</html>", b"\xff\xfe"])
def test_malformed_2xx_body_is_invalid_response(body: bytes) -> None:
    with pytest.raises(ca.InvalidResponseError) as info:
        decode(Reply(200, {"Content-Type": "text/html"}, body), expect="object")
    assert info.value.status_code == 200
    assert "not valid JSON" in info.value.message


@pytest.mark.parametrize("body", [[1, 2], "text", None, 3])
def test_wrong_shape_for_object_is_invalid_response(body: Any) -> None:
    with pytest.raises(ca.InvalidResponseError, match="expected a JSON object"):
        decode(reply(200, body), expect="object")


@pytest.mark.parametrize(
    "body", [{"total": 3, "list": "nope"}, {"total": 3}, {"total": 1, "list": [1]}, "x"]
)
def test_wrong_shape_for_list_is_invalid_response(body: Any) -> None:
    with pytest.raises(ca.InvalidResponseError):
        decode(reply(200, body), expect="list")


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0.0
    # Wed, 21 Oct 2015 07:28:00 GMT is 1445412480; ten seconds before it:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_integers_beyond_64_bits_are_kept_exactly() -> None:
    body = b'{"callId": "c", "big": 123456789012345678901234567890}'
    assert decode(Reply(200, {}, body), expect="object")["big"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": -9500000000000000001, "m": 18446744073709551616}',
        b'{"n": NaN, "s": "x"}',
        b'{"s": "\\ud800"}',
        b'{"f": 0.1, "g": 1e-7, "h": 123456789012345678, "u": "\\u00e7"}',
    ],
)
def test_fast_parsing_is_exactly_the_stdlib(body: bytes) -> None:
    from calleague_async import _wire

    fast = decode(Reply(200, {}, body))
    slow = json.loads(body)
    assert repr(fast) == repr(slow)  # repr: NaN != NaN, and ints must stay ints
    assert _wire._loads(body) is not None


def test_the_stdlib_path_reads_what_the_fast_path_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from calleague_async import _wire

    monkeypatch.setattr(_wire, "_loads", _wire._stdlib_loads)
    assert decode(reply(200, {"code": 200, "data": {"total": 0, "list": []}}), expect="list") == (
        ListPayload(items=[], total=0)
    )
    with pytest.raises(ca.InvalidResponseError):
        decode(Reply(200, {}, b'{"cut'), expect="object")


# --- hostile bodies: data or a CalleagueError, never another exception -------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"msg": "bad phone", "loc": None}, "bad phone"),
        ({"msg": "bad phone", "loc": 3}, "3: bad phone"),
        ({"msg": "bad phone", "loc": "to"}, "to: bad phone"),
        ({"msg": "bad phone", "loc": {"at": "to"}}, "bad phone"),
        ({"msg": "bad phone", "loc": ["body", 0, None, "to"]}, "0.to: bad phone"),
        ({"msg": ["not", "text"]}, "['not', 'text']"),
        ({"msg": None, "loc": ["to"]}, "to: None"),
    ],
)
def test_validation_detail_of_any_shape_gives_a_message(item: Any, message: str) -> None:
    err = error_from_response(422, {}, {"detail": [item]})
    assert isinstance(err, ca.UnprocessableEntityError)
    assert err.message == message


@pytest.mark.parametrize("total", ["²", "١٢", "1" * 5000, "12" * 10, "-1", "", " 7"])
def test_a_total_that_is_no_plain_ascii_count_is_ignored(total: str) -> None:
    assert decode(reply(200, {"total": total, "list": []}), expect="list") == ListPayload([], None)


@pytest.mark.parametrize("rid", [["r"], {"id": "r"}, True, 1.5])
def test_a_request_id_that_is_no_string_is_ignored(rid: Any) -> None:
    err = error_from_response(500, {"X-Request-Id": "req_h"}, {"message": "x", "request_id": rid})
    assert err.request_id == "req_h"


@pytest.mark.parametrize(
    "value",
    [
        "1e400",
        "nan",
        "-inf",
        "Mon, 01 Jan 99999 00:00:00 GMT",
        "Mon, 99 Foo 2015 99:99:99 GMT",
        "\x00",
        "",
        "²",
    ],
)
def test_an_odd_retry_after_is_no_wait(value: str) -> None:
    assert parse_retry_after(value, now=0) is None


@pytest.mark.parametrize("loads", ["fast", "stdlib"])
@pytest.mark.parametrize("status", [200, 400, 500])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b"[" * 1000 + b"]" * 1000,
        b'{"message": "deep", "data": ' + b"[" * 900 + b"]" * 900 + b"}",
        b'{"code": 500, "statusText": "x", "data": ' + b"[" * 900 + b"]" * 900 + b"}",
        b'{"code": 200, "statusText": "", "data": ' + b"[" * 100_000 + b"}",
    ],
)
def test_deep_nesting_is_data_or_our_error(
    loads: str, status: int, body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calleague_async import _wire

    if loads == "stdlib":
        monkeypatch.setattr(_wire, "_loads", _wire._stdlib_loads)
    for expect in ("any", "object", "list"):
        error: ca.CalleagueError | None = None
        try:
            decode(Reply(status, {}, body), expect=expect)
        except ca.CalleagueError as exc:
            error = exc
        if error is not None:  # what an error keeps is shallow enough to print and pickle
            assert pickle.loads(pickle.dumps(error)).args == error.args
            repr(error.__dict__)


def test_an_error_keeps_a_deeply_nested_body_as_text() -> None:
    body = b'{"message": "deep", "x": ' + b"[" * 500 + b"]" * 500 + b"}"
    with pytest.raises(ca.ServerError) as info:
        decode(Reply(500, {}, body))
    assert isinstance(info.value.body, str)
    assert info.value.body.startswith('{"message": "deep"')


def test_a_list_item_is_shown_bounded_in_the_message() -> None:
    body = b"[" + b"[" * 900 + b"]" * 900 + b"]"
    with pytest.raises(ca.InvalidResponseError, match=r"got \[\[\[\[\.\.\.\]\]\]\]"):
        decode(Reply(200, {}, body), expect="list")


def test_error_headers_are_a_case_insensitive_copy_that_pickles() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    raw = CIMultiDict([("Retry-After", "3"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    err = error_from_response(429, CIMultiDictProxy(raw), {"message": "slow"})
    assert err.headers["retry-after"] == "3"
    copy = pickle.loads(pickle.dumps(err))
    assert copy.headers["RETRY-AFTER"] == "3"
    assert copy.headers.getall("set-cookie") == ["a=1", "b=2"]
