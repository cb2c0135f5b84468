"""Shared test set-up: the aioresponses compatibility shim and common fixtures."""

from __future__ import annotations

import inspect
import types
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse

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
