"""Typed, frozen models of what the API returns, and their way back to JSON (``to_dict``).

Field names are snake_case; each field's ``metadata["wire"]`` lists the JSON names it is read from.
Fields the SDK does not know are kept in ``extra``; every field but the id may be ``None``.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import attrs

__all__ = [
    "Agent",
    "AgentAvailability",
    "Call",
    "CallStatus",
    "Campaign",
    "Contact",
    "Page",
    "Webhook",
]


def _wire(*names: str) -> dict[str, tuple[str, ...]]:
    return {"wire": names}


_UTC = timedelta(0)


def _iso(value: datetime) -> str:
    """ISO 8601 the way the API writes it (JavaScript's ``toISOString``): milliseconds, ``Z``.

    Finer precision is kept when the value has it; an offset other than UTC is kept as received.
    """
    text = value.isoformat(timespec="milliseconds" if value.microsecond % 1000 == 0 else "auto")
    return text[:-6] + "Z" if value.utcoffset() == _UTC else text


def _json(value: Any) -> Any:
    """A field's value as JSON: datetimes as ISO strings, enums as their values, containers copied.

    Values kept raw (a field of the wrong type) came from JSON and are returned as they are.
    """
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


_NAMES: dict[type[Any], tuple[tuple[str, str], ...]] = {}


def _names(cls: type[Any]) -> tuple[tuple[str, str], ...]:
    """``(field, wire name)`` of each field but ``extra``; the wire name is the first listed."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(
            (f.name, (*f.metadata.get("wire", ()), f.name)[0])
            for f in attrs.fields(cls)
            if f.name != "extra"
        )
    return names


class _Model:
    """What every record model shares: :meth:`to_dict`.

    Record models keep their fields in an instance ``__dict__`` (``slots=False``): the SDK
    builds one from a wire record in a single step, three times faster than filling fifteen
    slots one by one, which is most of what reading a page of calls costs.
    """

    __slots__ = ()

    def to_dict(self, *, wire: bool = False) -> dict[str, Any]:
        """The model as a JSON-ready ``dict``: ``json.dumps(model.to_dict())`` just works.

        Every field is there, ``None`` ones included (as ``null``); datetimes are ISO 8601
        strings (UTC written ``Z``, ``"2025-11-24T10:22:48.000Z"``), statuses plain strings.
        By default keys are the snake_case field names and the fields this SDK does not know
        sit under ``"extra"`` with their wire names. ``wire=True`` gives the API's own names
        (``callId``, ``createdAt``) with the unknown fields back at the top level: the record
        as the API sends it, which decodes back to an equal model. ``Webhook.secret`` is
        included (it is yours to store); it is only ever left out of ``repr()``.

        >>> Call(call_id="cl_1", extra={"cost": 3}).to_dict()["extra"]
        {'cost': 3}
        >>> Call(call_id="cl_1", extra={"cost": 3}).to_dict(wire=True)["cost"]
        3
        """
        names = _names(type(self))
        extra: dict[str, Any] = getattr(self, "extra", {})
        if not wire:
            record = {name: _json(getattr(self, name)) for name, _ in names}
            record["extra"] = dict(extra)
            return record
        record = {key: _json(getattr(self, name)) for name, key in names}
        for key, value in extra.items():
            record.setdefault(key, value)  # a field's own value wins over a stray duplicate
        return record


class CallStatus(enum.StrEnum):
    """Call statuses the docs name. A ``str`` enum: ``call.status == "completed"`` works.

    A status the SDK does not know is kept as a plain ``str`` on the model, never an error.
    """

    QUEUED = "queued"
    RINGING = "ringing"
    CALLING = "calling"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    NO_ANSWER = "no-answer"


