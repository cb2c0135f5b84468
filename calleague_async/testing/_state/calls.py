"""The calls: a lazily generated history (a million cost nothing) plus the calls made at run time.

Seeded call ``i`` is computed from ``(seed, i)`` on demand; only changes are stored.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import re
from array import array
from collections.abc import Iterator, Mapping
from typing import Any, Final

from calleague_async.testing._state.common import (
    BASE_MS,
    DOC_CALL,
    M48,
    M64,
    iso,
    splitmix64,
)
from calleague_async.testing._state.common import (
    rng as make_rng,
)

__all__ = ["MAX_CALLS", "STATUSES", "CallStore"]

#: Upper bound for ``SandboxConfig.calls`` (keeps generated timestamps and ids in range).
MAX_CALLS: Final = 100_000_000

#: The statuses of generated calls, in the order their hash picks them.
STATUSES: Final = ("completed", "failed", "no-answer", "in-progress", "ringing")

_CALL_ID: Final = re.compile(r"cl_[0-9a-f]{12}")
_MUL1: Final = 0x5DEECE66D
_MUL2: Final = 0xB5AD4ECEDA1B
_INV1: Final = pow(_MUL1, -1, 1 << 48)
_INV2: Final = pow(_MUL2, -1, 1 << 48)
_CREATED_BASE: Final = 1 << 40  # id-space offset for calls created at run time
_DIAL_PLANS: Final = (("+90", 10), ("+1", 10), ("+44", 10), ("+49", 11), ("+33", 9))


class CallStore(Mapping[str, dict[str, Any]]):
    """All calls, newest first: run-time ones (explicit) above seeded ones (computed lazily).

    A read-only mapping ``call_id -> call dict`` (each read of a seeded call builds a fresh
    dict) plus a few methods to change state. Seeded call ``i`` is computed from
    ``(seed, i)`` on demand, so ``len()`` and paging are cheap even for a million calls.
    """

    def __init__(self, *, seed: int, count: int, agents: Mapping[str, Mapping[str, Any]]) -> None:
        rng = make_rng(f"calleague-calls/{seed}")
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
        x = (index * _MUL1 + self._k1) & M48
        x ^= x >> 24
        x = (x * _MUL2) & M48
        return f"cl_{x ^ self._k2:012x}"

    def _decode(self, call_id: str) -> int | None:
        if call_id == DOC_CALL["callId"]:
            return 0
        if not _CALL_ID.fullmatch(call_id):
            return None
        x = int(call_id[3:], 16) ^ self._k2
        x = (x * _INV2) & M48
        x ^= x >> 24
        return ((x - self._k1) * _INV1) & M48

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
        return splitmix64(self._salt ^ index)

    def _status_and_agent(self, index: int) -> tuple[str, str]:
        override = self._overrides.get(index)
        if override is not None:
            return str(override.get("status")), str(override.get("agentId"))
        if index == 0:
            return str(DOC_CALL["status"]), str(DOC_CALL["agentId"])
        h = self._hash(index)
        return STATUSES[h % 5], self._agent_ids[(h >> 8) % len(self._agent_ids)]

    def _seeded_call(self, index: int) -> dict[str, Any]:
        override = self._overrides.get(index)
        if override is not None:
            return dict(override)
        if index == 0:
            return copy.deepcopy(dict(DOC_CALL))
        h = self._hash(index)
        rng = make_rng(h)
        status = STATUSES[h % 5]
        agent_slot = (h >> 8) % len(self._agent_ids)
        created = BASE_MS - 60_000 * index - (h >> 16) % 60_000  # strictly descending
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
        call["createdAt"] = iso(created)
        if ended is not None:
            call["endedAt"] = iso(ended)
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
        want_status = STATUSES.index(status) if status in STATUSES else -1
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
            z = ((salt ^ index) + 0x9E3779B97F4A7C15) & M64
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
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
