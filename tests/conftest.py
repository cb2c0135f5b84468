"""Shared test set-up: the aioresponses compatibility shim and common fixtures."""

from __future__ import annotations

import asyncio
import heapq
import inspect
import types
from collections.abc import Awaitable, Iterator
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse

from calleague_async.testing import redis_server

# aioresponses 0.7.9 builds ClientResponse without the `stream_writer` argument that
# aiohttp 3.14 requires (aioresponses issue #289, fix pending in PR #288). Supply a stand-in
# writer until aioresponses ships the fix; remove this block then. Never pin aiohttp below a
# security release to please a test tool.
if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:

    class _CompatClientResponse(ClientResponse):
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
            super().__init__(method, url, **kwargs)

    aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[attr-defined]


class VirtualClock:
    """Fake time for code that takes ``clock`` and ``sleep`` (STYLE habit 7).

    ``sleep`` parks the caller until :meth:`run` advances time to its wake-up; time moves only
    when every task is blocked, so waits are asserted exactly, in milliseconds of real time.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._seq, future))
        await future

    async def _settle(self) -> None:
        for _ in range(30):
            await asyncio.sleep(0)

    async def run(self, *aws: Awaitable[Any]) -> list[Any]:
        """Run ``aws`` to completion, advancing fake time whenever all of them are parked."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        idle = 0
        while not all(t.done() for t in tasks):
            await self._settle()
            if all(t.done() for t in tasks):
                break
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleepers
            if not self._sleepers:
                idle += 1
                if idle > 1000:
                    raise RuntimeError("deadlock: tasks wait on something other than sleep")
                continue
            idle = 0
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)
        return [t.result() if not t.cancelled() else None for t in tasks]


@pytest.fixture
def vclock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port, for the whole test session."""
    with redis_server() as url:
        if url is None:  # .ci/run installs it, so CI always runs these tests
            pytest.skip("redis-server is not installed")
        yield url
