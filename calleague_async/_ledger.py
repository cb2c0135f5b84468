"""The campaign ledger: who may dial a number, and what became of each dial.

Before a campaign dialer dials a number it *claims* it; only the dialer whose claim succeeded
dials. Several dialer processes given the same leads therefore never dial the same person. Each
dialer proves it is alive with a heartbeat; a claim whose owner stopped beating without
recording an outcome is left for a person to review, never redialed automatically.

Two implementations: :class:`RedisLedger` shares the ledger between processes and machines;
:class:`MemoryLedger` keeps it in one process, for tests and single-process use.

Keys and values in Redis (``prefix`` defaults to ``"calleague:ledger:"``):

* ``{prefix}{campaign}:n:{number}``: the entry, a JSON object
  ``{"state", "owner", "at", "key", "callId", "reason"}``; it never expires.
* ``{prefix}{campaign}:owner:{owner}``: the owner's heartbeat, which expires ``heartbeat_ttl``
  seconds after the last :meth:`Ledger.heartbeat`.

``at`` is the writer's wall clock (``time.time()``), for people to read; nothing compares it.
Liveness is decided by the heartbeat key's expiry in Redis alone, so the dialers' clocks never
need to agree. Connection failures and other Redis errors propagate as redis-py's own exceptions
(``redis.exceptions.ConnectionError`` ...); callers wrap them. The Lua scripts read the
heartbeat key of the entry's owner, which they cannot declare in advance: Redis Cluster is not
supported.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any, Final, Literal, Protocol, cast, get_args

import attrs

from calleague_async import _validate
from calleague_async.errors import ConfigurationError, ValidationError

LedgerState = Literal["claimed", "placed", "failed", "unknown"]
"""Where a number stands: claimed (about to be dialed), placed, failed, or unknown.

``unknown`` means the request may have reached the server but no answer came back: the person
may have been called. Such a number is never redialed automatically.
"""

OutcomeState = Literal["placed", "failed", "unknown"]
"""The states :meth:`Ledger.record` may write."""

HEARTBEAT_TTL: Final = 15.0
"""Seconds a heartbeat keeps its owner alive; call :meth:`Ledger.heartbeat` every third of it."""

UNREADABLE: Final = "unreadable ledger entry"
"""The ``reason`` of an entry whose stored value this module did not write or cannot read."""

_STATES: Final[frozenset[str]] = frozenset(get_args(LedgerState))
_OUTCOMES: Final[frozenset[str]] = frozenset(get_args(OutcomeState))
# MATCH patterns are globs; a prefix or campaign may contain these characters literally.
_SOCKET_TIMEOUT = 10.0
_GLOB = re.compile(r"([*?\[\]\\])")
# A hostname in an owner name: no spaces or controls, so the name stays one printable token.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One number's entry in a campaign's ledger."""

    campaign: str
    """The campaign the entry belongs to."""
    number: str
    """The number, normalised E.164, as given to :meth:`Ledger.claim`."""
    state: LedgerState
    """Where the number stands: ``"claimed"`` (being dialed, no outcome yet), ``"placed"``,
    ``"failed"`` or ``"unknown"`` (may have been placed)."""
    owner: str
    """The dialer that claimed it, ``"hostname:pid:random"``; empty when unreadable."""
    at: float
    """Unix time of the last change, on the writer's clock."""
    idempotency_key: str | None
    """The idempotency key the claim was made with; the same key resends the same call."""
    call_id: str | None = None
    """The call's id, once known."""
    reason: str | None = None
    """Why the state is ``failed`` or ``unknown``: short text."""
    owner_alive: bool = True
    """For ``claimed``: False once the owner's heartbeat expired. Always True otherwise."""

    @property
    def needs_review(self) -> bool:
        """True when a person must decide: the call may or may not have happened.

        That is an ``unknown`` entry, or a ``claimed`` one whose owner died without recording
        what became of it.
        """
        return self.state == "unknown" or (self.state == "claimed" and not self.owner_alive)


