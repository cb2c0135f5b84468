"""An in-memory Calleague API server for tests, demos and benchmarks.

The sandbox is a real ``aiohttp.web`` server on a loopback port. It serves the documented
endpoints with seeded data (seed 000's ``ag_123`` and ``cl_8f2a`` plus generated records),
checks the Bearer key, and has knobs for the response envelope, latency, a rate limit and
injected faults. It records what it received so tests can assert on it::

    from calleague_async.testing import Fault, SandboxServer

    async with SandboxServer(calls=100, rate_limit="5/1") as sb:
        sb.fail_next(1, Fault.COMMIT_THEN_500, path="/api/core/voice/agent/call")
        ...  # point a client at sb.base_url with sb.api_key
        assert sb.dials["+903121234567"] == 1

Run it standalone with ``python -m calleague_async.testing --port 8000``; in pytest use
the ``calleague_sandbox`` fixture (see ``calleague_async.testing.pytest_plugin``).
"""

from calleague_async.testing._redis import redis_server
from calleague_async.testing._server import (
    DEFAULT_PATHS,
    DOC_CALL,
    MAX_CALLS,
    CallStore,
    Fault,
    RecordedRequest,
    SandboxConfig,
    SandboxServer,
    parse_rate_limit,
)

__all__ = [
    "DEFAULT_PATHS",
    "DOC_CALL",
    "MAX_CALLS",
    "CallStore",
    "Fault",
    "RecordedRequest",
    "SandboxConfig",
    "SandboxServer",
    "parse_rate_limit",
    "redis_server",
]
