"""``s.calls``: start a call, look one up, list them."""

from __future__ import annotations

from typing import Any

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async._pagination import AsyncPager
from calleague_async.models import Call, CallStatus
from calleague_async.resources._base import DEFAULT_PAGE_SIZE, Resource


def _call_id(call: Call) -> str:
    return call.call_id


class Calls(Resource):
    """Operations on calls."""

    async def start(
        self,
        *,
        agent_id: str,
        to: str,
        metadata: dict[str, Any] | None = None,
    ) -> Call:
        """Start an outbound call: ``agent_id``'s assistant dials ``to`` (E.164).

        ``metadata`` is your own JSON object, echoed back on the call and its events. The request
        is retried only when the reply proves no call was placed (429, 503, no connection).

        >>> call = await s.calls.start(agent_id="ag_123", to="+903121234567",
        ...                            metadata={"orderId": "A-1042"})
        >>> call.status
        <CallStatus.RINGING: 'ringing'>
        """
        body: dict[str, Any] = {
            "agentId": _validate.identifier("agent_id", agent_id),
            "to": _validate.phone_number("to", to),
        }
        if metadata is not None:
            body["metadata"] = _validate.json_object("metadata", metadata)
        route = self._session._routes["calls.start"]
        data = await self._session._send(route, json=body, expect="object")
        return structure(data, Call)

    async def get(self, call_id: str) -> Call:
        """Read one call's detail and outcome.

        >>> call = await s.calls.get("cl_8f2a")
        >>> call.duration_sec, call.ended_reason
        (84, 'completed')
        """
        route = self._session._routes["calls.get"]
        data = await self._session._send(route, ids={"call_id": call_id}, expect="object")
        return structure(data, Call)

    def list(
        self,
        *,
        status: CallStatus | str | None = None,
        agent_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_page: int = 1,
        max_items: int | None = None,
    ) -> AsyncPager[Call]:
        """Calls, newest first, across pages: use with ``async for``.

        ``status`` and ``agent_id`` filter; ``page_size`` is 1..100; ``start_page`` resumes from a
        page; ``max_items`` stops after that many calls.

        >>> async for call in s.calls.list(status="completed", page_size=100):
        ...     print(call.call_id, call.duration_sec)
        """
        filters = {
            "status": _validate.optional_str("status", status),
            "agentId": _validate.optional_str("agent_id", agent_id),
        }
        return self._pager(
            "calls.list",
            Call,
            _call_id,
            filters,
            page_size=page_size,
            start_page=start_page,
            max_items=max_items,
        )
