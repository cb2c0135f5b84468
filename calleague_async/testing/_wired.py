"""``SandboxServer.session()``: an ``AsyncSession`` wired to a sandbox, kept to its event loop.

A sandbox serves only while the loop it was started on runs; a session used on another loop
would wait for replies that never come, so this one raises a clear error instead.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, Self

from calleague_async._client import AsyncSession

__all__ = ["OTHER_LOOP", "wired_session"]

OTHER_LOOP = (
    "this session is used on another event loop than the one its sandbox was started on; "
    "the sandbox serves only while that loop runs, so every request would hang until it timed "
    "out. Use both on one loop. With pytest-asyncio, give the sandbox's fixture and the tests "
    "using it the same loop scope: e.g. @pytest_asyncio.fixture(scope='module', "
    "loop_scope='module') and @pytest.mark.asyncio(loop_scope='module') on its tests, or the "
    "same asyncio_default_fixture_loop_scope and asyncio_default_test_loop_scope in the pytest "
    "configuration"
)
"""What a sandbox's session used on the wrong loop says."""

# The sandbox names path placeholders as the wire does ({callId}); the SDK as Python does.
_PLACEHOLDER = re.compile(r"\{([A-Za-z]+)\}")
_HUMP = re.compile(r"(?<!^)([A-Z])")


def _sdk_path(template: str) -> str:
    return _PLACEHOLDER.sub(lambda m: "{" + _HUMP.sub(r"_\1", m[1]).lower() + "}", template)


class _SandboxSession(AsyncSession):
    """An ``AsyncSession`` that refuses to run on another loop than its sandbox's."""

    def __init__(self, sandbox_loop: asyncio.AbstractEventLoop, **options: Any) -> None:
        self._sandbox_loop = sandbox_loop
        self._check_loop()  # made inside a test already: fail here, at the line that did it
        super().__init__(**options)

    def _check_loop(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # made outside any loop: checked on first use
            return
        if running is not self._sandbox_loop:
            raise RuntimeError(f"SandboxServer.session(): {OTHER_LOOP}")

    async def __aenter__(self) -> Self:
        self._check_loop()
        return await super().__aenter__()

    async def _send(self, *args: Any, **kwargs: Any) -> Any:
        self._check_loop()
        return await super()._send(*args, **kwargs)


def wired_session(
    loop: asyncio.AbstractEventLoop,
    api_key: str,
    base_url: str,
    paths: Mapping[str, str],
    options: Mapping[str, Any],
) -> AsyncSession:
    """The session ``SandboxServer.session(**options)`` returns."""
    wired: dict[str, Any] = {"api_key": api_key, "base_url": base_url}
    if paths:
        wired["paths"] = {name: _sdk_path(path) for name, path in paths.items()}
    return _SandboxSession(loop, **{**wired, **options})
