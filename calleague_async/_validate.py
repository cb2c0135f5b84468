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
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MAX_PAGE_SIZE = 100
"""The largest ``page_size`` accepted (the limit the neighbouring APIs document)."""


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
    if _CONTROL.search(value):
        raise ValidationError(field, f"must not contain control characters (got {value!r})")
    return value


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
    """Return ``value`` as a dict if it is a str-keyed mapping JSON can carry losslessly."""
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a JSON object / dict (got {type(value).__name__})")
    try:
        # allow_nan=False: NaN and Infinity are not JSON and most servers refuse them.
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"is not JSON-serialisable: {exc}") from None
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise ValidationError(field, f"keys must be strings (got {bad[0]!r})")
    return dict(value)


def optional_str(field: str, value: object) -> str | None:
    """Return ``value`` if it is ``None`` or a non-empty string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"must be a non-empty string (got {value!r})")
    return value


def webhook_url(field: str, value: object) -> str:
    """Return ``value`` if it is an absolute https URL (http is accepted for loopback only)."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a URL string (got {type(value).__name__})")
    parts = urlsplit(value)
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
    return list(value)


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
