"""``s.webhooks``: register webhook endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async._options import NOT_GIVEN, NotGiven
from calleague_async._raw import RawResponse, raw
from calleague_async.models import Webhook
from calleague_async.resources._base import Resource, with_extra_body


class Webhooks(Resource):
    """Operations on webhook endpoints."""

    async def create(
        self,
        *,
        url: str,
        events: Sequence[str],
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Webhook:
        """Register ``url`` (https) to receive ``events`` such as ``"call.ended"``.

        The returned :class:`~calleague_async.Webhook` carries the endpoint's signing secret,
        ``hook.secret`` (``whsec_...``): store it, and verify every delivery with it, e.g.
        ``ca.parse_webhook(body, headers, secret=hook.secret)`` or
        ``calleague_async.webhooks.WebhookReceiver(callback, secret=hook.secret)``.

        ``timeout``, ``extra_headers``, ``extra_query`` and ``extra_body`` (fields added to the
        request body) apply to this call only.

        >>> hook = await s.webhooks.create(url="https://example.com/hook", events=["call.ended"])
        >>> hook.url
        'https://example.com/hook'
        """
        body: dict[str, Any] = {
            "url": _validate.webhook_url("url", url),
            "events": _validate.string_list("events", events),
        }
        body = with_extra_body(body, extra_body)
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["webhooks.create"]
        data = await self._session._send(route, json=body, expect="object", options=options)
        return structure(data, Webhook)

    @property
    def with_raw_response(self) -> WebhooksWithRawResponse:
        """These methods returning a :class:`~calleague_async.RawResponse` around the model."""
        return WebhooksWithRawResponse(self)


class WebhooksWithRawResponse:
    """``s.webhooks`` whose methods return a :class:`~calleague_async.RawResponse`."""

    def __init__(self, webhooks: Webhooks) -> None:
        self._webhooks = webhooks

    async def create(
        self,
        *,
        url: str,
        events: Sequence[str],
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Webhook]:
        """:meth:`Webhooks.create`, with the reply's status, headers, request id and attempts."""
        return await raw(self._webhooks.create)(
            url=url,
            events=events,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )
