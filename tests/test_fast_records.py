"""The C-speed record reader gives exactly the lenient decoder's model, or steps aside."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calleague_async._convert import (
    FAST_CONVERTERS,
    FAST_PAGES,
    FAST_READERS,
    id_wire_name,
    structure,
    structure_many,
)
from calleague_async._pagecore import IdKey
from calleague_async._pagestyles import PageStyle
from calleague_async._wire import Reply, decode
from calleague_async.models import Agent, Call

MODELS = [Call, Agent]


def test_the_hot_models_have_a_fast_reader() -> None:
    assert set(FAST_READERS) == set(FAST_CONVERTERS) == {Call, Agent}


def _identical(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    for f in attrs.fields(type(a)):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert type(x) is type(y), (f.name, x, y)  # CallStatus vs str, int vs float
        assert x == y, (f.name, x, y)


def _wire_names(cls: type[Any]) -> list[str]:
    names: list[str] = []
    for f in attrs.fields(cls):
        if f.name != "extra":
            names += [*f.metadata.get("wire", ()), f.name]
    return names


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["completed", "ringing", "in-progress", "voicemail", "", "tr"]),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.datetimes().map(datetime.isoformat),
    st.sampled_from(["2026-01-01T12:00:00.000Z", "2026-13-01", "yesterday", "2026-01-01"]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def records(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    known = st.sampled_from(_wire_names(cls))
    return st.dictionaries(known | st.text(max_size=6), json_value, max_size=12)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_the_fast_reader_is_the_lenient_decoder_or_nothing(cls: type[Any], data: Any) -> None:
    record = data.draw(records(cls))
    if data.draw(st.booleans()):  # the common case: the id under its canonical name
        first = attrs.fields(cls)[0]
        record[first.metadata["wire"][0]] = data.draw(st.text(max_size=8))
    body = json.dumps(record).encode()
    lenient = structure(json.loads(body), cls)
    fast = FAST_READERS[cls](body)
    if fast is not None:
        _identical(fast, lenient)
    converted = FAST_CONVERTERS[cls](json.loads(body))  # a page's record, parsed already
    if converted is not None:
        _identical(converted, lenient)
    (in_page,) = structure_many([json.loads(body)], cls)
    _identical(in_page, lenient)


@pytest.mark.parametrize(
    "body",
    [
        b'{"callId": "cl_1", "status": "completed", "durationSec": 84, "createdAt": '
        b'"2026-01-01T12:00:00.000Z", "metadata": {"n": 123456789012345678901234567890}}',
        b'{"callId": "cl_1", "status": "voicemail", "durationSec": 84.5}',
        b'{"callId": "cl_1", "transcript": [{"role": "agent", "text": "hi"}]}',
        b'{"callId": "cl_1", "transcript": "hi", "endedAt": null}',
        b'{"callId": "cl_1", "callId": "cl_2"}',
    ],
)
def test_common_records_take_the_fast_path(body: bytes) -> None:
    fast = FAST_READERS[Call](body)
    converted = FAST_CONVERTERS[Call](json.loads(body))
    assert fast is not None and converted is not None
    _identical(fast, structure(json.loads(body), Call))
    _identical(converted, fast)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "cl_1"}',  # the id under another of its names
        b'{"callId": "cl_1", "queue": "sales"}',  # a field this SDK does not know
        b'{"callId": "cl_1", "durationSec": "84"}',  # a wrong type, kept raw by the lenient path
        b'{"callId": "cl_1", "recordingReady": 1}',
        b'{"callId": "cl_1", "durationSec": 1e400}',
        b'{"status": "completed"}',  # no id
        b'{"callId": null}',
        b'{"callId": "cl_1", "createdAt": 1767268800}',  # epoch seconds: the lenient path reads it
        b'{"code": 200, "statusText": "OK", "data": {"callId": "cl_1"}}',  # seed 001's envelope
        b'{"callId": "\\ud800"}',
        b"[1, 2]",
        b'{"callId": "cl_1"',
    ],
)
def test_unusual_records_are_left_to_the_lenient_decoder(body: bytes) -> None:
    assert FAST_READERS[Call](body) is None
    try:
        parsed = json.loads(body)
    except ValueError:
        return
    if isinstance(parsed, dict):  # parsed already, a record may convert: then identically
        converted = FAST_CONVERTERS[Call](parsed)
        if converted is not None:
            _identical(converted, structure(parsed, Call))


def test_a_time_that_is_no_time_is_kept_raw_on_both_paths() -> None:
    body = b'{"callId": "cl_1", "createdAt": "yesterday"}'
    fast = FAST_READERS[Call](body)
    assert fast is not None and fast.created_at == "yesterday"
    _identical(fast, structure(json.loads(body), Call))


def test_a_page_mixes_fast_and_lenient_records_in_order() -> None:
    records = [
        {"callId": "a", "status": "completed", "createdAt": "2026-01-01T12:00:00Z"},
        {"id": "b", "queue": "sales"},  # lenient: another name for the id, an unknown field
        {"callId": "c", "durationSec": "84"},  # lenient: a wrong type kept raw
        {"callId": "d", "createdAt": "2026-01-01T12:00:00"},  # no offset: read as UTC
    ]
    models = structure_many(records, Call)
    assert [m.call_id for m in models] == ["a", "b", "c", "d"]
    for model, record in zip(models, records, strict=True):
        _identical(model, structure(record, Call))
    assert models[1].extra == {"queue": "sales"}
    assert models[2].duration_sec == "84"  # type: ignore[comparison-overlap]
    assert models[3].created_at == datetime(2026, 1, 1, 12, tzinfo=UTC)


# --- whole pages at C speed -------------------------------------------------------------------


def _generic_page(body: bytes, cls: type[Any]) -> tuple[list[Any], list[Any], int | None]:
    """What a page becomes the usual way: parsed, read by its style, each record decoded."""
    payload = decode(Reply(200, {}, body), expect=PageStyle.read)
    ids = [IdKey(id_wire_name(cls), "id")(record) for record in payload.items]
    return structure_many(payload.items, cls), ids, payload.total


def common(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Records of the common kind: each known field (under its first name) of its own type."""
    by_type: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=6),
        bool: st.booleans(),
        int: st.integers(-(2**63), 2**63 - 1),
        float: st.integers(0, 10**6) | st.floats(0, 1e6),
    }
    optional = {}
    for f in attrs.fields(cls)[1:]:
        if f.name == "extra":
            continue
        name = f.metadata.get("wire", (f.name,))[0]
        tp = next((t for t in by_type if t in getattr(f.type, "__args__", (f.type,))), None)
        if "datetime" in str(f.type):
            optional[name] = st.sampled_from(["2026-01-01T12:00:00.000Z", "2026-01-01T12:00:00"])
        elif "CallStatus" in str(f.type):
            optional[name] = st.sampled_from(["completed", "ringing", "new-status"])
        elif tp is not None:
            optional[name] = st.one_of(by_type[tp], st.none())
    return st.fixed_dictionaries({}, optional=optional)


