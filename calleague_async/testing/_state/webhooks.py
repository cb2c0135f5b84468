"""The registered webhooks: who hears which events, and the secret each delivery is signed with."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from calleague_async._validate import is_loopback
from calleague_async._webhook import new_secret
from calleague_async.testing._state.common import M48, InvalidError, iso, now_ms, splitmix64

__all__ = ["WebhookRegistry"]


class WebhookRegistry(Mapping[str, dict[str, Any]]):
    """Webhooks by id, in registration order.

    A webhook: ``{"webhookId": "wh_...", "url": ..., "events": [...], "createdAt": ...,
    "secret": "whsec_..."}``. ``events`` names event types (``"call.ended"``); ``"*"`` hears
    every type. The url must be https, or http on loopback (a receiver in a test).
    """

    def __init__(self, *, seed: int, clock_ms: Callable[[], int] = now_ms) -> None:
        self._seed = seed
        self._clock_ms = clock_ms
        self._by_id: dict[str, dict[str, Any]] = {}
        self._counter = 0

    def __getitem__(self, webhook_id: str) -> dict[str, Any]:
        return self._by_id[webhook_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def register(self, url: object, events: object) -> dict[str, Any]:
        """Add a webhook; InvalidError (400 if a field is missing, else 422) if it is not one."""
        if url is None or events is None:
            raise InvalidError("url and events are required")
        parts = urlsplit(url) if isinstance(url, str) else None
        host = parts.hostname if parts is not None else None
        if (
            parts is None
            or not host
            or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host)))
        ):
            raise InvalidError("url must be an https URL", status=422)
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) and e for e in events)
        ):
            raise InvalidError("events must be a non-empty list of event names", status=422)
        self._counter += 1
        webhook_id = f"wh_{splitmix64(self._seed ^ self._counter) & M48:012x}"
        webhook = {
            "webhookId": webhook_id,
            "url": url,
            "events": list(events),
            "createdAt": iso(self._clock_ms()),
            "secret": new_secret(),
        }
        self._by_id[webhook_id] = webhook
        return webhook

    def remove(self, webhook_id: str) -> bool:
        """Forget a webhook; return whether it existed."""
        return self._by_id.pop(webhook_id, None) is not None

    def subscribers(self, event_type: str) -> list[dict[str, Any]]:
        """The webhooks that hear ``event_type``, in registration order."""
        return [w for w in self._by_id.values() if event_type in w["events"] or "*" in w["events"]]
