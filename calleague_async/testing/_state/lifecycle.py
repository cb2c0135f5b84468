"""How a call moves: queued or ringing -> in-progress -> completed, and the event each step fires.

Pure rules over call dicts (the wire's camelCase records); the clock is passed in. Timing
lives in the server (``_delivery.Timeline``), which asks ``next_step`` what comes next.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

import attrs

from calleague_async.testing._state.common import iso, splitmix64

__all__ = [
    "CALL_ENDED",
    "CALL_QUEUED",
    "CALL_STARTED",
    "EVENT_TYPES",
    "LIVE",
    "WAITING",
    "Event",
    "ended_fields",
    "next_step",
    "transcript",
]

CALL_QUEUED: Final = "call.queued"
CALL_STARTED: Final = "call.started"
CALL_ENDED: Final = "call.ended"
EVENT_TYPES: Final = (CALL_QUEUED, CALL_STARTED, CALL_ENDED)
"""The events the sandbox fires, in the order each call fires them."""

WAITING: Final = frozenset({"queued", "ringing"})
"""Accepted, not yet connected: the next step connects the call."""
LIVE: Final = "in-progress"
"""Connected: the only status seed 002's transfer and end accept ("currently active")."""


@attrs.frozen
class Event:
    """One webhook event: ``call`` is a snapshot of the call when it fired (wire names)."""

    id: str
    type: str
    created_at: str
    call: Mapping[str, Any]

    @classmethod
    def of(cls, type_: str, call: Mapping[str, Any], at_ms: int) -> Event:
        """A new event with a fresh ``evt_`` id and a snapshot of ``call``.

        The state replaces nested values (metadata, transcript) rather than changing them in
        place, so copying one level deep is a snapshot, at a fraction of ``deepcopy``'s cost
        (this runs for every call made).
        """
        snapshot = {k: v.copy() if isinstance(v, dict | list) else v for k, v in call.items()}
        return cls("evt_" + secrets.token_hex(12), type_, iso(at_ms), snapshot)

    def body(self) -> dict[str, Any]:
        """The JSON body a webhook receives."""
        return {"id": self.id, "type": self.type, "createdAt": self.created_at, "data": self.call}


def next_step(
    call: Mapping[str, Any], at_ms: int, *, agent_name: str = "your assistant"
) -> tuple[str, dict[str, Any]] | None:
    """The event the call's next step fires and the fields it changes; None once it has ended."""
    status = call.get("status")
    if status in WAITING:
        return CALL_STARTED, {"status": LIVE, "startedAt": iso(at_ms)}
    if status == LIVE:
        return CALL_ENDED, ended_fields(call, at_ms, reason="completed", agent_name=agent_name)
    return None


def ended_fields(
    call: Mapping[str, Any], at_ms: int, *, reason: str, agent_name: str = "your assistant"
) -> dict[str, Any]:
    """The fields of a call that ended normally at ``at_ms``: duration, reason, transcript.

    The timeline is compressed, so ``durationSec`` is made up (30..209 s, from the id) rather
    than measured.
    """
    return {
        "status": "completed",
        "durationSec": 30 + splitmix64(hash_id(str(call.get("callId", "")))) % 180,
        "endedReason": reason,
        "endedAt": iso(at_ms),
        "recordingReady": True,
        "transcriptReady": True,
        "transcript": transcript(call, agent_name),
    }


def hash_id(text: str) -> int:
    """A stable integer of an id (``hash()`` changes per process)."""
    return int.from_bytes(text.encode()[-8:].rjust(8, b"\0"), "big")


def transcript(call: Mapping[str, Any], agent_name: str = "your assistant") -> list[dict[str, str]]:
    """A short, deterministic conversation: ``[{"role": "agent" | "user", "text": ...}]``."""
    metadata = call.get("metadata")
    about = "your order"
    if isinstance(metadata, Mapping) and metadata.get("orderId"):
        about = f"order {metadata['orderId']}"
    who = call.get("contactName") or "there"
    return [
        {"role": "agent", "text": f"Hello {who}, this is {agent_name}. Is now a good time?"},
        {"role": "user", "text": "Yes, go ahead."},
        {"role": "agent", "text": f"I'm calling about {about}. Shall we confirm it?"},
        {"role": "user", "text": "Yes, please confirm it."},
        {"role": "agent", "text": "Done. Thank you, goodbye."},
    ]
