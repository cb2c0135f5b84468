"""Typed, frozen models of what the API returns.

Field names are snake_case; each field's ``metadata["wire"]`` lists the JSON names it is read from.
Fields the SDK does not know are kept in ``extra``; every field but the id may be ``None``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["Agent", "Call", "CallStatus", "Page", "Webhook"]


def _wire(*names: str) -> dict[str, tuple[str, ...]]:
    return {"wire": names}


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


@attrs.frozen(kw_only=True)
class Call:
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
    created_at: datetime | None = attrs.field(default=None, metadata=_wire("createdAt"))
    ended_at: datetime | None = attrs.field(default=None, metadata=_wire("endedAt"))
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know, under their wire names."""


@attrs.frozen(kw_only=True)
class Agent:
    """A voice assistant: what ``agents.list`` and ``agents.get`` give."""

    agent_id: str = attrs.field(metadata=_wire("agentId", "id"))
    name: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Fields the server sent that this SDK version does not know (language, voice ...)."""


@attrs.frozen(kw_only=True)
class Webhook:
    """A registered webhook endpoint: what ``webhooks.create`` gives.

    ``secret`` (the signing secret, when the server returns one) is left out of ``repr``.
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
