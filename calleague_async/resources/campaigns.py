"""``s.campaigns``: launch and stop campaigns (seed 002's ``/v1/campaigns/{id}/...``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async._options import NOT_GIVEN, NotGiven, RequestOptions
from calleague_async._raw import RawResponse, raw
from calleague_async.models import Campaign
from calleague_async.resources._base import Resource
from calleague_async.resources._reply import with_id

_ID_KEYS = ("campaignId", "campaign_id")


class Campaigns(Resource):
    """Operations on campaigns: launch one, stop one (5/minute each, seed 002's limits)."""

    async def launch(
        self,
        campaign_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Campaign:
        """Start a campaign: it begins calling its contacts.

        Launching is not repeated blindly: the request is retried only when the reply proves
        nothing happened (429, 503). A campaign whose state forbids it (already running, no
        contacts) is a :class:`~calleague_async.errors.ConflictError`. The request has no
        body unless ``extra_body`` gives one.

        >>> campaign = await s.campaigns.launch("cmp_1")
        >>> campaign.status
        'running'
        """
        options = self._options(timeout, extra_headers, extra_query)
        return await self._act("campaigns.launch", campaign_id, extra_body, options)

    async def stop(
        self,
        campaign_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Campaign:
        """Stop a running campaign: no new calls are placed (calls in progress go on).

        Stopping twice does no harm, so a failed attempt is retried like a read.

        >>> campaign = await s.campaigns.stop("cmp_1")
        >>> campaign.status
        'stopped'
        """
        options = self._options(timeout, extra_headers, extra_query)
        return await self._act("campaigns.stop", campaign_id, extra_body, options)

    async def _act(
        self,
        name: str,
        campaign_id: str,
        extra_body: Mapping[str, Any] | None,
        options: RequestOptions | None,
    ) -> Campaign:
        body = _validate.json_object("extra_body", extra_body) if extra_body is not None else None
        data = await self._session._send(
            self._session._routes[name],
            ids={"campaign_id": campaign_id},
            json=body,
            expect="any",
            options=options,
        )
        return structure(with_id(data, "id", _ID_KEYS, campaign_id), Campaign)

    @property
    def with_raw_response(self) -> CampaignsWithRawResponse:
        """These methods returning a :class:`~calleague_async.RawResponse` around the model.

        >>> raw = await s.campaigns.with_raw_response.launch("cmp_1")
        >>> raw.status, raw.parse().status
        """
        return CampaignsWithRawResponse(self)


class CampaignsWithRawResponse:
    """``s.campaigns`` whose methods return a :class:`~calleague_async.RawResponse`."""

    def __init__(self, campaigns: Campaigns) -> None:
        self._campaigns = campaigns

    async def launch(
        self,
        campaign_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Campaign]:
        """:meth:`Campaigns.launch`, with the reply's status, headers, request id and attempts."""
        return await raw(self._campaigns.launch)(
            campaign_id,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )

    async def stop(
        self,
        campaign_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Campaign]:
        """:meth:`Campaigns.stop`, with the reply's status, headers, request id and attempts."""
        return await raw(self._campaigns.stop)(
            campaign_id,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )
