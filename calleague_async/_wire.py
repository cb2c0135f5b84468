"""Sans-I/O reply decoding: status, headers and body bytes in; payload or a typed error out.

Reads both success shapes of the seeds (bare JSON, and the ``{code, statusText, data}`` envelope)
and every error body shape (``{code, message}``, ``{detail}``, ``{message, error, code, ...}``).
"""

from __future__ import annotations

import json
import math
import reprlib
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Literal, NamedTuple

import attrs

from calleague_async import errors

Expect = Literal["any", "object", "list"] | Callable[[Any], Any]
"""What a 2xx reply must hold: any JSON, an object, a list (:class:`ListPayload`), or what a
reader makes of the JSON (a pagination style's ``read``; its ``ValueError`` is a wrong shape)."""

_JUST_DICT = {dict}
# Digits to "0", everything else to ".": a run of 19 digits becomes a substring search, which
# is ten times faster than a regular expression over the body.
_DIGIT_MAP = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_LONG_RUN = b"0" * 19


def _stdlib_loads(body: bytes) -> Any:
    return json.loads(body)


def _orjson_loads() -> Callable[[bytes], Any] | None:
    try:
        import orjson
    except ImportError:
        return None

    def loads(body: bytes) -> Any:
        """Orjson where it is exact; the stdlib everywhere else.

        orjson reads integers beyond 64 bits as floats, which would make an export lossy: a
        body with a run of 19 or more digits goes to the stdlib parser (one C scan). orjson
        also refuses what the stdlib accepts (NaN, lone surrogates): those go there too.
        """
        if _LONG_RUN not in body.translate(_DIGIT_MAP):
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                pass
        return json.loads(body)

    return loads


def _msgspec_loads() -> Callable[[bytes], Any] | None:
    try:
        import msgspec
    except ImportError:
        return None
    decode = msgspec.json.decode
    failed = (msgspec.DecodeError, msgspec.ValidationError)

    def loads(body: bytes) -> Any:
        """msgspec, exact (big integers stay integers, so no scan first); else the stdlib.

        What msgspec refuses and the stdlib accepts (NaN, 1e400, lone surrogates) goes there,
        so every body reads as the stdlib reads it, only faster.
        """
        try:
            return decode(body)
        except failed:
            return json.loads(body)

    return loads


# The fastest exact parser installed (pip install 'calleague-async[speedups]'): msgspec, then
# orjson (with its guard), then the stdlib.
_loads: Callable[[bytes], Any] = _msgspec_loads() or _orjson_loads() or _stdlib_loads


_STATUS_ERRORS: dict[int, type[errors.APIError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    402: errors.QuotaExceededError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    422: errors.UnprocessableEntityError,
    429: errors.RateLimitError,
}
REQUEST_ID_HEADERS = ("X-Request-Id", "Request-Id", "X-Amzn-RequestId", "X-Correlation-Id")
_SNIPPET = 200
# An error keeps its parsed body only up to this nesting; deeper, it keeps the text. Errors are
# printed, pickled and scrubbed recursively, and must never fail at that.
_MAX_ERROR_DEPTH = 32
# ``repr`` of a server's value in a message: bounded in length and depth, whatever it is.
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother = 3, 60, 60


class Reply(NamedTuple):
    """One HTTP reply as the transport read it: nothing parsed yet.

    A named tuple, not an attrs class: one is made per request, on the hot path.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    reason: str = ""


@attrs.frozen
class ListPayload:
    """A list reply: its records (JSON objects) and the server's ``total``, if it sent one.

    ``has_next`` is the server's own word on whether a page follows (seed 004's
    ``meta.has_next_page``), None where the shape has no such field. ``ids``, when given, are
    the items' ids as the pager's key would read them: a page read at C speed straight into
    models (``decoded``) has no JSON objects to read them from.
    """

    items: list[Any]
    total: int | None
    has_next: bool | None = None
    ids: list[Any] | None = None
    decoded: bool = False


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works on plain dicts as well as multidicts."""
    value: str | None = headers.get(name)
    if value is not None or not isinstance(headers, dict):
        return value  # aiohttp's multidicts are case-insensitive already
    lower = name.lower()
    found: str | None = next((v for k, v in headers.items() if k.lower() == lower), None)
    return found


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    try:
        seconds = float(value)
        if not math.isfinite(seconds):
            return None
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return None  # not a date, or one outside what datetime can hold
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _envelope_ok(code: Any) -> bool:
    if isinstance(code, str):
        if code.lower() in {"ok", "success"}:
            return True
        try:
            code = int(code)
        except ValueError:
            return False
    return isinstance(code, int) and (code == 0 or 200 <= code < 300)


