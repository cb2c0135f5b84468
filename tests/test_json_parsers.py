"""The fast JSON parsers read every body exactly as the stdlib does, or leave it to the stdlib."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calleague_async import _wire

PARSERS: dict[str, Callable[[bytes], Any] | None] = {
    "msgspec": _wire._msgspec_loads(),
    "orjson": _wire._orjson_loads(),
}


def test_both_fast_parsers_are_installed_for_the_suite() -> None:
    # The test extra installs both, so neither path goes untested.
    assert all(PARSERS.values()), PARSERS
    assert _wire._loads is not _wire._stdlib_loads


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types throughout (1 is not 1.0, NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too: must stay exact integers
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # lone surrogates included
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=300, deadline=None)
@given(value=values, indent=st.sampled_from([None, 1]), ascii_only=st.booleans())
def test_a_fast_parser_reads_json_as_the_stdlib_does(
    name: str, value: Any, indent: int | None, ascii_only: bool
) -> None:
    parse = PARSERS[name]
    assert parse is not None
    body = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode(
        "utf-8", "surrogatepass"
    )
    try:
        expected = json.loads(body)
    except ValueError:  # a lone surrogate written raw is no UTF-8 the stdlib reads either
        with pytest.raises(ValueError):
            parse(body)
        return
    assert _same(parse(body), expected)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=40)
    | st.text(alphabet='{}[]",:0123456789.eE-+ntrufalsNIy\\u ').map(str.encode)
)
def test_on_any_bytes_a_fast_parser_agrees_or_fails_as_the_stdlib(name: str, body: bytes) -> None:
    parse = PARSERS[name]
    assert parse is not None
    try:
        expected = json.loads(body)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc) if isinstance(exc, RecursionError) else ValueError):
            parse(body)
        return
    assert _same(parse(body), expected)


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 123456789012345678901234567890}',
        b"[NaN, Infinity, -Infinity]",
        b"[1e400, -1e400]",
        b'"\\ud800"',
        b'{"a": 1, "a": 2}',
        b" 1 ",
        b"[9223372036854775807, 9223372036854775808, -9223372036854775809]",
    ],
)
def test_the_known_differences_are_left_to_the_stdlib(name: str, body: bytes) -> None:
    parse = PARSERS[name]
    assert parse is not None
    assert _same(parse(body), json.loads(body))
