"""Client-side rate limiting: GCRA buckets per API key and route, in memory or in Redis.

Known limits pace from the first request; unknown ones are learned from the server's replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from calleague_async._limits._limiter import (
    BATCH_MAX_WAIT,
    DEFAULT,
    DEFAULT_MAX_WAIT,
    MAX_PAUSE,
    Limiter,
    queueing,
    scope_id,
)
from calleague_async._limits._rate import (
    QUOTA_WINDOW,
    AdaptiveRate,
    LearnedRate,
    Rate,
    SendMeter,
    is_quota,
    parse_rate,
)
from calleague_async._limits._store import BucketSpec, MemoryStore, RedisStore, Store
from calleague_async._routes import ROUTES

__all__ = [
    "BATCH_MAX_WAIT",
    "DEFAULT",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_RATE_LIMITS",
    "MAX_PAUSE",
    "QUOTA_WINDOW",
    "AdaptiveRate",
    "BucketSpec",
    "LearnedRate",
    "Limiter",
    "MemoryStore",
    "Rate",
    "RedisStore",
    "SendMeter",
    "Store",
    "is_quota",
    "parse_limits",
    "parse_rate",
    "queueing",
    "scope_id",
]


def _documented() -> dict[str, str]:
    limits: dict[str, str] = {}
    for route in ROUTES.values():
        doc = route.documented_limit
        if doc is None:
            continue
        if doc.rate:
            limits[route.key] = doc.rate
        if doc.shared and doc.api:
            limits[f"api:{doc.api}"] = doc.shared
    for rate in limits.values():
        parse_rate(rate)  # a typo in the route table fails at import, not on a request
    return limits


DEFAULT_RATE_LIMITS: Mapping[str, str] = MappingProxyType(_documented())
"""The limits a session paces from the first request unless told otherwise: the documented ones.

Calleague publishes no limits for its routes ("fair-use limits per workspace"), so this is
empty for them: a default session does not pace a route until the server says something about
its limit, then keeps to what it learned (adaptive, as botocore's adaptive mode). A route whose
document publishes a limit (``Route.documented_limit``, e.g. seed 002's table) appears here.
"""


def parse_limits(limits: Mapping[str, str | Rate]) -> dict[str, Rate]:
    """Parse a ``rate_limits=`` mapping's values (``"30/minute"`` ...) into :class:`Rate`."""
    return {k: v if isinstance(v, Rate) else parse_rate(v) for k, v in limits.items()}