def _text(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


def _detail_text(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        # FastAPI-style validation errors: [{"loc": [...], "msg": "..."}].
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = _loc_text(item.get("loc"))
                msg = item["msg"] if isinstance(item["msg"], str) else _repr.repr(item["msg"])
                parts.append(f"{loc}: {msg}" if loc else msg)
            else:
                parts.append(item if isinstance(item, str) else _repr.repr(item))
        return "; ".join(parts) or None
    return None


def _loc_text(loc: Any) -> str:
    """``["body", "to"]`` -> ``"to"``; a ``loc`` of another shape is shown as is, or not at all."""
    if isinstance(loc, list | tuple):
        return ".".join(
            p if isinstance(p, str) else _repr.repr(p) for p in loc if p != "body" and p is not None
        )
    if isinstance(loc, str | int) and not isinstance(loc, bool):
        return str(loc)
    return ""


def _message_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in ("message", "detail", "statusText", "error_description", "error", "title"):
        value = body.get(key)
        if isinstance(value, dict):  # {"error": {"message": ...}}
            value = value.get("message")
        text = _detail_text(value)
        if text:
            return text
    return None


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    method: str = "",
    path: str = "",
    reason: str = "",
    now: float | None = None,
) -> errors.APIError:
    """Build the typed error for an error reply; ``body`` is parsed JSON or the raw text."""
    message = _message_of(body) or (body if isinstance(body, str) and body else None)
    if not message:
        message = reason or f"HTTP {status}"
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str | int) or isinstance(code, bool):
        code = None
    request_id = None
    if isinstance(body, dict):
        rid = body.get("request_id", body.get("requestId"))
        if isinstance(rid, str | int) and not isinstance(rid, bool):
            request_id = str(rid)
    if request_id is None:
        request_id = next(
            (v for h in REQUEST_ID_HEADERS if (v := header(headers, h)) is not None), None
        )
    common: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "request_id": request_id,
        "body": body,
        "headers": headers,
        "method": method,
        "path": path,
    }
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(header(headers, "Retry-After"), now=now)
        cls = errors.RateLimitError if status == 429 else errors.ServerError
        return cls(message, retry_after=retry_after, **common)
    return _STATUS_ERRORS.get(status, errors.APIError)(message, **common)


def _invalid(reply: Reply, method: str, path: str, what: str) -> errors.InvalidResponseError:
    return errors.InvalidResponseError(
        what,
        status_code=reply.status,
        body=_text(reply.body),
        headers=reply.headers,
        request_id=next((v for h in REQUEST_ID_HEADERS if (v := header(reply.headers, h))), None),
        method=method,
        path=path,
    )


