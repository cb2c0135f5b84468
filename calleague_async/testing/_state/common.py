"""Data and helpers every state room shares: seed 000's records, ids, timestamps, errors.

No HTTP here: a ``StateError`` carries the status a handler will answer with, as moto's do.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "BASE_MS",
    "DOC_AGENT",
    "DOC_CALL",
    "E164",
    "M48",
    "M64",
    "ConflictError",
    "InvalidError",
    "NotFoundError",
    "StateError",
    "UnavailableError",
    "iso",
    "now_ms",
    "rng",
    "splitmix64",
]

E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
BASE_MS: Final = 1_767_268_800_000  # 2026-01-01T12:00:00.000Z, seed 000's call
M64: Final = (1 << 64) - 1
M48: Final = (1 << 48) - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

DOC_CALL: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "callId": "cl_8f2a",
        "status": "completed",
        "direction": "outbound",
        "agentId": "ag_123",
        "to": "+903121234567",
        "metadata": {"orderId": "A-1042"},
        "durationSec": 84,
        "endedReason": "completed",
        "language": "tr",
        "recordingReady": True,
        "transcriptReady": True,
        "createdAt": "2026-01-01T12:00:00.000Z",
        "endedAt": "2026-01-01T12:01:24.000Z",
    }
)
"""Seed 000's example call as the sandbox serves it (with an agent, a number and metadata)."""

DOC_AGENT: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "agentId": "ag_123",
        "name": "Support Assistant",
        "language": "tr",
        "voice": "aylin",
        "createdAt": "2025-11-03T09:00:00.000Z",
    }
)
"""Seed 000's example assistant."""


def iso(ms: int) -> str:
    """``ms`` since the epoch as the API writes times: ``2026-01-01T12:00:00.000Z``."""
    stamp = _EPOCH + timedelta(milliseconds=ms)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return int(time.time() * 1000)


def rng(seed: int | str) -> random.Random:
    """A reproducible generator for fake data (never used for secrets)."""
    return random.Random(seed)  # noqa: S311 - deterministic test data, not cryptography


def splitmix64(x: int) -> int:
    """A 64-bit mixing function: cheap, stateless pseudo-randomness per index."""
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class StateError(Exception):
    """A request the state refuses; ``status`` is the HTTP status a handler answers with."""

    status: int = 400

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status


class InvalidError(StateError):
    """Bad input (400, or 422 when given)."""


class NotFoundError(StateError):
    """No such record (404)."""

    status = 404


class ConflictError(StateError):
    """The record's state blocks the action (409)."""

    status = 409


class UnavailableError(StateError):
    """Something downstream is missing, e.g. a free agent (503)."""

    status = 503
