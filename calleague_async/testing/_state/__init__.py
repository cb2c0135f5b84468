"""The sandbox's state and its rules, with no HTTP: calls, agents, contacts, campaigns, webhooks.

``Backend`` holds one sandbox's state; each room is a plain class tested without a server.
"""

from __future__ import annotations

from calleague_async.testing._state.agents import AgentQueues, seed_agents
from calleague_async.testing._state.backend import Backend
from calleague_async.testing._state.calls import MAX_CALLS, STATUSES, CallStore
from calleague_async.testing._state.campaigns import DEFAULT_CAMPAIGN, CampaignStore
from calleague_async.testing._state.common import (
    DOC_AGENT,
    DOC_CALL,
    ConflictError,
    InvalidError,
    NotFoundError,
    StateError,
    UnavailableError,
)
from calleague_async.testing._state.contacts import MAX_BULK, ContactStore
from calleague_async.testing._state.lifecycle import (
    CALL_ENDED,
    CALL_QUEUED,
    CALL_STARTED,
    EVENT_TYPES,
    Event,
    next_step,
    transcript,
)
from calleague_async.testing._state.webhooks import WebhookRegistry

__all__ = [
    "CALL_ENDED",
    "CALL_QUEUED",
    "CALL_STARTED",
    "DEFAULT_CAMPAIGN",
    "DOC_AGENT",
    "DOC_CALL",
    "EVENT_TYPES",
    "MAX_BULK",
    "MAX_CALLS",
    "STATUSES",
    "AgentQueues",
    "Backend",
    "CallStore",
    "CampaignStore",
    "ConflictError",
    "ContactStore",
    "Event",
    "InvalidError",
    "NotFoundError",
    "StateError",
    "UnavailableError",
    "WebhookRegistry",
    "next_step",
    "seed_agents",
    "transcript",
]
