"""Client-side rate limiting: GCRA buckets per API key and route, in memory or in Redis."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from calleague_async._limits._limiter import DEFAULT, Limiter, scope_id
from calleague_async._limits._rate import AdaptiveRate, Rate, parse_rate
from calleague_async._limits._store import BucketSpec, MemoryStore, RedisStore, Store

__all__ = [
    "DEFAULT",
    "DEFAULT_RATE_LIMITS",
    "AdaptiveRate",
    "BucketSpec",
    "Limiter",
    "MemoryStore",
    "Rate",
    "RedisStore",
    "Store",
    "parse_limits",
    "parse_rate",
    "scope_id",
]

DEFAULT_RATE_LIMITS: Mapping[str, str] = MappingProxyType(
    {
        # Calleague documents only "fair-use limits per workspace"; these follow the
        # neighbouring API's published table (seed 002) as a conservative start, and the
        # adaptive layer learns the real limits from 429s and rate-limit headers.
        DEFAULT: "100/minute",
        "POST /api/core/voice/agent/call": "30/minute",
        "POST /api/core/webhook": "20/minute",
    }
)
"""The limits a session keeps to unless told otherwise."""


def parse_limits(limits: Mapping[str, str | Rate]) -> dict[str, Rate]:
    """Parse a ``rate_limits=`` mapping's values (``"30/minute"`` ...) into :class:`Rate`."""
    return {k: v if isinstance(v, Rate) else parse_rate(v) for k, v in limits.items()}
