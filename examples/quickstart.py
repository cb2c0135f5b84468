"""The SDK end to end against the embedded sandbox: agents, a call placed and read, calls paged.

Run it with ``python examples/quickstart.py``; set CALLEAGUE_API_KEY (and CALLEAGUE_BASE_URL)
and pass ``--live`` to run the same code against a real workspace instead.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys

import calleague_async as ca
from calleague_async.testing import SandboxServer


async def tour(s: ca.AsyncSession) -> None:
    """List assistants, place a call, read it back and page through every call."""
    async for agent in s.agents.list():
        print(f"agent  {agent.agent_id:<14} {agent.name}")

    call = await s.calls.start(
        agent_id="ag_123", to="+903121234567", metadata={"orderId": "A-1042"}
    )
    print(f"placed {call.call_id} status={call.status}")
    call = await s.calls.get(call.call_id)
    print(f"read   {call.call_id} to={call.to} metadata={call.metadata}")

    done = await s.calls.get("cl_8f2a")
    print(f"read   {done.call_id} {done.status} after {done.duration_sec}s ({done.ended_reason})")

    by_status: collections.Counter[str] = collections.Counter()
    pages = 0
    async for page in s.calls.list(page_size=100).pages():
        pages += 1
        by_status.update(str(c.status) for c in page.items)
    total = sum(by_status.values())
    print(f"listed {total} calls in {pages} pages: {dict(sorted(by_status.items()))}")

    try:
        await s.calls.start(agent_id="ag_123", to="0312 123 45 67")
    except ca.ValidationError as exc:
        print(f"refused before sending: {exc}")
    try:
        await s.calls.get("cl_missing")
    except ca.NotFoundError as exc:
        print(f"server said: {exc.status_code} {exc.message}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--live", action="store_true", help="use CALLEAGUE_API_KEY, not a sandbox")
    parser.add_argument("--calls", type=int, default=1_000, help="calls seeded in the sandbox")
    args = parser.parse_args()
    if args.live:
        async with ca.AsyncSession() as s:
            await tour(s)
        return 0
    # The sandbox enforces 50 requests a second per key; the client is told the same limit
    # and paces itself under it, so no request is ever refused with a 429.
    async with (
        SandboxServer(calls=args.calls, rate_limit="50/1") as sb,
        ca.AsyncSession(
            api_key=sb.api_key, base_url=sb.base_url, rate_limits={"default": "50/second"}
        ) as s,
    ):
        print(f"sandbox at {sb.base_url}")
        await tour(s)
        print(f"the sandbox dialed: {dict(sb.dials)}")
        print(f"{len(sb.requests)} requests, {sb.rate_limited} refused with 429")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
