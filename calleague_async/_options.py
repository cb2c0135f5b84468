"""Per-request options: the ``NOT_GIVEN`` sentinel and the one resolved value a request runs with.

Pure: a session's defaults and a call's overrides go in, one frozen :class:`RequestOptions`
comes out, checked. ``timeout=None`` means "no timeout"; ``NOT_GIVEN`` means "the session's".
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from calleague_async.errors import ValidationError


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`: "leave the session's setting", distinct from ``None``."""

    NOT_GIVEN = "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    __str__ = __repr__


NOT_GIVEN: Final = NotGiven.NOT_GIVEN
"""Default of per-request options: use the session's setting (``None`` means "none at all")."""

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
# The credential and the framing are the SDK's: a caller's header must never replace them.
_RESERVED = frozenset({"authorization", "x-api-key", "content-length", "transfer-encoding", "host"})


def _visible_ascii(value: str) -> bool:
    # A header value: visible ASCII, spaces and tabs (RFC 9110 field-vchar, SP, HTAB).
    return all(" " <= c <= "~" or c == "\t" for c in value)


def headers(field: str, value: object) -> dict[str, str] | None:
    """Return ``value`` as a dict if every name is a header name and every value is safe.

    A value never appears in the error: a custom header may carry another credential.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(
            field, f"must be a mapping of str to str (got {type(value).__name__})"
        )
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValidationError(field, f"{name!r} is not a valid header name")
        if name.lower() in _RESERVED:
            raise ValidationError(field, f"must not set {name}: the SDK sets it")
        if not isinstance(text, str):
            raise ValidationError(
                field, f"the value of {name} must be a str (got {type(text).__name__})"
            )
        if not _visible_ascii(text):
            raise ValidationError(
                field,
                f"the value of {name} must be printable ASCII, without line breaks or control "
                "characters",
            )
        out[name] = text
    return out


def query(field: str, value: object) -> dict[str, str] | None:
    """Return ``value`` as query parameters (str names; str, number, bool or None values)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a mapping (got {type(value).__name__})")
    out: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name or not _printable(name):
            raise ValidationError(field, f"names must be non-empty printable str (got {name!r})")
        if item is None:
            continue
        if isinstance(item, bool):
            out[name] = "true" if item else "false"
        elif isinstance(item, int | float) and not (
            isinstance(item, float) and not math.isfinite(item)
        ):
            out[name] = str(item)
        elif isinstance(item, str) and _printable(item):
            out[name] = item
        else:
            raise ValidationError(
                field, f"{name!r} must be a printable str, a finite number, a bool or None"
            )
    return out


def _printable(text: str) -> bool:
    return text.isprintable() and not any("\ud800" <= c <= "\udfff" for c in text)


def seconds(field: str, value: object, *, zero: bool, infinite: bool = False) -> float | None:
    """``value`` if it is None or a number of seconds (> 0; >= 0 with ``zero``)."""
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or math.isnan(value)
        or value < 0
        or (value == 0 and not zero)
        or (math.isinf(value) and not infinite)
    ):
        bound = ">= 0" if zero else "> 0"
        raise ValidationError(field, f"must be a number {bound} or None (got {value!r})")
    return float(value)


@attrs.frozen(kw_only=True)
class RequestOptions:
    """What one request runs with, resolved once from the session's defaults and the call's.

    ``headers`` and ``query`` are extra ones, sent on top of the SDK's (never instead of the
    credential); ``max_wait`` bounds the wait in the client-side limiter.
    """

    timeout: float | None
    max_retries: int
    max_wait: float | None
    headers: Mapping[str, str] | None = None
    query: Mapping[str, str] | None = None

    def merge(
        self,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        max_wait: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> RequestOptions:
        """These options with the given overrides applied (checked); extras add to these."""
        changes: dict[str, Any] = {}
        if timeout is not NOT_GIVEN:
            changes["timeout"] = seconds("timeout", timeout, zero=False)
        if max_retries is not NOT_GIVEN:
            if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
                raise ValidationError("max_retries", f"must be an int >= 0 (got {max_retries!r})")
            changes["max_retries"] = max_retries
        if max_wait is not NOT_GIVEN:
            changes["max_wait"] = seconds("max_wait", max_wait, zero=True, infinite=True)
        extra = headers("extra_headers", extra_headers)
        if extra:
            changes["headers"] = {**(self.headers or {}), **extra}
        params = query("extra_query", extra_query)
        if params:
            changes["query"] = {**(self.query or {}), **params}
        return attrs.evolve(self, **changes) if changes else self
