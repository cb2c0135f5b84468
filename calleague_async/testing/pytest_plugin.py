"""Pytest plugin providing the ``calleague_sandbox`` fixture.

Installed with the package (``pytest11`` entry point ``calleague_sandbox``). The fixture is
async and function-scoped: every test gets a fresh, started
:class:`~calleague_async.testing.SandboxServer` on a free loopback port, closed afterwards.
It needs pytest-asyncio. Configure it per test with the ``calleague_sandbox`` marker, whose
keyword arguments are ``SandboxConfig`` fields::

    import aiohttp
    import pytest

    @pytest.mark.calleague_sandbox(calls=5, envelope=True)
    async def test_lists_calls(calleague_sandbox):
        sb = calleague_sandbox
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(sb.url("/api/core/voice/call/list")) as resp:
                assert (await resp.json())["data"]["total"] == 5
        assert sb.requests[0].path == "/api/core/voice/call/list"
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from calleague_async.testing._server import SandboxServer

_MARKER = "calleague_sandbox"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``calleague_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): SandboxConfig fields for the calleague_sandbox fixture",
    )


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture(name="calleague_sandbox")
    def _calleague_sandbox_unavailable() -> NoReturn:
        """Unavailable: the fixture needs pytest-asyncio (``pip install pytest-asyncio``)."""
        pytest.fail(
            "the calleague_sandbox fixture needs pytest-asyncio; install it with "
            "`pip install pytest-asyncio`, or use `async with SandboxServer()` directly",
            pytrace=False,
        )

else:

    @pytest_asyncio.fixture
    async def calleague_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
        """A started sandbox on a free loopback port; options from the marker of that name."""
        from calleague_async.testing._server import SandboxServer

        marker = request.node.get_closest_marker(_MARKER)
        options = dict(marker.kwargs) if marker is not None else {}
        async with SandboxServer(**options) as sandbox:
            yield sandbox