class Ledger(Protocol):
    """Where dialers claim numbers and record outcomes; see the module's documentation."""

    @property
    def heartbeat_ttl(self) -> float:
        """Seconds a heartbeat keeps its owner alive; a dialer renews it every third of that."""
        ...

    async def claim(
        self,
        campaign: str,
        number: str,
        *,
        owner: str,
        idempotency_key: str | None,
        reclaim_unknown: bool = False,
    ) -> LedgerEntry | None:
        """Claim ``number`` for ``owner``, atomically, if no entry exists for it.

        Returns None when ``owner`` now holds the claim and may dial; otherwise the existing
        entry, untouched. A second claim by the same owner also returns the entry: a claim is
        not re-entrant.

        With ``reclaim_unknown``, also take over an entry whose state is ``unknown``, or
        ``claimed`` by an owner whose heartbeat expired, when its idempotency key equals
        ``idempotency_key`` (so resending is safe: the server deduplicates). Never a ``placed``
        or ``failed`` entry, never a live owner's claim; with ``idempotency_key=None``, nothing.
        """
        ...

    async def record(
        self,
        campaign: str,
        number: str,
        state: OutcomeState,
        *,
        owner: str,
        call_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Write the outcome, only if ``owner`` still holds the entry; keeps its idempotency key.

        Silently does nothing when the entry is gone or held by another owner.
        """
        ...

    async def release(self, campaign: str, number: str, *, owner: str) -> None:
        """Delete the entry if ``owner`` holds it and it is still ``claimed``.

        For a request that was never sent: another dialer may claim the number later.
        """
        ...

    def entries(self, campaign: str) -> AsyncIterator[LedgerEntry]:
        """Every entry of ``campaign``, in no particular order, each once, liveness computed.

        An async generator: ``async for entry in ledger.entries(campaign)``.
        """
        ...

    async def heartbeat(self, campaign: str, owner: str) -> None:
        """Mark ``owner`` alive for ``heartbeat_ttl`` seconds."""
        ...

    async def retire(self, campaign: str, owner: str) -> None:
        """``owner`` finished cleanly: delete its heartbeat.

        Entries it left ``claimed`` then need review at once.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def new_owner() -> str:
    """A new owner name, ``"hostname:pid:<8 hex random>"``: unique per dialer run."""
    host = _CONTROL_OR_SPACE.sub("_", socket.gethostname()) or "localhost"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


# Argument checks ----------------------------------------------------------------------------


def check_campaign(value: object) -> str:
    """``value`` if it can name a campaign in the ledger (no ``:``), else a ValidationError."""
    if not isinstance(value, str):
        raise ValidationError("campaign", f"must be a string (got {type(value).__name__})")
    if not value.strip():
        raise ValidationError("campaign", "must not be empty")
    if ":" in value:
        # The colon separates the key's parts; one in a campaign would make keys ambiguous.
        raise ValidationError("campaign", f"must not contain ':' (got {value!r})")
    return _validate.text("campaign", value)


def _owner(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("owner", f"must be a string (got {type(value).__name__})")
    if not value.strip():
        raise ValidationError("owner", "must not be empty")
    return _validate.text("owner", value)


def _checked(campaign: object, number: object, owner: object) -> tuple[str, str, str]:
    """The three arguments every claim, record and release takes, checked."""
    return check_campaign(campaign), _validate.phone_number("number", number), _owner(owner)


def _optional_text(field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string or None (got {type(value).__name__})")
    if not value:
        raise ValidationError(field, "must not be empty (pass None for none)")
    return value


def _outcome(value: object) -> OutcomeState:
    if not isinstance(value, str) or value not in _OUTCOMES:
        raise ValidationError("state", f"must be 'placed', 'failed' or 'unknown' (got {value!r})")
    return cast("OutcomeState", value)


def _ttl(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError("heartbeat_ttl", f"must be a positive number (got {value!r})")
    if value == float("inf"):
        raise ValidationError("heartbeat_ttl", f"must be finite (got {value!r})")
    return float(value)


# Stored values ------------------------------------------------------------------------------


def _encode(
    state: LedgerState,
    owner: str,
    at: float,
    key: str | None,
    call_id: str | None = None,
    reason: str | None = None,
) -> str:
    payload = {"state": state, "owner": owner, "at": at, "key": key}
    payload |= {"callId": call_id, "reason": reason}
    return json.dumps(payload, separators=(",", ":"))


def _decode(campaign: str, number: str, raw: bytes | str, alive: bool) -> LedgerEntry:
    """The entry stored as ``raw``; an ``unknown`` "unreadable" one if it is not ours."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        state = data.get("state")
        owner = data.get("owner")
        at = data.get("at")
        key = data.get("key")
        call_id = data.get("callId")
        reason = data.get("reason")
        if (
            isinstance(state, str)
            and state in _STATES
            and isinstance(owner, str)
            and isinstance(at, int | float)
            and not isinstance(at, bool)
            and all(v is None or isinstance(v, str) for v in (key, call_id, reason))
        ):
            return LedgerEntry(
                campaign=campaign,
                number=number,
                state=cast("LedgerState", state),
                owner=owner,
                at=float(at),
                idempotency_key=key,
                call_id=call_id,
                reason=reason,
                owner_alive=alive if state == "claimed" else True,
            )
    return _unreadable(campaign, number)


def _unreadable(campaign: str, number: str) -> LedgerEntry:
    return LedgerEntry(
        campaign=campaign,
        number=number,
        state="unknown",
        owner="",
        at=0.0,
        idempotency_key=None,
        reason=UNREADABLE,
    )


# Redis --------------------------------------------------------------------------------------

# Shared by the scripts: decode an entry, or nil when it is not one of ours; the same test as
# _decode's, so an entry Python reports as unreadable is one no script will change.
_LOAD = """
local states = {claimed = true, placed = true, failed = true, unknown = true}
local function optional_text(v) return v == nil or v == cjson.null or type(v) == 'string' end
local function decode_entry(raw)
  local ok, e = pcall(cjson.decode, raw)
  if not ok or type(e) ~= 'table' then return nil end
  if type(e.state) ~= 'string' or not states[e.state] then return nil end
  if type(e.owner) ~= 'string' or type(e.at) ~= 'number' then return nil end
  if not (optional_text(e.key) and optional_text(e.callId) and optional_text(e.reason)) then
    return nil
  end
  return e
end
local function alive(e, hbprefix)
  if type(e.owner) ~= 'string' then return 0 end
  return redis.call('EXISTS', hbprefix .. e.owner)
end
"""

# KEYS[1] entry; ARGV[1] heartbeat key prefix of the campaign.
# Returns nil when there is no entry, else {value, owner alive 0/1}: one consistent view.
_PEEK = (
    _LOAD
    + """
local cur = redis.call('GET', KEYS[1])
if not cur then return nil end
local e = decode_entry(cur)
if e == nil then return {cur, 0} end
return {cur, alive(e, ARGV[1])}
"""
)

# KEYS[1] entry; ARGV[1] the new entry; ARGV[2] idempotency key; ARGV[3] heartbeat key prefix.
# Returns 0 when the caller now holds the claim, else {value, owner alive 0/1}.
_RECLAIM = (
    _LOAD
    + """
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1])
  return 0
end
local e = decode_entry(cur)
if e == nil then return {cur, 0} end
local live = alive(e, ARGV[3])
if e.key == ARGV[2] and (e.state == 'unknown' or (e.state == 'claimed' and live == 0)) then
  redis.call('SET', KEYS[1], ARGV[1])
  return 0
end
return {cur, live}
"""
)

# KEYS[1] entry; ARGV[1] owner; ARGV[2] JSON of the fields to change.
# cjson prints numbers with 14 significant digits: `at` keeps a tenth of a millisecond.
_RECORD = (
    _LOAD
    + """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local e = decode_entry(cur)
if e == nil or e.owner ~= ARGV[1] then return 0 end
for k, v in pairs(cjson.decode(ARGV[2])) do e[k] = v end
redis.call('SET', KEYS[1], cjson.encode(e))
return 1
"""
)

# KEYS[1] entry; ARGV[1] owner.
_RELEASE = (
    _LOAD
    + """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local e = decode_entry(cur)
if e == nil or e.owner ~= ARGV[1] or e.state ~= 'claimed' then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
)


class RedisLedger:
    """A ledger in Redis, shared by every process and machine using the same server.

    Every change is one atomic Redis operation: ``SET NX`` for a plain claim, a Lua script for
    the rest. At most ``max_connections`` commands run at once; the others wait for a
    connection (up to 20 s). Redis errors propagate as redis-py's exceptions.
    """

    _SCAN_COUNT: Final = 500

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "calleague:ledger:",
        heartbeat_ttl: float = HEARTBEAT_TTL,
        max_connections: int = 50,
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise ConfigurationError(
                "a redis:// campaign ledger needs redis-py: pip install 'calleague-async[redis]'"
            ) from None
        if not isinstance(prefix, str):
            raise ValidationError("prefix", f"must be a string (got {type(prefix).__name__})")
        self._ttl_ms = max(1, round(_ttl(heartbeat_ttl) * 1000))
        self._prefix = prefix
        _validate.positive_int("max_connections", max_connections)
        # A blocking pool: a dialer gathering a thousand claims queues for a connection instead
        # of failing with "Too many connections" (redis-py's plain pool refuses beyond its cap).
        # Timeouts: an unreachable Redis fails a claim in seconds instead of hanging the dialer.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=_SOCKET_TIMEOUT,
            socket_connect_timeout=_SOCKET_TIMEOUT,
        )
        self._client: Any = aioredis.Redis.from_pool(pool)
        self._peek: Any = self._client.register_script(_PEEK)
        self._reclaim: Any = self._client.register_script(_RECLAIM)
        self._record: Any = self._client.register_script(_RECORD)
        self._release: Any = self._client.register_script(_RELEASE)

    def _entry_key(self, campaign: str, number: str) -> str:
        return f"{self._prefix}{campaign}:n:{number}"

    def _owners(self, campaign: str) -> str:
        return f"{self._prefix}{campaign}:owner:"

    async def claim(
        self,
        campaign: str,
        number: str,
        *,
        owner: str,
        idempotency_key: str | None,
        reclaim_unknown: bool = False,
    ) -> LedgerEntry | None:
        """Claim ``number`` for ``owner`` if no entry exists (see :meth:`Ledger.claim`)."""
        campaign, number, owner = _checked(campaign, number, owner)
        key = _optional_text("idempotency_key", idempotency_key)
        entry_key = self._entry_key(campaign, number)
        owners = self._owners(campaign)
        value = _encode("claimed", owner, time.time(), key)
        if reclaim_unknown and key is not None:
            found = await self._reclaim(keys=[entry_key], args=[value, key, owners])
            if found == 0:
                return None
            raw, alive = found
            return _decode(campaign, number, raw, bool(alive))
        while True:
            if await self._client.set(entry_key, value, nx=True):
                return None
            found = await self._peek(keys=[entry_key], args=[owners])
            if found is not None:
                raw, alive = found
                return _decode(campaign, number, raw, bool(alive))
            # Released between the SET and the read: the number is free again; try again.

    async def record(
        self,
        campaign: str,
        number: str,
        state: OutcomeState,
        *,
        owner: str,
        call_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Write the outcome if ``owner`` still holds the entry (see :meth:`Ledger.record`)."""
        campaign, number, owner = _checked(campaign, number, owner)
        state = _outcome(state)
        call_id = _optional_text("call_id", call_id)
        reason = _optional_text("reason", reason)
        change = {"state": state, "at": time.time(), "callId": call_id, "reason": reason}
        await self._record(
            keys=[self._entry_key(campaign, number)], args=[owner, json.dumps(change)]
        )

    async def release(self, campaign: str, number: str, *, owner: str) -> None:
        """Delete the entry if ``owner`` holds it and it is still ``claimed``."""
        campaign, number, owner = _checked(campaign, number, owner)
        await self._release(keys=[self._entry_key(campaign, number)], args=[owner])

    async def entries(self, campaign: str) -> AsyncIterator[LedgerEntry]:
        """Every entry of ``campaign``, found with SCAN (never KEYS), each once.

        Entries changed during the scan may be reported in either state; entries that exist
        throughout are always reported.
        """
        campaign = check_campaign(campaign)
        base = self._entry_key(campaign, "")
        match = _GLOB.sub(r"\\\1", base) + "*"
        owners = self._owners(campaign)
        seen: set[bytes] = set()  # SCAN may return a key more than once
        cursor: int = 0
        while True:
            cursor, found = await self._client.scan(cursor, match=match, count=self._SCAN_COUNT)
            keys = [k for k in found if k not in seen]
            seen.update(keys)
            if keys:
                values = await self._client.mget(keys)
                decoded = [
                    _decode(campaign, k.decode("utf-8", "replace")[len(base) :], v, True)
                    for k, v in zip(keys, values, strict=True)
                    if v is not None  # deleted since the SCAN
                ]
                claimed = [e for e in decoded if e.state == "claimed"]
                live: list[int] = []
                if claimed:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for entry in claimed:
                            pipe.exists(owners + entry.owner)
                        live = await pipe.execute()
                dead = {id(e) for e, n in zip(claimed, live, strict=True) if not n}
                for entry in decoded:
                    yield attrs.evolve(entry, owner_alive=False) if id(entry) in dead else entry
            if cursor == 0:
                return

    @property
    def heartbeat_ttl(self) -> float:
        """Seconds a heartbeat keeps its owner alive."""
        return self._ttl_ms / 1000

    async def heartbeat(self, campaign: str, owner: str) -> None:
        """Mark ``owner`` alive for ``heartbeat_ttl`` seconds, for every process."""
        key = self._owners(check_campaign(campaign)) + _owner(owner)
        await self._client.set(key, b"1", px=self._ttl_ms)

    async def retire(self, campaign: str, owner: str) -> None:
        """Delete ``owner``'s heartbeat: its leftover ``claimed`` entries need review now."""
        await self._client.delete(self._owners(check_campaign(campaign)) + _owner(owner))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


# Memory -------------------------------------------------------------------------------------


@attrs.define
class _Held:
    state: LedgerState
    owner: str
    at: float
    key: str | None
    call_id: str | None = None
    reason: str | None = None


class MemoryLedger:
    """A ledger in this process's memory, with :class:`RedisLedger`'s semantics.

    For tests and single-process dialers. Each method runs without awaiting, so it is atomic
    among the tasks of one event loop; it is not meant to be shared between threads. Liveness
    follows ``time.monotonic()``.
    """

    def __init__(self, *, heartbeat_ttl: float = HEARTBEAT_TTL) -> None:
        self._ttl = _ttl(heartbeat_ttl)
        self._entries: dict[str, dict[str, _Held]] = {}
        self._beats: dict[tuple[str, str], float] = {}

    @property
    def heartbeat_ttl(self) -> float:
        """Seconds a heartbeat keeps its owner alive."""
        return self._ttl

    def _alive(self, campaign: str, owner: str) -> bool:
        until = self._beats.get((campaign, owner))
        return until is not None and time.monotonic() < until

    def _entry(self, campaign: str, number: str, held: _Held) -> LedgerEntry:
        return LedgerEntry(
            campaign=campaign,
            number=number,
            state=held.state,
            owner=held.owner,
            at=held.at,
            idempotency_key=held.key,
            call_id=held.call_id,
            reason=held.reason,
            owner_alive=held.state != "claimed" or self._alive(campaign, held.owner),
        )

    async def claim(
        self,
        campaign: str,
        number: str,
        *,
        owner: str,
        idempotency_key: str | None,
        reclaim_unknown: bool = False,
    ) -> LedgerEntry | None:
        """Claim ``number`` for ``owner`` if no entry exists (see :meth:`Ledger.claim`)."""
        campaign, number, owner = _checked(campaign, number, owner)
        key = _optional_text("idempotency_key", idempotency_key)
        book = self._entries.setdefault(campaign, {})
        held = book.get(number)
        if held is not None:
            entry = self._entry(campaign, number, held)
            if not (reclaim_unknown and key is not None and held.key == key):
                return entry
            if not (
                entry.state == "unknown" or (entry.state == "claimed" and not entry.owner_alive)
            ):
                return entry
        book[number] = _Held("claimed", owner, time.time(), key)
        return None

    async def record(
        self,
        campaign: str,
        number: str,
        state: OutcomeState,
        *,
        owner: str,
        call_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Write the outcome if ``owner`` still holds the entry (see :meth:`Ledger.record`)."""
        campaign, number, owner = _checked(campaign, number, owner)
        state = _outcome(state)
        call_id = _optional_text("call_id", call_id)
        reason = _optional_text("reason", reason)
        held = self._entries.get(campaign, {}).get(number)
        if held is not None and held.owner == owner:
            held.state, held.at, held.call_id, held.reason = state, time.time(), call_id, reason

    async def release(self, campaign: str, number: str, *, owner: str) -> None:
        """Delete the entry if ``owner`` holds it and it is still ``claimed``."""
        campaign, number, owner = _checked(campaign, number, owner)
        book = self._entries.get(campaign, {})
        held = book.get(number)
        if held is not None and held.owner == owner and held.state == "claimed":
            del book[number]

    async def entries(self, campaign: str) -> AsyncIterator[LedgerEntry]:
        """Every entry of ``campaign``, each once (a snapshot taken when iteration starts)."""
        campaign = check_campaign(campaign)
        snapshot = [self._entry(campaign, n, h) for n, h in self._entries.get(campaign, {}).items()]
        for entry in snapshot:
            yield entry

    async def heartbeat(self, campaign: str, owner: str) -> None:
        """Mark ``owner`` alive for ``heartbeat_ttl`` seconds."""
        self._beats[check_campaign(campaign), _owner(owner)] = time.monotonic() + self._ttl

    async def retire(self, campaign: str, owner: str) -> None:
        """Forget ``owner``'s heartbeat: its leftover ``claimed`` entries need review now."""
        self._beats.pop((check_campaign(campaign), _owner(owner)), None)

    async def close(self) -> None:
        """Nothing to release; the entries stay readable."""


# Opening ------------------------------------------------------------------------------------

_SCHEMES: Final = ("redis", "rediss", "unix")
_METHODS: Final = ("claim", "record", "release", "entries", "heartbeat", "retire", "close")


def open_ledger(spec: str | Ledger) -> Ledger:
    """The ledger ``spec`` names: a ``redis://``, ``rediss://`` or ``unix://`` URL, or a ledger.

    A URL opens a :class:`RedisLedger`; a ledger object (anything with the :class:`Ledger`
    methods) is returned as it is. Anything else raises ``ConfigurationError``, whose message
    never shows the URL's credentials.
    """
    if isinstance(spec, str):
        scheme, sep, _ = spec.partition("://")
        if sep and scheme.lower() in _SCHEMES:
            return RedisLedger(spec)
        raise ConfigurationError(
            "a campaign ledger must be a redis://, rediss:// or unix:// URL or a Ledger "
            f"(got {_redact(spec)!r})"
        )
    if all(callable(getattr(spec, name, None)) for name in _METHODS):
        return spec
    raise ConfigurationError(
        f"a campaign ledger must be a redis://, rediss:// or unix:// URL or a Ledger "
        f"(got {type(spec).__name__})"
    )


def _redact(url: str) -> str:
    """``url`` without user, password, query or fragment: ``http://***@host/path``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    shown = f"{scheme}{sep}{rest}"
    return shown if len(shown) <= 80 else shown[:77] + "..."
