"""Webhook events in, sans I/O: the Standard Webhooks signature scheme, and parsing.

Standard Webhooks (standardwebhooks.com): the secret is ``whsec_`` + base64 of the key bytes;
each delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from calleague_async._convert import converter, structure
from calleague_async._wire import _loads, _nested_deeper
from calleague_async.errors import ConfigurationError, InvalidWebhookError, WebhookVerificationError
from calleague_async.models import Call

__all__ = [
    "SECRET_PREFIX",
    "WebhookEvent",
    "new_secret",
    "parse_webhook",
    "secret_key",
    "sign",
    "sign_webhook",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
MAX_EVENT_DEPTH = 64
"""How deeply an event's JSON may nest; deeper is an ``InvalidWebhookError``."""
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE = 300.0
"""Seconds a delivery's timestamp may be off from now, either way (the scheme's five minutes)."""


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_...`` secret (prefix optional); ValueError if not base64."""
    text = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(text, validate=True)


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    # surrogateescape gives back the bytes a server (aiohttp) decoded a header from.
    content = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogateescape") + body
    return hmac.new(key, content, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one delivery: ``v1,<base64 signature>``."""
    return "v1," + base64.b64encode(_digest(secret_key(secret), msg_id, timestamp, body)).decode()


def _keys(secret: str | Sequence[str]) -> list[bytes]:
    """The key bytes of one secret or several (a rotation); ConfigurationError, never echoing."""
    if isinstance(secret, bytes | bytearray):
        raise ConfigurationError("the webhook secret is bytes: pass the whsec_... string")
    candidates = [secret] if isinstance(secret, str) else list(secret)
    if not candidates:
        raise ConfigurationError("no webhook secret given (secret=[])")
    keys = []
    for n, candidate in enumerate(candidates):
        which = "the webhook secret" if isinstance(secret, str) else f"webhook secret #{n}"
        if not isinstance(candidate, str):
            raise ConfigurationError(f"{which} is a {type(candidate).__name__}, not a string")
        try:
            key = secret_key(candidate)
        except ValueError:  # binascii.Error; its message would not echo it, but be sure
            raise ConfigurationError(
                f"{which} is not a whsec_ secret (whsec_ and base64 key bytes)"
            ) from None
        if not key:
            raise ConfigurationError(f"{which} is empty")
        keys.append(key)
    return keys


def _body_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        # What a framework decoded from UTF-8 encodes back to the same bytes; anything else
        # (lone surrogates) cannot verify nor parse, and fails as it should.
        return body.encode("utf-8", "surrogatepass")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise TypeError(f"body must be bytes or str, not {type(body).__name__}")


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive lookup in any mapping: a plain dict, a multidict, Starlette's Headers."""
    if headers is None:
        return None
    value: object = headers.get(name)
    if value is None:
        value = next(
            (v for k, v in headers.items() if isinstance(k, str) and k.lower() == name), None
        )
    if isinstance(value, bytes):  # raw ASGI-style values
        value = value.decode("latin-1")
    return value if isinstance(value, str) else None


def _timestamp(value: str) -> int | None:
    value = value.strip()
    # ASCII digits only, and few enough that int() is instant ("²".isdigit() is true).
    if value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    return None


def _required(headers: Mapping[str, str] | None, name: str) -> str:
    value = _header(headers, name)
    if not value:
        raise WebhookVerificationError(f"missing header {name}")
    return value


