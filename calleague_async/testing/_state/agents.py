"""The assistants, and the human agents that seed 002's warm transfer bridges calls to.

Seed 000's ``ag_123`` plus generated assistants; agent queues with free and busy counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from calleague_async.testing._state.common import (
    BASE_MS,
    DOC_AGENT,
    ConflictError,
    NotFoundError,
    UnavailableError,
    iso,
    rng,
)

__all__ = ["AgentQueues", "seed_agents"]

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


def seed_agents(seed: int, count: int) -> dict[str, dict[str, Any]]:
    """``count`` assistants by id, in list order: ``ag_123`` first, then generated ones."""
    gen = rng(f"calleague-agents/{seed}")
    agents: dict[str, dict[str, Any]] = {}
    if count:
        agents[DOC_AGENT["agentId"]] = dict(DOC_AGENT)
    while len(agents) < count:
        agent_id = f"ag_{gen.getrandbits(24):06x}"
        if agent_id in agents:
            continue
        n = len(agents)
        agents[agent_id] = {
            "agentId": agent_id,
            "name": _AGENT_NAMES[(n - 1) % len(_AGENT_NAMES)]
            + ("" if n <= len(_AGENT_NAMES) else f" {n}"),
            "language": gen.choice(_LANGUAGES),
            "voice": gen.choice(_VOICES),
            "createdAt": iso(BASE_MS - 86_400_000 * (60 - n % 60) - gen.randrange(86_400_000)),
        }
    return agents


class AgentQueues:
    """Human agents per transfer queue: how many are free, and which calls hold the busy ones.

    A transfer takes a free agent of its queue for the rest of the call; ending the call frees
    it. ``set(queue, n)`` changes how many are free (0 makes transfers answer 503).
    """

    def __init__(self, available: Mapping[str, int]) -> None:
        self._free: dict[str, int] = {}
        self._busy: dict[str, str] = {}  # call id -> queue
        for queue, count in available.items():
            self.set(queue, count)

    def set(self, queue: str, available: int) -> None:
        """Make ``available`` agents free in ``queue`` (created if new)."""
        if not queue or available < 0:
            raise ValueError("a queue needs a name and a count >= 0")
        self._free[queue] = available

    @property
    def default(self) -> str | None:
        """The queue a transfer that names none goes to: the first one."""
        return next(iter(self._free), None)

    def take(self, queue: str | None, call_id: str) -> str:
        """Bridge ``call_id`` to a free agent of ``queue``; return the queue used."""
        name = queue if queue is not None else self.default
        if name is None or name not in self._free:
            raise NotFoundError("Queue not found")
        if call_id in self._busy:
            raise ConflictError("Call is already transferred")
        if self._free[name] <= 0:
            raise UnavailableError("No agents available in target queue")
        self._free[name] -= 1
        self._busy[call_id] = name
        return name

    def release(self, call_id: str) -> None:
        """The call ended: its agent, if it had one, is free again."""
        queue = self._busy.pop(call_id, None)
        if queue is not None and queue in self._free:
            self._free[queue] += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"available": n, "busy": n, "queues": [{"name", "available", "busy"}]}``."""
        busy = {q: 0 for q in self._free}
        for queue in self._busy.values():
            busy[queue] = busy.get(queue, 0) + 1
        queues = [{"name": q, "available": n, "busy": busy[q]} for q, n in self._free.items()]
        return {
            "available": sum(self._free.values()),
            "busy": len(self._busy),
            "queues": queues,
        }
