"""``s.agents``: read your voice assistants; ask whether human agents are free."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calleague_async._convert import structure
from calleague_async._options import NOT_GIVEN, NotGiven
from calleague_async._pagecore import IdKey
from calleague_async._pagination import AsyncPager
from calleague_async._raw import RawResponse, raw
from calleague_async.models import Agent, AgentAvailability
from calleague_async.resources._base import DEFAULT_PAGE_SIZE, Resource

_agent_id = IdKey("agentId", "id")


class Agents(Resource):
    """Operations on voice assistants (agents)."""

    async def get(
        self,
        agent_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> Agent:
        """Read one assistant.

        ``timeout``, ``extra_headers`` and ``extra_query`` apply to this call only.

        >>> agent = await s.agents.get("ag_123")
        >>> agent.name
        'Support Assistant'
        """
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["agents.get"]
        agent: Agent = await self._session._send(
            route, ids={"agent_id": agent_id}, options=options, model=Agent
        )
        return agent

    def list(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_page: int = 1,
        max_items: int | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> AsyncPager[Agent]:
        """Your assistants, across pages: use with ``async for``.

        The docs promise "a JSON list" without a shape: ``{total, list}``, the envelope and a
        bare array are all read. ``timeout``, ``extra_headers`` and ``extra_query`` apply to
        each page's request.

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
            options=self._options(timeout, extra_headers, extra_query),
        )

    async def availability(
        self,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> AgentAvailability:
        """Whether human agents can take a transfer now (seed 002's agent availability).

        Check it before :meth:`~calleague_async.resources.Calls.transfer`; seed 002 names no
        query fields, so filters your server takes (a queue ...) go in ``extra_query``.

        >>> availability = await s.agents.availability()
        >>> if availability.available:
        ...     await s.calls.transfer("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
        """
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["agents.availability"]
        data = await self._session._send(route, expect="object", options=options)
        return structure(data, AgentAvailability)

    @property
    def with_raw_response(self) -> AgentsWithRawResponse:
        """These methods returning a :class:`~calleague_async.RawResponse` around the model."""
        return AgentsWithRawResponse(self)


class AgentsWithRawResponse:
    """``s.agents`` whose awaitable methods return a :class:`~calleague_async.RawResponse`."""

    def __init__(self, agents: Agents) -> None:
        self._agents = agents

    async def get(
        self,
        agent_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> RawResponse[Agent]:
        """:meth:`Agents.get`, with the reply's status, headers, request id and attempts."""
        return await raw(self._agents.get)(
            agent_id,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
        )

    async def availability(
        self,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> RawResponse[AgentAvailability]:
        """:meth:`Agents.availability`, with the reply's status, headers, request id, attempts."""
        return await raw(self._agents.availability)(
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
        )