def check_tolerance(tolerance: float) -> None:
    """ConfigurationError unless ``tolerance`` is a number of seconds >= 0 (NaN is not)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance >= 0:
        raise ConfigurationError(f"tolerance must be a number of seconds >= 0, not {tolerance!r}")


def _verify(
    body: bytes,
    headers: Mapping[str, str] | None,
    keys: list[bytes],
    tolerance: float,
    now: Callable[[], float],
) -> int:
    """Check one delivery's signature; return its timestamp, or raise WebhookVerificationError."""
    msg_id = _required(headers, ID_HEADER)
    stamp = _required(headers, TIMESTAMP_HEADER)
    signatures = _required(headers, SIGNATURE_HEADER)
    timestamp = _timestamp(stamp)
    if timestamp is None:
        raise WebhookVerificationError(f"invalid header {TIMESTAMP_HEADER}")
    # Both ways: an old delivery may be a replay, one from the future a forged clock.
    if abs(now() - timestamp) > tolerance:
        raise WebhookVerificationError("timestamp outside tolerance")
    try:
        expected = [_digest(key, msg_id, timestamp, body) for key in keys]
    except UnicodeError:  # an id no sender could have signed
        raise WebhookVerificationError(f"invalid header {ID_HEADER}") from None
    # Several signatures (the sender rotating its secret); versions other than v1 are skipped.
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):  # not base64, or not ASCII
            continue
        # Every expected digest is compared, so timing says nothing of which key matched.
        matched = False
        for digest in expected:
            matched |= hmac.compare_digest(digest, given)
        if matched:
            return timestamp
    raise WebhookVerificationError("no signature matched")


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """One webhook delivery, parsed: what :func:`parse_webhook` gives.

    ``id`` is the event's id (the envelope's ``id``, else the ``webhook-id`` header): the same
    on every redelivery, so it is what to deduplicate on. ``type`` is ``"call.queued"``,
    ``"call.started"``, ``"call.ended"`` or any other string the server sends (``None`` if it
    names none). ``created_at`` is when the event happened (the envelope's ``createdAt`` /
    ``created_at`` / ``timestamp``, else the ``webhook-timestamp`` header). ``call`` is the
    :class:`~calleague_async.Call` the event carries, transcript included, when it carries one.
    ``data`` is the event's object as it came (the envelope's ``data`` or ``call``, else the
    whole payload) and ``payload`` the whole decoded body; both are left out of ``repr``.

    >>> event = WebhookEvent(id="evt_1", type="call.ended", created_at=None)
    >>> event.type == "call.ended"
    True
    """

    id: str | None
    type: str | None
    created_at: datetime | None
    call: Call | None = None
    data: Any = attrs.field(default=None, repr=False)
    payload: dict[str, Any] = attrs.field(factory=dict, repr=False)


_TYPE_KEYS = ("type", "event", "eventType", "event_type")
_ENVELOPE_KEYS = frozenset(("id", *_TYPE_KEYS))
_CREATED_KEYS = ("createdAt", "created_at", "timestamp")
_CALL_IDS = ("callId", "call_id")
# Fields that make an object with an id a call: the model's own, and seed 003's names.
_CALLISH = frozenset(
    {
        w
        for f in attrs.fields(Call)
        if f.name not in {"call_id", "metadata", "created_at", "extra"}
        for w in (*f.metadata.get("wire", ()), f.name)
    }
    | {"to_number", "from_number", "duration_seconds", "recording_url", "disposition"}
)


