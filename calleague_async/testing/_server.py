"""The sandbox: an in-memory Calleague API served by aiohttp.web.

Standalone on purpose: it speaks only the wire format, so it can check the SDK
rather than agree with it. Import the public names from ``calleague_async.testing``.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import enum
import hmac
import json
import math
import random
import re
import secrets
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypedDict, Unpack
from urllib.parse import urlsplit

import attrs
from aiohttp import web

if TYPE_CHECKING:
    from calleague_async import AsyncSession

__all__ = [
    "DEFAULT_PATHS",
    "DOC_CALL",
    "MAX_CALLS",
    "CallStore",
    "Fault",
    "RecordedRequest",
    "SandboxConfig",
    "SandboxOptions",
    "SandboxServer",
    "parse_rate_limit",
]

#: Operation name -> (HTTP method, default path template). Seed 000 calls all but
#: ``calls.start`` illustrative, so each path can be overridden in ``SandboxConfig.paths``.
_OPERATIONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "calls.start": ("POST", "/api/core/voice/agent/call"),
        "calls.get": ("GET", "/api/core/voice/call/{callId}"),
        "calls.list": ("GET", "/api/core/voice/call/list"),
        "agents.list": ("GET", "/api/core/voice/agent/list"),
        "agents.get": ("GET", "/api/core/voice/agent/{agentId}"),
        "webhooks.create": ("POST", "/api/core/webhook"),
    }
)

#: Operation name -> default path template served by the sandbox.
DEFAULT_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {name: path for name, (_, path) in _OPERATIONS.items()}
)

#: Upper bound for ``SandboxConfig.calls`` (keeps generated timestamps and ids in range).
MAX_CALLS: Final = 100_000_000

_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_PAGE_NUMBER: Final = re.compile(r"[0-9]{1,12}")
_TEMPLATE_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CALL_ID: Final = re.compile(r"cl_[0-9a-f]{12}")
_MAX_PAGE_SIZE: Final = 100
_BASE_MS: Final = 1_767_268_800_000  # 2026-01-01T12:00:00.000Z, seed 000's call
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_M64: Final = (1 << 64) - 1
_M48: Final = (1 << 48) - 1
_MUL1: Final = 0x5DEECE66D
_MUL2: Final = 0xB5AD4ECEDA1B
_INV1: Final = pow(_MUL1, -1, 1 << 48)
_INV2: Final = pow(_MUL2, -1, 1 << 48)
_CREATED_BASE: Final = 1 << 40  # id-space offset for calls created at run time

_STATUSES: Final = ("completed", "failed", "no-answer", "in-progress", "ringing")
_RATE_UNITS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "s": 1.0,
        "sec": 1.0,
        "second": 1.0,
        "m": 60.0,
        "min": 60.0,
        "minute": 60.0,
        "h": 3600.0,
        "hour": 3600.0,
    }
)

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
_DOC_AGENT: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "agentId": "ag_123",
        "name": "Support Assistant",
        "language": "tr",
        "voice": "aylin",
        "createdAt": "2025-11-03T09:00:00.000Z",
    }
)
_AGENT_NAMES: Final = (
    "Sales Assistant",
    "Booking Assistant",
    "Collections Assistant",
    "Survey Assistant",
    "Reminder Assistant",
    "Onboarding Assistant",
    "Billing Assistant",
    "Delivery Assistant",
)
_LANGUAGES: Final = ("tr", "en", "de", "es", "fr", "ar")
_VOICES: Final = ("aylin", "emre", "nova", "atlas", "luna", "orion")
_DIAL_PLANS: Final = (("+90", 10), ("+1", 10), ("+44", 10), ("+49", 11), ("+33", 9))


class Fault(enum.StrEnum):
    """A failure the sandbox can inject with :meth:`SandboxServer.fail_next`."""

    SERVER_ERROR = "server_error"
    """HTTP 500 with a JSON error body."""
    BAD_GATEWAY = "bad_gateway"
    """HTTP 502 with a JSON error body."""
    UNAVAILABLE = "unavailable"
    """HTTP 503 with ``Retry-After: 1``."""
    RATE_LIMITED = "rate_limited"
    """HTTP 429 with ``Retry-After: 1``."""
    DROP = "drop"
    """Close the connection without replying (the client sees a disconnect)."""
    SLOW = "slow"
    """Wait ``delay`` seconds (default ``SandboxConfig.slow_seconds``), then answer normally."""
    TRUNCATED = "truncated"
    """Answer normally but send only the first half of the body (invalid JSON)."""
    NOT_JSON = "not_json"
    """HTTP 200 with ``text/html`` body ``<html>oops</html>``."""
    COMMIT_THEN_500 = "commit_then_500"
    """Do the work (e.g. create the call and dial), then answer 500."""
    COMMIT_THEN_DROP = "commit_then_drop"
    """Do the work, then close the connection without replying."""


def parse_rate_limit(spec: str) -> tuple[int, float]:
    """Parse ``"N/SECONDS"`` (or ``"N/second|minute|hour"``) into ``(N, seconds)``.

    Raises:
        ValueError: if the text is not a positive count over a positive window.
    """
    count_text, sep, window_text = spec.strip().partition("/")
    try:
        count = int(count_text)
        window = _RATE_UNITS.get(window_text.strip().lower())
        if window is None:
            window = float(window_text)
    except ValueError:
        count, window = 0, 0.0
    if not sep or count < 1 or not (window > 0 and math.isfinite(window)):
        raise ValueError(f"rate limit must look like 'N/SECONDS', got {spec!r}")
    return count, window


def _check_rate_limit(_: object, __: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        parse_rate_limit(value)


def _freeze_route_limits(value: Mapping[str, str]) -> Mapping[str, str]:
    unknown = sorted(set(value) - set(_OPERATIONS))
    if unknown:
        raise ValueError(
            f"unknown operation(s) in route_rate_limits: {unknown}; known: {sorted(_OPERATIONS)}"
        )
    for spec in value.values():
        parse_rate_limit(spec)
    return MappingProxyType(dict(value))


def _check_api_key(_: object, __: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (not value or any(c.isspace() for c in value)):
        raise ValueError("api_key must be a non-empty string without whitespace")


def _freeze_paths(value: Mapping[str, str]) -> Mapping[str, str]:
    unknown = sorted(set(value) - set(_OPERATIONS))
    if unknown:
        raise ValueError(f"unknown operation(s) in paths: {unknown}; known: {sorted(_OPERATIONS)}")
    for name, path in value.items():
        if not path.startswith("/"):
            raise ValueError(f"path for {name!r} must start with '/', got {path!r}")
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class SandboxConfig:
    """Settings for a :class:`SandboxServer`. Frozen; use ``attrs.evolve`` to vary one.

    Attributes:
        api_key: The only key accepted as ``Authorization: Bearer <key>``. ``None`` makes a
            fresh ``sk_test_...`` key per server. Never shown in ``repr()``.
        agents: Seeded assistants: ``ag_123`` ("Support Assistant") plus ``agents - 1``
            generated ones. ``0`` means none; at most 10,000.
        calls: Seeded calls: seed 000's ``cl_8f2a`` plus ``calls - 1`` generated ones, older
            and newest first. Generated lazily, so a million costs nothing. ``0`` means none.
        seed: Makes the generated data reproducible.
        envelope: Wrap replies as ``{"code", "statusText", "data"}`` (seed 001's shape).
        latency: Seconds to wait before every reply.
        rate_limit: ``"N/SECONDS"``: at most N requests per sliding window per key, else 429.
        slow_seconds: Default delay of :attr:`Fault.SLOW`.
        paths: Per-operation path overrides, e.g. ``{"calls.list": "/api/v1/calls"}``;
            see ``DEFAULT_PATHS`` for the names.
        record_requests: Keep every request in :attr:`SandboxServer.requests`.
        route_rate_limits: Per-operation limits on top of ``rate_limit``, like seed 002's
            table: ``{"calls.start": "30/60"}``; a 429 names the limit that was hit.
        rate_limit_headers: Send ``X-RateLimit-Limit/Remaining/Reset`` with every reply
            of a limited operation, as many APIs do.
        record_requests: Keep every request in ``SandboxServer.requests``; turn off for
            long-running servers (the command line does).
    """

    api_key: str | None = attrs.field(default=None, repr=False, validator=_check_api_key)
    agents: int = attrs.field(
        default=3, validator=[attrs.validators.ge(0), attrs.validators.le(10_000)]
    )
    calls: int = attrs.field(
        default=50, validator=[attrs.validators.ge(0), attrs.validators.le(MAX_CALLS)]
    )
    seed: int = 0
    envelope: bool = False
    latency: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    rate_limit: str | None = attrs.field(default=None, validator=_check_rate_limit)
    slow_seconds: float = attrs.field(default=5.0, validator=attrs.validators.ge(0.0))
    paths: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_paths, hash=False)
    record_requests: bool = True
    route_rate_limits: Mapping[str, str] = attrs.field(
        factory=dict, converter=_freeze_route_limits, hash=False
    )
    rate_limit_headers: bool = False


@attrs.frozen
class RecordedRequest:
    """One request the sandbox received, as seen on the wire (minus the Authorization header).

    Attributes:
        method: Upper-case HTTP method.
        path: Decoded path, without the query string.
        query: Query parameters (the last value wins when one repeats).
        json: The decoded JSON body, or ``None`` when there was no valid JSON body.
        headers: Request headers, without ``Authorization``.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]


