"""Seed 002's standard post-call flow, end to end against the sandbox.

1. push the day's leads (``contacts.bulk_create``)    2. launch the campaign
3. receive ``call.ended`` (a signed webhook)          4. "extract" a result from the transcript
5. write the structured payload back (``calls.set_metadata``)

The sandbox dials, moves each call through queued -> started -> ended on a compressed timeline
and delivers signed events to the receiver below, as a workspace would. Run:
``python examples/workflow.py`` (CI runs it too).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

import calleague_async as ca
from calleague_async.testing import SandboxServer
from calleague_async.webhooks import WebhookReceiver

LEADS: list[dict[str, Any]] = [
    {"phone": "+905551230001", "name": "Ayla", "metadata": {"crm_id": "L-1"}},
    {"phone": "+905551230002", "name": "Emre", "metadata": {"crm_id": "L-2"}},
    {"phone": "+905551230003", "name": "Deniz", "metadata": {"crm_id": "L-3"}},
    {"phone": "not a number", "name": "Typo", "metadata": {"crm_id": "L-4"}},
]


def extract(call: ca.Call) -> dict[str, Any]:
    """Stand-in for the workflow's LLM extraction: a structured payload from the transcript."""
    turns = call.transcript if isinstance(call.transcript, list) else []
    said = " ".join(str(turn.get("text", "")) for turn in turns if turn.get("role") == "user")
    return {"turns": len(turns), "customer_words": len(said.split()), "outcome": call.ended_reason}


async def main() -> dict[str, dict[str, Any]]:
    ended: asyncio.Queue[ca.WebhookEvent] = asyncio.Queue()

    async def on_event(event: ca.WebhookEvent) -> None:
        if event.type == "call.ended" and event.call is not None:
            await ended.put(event)

    async with SandboxServer(calls=0, call_progress_seconds=0.02) as sb:
        # The client-side limiter would pace seed 002's routes at their documented limits
        # (10/minute for bulk, 30/minute for metadata ...); the sandbox enforces none here.
        async with sb.session(rate_limits=None) as s:
            # 3. the receiver: its address first (so the workspace can be told it), then the
            #    webhook, whose secret verifies every delivery
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            hook = await s.webhooks.create(
                url=f"http://127.0.0.1:{port}/calleague", events=["call.ended"]
            )
            assert hook.secret is not None
            app = web.Application()
            WebhookReceiver(on_event, secret=hook.secret).add_to(app, "/calleague")
            runner = web.AppRunner(app)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            try:
                # 1. the day's leads, in bounded batches: a bad row is reported, not sent
                async for batch in s.contacts.bulk_create(LEADS, batch_size=100):
                    print(f"batch {batch.batch}: {batch.created} created, "
                          f"{len(batch.rejected)} rejected")  # fmt: skip
                # 2. launch: the sandbox dials each pending contact once
                campaign = await s.campaigns.launch("cmp_1")
                print("campaign", campaign.campaign_id, campaign.status)
                # 3-5. each call.ended: extract, then write the result back onto the call
                results: dict[str, dict[str, Any]] = {}
                while len(results) < 3:
                    event = await asyncio.wait_for(ended.get(), timeout=30)
                    assert event.call is not None
                    payload = extract(event.call)
                    await s.calls.set_metadata(event.call.call_id, {"extraction": payload})
                    results[event.call.call_id] = payload
                for call_id in results:
                    call = await s.calls.get(call_id)
                    assert call.metadata is not None
                    assert "extraction" in call.metadata
                    print(call_id, call.status, call.metadata["extraction"])
            finally:
                await runner.cleanup()
        dialed = sorted(n for n, count in sb.dials.items() if count)
        assert dialed == ["+905551230001", "+905551230002", "+905551230003"], dialed
        assert all(count == 1 for count in sb.dials.values())
    return results


if __name__ == "__main__":
    asyncio.run(main())
