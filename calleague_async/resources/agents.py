"""``s.agents``: read your voice assistants."""

from __future__ import annotations

from typing import Any

from calleague_async._convert import structure
from calleague_async._pagination import AsyncPager
from calleague_async.models import Agent
from calleague_async.resources._base import DEFAULT_PAGE_SIZE, Resource


def _agent_id(record: dict[str, Any]) -> Any:
    return record.get("agentId", record.get("id"))


class Agents(Resource):
    """Operations on voice assistants (agents)."""

    async def get(self, agent_id: str) -> Agent:
        """Read one assistant.

        >>> agent = await s.agents.get("ag_123")
        >>> agent.name
        'Support Assistant'
        """
        route = self._session._routes["agents.get"]
        data = await self._session._send(route, ids={"agent_id": agent_id}, expect="object")
        return structure(data, Agent)

    def list(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_page: int = 1,
        max_items: int | None = None,
    ) -> AsyncPager[Agent]:
        """Your assistants, across pages: use with ``async for``.

        The docs promise "a JSON list" without a shape: ``{total, list}``, the envelope and a
        bare array are all read.

        >>> async for agent in s.agents.list():
        ...     print(agent.agent_id, agent.name)
        """
        return self._pager(
            "agents.list",
            Agent,
            _agent_id,
            {},
            page_size=page_size,
            start_page=start_page,
            max_items=max_items,
        )
