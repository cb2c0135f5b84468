"""An in-memory Calleague API server for tests, demos and benchmarks.

The sandbox is a real ``aiohttp.web`` server on a loopback port. It serves the documented
endpoints with seeded data (seed 000's ``ag_123`` and ``cl_8f2a`` plus generated records),
checks the key (Bearer or ``X-Api-Key``), has knobs for the response envelope, latency, rate
limits and injected faults, and delivers signed webhook events as its calls progress. It
records what it received and delivered so tests can assert on it::

    from calleague_async.testing import Fault, SandboxServer

    async with SandboxServer(calls=100, rate_limit="5/1") as sb:
        sb.fail_next(1, Fault.COMMIT_THEN_500, path="/api/core/voice/agent/call")
        ...  # point a client at sb.base_url with sb.api_key
        assert sb.dials["+903121234567"] == 1

Run it standalone with ``python -m calleague_async.testing --port 8000``; in pytest use
the ``calleague_sandbox`` fixture (see ``calleague_async.testing.pytest_plugin``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calleague_async.testing._redis import redis_server
    from calleague_async.testing._server import (
        DEFAULT_PATHS,
        DOC_CALL,
        MAX_CALLS,
        CallStore,
        Delivery,
        Event,
        Fault,
        RecordedRequest,
        SandboxConfig,
        SandboxOptions,
        SandboxServer,
        parse_rate_limit,
    )

__all__ = [
    "DEFAULT_PATHS",
    "DOC_CALL",
    "MAX_CALLS",
    "CallStore",
    "Delivery",
    "Event",
    "Fault",
    "RecordedRequest",
    "SandboxConfig",
    "SandboxOptions",
    "SandboxServer",
    "parse_rate_limit",
    "redis_server",
]

# Imported on first use (PEP 562): pytest loads this package for its plugin in every run of
# every project that has the SDK installed, and aiohttp.web is no cost to put on all of them.
_HOMES = {name: "_redis" if name == "redis_server" else "_server" for name in __all__}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
