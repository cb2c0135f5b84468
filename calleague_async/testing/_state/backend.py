"""The sandbox's whole state and the rules across its rooms, as moto's ``models.py`` backend.

Handlers call these methods; each state change fires an ``Event`` to ``on_event`` (the
server schedules the next step and the deliveries). No HTTP, no event loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

from calleague_async.testing._state.agents import AgentQueues, seed_agents
from calleague_async.testing._state.calls import STATUSES, CallStore
from calleague_async.testing._state.campaigns import DEFAULT_CAMPAIGN, CampaignStore
from calleague_async.testing._state.common import (
    E164,
    ConflictError,
    InvalidError,
    NotFoundError,
    iso,
    now_ms,
    rng,
)
from calleague_async.testing._state.contacts import ContactStore
from calleague_async.testing._state.lifecycle import (
    CALL_ENDED,
    CALL_QUEUED,
    LIVE,
    WAITING,
    Event,
    ended_fields,
    next_step,
)
from calleague_async.testing._state.webhooks import WebhookRegistry

__all__ = ["Backend"]

_NOT_ACTIVE: Final = "Call is not currently active"  # seed 002's 409


class Backend:
    """Assistants, calls, contacts, campaigns, agent queues and webhooks of one sandbox."""

    def __init__(
        self,
        *,
        seed: int = 0,
        calls: int = 0,
        agents: int = 3,
        queues: Mapping[str, int] | None = None,
        clock_ms: Callable[[], int] = now_ms,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self._seed = seed
        self._clock_ms = clock_ms
        self.on_event = on_event
        """Called with every event, as it fires."""
        self.agents: dict[str, dict[str, Any]] = seed_agents(seed, agents)
        """Assistants by id, in list order. Add or remove entries to change what is served."""
        self.calls: CallStore = CallStore(seed=seed, count=calls, agents=self.agents)
        """All calls, newest first."""
        self.campaigns: CampaignStore = CampaignStore(
            agent_id=next(iter(self.agents), "ag_123"), clock_ms=clock_ms
        )
        self.contacts: ContactStore = ContactStore(
            seed=seed, campaign_exists=self.campaigns.__contains__, clock_ms=clock_ms
        )
        self.webhooks: WebhookRegistry = WebhookRegistry(seed=seed, clock_ms=clock_ms)
        self.queues: AgentQueues = AgentQueues({"default": 2} if queues is None else queues)
        self.dials: Counter[str] = Counter()
        """Number -> how many calls were placed to it (``calls.start`` and campaign launches)."""
        self.idempotency: dict[str, str] = {}
        self._moving: dict[str, None] = {}  # run-time calls not yet ended, oldest first

    @property
    def moving(self) -> list[str]:
        """The calls made at run time that have not ended yet, oldest first."""
        return list(self._moving)

    def _fire(self, type_: str, call: Mapping[str, Any]) -> Event:
        event = Event.of(type_, call, self._clock_ms())
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _call(self, call_id: str) -> dict[str, Any]:
        call = self.calls.get(call_id)
        if call is None:
            raise NotFoundError("Call not found")
        return call

    def _agent_name(self, call: Mapping[str, Any]) -> str:
        agent = self.agents.get(str(call.get("agentId")))
        return str(agent["name"]) if agent else "your assistant"

    def _place(self, fields: dict[str, Any]) -> dict[str, Any]:
        call = {"callId": self.calls.new_id(), "status": None, "direction": "outbound", **fields}
        call["createdAt"] = iso(self._clock_ms())
        self.calls.add(call)
        self.dials[call["to"]] += 1
        self._moving[call["callId"]] = None
        self._fire(CALL_QUEUED, call)
        return call

    # calls ---------------------------------------------------------------------------------------
    def start_call(
        self, data: Mapping[str, Any], idempotency_key: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Seed 000's ``calls.start``: ``(call, replayed)``; a repeated key replays its call."""
        agent_id, to = data.get("agentId"), data.get("to")
        if agent_id is None or agent_id == "":
            raise InvalidError("agentId is required")
        if to is None or to == "":
            raise InvalidError("to is required")
        if not isinstance(agent_id, str) or agent_id not in self.agents:
            raise NotFoundError("Agent not found")
        if not isinstance(to, str) or not E164.fullmatch(to):
            raise InvalidError("to must be a valid number in international format", status=422)
        metadata = data.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidError("metadata must be an object", status=422)
        if idempotency_key:
            previous = self.idempotency.get(idempotency_key)
            if previous is not None and previous in self.calls:
                return self.calls[previous], True
        call = self._place(
            {
                "status": "ringing",  # seed 000's reply: it dials at once
                "agentId": agent_id,
                "to": to,
                "metadata": metadata if metadata is not None else {},
                "language": self.agents[agent_id].get("language", "tr"),
            }
        )
        if idempotency_key:
            self.idempotency[idempotency_key] = call["callId"]
        return call, False

    def add_calls(self, n: int) -> list[dict[str, Any]]:
        """Insert ``n`` finished-looking calls as the newest ones (no dialing, no events)."""
        added: list[dict[str, Any]] = []
        gen = rng(f"calleague-added/{self._seed}/{len(self.calls)}")
        agent_ids = list(self.agents) or ["ag_123"]
        for _ in range(n):
            agent_id = gen.choice(agent_ids)
            call = {
                "callId": self.calls.new_id(),
                "status": gen.choice(STATUSES),
                "direction": "outbound",
                "agentId": agent_id,
                "to": "+90312" + "".join(str(gen.randrange(10)) for _ in range(7)),
                "metadata": {},
                "language": self.agents.get(agent_id, {}).get("language", "tr"),
                "createdAt": iso(self._clock_ms()),
            }
            self.calls.add(call)
            added.append(call)
        added.reverse()
        return added

    def advance(self, call_id: str) -> Event | None:
        """Move the call one step (connect it, or end it); None if it has already ended."""
        call = self._call(call_id)
        step = next_step(call, self._clock_ms(), agent_name=self._agent_name(call))
        if step is None:
            self._moving.pop(call_id, None)
            return None
        type_, fields = step
        if type_ == CALL_ENDED:
            return self._ended(call_id, fields)
        return self._fire(type_, self.calls.patch(call_id, **fields))

    def _ended(self, call_id: str, fields: Mapping[str, Any]) -> Event:
        call = self.calls.patch(call_id, **fields)
        self._moving.pop(call_id, None)
        self.queues.release(call_id)
        campaign_id, contact_id = call.get("campaignId"), call.get("contactId")
        if isinstance(contact_id, str) and contact_id in self.contacts:
            contact = self.contacts[contact_id]
            contact["status"] = "called" if call["status"] == "completed" else "pending"
        if isinstance(campaign_id, str):
            self.campaigns.call_ended(campaign_id, call_id)
        return self._fire(CALL_ENDED, call)

    def end_call(self, call_id: str) -> dict[str, Any]:
        """Seed 002's ``calls.end``: hang up a connected call (409 unless in progress)."""
        call = self._call(call_id)
        if call.get("status") != LIVE:
            raise ConflictError(_NOT_ACTIVE)
        fields = ended_fields(
            call, self._clock_ms(), reason="ended-by-api", agent_name=self._agent_name(call)
        )
        self._ended(call_id, fields)
        return self._call(call_id)

    def transfer(self, call_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Seed 002's warm transfer: bridge a connected call to a free agent of ``queue``."""
        call = self._call(call_id)
        if call.get("status") != LIVE:
            raise ConflictError(_NOT_ACTIVE)
        queue = data.get("queue")
        if queue is not None and not isinstance(queue, str):
            raise InvalidError("queue must be a string")
        used = self.queues.take(queue, call_id)
        transfer = {"queue": used, "transferredAt": iso(self._clock_ms())}
        return self.calls.patch(call_id, transfer=transfer)

    def set_metadata(self, call_id: str, payload: object) -> dict[str, Any]:
        """Seed 002's ``calls.set_metadata``: merge ``payload`` into the call's ``metadata``."""
        call = self._call(call_id)
        if not isinstance(payload, dict):
            raise InvalidError("Body must be a JSON object")
        metadata = dict(call.get("metadata") or {})
        metadata.update(payload)
        return self.calls.patch(call_id, metadata=metadata)

    # campaigns ---------------------------------------------------------------------------------
    def launch(self, campaign_id: str) -> dict[str, Any]:
        """Dial every pending contact of the campaign: one ``queued`` call each."""
        campaign = self.campaigns.check_launch(campaign_id)
        contacts = [
            c
            for c in self.contacts.of_campaign(campaign_id, default=campaign_id == DEFAULT_CAMPAIGN)
            if c["status"] == "pending"
        ]
        if not contacts:
            raise ConflictError("Campaign has no contacts to dial")
        agent_id = campaign["agent_id"]
        language = self.agents.get(agent_id, {}).get("language", "tr")
        placed: list[str] = []
        for contact in contacts:
            fields: dict[str, Any] = {
                "status": "queued",  # waits for the dialer, as seed 003's queued calls do
                "agentId": agent_id,
                "to": contact["phone"],
                "metadata": dict(contact["metadata"]),
                "language": language,
                "campaignId": campaign_id,
                "contactId": contact["id"],
            }
            if contact["name"]:
                fields["contactName"] = contact["name"]
            contact["status"] = "queued"
            call = self._place(fields)
            contact["last_call_id"] = call["callId"]
            placed.append(call["callId"])
        return self.campaigns.launched(campaign_id, placed)

    def stop(self, campaign_id: str) -> dict[str, Any]:
        """Stop dialing: calls not yet connected end now, connected ones run to their end.

        The ended ones say ``endedReason: "campaign-stopped"``; their contacts are ``pending``
        again, so the next launch dials them.
        """
        campaign = self.campaigns.find(campaign_id)
        if campaign["status"] != "running":
            return campaign
        self.campaigns.stopped(campaign_id)
        for call_id in list(campaign["call_ids"]):
            call = self.calls.get(call_id)
            if call is not None and call.get("status") in WAITING:
                fields = {
                    "status": "failed",
                    "durationSec": 0,
                    "endedReason": "campaign-stopped",
                    "endedAt": iso(self._clock_ms()),
                    "recordingReady": False,
                    "transcriptReady": False,
                }
                self._ended(call_id, fields)
        return campaign

    def availability(self) -> dict[str, Any]:
        """Seed 002's ``agents.availability``: free and busy human agents per queue."""
        return self.queues.snapshot()
