"""``s.webhooks``: register webhook endpoints."""

from __future__ import annotations

from collections.abc import Sequence

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async.models import Webhook
from calleague_async.resources._base import Resource


class Webhooks(Resource):
    """Operations on webhook endpoints."""

    async def create(self, *, url: str, events: Sequence[str]) -> Webhook:
        """Register ``url`` (https) to receive ``events`` such as ``"call.ended"``.

        >>> hook = await s.webhooks.create(url="https://example.com/hook", events=["call.ended"])
        >>> hook.url
        'https://example.com/hook'
        """
        body = {
            "url": _validate.webhook_url("url", url),
            "events": _validate.string_list("events", events),
        }
        route = self._session._routes["webhooks.create"]
        data = await self._session._send(route, json=body, expect="object")
        return structure(data, Webhook)