totals = st.one_of(st.none(), st.integers(-2, 10**20), st.sampled_from(["12", True, 1.5, "x"]))


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_fast_page_is_the_usual_page_or_nothing(cls: type[Any], data: Any) -> None:
    first = attrs.fields(cls)[0].metadata["wire"][0]
    page_records = []
    for record in data.draw(st.lists(st.one_of(records(cls), common(cls)), max_size=4)):
        if data.draw(st.booleans()):  # mostly the common case: the id under its first name
            record[first] = data.draw(st.text(max_size=8))
        page_records.append(record)
    page: dict[str, Any] = {"list": page_records}
    if data.draw(st.booleans()):
        page["total"] = data.draw(totals)
    if data.draw(st.integers(0, 5)) == 0:  # another shape around the records
        page[data.draw(st.sampled_from(["items", "code", "data", "statusText", "page"]))] = 1
    body = json.dumps(page).encode()
    fast = FAST_PAGES[cls](body)
    if fast is None:
        return
    models, ids, total = _generic_page(body, cls)
    assert (fast[1], fast[2]) == (ids, total)
    assert len(fast[0]) == len(models)
    for a, b in zip(fast[0], models, strict=True):
        _identical(a, b)


def test_a_page_of_common_records_is_read_whole_and_any_unusual_one_declines_it() -> None:
    common = [
        {"callId": f"c{i}", "status": "completed", "createdAt": "2026-01-01T12:00:00Z"}
        for i in range(3)
    ]
    body = json.dumps({"total": 3, "list": common}).encode()
    fast = FAST_PAGES[Call](body)
    assert fast is not None and fast[1:] == (["c0", "c1", "c2"], 3)
    for model, record in zip(fast[0], common, strict=True):
        _identical(model, structure(record, Call))
    for odd in ({"id": "c9"}, {"callId": "c9", "queue": "x"}, {"callId": "c9", "durationSec": "8"}):
        assert FAST_PAGES[Call](json.dumps({"total": 4, "list": [*common, odd]}).encode()) is None
    for shape in ({"items": common}, {"list": common, "total": -1}, {"list": common, "x": 1}):
        assert FAST_PAGES[Call](json.dumps(shape).encode()) is None
    assert FAST_PAGES[Call](b'{"code": 0, "data": {"list": []}}') is None  # seed 001's envelope