@attrs.frozen(kw_only=True, slots=False)
class Call(_Model):
    """One call: what ``calls.start``, ``calls.get`` and ``calls.list`` give.

    >>> call = Call(call_id="cl_8f2a", status=CallStatus.RINGING)
    >>> call.status == "ringing"
    True
    """

    call_id: str = attrs.field(metadata=_wire("callId", "id"))
    status: CallStatus | str | None = None
    direction: str | None = None
    agent_id: str | None = attrs.field(default=None, metadata=_wire("agentId"))
    to: str | None = None
    metadata: dict[str, Any] | None = None
    duration_sec: float | None = attrs.field(default=None, metadata=_wire("durationSec"))
    ended_reason: str | None = attrs.field(default=None, metadata=_wire("endedReason"))
    language: str | None = None
    recording_ready: bool | None = attrs.field(default=None, metadata=_wire("recordingReady"))
    transcript_ready: bool | None = attrs.field(default=None, metadata=_wire("transcriptReady"))
    transcript: list[dict[str, Any]] | str | None = attrs.field(default=None, repr=False)
    """The conversation, when the server sends it (webhook ``call.ended`` events do): a list of
    turns (JSON objects such as ``{"role": "agent", "text": "..."}``) or one text, as it came.
    Left out of ``repr``: it is long, and it is what was said."""
    created_at: datetime | None = attrs.field(default=None, metadata=_wire("createdAt"))
    ended_at: datetime | None = attrs.field(default=None, metadata=_wire("endedAt"))
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know, under their wire names."""


@attrs.frozen(kw_only=True, slots=False)
class Agent(_Model):
    """A voice assistant: what ``agents.list`` and ``agents.get`` give."""

    agent_id: str = attrs.field(metadata=_wire("agentId", "id"))
    name: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know (language, voice ...)."""


@attrs.frozen(kw_only=True, slots=False)
class Webhook(_Model):
    """A registered webhook endpoint: what ``webhooks.create`` gives.

    ``secret`` is the endpoint's signing secret (``whsec_...``), when the server returns one:
    store it and verify each delivery with it (``ca.parse_webhook(body, headers,
    secret=hook.secret)``). It is left out of ``repr``.
    """

    webhook_id: str | None = attrs.field(default=None, metadata=_wire("webhookId", "id"))
    url: str | None = None
    events: list[str] | None = None
    created_at: datetime | None = attrs.field(default=None, metadata=_wire("createdAt"))
    secret: str | None = attrs.field(default=None, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know."""


T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list.

    ``items``, the server's ``total`` (None when it sent none), the 1-based ``page`` number and
    the ``page_size`` asked for.
    """

    items: list[T]
    total: int | None
    page: int
    page_size: int


# --- seed 002's platform: contacts, campaigns, call control ------------------------------------
# Seed 002 documents these operations' paths, limits and errors but not their replies: each model
# reads the fields the seed names (and the usual spellings of an id), everything else in ``extra``.


@attrs.frozen(kw_only=True, slots=False)
class Contact(_Model):
    """A contact (a lead to call): what ``contacts.create`` and ``contacts.update`` give.

    ``metadata`` is your own JSON object, the place seed 002 puts all client-specific data.

    >>> contact = Contact(contact_id="ct_1", phone="+905551230001", metadata={"crm_id": "L-1"})
    >>> contact.to_dict(wire=True)["id"]
    'ct_1'
    """

    contact_id: str = attrs.field(metadata=_wire("id", "contactId", "contact_id"))
    phone: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = attrs.field(
        default=None, metadata=_wire("created_at", "createdAt")
    )
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know (name, campaign ...)."""


@attrs.frozen(kw_only=True, slots=False)
class Campaign(_Model):
    """A campaign as ``campaigns.launch`` and ``campaigns.stop`` report it.

    ``status`` is the server's word for its state (``"running"``, ``"stopped"`` ...), kept as
    sent; ``config`` is the campaign's client-specific configuration, when the reply has it.

    >>> Campaign(campaign_id="cmp_1", status="running").status
    'running'
    """

    campaign_id: str = attrs.field(metadata=_wire("id", "campaignId", "campaign_id"))
    status: str | None = None
    config: dict[str, Any] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know."""


@attrs.frozen(kw_only=True, slots=False)
class AgentAvailability(_Model):
    """Whether human agents can take a transfer now: what ``agents.availability`` gives.

    ``available`` counts the agents free now (so ``if availability.available:`` reads as it
    says), ``busy`` those on a call; ``queues`` lists per-queue figures as the server sends them
    (JSON objects such as ``{"name": "sales", "available": 1}``).

    >>> AgentAvailability(available=2, queues=[{"name": "sales", "available": 2}]).available
    2
    """

    available: int | None = attrs.field(
        default=None, metadata=_wire("available", "available_agents", "availableAgents")
    )
    busy: int | None = None
    queues: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know."""