def _first_str(obj: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return converter.structure(value, datetime)
    except (TypeError, ValueError, OverflowError, OSError):
        return None  # lenient: an odd stamp is no reason to drop the event


def _call_of(payload: dict[str, Any], data: Any, type_: str | None, envelope: bool) -> Call | None:
    """The call an event carries, if it carries one; see :class:`WebhookEvent`."""
    nested = payload.get("call")
    if not isinstance(nested, dict) and isinstance(data, dict) and data is not payload:
        nested = data.get("call")
    if isinstance(nested, dict):
        if _first_str(nested, (*_CALL_IDS, "id")) is None:
            return None
        return structure(nested, Call)
    if not isinstance(data, dict):
        return None
    if data is payload and envelope:
        # A flat envelope ({"type", "id", "callId", "status" ...}): its id is the event's.
        if _first_str(data, _CALL_IDS) is None or _CALLISH.isdisjoint(data):
            return None
        return structure({k: v for k, v in data.items() if k not in _ENVELOPE_KEYS}, Call)
    if _first_str(data, (*_CALL_IDS, "id")) is None:
        return None
    if _CALLISH.isdisjoint(data) and not (type_ or "").startswith("call."):
        return None
    return structure(data, Call)


def parse_webhook(
    body: bytes | bytearray | memoryview | str,
    headers: Mapping[str, str] | None = None,
    *,
    secret: str | Sequence[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Callable[[], float] = time.time,
) -> WebhookEvent:
    """Verify and parse one webhook delivery into a :class:`WebhookEvent`. No I/O.

    ``body`` is the request body exactly as received: pass the raw bytes (``await
    request.read()`` in aiohttp, ``await request.body()`` in Starlette/FastAPI), never JSON
    your framework decoded and re-encoded, or the signature cannot match. A ``str`` is
    encoded as UTF-8. ``headers`` is any mapping (a dict in any case, aiohttp's or Starlette's
    headers).

    With ``secret`` (the ``whsec_...`` that ``s.webhooks.create`` returned; several during a
    rotation), the delivery is checked first by the Standard Webhooks scheme: the
    ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers must be there, the
    timestamp within ``tolerance`` seconds of ``now()`` either way (against replays), and one of
    the ``v1,`` signatures an HMAC-SHA256 of ``id.timestamp.body`` under the secret. Any
    failure raises :class:`~calleague_async.WebhookVerificationError`; a secret that is not
    ``whsec_`` and base64 raises :class:`~calleague_async.ConfigurationError`. Without a
    ``secret`` nothing is verified: anyone who can reach your endpoint can post to it.

    The envelope is read leniently (``type`` or ``event``, ``data`` or ``call``, ``createdAt``
    as ISO 8601 or epoch seconds); a body that is not a JSON object raises
    :class:`~calleague_async.InvalidWebhookError`.

    >>> body = b'{"type": "call.ended", "data": {"callId": "cl_1", "status": "completed"}}'
    >>> event = parse_webhook(body)
    >>> event.type, event.call.call_id
    ('call.ended', 'cl_1')
    """
    raw = _body_bytes(body)
    timestamp: int | None = None
    if secret is not None:
        check_tolerance(tolerance)
        timestamp = _verify(raw, headers, _keys(secret), tolerance, now)
    elif headers is not None:
        timestamp = _timestamp(_header(headers, TIMESTAMP_HEADER) or "")
    if not raw.strip():
        raise InvalidWebhookError("empty body")
    try:
        payload = _loads(raw)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError from the stdlib parser
        raise InvalidWebhookError(f"not JSON ({exc})") from None
    except RecursionError:
        raise InvalidWebhookError("JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidWebhookError(f"expected a JSON object, got {type(payload).__name__}")
    if _nested_deeper(payload, MAX_EVENT_DEPTH):
        # Parsers differ in how deep they go (orjson's limit changed across versions): one
        # bound here, so an event that parsed can always be printed, pickled and compared.
        raise InvalidWebhookError(f"JSON nested deeper than {MAX_EVENT_DEPTH} levels")
    type_ = _first_str(payload, _TYPE_KEYS)
    envelope = type_ is not None or "data" in payload or "call" in payload
    if "data" in payload:
        data = payload["data"]
    elif "call" in payload:
        data = payload["call"]
    else:
        data = payload
    event_id = _first_str(payload, ("id",)) if envelope else None
    if event_id is None:
        event_id = _header(headers, ID_HEADER) or None
    # A bare record's own createdAt says when *it* was made: only an envelope's is the event's.
    stamps = (payload.get(k) for k in _CREATED_KEYS) if envelope else ()
    created_at = next((w for v in stamps if (w := _when(v)) is not None), None)
    if created_at is None and timestamp is not None:
        created_at = _when(timestamp)
    return WebhookEvent(
        id=event_id,
        type=type_,
        created_at=created_at,
        call=_call_of(payload, data, type_, envelope),
        data=data,
        payload=payload,
    )


def sign_webhook(
    body: bytes | str,
    secret: str,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three headers a Standard Webhooks sender puts on ``body``: for testing a receiver.

    ``msg_id`` defaults to a fresh ``msg_...`` id, ``timestamp`` to now (Unix seconds).

    >>> headers = sign_webhook(b'{"type": "call.ended"}', new_secret(), msg_id="msg_1")
    >>> sorted(headers)
    ['webhook-id', 'webhook-signature', 'webhook-timestamp']
    """
    key = _keys(secret)[0]  # a bad secret is refused; a list of secrets signs with the first
    msg_id = "msg_" + secrets.token_hex(12) if msg_id is None else msg_id
    timestamp = math.floor(time.time()) if timestamp is None else timestamp
    signature = base64.b64encode(_digest(key, msg_id, timestamp, _body_bytes(body))).decode()
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: "v1," + signature,
    }
