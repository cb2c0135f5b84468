"""Seed 002's campaigns: a named batch of contacts an assistant dials when launched.

The rules only (draft -> running -> completed | stopped); dialing is the backend's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from calleague_async.testing._state.common import ConflictError, NotFoundError, iso, now_ms

__all__ = ["DEFAULT_CAMPAIGN", "CampaignStore"]

DEFAULT_CAMPAIGN: Final = "cmp_1"
"""The seeded campaign; contacts pushed without a ``campaign_id`` belong to it."""


class CampaignStore(Mapping[str, dict[str, Any]]):
    """Campaigns by id.

    A campaign: ``{"id": "cmp_1", "name": ..., "status": "draft" | "running" | "completed" |
    "stopped", "agent_id": ..., "config": {...}, "created_at": ..., "launched_at": ... | None,
    "stopped_at": ... | None, "call_ids": [the last launch's calls], "active_calls": n}``.
    """

    def __init__(self, *, agent_id: str, clock_ms: Callable[[], int] = now_ms) -> None:
        self._clock_ms = clock_ms
        self._by_id: dict[str, dict[str, Any]] = {}
        self._active: dict[str, set[str]] = {}
        self.add(DEFAULT_CAMPAIGN, name="Daily leads", agent_id=agent_id)

    def __getitem__(self, campaign_id: str) -> dict[str, Any]:
        return self._by_id[campaign_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(
        self, campaign_id: str, *, name: str, agent_id: str, config: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Create a campaign in ``draft`` (for tests: the API has no route to create one)."""
        if campaign_id in self._by_id:
            raise ValueError(f"campaign {campaign_id!r} already exists")
        campaign: dict[str, Any] = {
            "id": campaign_id,
            "name": name,
            "status": "draft",
            "agent_id": agent_id,
            "config": dict(config or {}),
            "created_at": iso(self._clock_ms()),
            "launched_at": None,
            "stopped_at": None,
            "call_ids": [],
            "active_calls": 0,
        }
        self._by_id[campaign_id] = campaign
        self._active[campaign_id] = set()
        return campaign

    def find(self, campaign_id: str) -> dict[str, Any]:
        """The campaign, or NotFoundError (404)."""
        campaign = self._by_id.get(campaign_id)
        if campaign is None:
            raise NotFoundError("Campaign not found")
        return campaign

    def check_launch(self, campaign_id: str) -> dict[str, Any]:
        """The campaign if it may launch now: ConflictError (409) while it runs."""
        campaign = self.find(campaign_id)
        if campaign["status"] == "running":
            raise ConflictError("Campaign is already running")
        return campaign

    def launched(self, campaign_id: str, call_ids: list[str]) -> dict[str, Any]:
        """Record a launch that placed ``call_ids``."""
        campaign = self.check_launch(campaign_id)
        self._active[campaign_id] = set(call_ids)
        campaign.update(
            status="running",
            launched_at=iso(self._clock_ms()),
            stopped_at=None,
            call_ids=list(call_ids),
            active_calls=len(call_ids),
        )
        return campaign

    def stopped(self, campaign_id: str) -> dict[str, Any]:
        """Stop dialing; stopping a campaign that is not running changes nothing."""
        campaign = self.find(campaign_id)
        if campaign["status"] == "running":
            campaign.update(status="stopped", stopped_at=iso(self._clock_ms()))
        return campaign

    def call_ended(self, campaign_id: str, call_id: str) -> None:
        """One of its calls ended; a running campaign whose calls all ended is completed."""
        active = self._active.get(campaign_id)
        if active is None or call_id not in active:
            return
        active.discard(call_id)
        campaign = self._by_id[campaign_id]
        campaign["active_calls"] = len(active)
        if not active and campaign["status"] == "running":
            campaign["status"] = "completed"