def _iso(ms: int) -> str:
    stamp = _EPOCH + timedelta(milliseconds=ms)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rng(seed: int | str) -> random.Random:
    """A reproducible generator for fake data (never used for secrets)."""
    return random.Random(seed)  # noqa: S311 - deterministic test data, not cryptography


def _now_ms() -> int:
    return int(time.time() * 1000)


def _splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class CallStore(Mapping[str, dict[str, Any]]):
    """All calls, newest first: run-time ones (explicit) above seeded ones (computed lazily).

    A read-only mapping ``call_id -> call dict`` (each read of a seeded call builds a fresh
    dict) plus a few methods to change state. Seeded call ``i`` is computed from
    ``(seed, i)`` on demand, so ``len()`` and paging are cheap even for a million calls.
    """

    def __init__(self, *, seed: int, count: int, agents: Mapping[str, Mapping[str, Any]]) -> None:
        rng = _rng(f"calleague-calls/{seed}")
        self._k1 = rng.getrandbits(48)
        self._k2 = rng.getrandbits(48)
        self._salt = rng.getrandbits(64)
        self._count = count
        ids = list(agents) or ["ag_123"]
        self._agent_ids = ids
        self._agent_languages = [str(agents.get(a, {}).get("language", "tr")) for a in ids]
        self._created: dict[str, dict[str, Any]] = {}
        self._created_order: list[str] = []  # oldest first
        self._next_created = 0
        self._deleted: set[int] = set()
        self._deleted_sorted: list[int] = []
        self._overrides: dict[int, dict[str, Any]] = {}
        self._filter_cache: dict[tuple[str | None, str | None], array[int]] = {}
        self._version = 0  # bumped whenever a change can alter filter results

    # ids -------------------------------------------------------------------------------------
    def _encode(self, index: int) -> str:
        x = (index * _MUL1 + self._k1) & _M48
        x ^= x >> 24
        x = (x * _MUL2) & _M48
        return f"cl_{x ^ self._k2:012x}"

    def _decode(self, call_id: str) -> int | None:
        if call_id == DOC_CALL["callId"]:
            return 0
        if not _CALL_ID.fullmatch(call_id):
            return None
        x = int(call_id[3:], 16) ^ self._k2
        x = (x * _INV2) & _M48
        x ^= x >> 24
        return ((x - self._k1) * _INV1) & _M48

    def _id_of(self, index: int) -> str:
        return str(DOC_CALL["callId"]) if index == 0 else self._encode(index)

    def _seeded_index(self, call_id: str) -> int | None:
        index = self._decode(call_id)
        if index is None or index >= self._count or index in self._deleted:
            return None
        return index

    def new_id(self) -> str:
        """Return a fresh, deterministic call id for a call created at run time."""
        call_id = self._encode(_CREATED_BASE + self._next_created)
        self._next_created += 1
        return call_id

    # generated data ----------------------------------------------------------------------------
    def _hash(self, index: int) -> int:
        return _splitmix64(self._salt ^ index)

    def _status_and_agent(self, index: int) -> tuple[str, str]:
        override = self._overrides.get(index)
        if override is not None:
            return str(override.get("status")), str(override.get("agentId"))
        if index == 0:
            return str(DOC_CALL["status"]), str(DOC_CALL["agentId"])
        h = self._hash(index)
        return _STATUSES[h % 5], self._agent_ids[(h >> 8) % len(self._agent_ids)]

    def _seeded_call(self, index: int) -> dict[str, Any]:
        override = self._overrides.get(index)
        if override is not None:
            return dict(override)
        if index == 0:
            return copy.deepcopy(dict(DOC_CALL))
        h = self._hash(index)
        rng = _rng(h)
        status = _STATUSES[h % 5]
        agent_slot = (h >> 8) % len(self._agent_ids)
        created = _BASE_MS - 60_000 * index - (h >> 16) % 60_000  # strictly descending
        prefix, digits = _DIAL_PLANS[rng.randrange(len(_DIAL_PLANS))]
        number = (
            prefix
            + str(rng.randrange(1, 10))
            + "".join(str(rng.randrange(10)) for _ in range(digits - 1))
        )
        call: dict[str, Any] = {
            "callId": self._encode(index),
            "status": status,
            "direction": "inbound" if rng.random() < 0.1 else "outbound",
            "agentId": self._agent_ids[agent_slot],
            "to": number,
            "metadata": {"orderId": f"A-{rng.randrange(1000, 10000)}"}
            if rng.random() < 0.6
            else {},
            "language": self._agent_languages[agent_slot],
        }
        if status == "completed":
            duration = rng.randrange(15, 900)
            call.update(
                durationSec=duration,
                endedReason="completed",
                recordingReady=True,
                transcriptReady=rng.random() < 0.95,
            )
            ended = created + (duration + rng.randrange(3, 20)) * 1000
        elif status in ("failed", "no-answer"):
            reason = (
                rng.choice(("error", "busy", "invalid-number"))
                if status == "failed"
                else "no-answer"
            )
            call.update(
                durationSec=0, endedReason=reason, recordingReady=False, transcriptReady=False
            )
            ended = created + rng.randrange(2, 45) * 1000
        else:
            call.update(recordingReady=False, transcriptReady=False)
            ended = None
        call["createdAt"] = _iso(created)
        if ended is not None:
            call["endedAt"] = _iso(ended)
        return call

    # mapping -------------------------------------------------------------------------------------
    def __getitem__(self, call_id: str) -> dict[str, Any]:
        created = self._created.get(call_id)
        if created is not None:
            return created
        index = self._seeded_index(call_id)
        if index is None:
            raise KeyError(call_id)
        return self._seeded_call(index)

    def __contains__(self, call_id: object) -> bool:
        if not isinstance(call_id, str):
            return False
        return call_id in self._created or self._seeded_index(call_id) is not None

    def __len__(self) -> int:
        return len(self._created) + self._count - len(self._deleted)

    def __iter__(self) -> Iterator[str]:
        yield from reversed(self._created_order)
        for index in range(self._count):
            if index not in self._deleted:
                yield self._id_of(index)

    # changes -------------------------------------------------------------------------------------
    def add(self, call: dict[str, Any]) -> None:
        """Insert ``call`` (which must have a new ``callId``) as the newest call."""
        call_id = call["callId"]
        if call_id in self:
            raise ValueError(f"call {call_id!r} already exists")
        self._created[call_id] = call
        self._created_order.append(call_id)

    def delete(self, call_id: str) -> bool:
        """Remove a call; return whether it existed."""
        if self._created.pop(call_id, None) is not None:
            self._created_order.remove(call_id)
            return True
        index = self._seeded_index(call_id)
        if index is None:
            return False
        self._deleted.add(index)
        bisect.insort(self._deleted_sorted, index)
        self._overrides.pop(index, None)
        self._filter_cache.clear()
        self._version += 1
        return True

    def patch(self, call_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields of a call (e.g. ``status="completed"``); return the updated call.

        Raises:
            KeyError: if there is no such call.
        """
        if "callId" in fields and fields["callId"] != call_id:
            raise ValueError("callId cannot be changed")
        created = self._created.get(call_id)
        if created is not None:
            created.update(fields)
            return created
        index = self._seeded_index(call_id)
        if index is None:
            raise KeyError(call_id)
        call = self._seeded_call(index)
        call.update(fields)
        self._overrides[index] = call
        self._filter_cache.clear()
        self._version += 1
        return dict(call)

    # paging --------------------------------------------------------------------------------------
    def _nth_alive(self, k: int) -> int:
        """Index of the k-th (0-based) seeded call that is not deleted."""
        index = k
        while True:
            candidate = k + bisect.bisect_right(self._deleted_sorted, index)
            if candidate == index:
                return index
            index = candidate

    def _scan(
        self, status: str | None, agent_id: str | None, start: int, stop: int, out: array[int]
    ) -> None:
        """Append the seeded indices in ``[start, stop)`` that pass the filter to ``out``."""
        # The hot loop of a filtered million-call listing: _hash() and
        # _status_and_agent() inlined, with a slow path for the few special indices.
        special = self._deleted | self._overrides.keys() | {0}
        agents = self._agent_ids
        n_agents = len(agents)
        want_status = _STATUSES.index(status) if status in _STATUSES else -1
        salt = self._salt
        for index in range(start, stop):
            if index in special:
                if index not in self._deleted:
                    call_status, call_agent = self._status_and_agent(index)
                    if (status is None or call_status == status) and (
                        agent_id is None or call_agent == agent_id
                    ):
                        out.append(index)
                continue
            z = ((salt ^ index) + 0x9E3779B97F4A7C15) & _M64
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
            z ^= z >> 31
            if status is not None and z % 5 != want_status:
                continue
            if agent_id is not None and agents[(z >> 8) % n_agents] != agent_id:
                continue
            out.append(index)

    def _remember(self, key: tuple[str | None, str | None], found: array[int]) -> None:
        if len(self._filter_cache) >= 16:
            self._filter_cache.clear()
        self._filter_cache[key] = found

    def _filtered_indices(self, status: str | None, agent_id: str | None) -> array[int]:
        key = (status, agent_id)
        found = self._filter_cache.get(key)
        if found is None:
            found = array("q")
            self._scan(status, agent_id, 0, self._count, found)
            self._remember(key, found)
        return found

    async def prepare_filter(
        self, status: str | None, agent_id: str | None, *, chunk: int = 50_000
    ) -> None:
        """Index the seeded calls matching a filter, yielding to the event loop between chunks.

        :meth:`page` would do the same scan in one go; the server calls this first so a
        filtered listing of a million calls does not freeze other requests.
        """
        key = (status, agent_id)
        while key not in self._filter_cache:
            version = self._version
            found: array[int] = array("q")
            for start in range(0, self._count, chunk):
                self._scan(status, agent_id, start, min(start + chunk, self._count), found)
                await asyncio.sleep(0)
                if version != self._version:
                    break  # a delete or patch changed what matches: start again
            else:
                self._remember(key, found)

    def page(
        self, offset: int, limit: int, *, status: str | None = None, agent_id: str | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """Return ``(total, calls[offset:offset + limit])`` newest first, optionally filtered."""
        if status is None and agent_id is None:
            order = self._created_order
            items: list[dict[str, Any]] = []
            if offset < len(order):
                first = len(order) - 1 - offset  # newest-first position -> list index
                last = max(-1, first - limit)
                items = [self._created[order[j]] for j in range(first, last, -1)]
            total = len(self)
            seeded_offset = max(0, offset - len(order))
            index = self._nth_alive(seeded_offset) if len(items) < limit else self._count
            while len(items) < limit and index < self._count:
                if index not in self._deleted:
                    items.append(self._seeded_call(index))
                index += 1
            return total, items

        def matches(call: Mapping[str, Any]) -> bool:
            return (status is None or call.get("status") == status) and (
                agent_id is None or call.get("agentId") == agent_id
            )

        head_calls = [
            self._created[c] for c in reversed(self._created_order) if matches(self._created[c])
        ]
        seeded = self._filtered_indices(status, agent_id)
        total = len(head_calls) + len(seeded)
        items = head_calls[offset : offset + limit]
        start = max(0, offset - len(head_calls))
        stop = start + (limit - len(items))
        items.extend(self._seeded_call(i) for i in seeded[start:stop])
        return total, items


@attrs.frozen
class _FaultRule:
    fault: Fault
    path: str | None
    method: str | None
    delay: float | None

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or self.path == path) and (
            self.method is None or self.method == method
        )


class _ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@attrs.frozen
class _Ok:
    payload: Any
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class _Ctx:
    request: web.Request
    params: dict[str, str]
    body: Any
    body_ok: bool


@attrs.frozen
class _Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    static: bool


def _compile_routes(paths: Mapping[str, str]) -> list[_Route]:
    routes: list[_Route] = []
    for name, (method, default) in _OPERATIONS.items():
        template = paths.get(name, default)
        pieces: list[str] = []
        last = 0
        for match in _TEMPLATE_PARAM.finditer(template):
            pieces.append(re.escape(template[last : match.start()]))
            pieces.append(f"(?P<{match.group(1)}>[^/]+)")
            last = match.end()
        pieces.append(re.escape(template[last:]))
        routes.append(_Route(name, method, re.compile("".join(pieces)), static=last == 0))
    routes.sort(key=lambda r: not r.static)  # static paths win: call/list before call/{callId}
    return routes


class SandboxOptions(TypedDict, total=False):
    """The :class:`SandboxConfig` fields as keyword arguments: ``SandboxServer(calls=10)``.

    Typed one by one, so a misspelt or mistyped option fails the type check, not the test run.
    """

    api_key: str | None
    agents: int
    calls: int
    seed: int
    envelope: bool
    latency: float
    rate_limit: str | None
    slow_seconds: float
    paths: Mapping[str, str]
    record_requests: bool
    route_rate_limits: Mapping[str, str]
    rate_limit_headers: bool


class SandboxServer:
    """An in-memory Calleague API on a real socket, with knobs for faults, limits and shapes.

    Example::

        async with SandboxServer(calls=10) as sb:
            headers = {"Authorization": f"Bearer {sb.api_key}"}
            async with aiohttp.ClientSession(sb.base_url, headers=headers) as http:
                async with http.get("/api/core/voice/call/cl_8f2a") as resp:
                    assert (await resp.json())["status"] == "completed"

    Args:
        config: Settings; defaults to ``SandboxConfig()``.
        host: Interface to bind (default loopback).
        port: Port to bind; ``0`` picks a free one (see :attr:`port` after start).
        clock: Monotonic clock for the rate-limit window (inject a fake one in tests).
        **overrides: ``SandboxConfig`` fields to change, e.g. ``SandboxServer(calls=10)``
            (see :class:`SandboxOptions`).
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        **overrides: Unpack[SandboxOptions],
    ) -> None:
        config = config if config is not None else SandboxConfig()
        if overrides:
            config = attrs.evolve(config, **overrides)
        self._config = config
        self._host = host
        self._port = port
        self._clock = clock
        self._api_key = config.api_key or "sk_test_" + secrets.token_hex(12)
        self._envelope = config.envelope
        self._latency = config.latency
        self._rate: tuple[int, float, str] | None = None
        self.set_rate_limit(config.rate_limit)
        self._route_rates = {
            op: (*parse_rate_limit(spec), spec) for op, spec in config.route_rate_limits.items()
        }
        self._routes = _compile_routes(config.paths)
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

        rng = _rng(f"calleague-agents/{config.seed}")
        self.agents: dict[str, dict[str, Any]] = {}
        """Assistants by id, in list order. Add or remove entries to change what is served."""
        if config.agents:
            self.agents[_DOC_AGENT["agentId"]] = dict(_DOC_AGENT)
        while len(self.agents) < config.agents:
            agent_id = f"ag_{rng.getrandbits(24):06x}"
            if agent_id in self.agents:
                continue
            n = len(self.agents)
            self.agents[agent_id] = {
                "agentId": agent_id,
                "name": _AGENT_NAMES[(n - 1) % len(_AGENT_NAMES)]
                + ("" if n <= len(_AGENT_NAMES) else f" {n}"),
                "language": rng.choice(_LANGUAGES),
                "voice": rng.choice(_VOICES),
                "createdAt": _iso(
                    _BASE_MS - 86_400_000 * (60 - n % 60) - rng.randrange(86_400_000)
                ),
            }
        self.calls: CallStore = CallStore(seed=config.seed, count=config.calls, agents=self.agents)
        """All calls, newest first (see :class:`CallStore`)."""
        self.webhooks: dict[str, dict[str, Any]] = {}
        """Registered webhooks by id."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in order (Authorization header removed)."""
        self.dials: Counter[str] = Counter()
        """Number dialed -> how many ``calls.start`` requests created a call for it."""
        self.rate_limited: int = 0
        """How many 429 replies the rate limiter sent (injected faults not included)."""
        self._faults: deque[list[Any]] = deque()  # [rule, remaining]
        self._idempotency: dict[str, str] = {}
        self._windows: dict[str, deque[float]] = {}
        self._webhook_counter = 0

    def __repr__(self) -> str:
        state = "running" if self._runner is not None else "stopped"
        return f"<SandboxServer {self.base_url} calls={len(self.calls)} {state}>"

    # properties ----------------------------------------------------------------------------------
    @property
    def config(self) -> SandboxConfig:
        """The configuration this server was made with (knob changes are not reflected)."""
        return self._config

    @property
    def api_key(self) -> str:
        """The only API key the server accepts."""
        return self._api_key

    @property
    def host(self) -> str:
        """The bound interface."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one once started, even when asked for port 0)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server, without a trailing slash."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def envelope(self) -> bool:
        """Whether replies use the ``{code, statusText, data}`` envelope."""
        return self._envelope

    @property
    def latency(self) -> float:
        """Seconds waited before every reply."""
        return self._latency

    @property
    def rate_limit(self) -> str | None:
        """The active ``"N/SECONDS"`` limit, or ``None``."""
        return None if self._rate is None else self._rate[2]

    def path(self, operation: str, **params: str) -> str:
        """The served path for ``operation``, e.g. ``path("calls.get", callId="cl_8f2a")``."""
        template = self._config.paths.get(operation, _OPERATIONS[operation][1])
        return _TEMPLATE_PARAM.sub(lambda m: params[m.group(1)], template)

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + path

    def session(self, **options: Any) -> AsyncSession:
        """An :class:`~calleague_async.AsyncSession` wired to this running sandbox.

        Its key, base URL and paths (``SandboxConfig.paths``) are this sandbox's; ``options``
        are ``AsyncSession``'s and win over those. Everything else is ``AsyncSession``'s
        default, rate limiter included, so your code runs as it does in production
        (``rate_limits=None`` turns the limiter off). Close it (``async with``) as any session.

        The sandbox serves only while the event loop it was started on runs, so the session
        refuses to be used on another loop (``RuntimeError``, saying how to fix the loop
        scopes) instead of waiting for replies that would never come.

        >>> async with SandboxServer(calls=5) as sb, sb.session() as s:
        ...     assert len([c async for c in s.calls.list()]) == 5
        """
        from calleague_async.testing._wired import wired_session  # the SDK, only when asked

        if self._runner is None or self._loop is None:
            raise RuntimeError("start the sandbox first: async with SandboxServer() as sb: ...")
        return wired_session(self._loop, self.api_key, self.base_url, self._config.paths, options)

    # knobs ---------------------------------------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        fault: Fault | str = Fault.SERVER_ERROR,
        *,
        path: str | None = None,
        method: str | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next ``n`` matching requests suffer ``fault``.

        Only requests whose path equals ``path`` and method equals ``method`` (when given)
        count. Rules are used in the order they were added. ``delay`` sets the wait of
        :attr:`Fault.SLOW`. Faults act like infrastructure in front of the API: they apply
        before the key and the rate limit are checked.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        if n:
            rule = _FaultRule(Fault(fault), path, method.upper() if method else None, delay)
            self._faults.append([rule, n])

    def clear_faults(self) -> None:
        """Forget all pending faults."""
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many injected faults are still to be used."""
        return sum(int(entry[1]) for entry in self._faults)

    def set_envelope(self, enabled: bool) -> None:
        """Switch the ``{code, statusText, data}`` envelope on or off."""
        self._envelope = bool(enabled)

    def set_latency(self, seconds: float) -> None:
        """Wait ``seconds`` before every reply."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = float(seconds)

    def set_rate_limit(self, spec: str | None) -> None:
        """Limit requests to ``"N/SECONDS"`` per key (sliding window), or ``None`` for no limit."""
        if spec is None:
            self._rate = None
        else:
            count, window = parse_rate_limit(spec)
            self._rate = (count, window, spec.strip())
        self._windows = {}

    def add_calls(self, n: int) -> list[dict[str, Any]]:
        """Insert ``n`` new calls as the newest ones (no dialing); return them, newest first."""
        added: list[dict[str, Any]] = []
        rng = _rng(f"calleague-added/{self._config.seed}/{len(self.calls)}")
        agent_ids = list(self.agents) or ["ag_123"]
        for _ in range(n):
            agent_id = rng.choice(agent_ids)
            call = {
                "callId": self.calls.new_id(),
                "status": rng.choice(_STATUSES),
                "direction": "outbound",
                "agentId": agent_id,
                "to": "+90312" + "".join(str(rng.randrange(10)) for _ in range(7)),
                "metadata": {},
                "language": self.agents.get(agent_id, {}).get("language", "tr"),
                "createdAt": _iso(_now_ms()),
            }
            self.calls.add(call)
            added.append(call)
        added.reverse()
        return added

    def delete_call(self, call_id: str) -> bool:
        """Delete a call; return whether it existed."""
        return self.calls.delete(call_id)

    # lifecycle -----------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        """A new ``aiohttp.web.Application`` serving this sandbox's state (for custom runners)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self) -> None:
        """Bind and start serving."""
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        runner = web.AppRunner(
            self.make_app(), handle_signals=False, access_log=None, shutdown_timeout=0.25
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        address = runner.addresses[0]
        self._port = int(address[1])
        self._runner = runner
        self._loop = asyncio.get_running_loop()  # the only loop it serves on (see session())

    async def close(self) -> None:
        """Stop serving (in-flight requests get a brief grace period). Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # request handling ----------------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> _FaultRule | None:
        for entry in self._faults:
            rule: _FaultRule = entry[0]
            if rule.matches(method, path):
                entry[1] -= 1
                if entry[1] <= 0:
                    self._faults.remove(entry)
                return rule
        return None

    def _render(self, reply: _Ok | _ApiError, request_id: str) -> web.Response:
        headers = {"X-Request-Id": request_id}
        headers.update(reply.headers)
        if isinstance(reply, _Ok):
            status = 200
            body: Any = (
                {"code": 200, "statusText": "", "data": reply.payload}
                if self._envelope
                else reply.payload
            )
        else:
            status = reply.status
            body = (
                {"code": status, "statusText": reply.message, "data": None}
                if self._envelope
                else {"code": status, "message": reply.message}
            )
        return web.json_response(body, status=status, headers=headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
            body_ok = raw != b""
        except ValueError:
            body, body_ok = None, False
        if self._config.record_requests:
            seen = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query.items()),
                    json=body,
                    headers=seen,
                )
            )
        request_id = "req_" + secrets.token_hex(8)
        rule = self._take_fault(request.method, request.path)
        if self._latency > 0:
            await asyncio.sleep(self._latency)

        fault = rule.fault if rule is not None else None
        if rule is not None and fault is Fault.SLOW:
            await asyncio.sleep(rule.delay if rule.delay is not None else self._config.slow_seconds)
        elif fault is Fault.DROP:
            return self._drop(request)
        elif fault is Fault.NOT_JSON:
            return web.Response(
                text="<html>oops</html>",
                content_type="text/html",
                headers={"X-Request-Id": request_id},
            )
        elif fault in _PRE_FAULTS:
            status, message, retry_after = _PRE_FAULTS[fault]
            extra = {"Retry-After": "1"} if retry_after else None
            return self._render(_ApiError(status, message, extra), request_id)

        try:
            reply: _Ok | _ApiError = await self._process(request, body, body_ok)
        except _ApiError as error:
            reply = error

        if fault is Fault.COMMIT_THEN_500:
            return self._render(_ApiError(500, "Internal server error"), request_id)
        if fault is Fault.COMMIT_THEN_DROP:
            return self._drop(request)
        response = self._render(reply, request_id)
        if fault is Fault.TRUNCATED:
            assert isinstance(response.body, bytes)
            cut = response.body[: len(response.body) // 2]
            response = web.Response(
                body=cut,
                status=response.status,
                content_type="application/json",
                headers={"X-Request-Id": request_id, **reply.headers},
            )
        return response

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never reaches the client: the socket is closed

    def _check_auth(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.encode(), self._api_key.encode()
        ):
            raise _ApiError(401, "Invalid or missing API key")
        return token

    def _check_rate(self, key: str, rate: tuple[int, float, str] | None = None) -> dict[str, str]:
        """Count a request against ``rate``; return the rate-limit headers to send, if any."""
        rate = rate or self._rate
        if rate is None:
            return {}
        limit, window, spec = rate
        now = self._clock()
        stamps = self._windows.setdefault(key, deque())
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) >= limit:
            self.rate_limited += 1
            wait = max(1, math.ceil(stamps[0] + window - now))
            unit = "" if any(ch.isalpha() for ch in spec) else " seconds"
            headers = {"Retry-After": str(wait)}
            if self._config.rate_limit_headers:
                headers |= self._limit_headers(limit, 0, stamps[0] + window - now)
            raise _ApiError(429, f"Rate limit exceeded: {spec}{unit}", headers)
        stamps.append(now)
        if not self._config.rate_limit_headers:
            return {}
        return self._limit_headers(limit, limit - len(stamps), stamps[0] + window - now)

    @staticmethod
    def _limit_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(max(1, math.ceil(reset))),
        }

    async def _process(self, request: web.Request, body: Any, body_ok: bool) -> _Ok:
        key = self._check_auth(request)
        self._check_rate(key)
        allowed: list[str] = []
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            route_rate = self._route_rates.get(route.operation)
            limit_headers = {}
            if route_rate is not None:
                limit_headers = self._check_rate(f"{key}|{route.operation}", route_rate)
            handler = getattr(self, "_op_" + route.operation.replace(".", "_"))
            result: _Ok = await handler(_Ctx(request, match.groupdict(), body, body_ok))
            if limit_headers:
                result = attrs.evolve(result, headers={**result.headers, **limit_headers})
            return result
        if allowed:
            raise _ApiError(405, "Method not allowed", {"Allow": ", ".join(sorted(set(allowed)))})
        raise _ApiError(404, "Not found")

    # operations ----------------------------------------------------------------------------------
    @staticmethod
    def _object_body(ctx: _Ctx) -> dict[str, Any]:
        content_type = ctx.request.content_type
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise _ApiError(400, "Content-Type must be application/json")
        if not ctx.body_ok:
            raise _ApiError(400, "Malformed JSON body")
        if not isinstance(ctx.body, dict):
            raise _ApiError(400, "Body must be a JSON object")
        return ctx.body

    @staticmethod
    def _paging(request: web.Request) -> tuple[int, int]:
        values: list[int] = []
        for name, default in (("page", 1), ("pageSize", 20)):
            text = request.query.get(name, "")
            if text == "":
                values.append(default)
                continue
            if not _PAGE_NUMBER.fullmatch(text):
                raise _ApiError(400, f"{name} must be a positive integer")
            values.append(int(text))
        page, size = values
        if page < 1:
            raise _ApiError(400, "page must be >= 1")
        if not 1 <= size <= _MAX_PAGE_SIZE:
            raise _ApiError(400, f"pageSize must be between 1 and {_MAX_PAGE_SIZE}")
        return (page - 1) * size, size

    async def _op_calls_start(self, ctx: _Ctx) -> _Ok:
        data = self._object_body(ctx)
        agent_id = data.get("agentId")
        to = data.get("to")
        if agent_id is None or agent_id == "":
            raise _ApiError(400, "agentId is required")
        if to is None or to == "":
            raise _ApiError(400, "to is required")
        if not isinstance(agent_id, str) or agent_id not in self.agents:
            raise _ApiError(404, "Agent not found")
        if not isinstance(to, str) or not _E164.fullmatch(to):
            raise _ApiError(422, "to must be a valid number in international format")
        metadata = data.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _ApiError(422, "metadata must be an object")
        idempotency_key = ctx.request.headers.get("Idempotency-Key")
        if idempotency_key:
            previous = self._idempotency.get(idempotency_key)
            if previous is not None and previous in self.calls:
                return _Ok(self.calls[previous], {"Idempotent-Replayed": "true"})
        call = {
            "callId": self.calls.new_id(),
            "status": "ringing",
            "direction": "outbound",
            "agentId": agent_id,
            "to": to,
            "metadata": metadata if metadata is not None else {},
            "language": self.agents[agent_id].get("language", "tr"),
            "createdAt": _iso(_now_ms()),
        }
        self.calls.add(call)
        self.dials[to] += 1
        if idempotency_key:
            self._idempotency[idempotency_key] = call["callId"]
        return _Ok(call)

    async def _op_calls_get(self, ctx: _Ctx) -> _Ok:
        call = self.calls.get(ctx.params["callId"])
        if call is None:
            raise _ApiError(404, "Call not found")
        return _Ok(call)

    async def _op_calls_list(self, ctx: _Ctx) -> _Ok:
        offset, limit = self._paging(ctx.request)
        status = ctx.request.query.get("status") or None
        agent_id = ctx.request.query.get("agentId") or None
        if status is not None or agent_id is not None:
            await self.calls.prepare_filter(status, agent_id)
        total, items = self.calls.page(offset, limit, status=status, agent_id=agent_id)
        return _Ok({"total": total, "list": items})

    async def _op_agents_list(self, ctx: _Ctx) -> _Ok:
        offset, limit = self._paging(ctx.request)
        agents = list(self.agents.values())
        return _Ok({"total": len(agents), "list": agents[offset : offset + limit]})

    async def _op_agents_get(self, ctx: _Ctx) -> _Ok:
        agent = self.agents.get(ctx.params["agentId"])
        if agent is None:
            raise _ApiError(404, "Agent not found")
        return _Ok(agent)

    async def _op_webhooks_create(self, ctx: _Ctx) -> _Ok:
        data = self._object_body(ctx)
        url = data.get("url")
        events = data.get("events")
        if url is None or events is None:
            raise _ApiError(400, "url and events are required")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme != "https" or not parts.hostname:
            raise _ApiError(422, "url must be an https URL")
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) and e for e in events)
        ):
            raise _ApiError(422, "events must be a non-empty list of event names")
        self._webhook_counter += 1
        webhook_id = f"wh_{_splitmix64(self._config.seed ^ self._webhook_counter) & _M48:012x}"
        webhook = {
            "webhookId": webhook_id,
            "url": url,
            "events": list(events),
            "createdAt": _iso(_now_ms()),
            "secret": "whsec_" + secrets.token_hex(16),
        }
        self.webhooks[webhook_id] = webhook
        return _Ok(webhook)


_PRE_FAULTS: Final[Mapping[Fault | None, tuple[int, str, bool]]] = MappingProxyType(
    {
        Fault.SERVER_ERROR: (500, "Internal server error", False),
        Fault.BAD_GATEWAY: (502, "Bad gateway", False),
        Fault.UNAVAILABLE: (503, "Service unavailable", True),
        Fault.RATE_LIMITED: (429, "Too many requests", True),
    }
)
