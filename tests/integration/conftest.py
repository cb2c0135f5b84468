"""Integration fixtures: a real sandbox server on a loopback socket and a session pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import calleague_async as ca
from calleague_async.testing import SandboxServer


class Sleeps(list[float]):
    """Records retry waits instead of sleeping (STYLE habit 7: time is injected)."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(calls=120, agents=3) as sb:
        yield sb


@pytest.fixture
async def session(sandbox: SandboxServer) -> AsyncIterator[ca.AsyncSession]:
    async with ca.AsyncSession(
        api_key=sandbox.api_key, base_url=sandbox.base_url, timeout=5, rate_limits=None
    ) as s:
        s._sleep = Sleeps()
        yield s