def _total(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    # ASCII digits only ("²".isdigit() is true) and few enough that int() cannot refuse them.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _nested_deeper(data: Any, limit: int) -> bool:
    """Whether ``data`` nests more than ``limit`` levels of arrays and objects (no recursion)."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth >= limit:
            return True
        stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


def decode(
    reply: Reply,
    *,
    method: str = "",
    path: str = "",
    expect: Expect = "any",
    now: float | None = None,
) -> Any:
    """Return the payload of a successful reply, envelope removed, or raise its typed error.

    ``expect="object"`` demands a JSON object; ``expect="list"`` returns a :class:`ListPayload`
    from ``{total, list}``, ``{total, items}`` or a bare array; a callable reads the JSON itself
    (a pagination style's ``read``), raising ``ValueError`` when it does not fit. A 2xx body that
    does not fit raises :class:`~calleague_async.errors.InvalidResponseError`.
    """
    status = reply.status
    data: Any = None
    decode_error: ValueError | None = None
    try:
        if reply.body:
            data = _loads(reply.body)
    except ValueError as exc:
        if reply.body.strip():  # whitespace alone is an empty body, not a broken one
            decode_error = exc
    except RecursionError:  # absurdly deep nesting: not the JSON any endpoint promises
        decode_error = ValueError("JSON nested too deeply")
    parsed = decode_error is None
    if not 200 <= status < 300:
        body = data if parsed and not _nested_deeper(data, _MAX_ERROR_DEPTH) else _text(reply.body)
        raise error_from_response(
            status, reply.headers, body, method=method, path=path, reason=reply.reason, now=now
        )
    if not parsed:
        ctype = header(reply.headers, "Content-Type") or "no content type"
        raise _invalid(
            reply,
            method,
            path,
            f"the reply body is not valid JSON ({ctype}; {decode_error}): {_text(reply.body)!r}",
        )
    if type(data) is dict and "code" in data and ("data" in data or "statusText" in data):
        # Seed 001's envelope {code, statusText, data} (inlined: this runs on every reply).
        if not _envelope_ok(data["code"]):
            code = data["code"]
            effective = code if isinstance(code, int) and 400 <= code < 600 else 400
            body = data if not _nested_deeper(data, _MAX_ERROR_DEPTH) else _text(reply.body)
            raise error_from_response(
                effective, reply.headers, body, method=method, path=path, now=now
            )
        data = data.get("data")
    if expect == "object":
        if not isinstance(data, dict):
            raise _invalid(
                reply, method, path, f"expected a JSON object, got {type(data).__name__}"
            )
        return data
    if expect == "list":
        return _list_payload(reply, data, method, path)
    if expect == "any":
        return data
    try:
        return expect(data)
    except ValueError as exc:
        raise _invalid(reply, method, path, str(exc)) from None


def _list_payload(reply: Reply, data: Any, method: str, path: str) -> ListPayload:
    try:
        return list_payload(data)
    except ValueError as exc:
        raise _invalid(reply, method, path, str(exc)) from None


def list_payload(data: Any) -> ListPayload:
    """``{total, list}``, ``{total, items}`` or a bare array; ``ValueError`` for anything else."""
    items: Any
    total: int | None
    if isinstance(data, list):
        # A bare array says nothing of a total: the pager pages on until a short page.
        items, total = data, None
    elif isinstance(data, dict):
        items = data.get("list", data.get("items"))
        if items is None and not data.get("total"):
            items = []  # {"total": 0} or {} is an empty list, as the seeds ask us to expect
        total = _total(data.get("total"))
    else:
        items, total = None, None
    if not isinstance(items, list):
        raise ValueError(
            f"expected a list reply ({{total, list}} or an array), got {_repr.repr(data)}"
        )
    return ListPayload(items=records(items), total=total)


def records(items: Any) -> list[dict[str, Any]]:
    """``items`` if it is a list of JSON objects; ``ValueError`` if not."""
    if not isinstance(items, list):
        raise ValueError(f"expected a list of records, got {_repr.repr(items)}")
    if set(map(type, items)) <= _JUST_DICT:  # the parsers' own dicts: one C pass per page
        return items
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"expected list items to be objects, got {_repr.repr(item)}")
    return items


def count(value: Any) -> int | None:
    """A count as a server sends it (an int >= 0, or its digits as text), else None."""
    return _total(value)


def shown(value: Any) -> str:
    """A server's value in a message: its ``repr``, bounded in length and depth."""
    return _repr.repr(value)
