"""Client-side checks of user input, run before anything is sent.

Each check either returns the value (normalised) or raises ``ValidationError`` naming the field.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from calleague_async.errors import ValidationError

# E.164: a '+', a country code that never starts with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# C0 and C1 controls, DEL, and the line breaks str.splitlines() honours beyond them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A lone surrogate is no character: UTF-8 (URLs, headers, JSON on the wire) cannot carry it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")

MAX_PAGE_SIZE = 100
"""The largest ``page_size`` accepted (the limit the neighbouring APIs document)."""

MAX_JSON_DEPTH = 32
"""How deeply your JSON (``metadata``) may nest: far beyond any real use, and well within what
every JSON parser on the way (ours, the server's) handles without running out of stack."""


def text(field: str, value: str) -> str:
    """Return ``value`` if it has no control characters and no lone surrogates."""
    if _CONTROL.search(value):
        raise ValidationError(field, f"must not contain control characters (got {value!r})")
    if _SURROGATE.search(value):
        raise ValidationError(field, f"must not contain lone surrogates (got {value!r})")
    return value


def phone_number(field: str, value: object) -> str:
    """Return ``value`` if it is an E.164 number such as ``+903121234567``."""
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise ValidationError(
            field,
            f"must be a phone number in E.164 international format, like +903121234567 "
            f"(got {value!r})",
        )
    return value


def identifier(field: str, value: object) -> str:
    """Return ``value`` if it can safely stand as one path segment.

    Percent-encoding keeps ``/`` and ``?`` inside the segment, but ``.`` and ``..`` would be
    resolved away by URL normalisation and control characters have no business in an id.
    """
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string id (got {type(value).__name__})")
    if not value.strip():
        raise ValidationError(field, "must not be empty")
    if value in {".", ".."}:
        raise ValidationError(field, f"{value!r} is not a valid id")
    return text(field, value)


def positive_int(field: str, value: object, *, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int in ``1..maximum``."""
    # bool is an int subclass; page_size=True is a bug, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(field, f"must be an integer (got {type(value).__name__})")
    if value < 1 or (maximum is not None and value > maximum):
        bound = f"1..{maximum}" if maximum is not None else ">= 1"
        raise ValidationError(field, f"must be in {bound} (got {value})")
    return value


def json_object(field: str, value: object) -> dict[str, Any]:
    """Return ``value`` as a dict if it is a str-keyed mapping JSON can carry losslessly.

    Keys are strings at every level, strings hold no lone surrogates, numbers are finite and
    nesting stays within :data:`MAX_JSON_DEPTH`.
    """
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a JSON object / dict (got {type(value).__name__})")
    checked: dict[str, Any] = json_value(field, dict(value))
    return checked


def json_value(field: str, value: object) -> Any:
    """Return ``value`` if JSON can carry it losslessly: the rules of :func:`json_object`."""
    try:
        # allow_nan=False: NaN and Infinity are not JSON and most servers refuse them. This
        # also refuses circular references, so the walk below ends.
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise ValidationError(field, f"nests deeper than {MAX_JSON_DEPTH} levels") from None
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise ValidationError(field, f"must not contain lone surrogates (got {item!r:.80})")
        elif isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                raise ValidationError(field, f"nests deeper than {MAX_JSON_DEPTH} levels")
            for key, member in item.items():
                if not isinstance(key, str):  # json.dumps would turn 1 into "1": not lossless
                    raise ValidationError(field, f"keys must be strings (got {key!r})")
                stack += ((key, depth), (member, depth + 1))
        elif isinstance(item, list | tuple):
            if depth > MAX_JSON_DEPTH:
                raise ValidationError(field, f"nests deeper than {MAX_JSON_DEPTH} levels")
            stack += ((member, depth + 1) for member in item)
    return value


def optional_str(field: str, value: object) -> str | None:
    """Return ``value`` if it is ``None`` or a non-empty string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"must be a non-empty string (got {value!r})")
    return text(field, value)


def webhook_url(field: str, value: object) -> str:
    """Return ``value`` if it is an absolute https URL (http is accepted for loopback only)."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a URL string (got {type(value).__name__})")
    # urlsplit silently drops tabs and line breaks: check the string as it will be sent.
    text(field, value)
    if any(c.isspace() for c in value):
        raise ValidationError(field, f"must not contain spaces (got {value!r})")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is no port (99999, "abc")
    except ValueError as exc:
        raise ValidationError(field, f"is not a valid URL: {exc} (got {value!r})") from None
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return value
    raise ValidationError(field, f"must be an absolute https:// URL (got {value!r})")


def string_list(field: str, value: object) -> list[str]:
    """Return ``value`` as a list if it is a non-empty sequence of non-empty strings."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise ValidationError(field, f"must be a non-empty list of strings (got {value!r})")
    for item in value:
        if not isinstance(item, str) or not item:
            raise ValidationError(field, f"every item must be a non-empty string (got {item!r})")
        text(field, item)
    return list(value)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110: methods and header names


def http_method(field: str, value: object) -> str:
    """Return ``value`` upper-cased if it is an HTTP method (a token, such as ``"GET"``)."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise ValidationError(field, f"must be an HTTP method such as 'GET' (got {value!r})")
    return value.upper()


def request_path(field: str, value: object) -> str:
    """Return ``value`` if it is a path to send as given: ``/``, then visible ASCII.

    Anything else (spaces, line breaks, other characters) must be percent-encoded by the caller;
    a query may follow, a fragment may not (it is never sent).
    """
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a str path (got {type(value).__name__})")
    if not value.startswith("/"):
        raise ValidationError(field, f"must start with '/' (got {value!r})")
    if not all("!" <= c <= "~" for c in value) or "#" in value:
        raise ValidationError(
            field,
            f"must be visible ASCII, other characters percent-encoded, no fragment (got {value!r})",
        )
    return value


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine (traffic to it never leaves it)."""
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name like 127.0.0.1.example.com is not loopback
        return False
