"""The sandbox: an in-memory Calleague API served by aiohttp.web, wired from its rooms.

State and rules in ``_state``, handlers in ``_handlers``, the request pipeline in ``_http``,
faults and limits in ``_knobs``, event delivery in ``_delivery``. Standalone on purpose: it
speaks only the wire format, so it can check the SDK rather than agree with it. Import the
public names from ``calleague_async.testing``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Unpack

import attrs
from aiohttp import web

from calleague_async.testing._config import (
    DEFAULT_PATHS,
    RecordedRequest,
    SandboxConfig,
    SandboxOptions,
)
from calleague_async.testing._delivery import Deliverer, Delivery, Timeline
from calleague_async.testing._http import Front
from calleague_async.testing._knobs import Fault, Limit, parse_rate_limit
from calleague_async.testing._state import (
    DOC_CALL,
    MAX_CALLS,
    Backend,
    CallStore,
    CampaignStore,
    ContactStore,
    Event,
    WebhookRegistry,
)

if TYPE_CHECKING:
    from calleague_async import AsyncSession

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
]


class SandboxServer:
    """An in-memory Calleague API on a real socket, with knobs for faults, limits and shapes.

    Example::

        async with SandboxServer(calls=10) as sb:
            headers = {"Authorization": f"Bearer {sb.api_key}"}
            async with aiohttp.ClientSession(sb.base_url, headers=headers) as http:
                async with http.get("/api/core/voice/call/cl_8f2a") as resp:
                    assert (await resp.json())["status"] == "completed"

    Args:
        config: Settings; defaults to ``SandboxConfig()``.
        host: Interface to bind (default loopback).
        port: Port to bind; ``0`` picks a free one (see :attr:`port` after start).
        clock: Monotonic clock for the rate-limit window (inject a fake one in tests).
        **overrides: ``SandboxConfig`` fields to change, e.g. ``SandboxServer(calls=10)``
            (see :class:`SandboxOptions`).
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        **overrides: Unpack[SandboxOptions],
    ) -> None:
        config = config if config is not None else SandboxConfig()
        if overrides:
            config = attrs.evolve(config, **overrides)
        self._config = config
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.backend: Backend = Backend(
            seed=config.seed,
            calls=config.calls,
            agents=config.agents,
            queues=config.agent_queues,
            on_event=self._on_event,
        )
        """All the state, with its rules (see ``calleague_async.testing._state``)."""
        self._front = Front(
            config, config.api_key or "sk_test_" + secrets.token_hex(12), self.backend, clock
        )
        self._timeline = Timeline(
            config.call_progress_seconds,
            self.backend.advance,
            watched=lambda: len(self.backend.webhooks) > 0,
        )
        self._deliverer = Deliverer(
            self.backend.webhooks,
            attempts=config.delivery_attempts,
            backoff=config.delivery_backoff,
            timeout=config.delivery_timeout,
        )
        self.events: list[Event] = []
        """Every event fired, in order (kept when ``record_requests`` is on)."""

    def __repr__(self) -> str:
        state = "running" if self._runner is not None else "stopped"
        return f"<SandboxServer {self.base_url} calls={len(self.calls)} {state}>"

    # state ---------------------------------------------------------------------------------------
    @property
    def agents(self) -> dict[str, dict[str, Any]]:
        """Assistants by id, in list order. Add or remove entries to change what is served."""
        return self.backend.agents

    @property
    def calls(self) -> CallStore:
        """All calls, newest first (see :class:`CallStore`)."""
        return self.backend.calls

    @property
    def contacts(self) -> ContactStore:
        """Seed 002's contacts by id, oldest first."""
        return self.backend.contacts

    @property
    def campaigns(self) -> CampaignStore:
        """Seed 002's campaigns by id (``cmp_1`` is seeded; ``campaigns.add(...)`` makes more)."""
        return self.backend.campaigns

    @property
    def webhooks(self) -> WebhookRegistry:
        """Registered webhooks by id."""
        return self.backend.webhooks

    @property
    def dials(self) -> Counter[str]:
        """Number -> how many calls were placed to it (``calls.start``, campaign launches)."""
        return self.backend.dials

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (the key's headers removed)."""
        return self._front.requests

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt, in the order they were made."""
        return self._deliverer.deliveries

    @property
    def rate_limited(self) -> int:
        """How many 429 replies the rate limiter sent (injected faults not included)."""
        return self._front.limiter.rejected

    @rate_limited.setter
    def rate_limited(self, value: int) -> None:
        self._front.limiter.rejected = value

    # properties ----------------------------------------------------------------------------------
    @property
    def config(self) -> SandboxConfig:
        """The configuration this server was made with (knob changes are not reflected)."""
        return self._config

    @property
    def api_key(self) -> str:
        """The only API key the server accepts."""
        return self._front.api_key

    @property
    def host(self) -> str:
        """The bound interface."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one once started, even when asked for port 0)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server, without a trailing slash."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def envelope(self) -> bool:
        """Whether replies use the ``{code, statusText, data}`` envelope."""
        return self._front.envelope

    @property
    def latency(self) -> float:
        """Seconds waited before every reply."""
        return self._front.latency

    @property
    def rate_limit(self) -> str | None:
        """The active ``"N/SECONDS"`` limit, or ``None``."""
        rate = self._front.rate
        return None if rate is None else rate.spec

    @property
    def pending_faults(self) -> int:
        """How many injected faults are still to be used."""
        return self._front.faults.pending

    def path(self, operation: str, **params: str) -> str:
        """The served path for ``operation``, e.g. ``path("calls.get", call_id="cl_8f2a")``.

        Placeholders may be given as snake_case or camelCase (``callId=``).
        """
        return self._front.routes.path(operation, **params)

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + path

    def session(self, **options: Any) -> AsyncSession:
        """An :class:`~calleague_async.AsyncSession` wired to this running sandbox.

        Its key, base URL and paths (``SandboxConfig.paths``) are this sandbox's; ``options``
        are ``AsyncSession``'s and win over those. Everything else is ``AsyncSession``'s
        default, rate limiter included, so your code runs as it does in production
        (``rate_limits=None`` turns the limiter off). Close it (``async with``) as any session.

        The sandbox serves only while the event loop it was started on runs, so the session
        refuses to be used on another loop (``RuntimeError``, saying how to fix the loop
        scopes) instead of waiting for replies that would never come.

        >>> async with SandboxServer(calls=5) as sb, sb.session() as s:
        ...     assert len([c async for c in s.calls.list()]) == 5
        """
        from calleague_async.testing._wired import wired_session  # the SDK, only when asked

        if self._runner is None or self._loop is None:
            raise RuntimeError("start the sandbox first: async with SandboxServer() as sb: ...")
        return wired_session(self._loop, self.api_key, self.base_url, self._config.paths, options)

    # knobs ---------------------------------------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        fault: Fault | str = Fault.SERVER_ERROR,
        *,
        path: str | None = None,
        method: str | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next ``n`` matching requests suffer ``fault``.

        Only requests whose path equals ``path`` and method equals ``method`` (when given)
        count. Rules are used in the order they were added. ``delay`` sets the wait of
        :attr:`Fault.SLOW`. Faults act like infrastructure in front of the API: they apply
        before the key and the rate limit are checked.
        """
        self._front.faults.add(n, fault, path=path, method=method, delay=delay)

    def clear_faults(self) -> None:
        """Forget all pending faults."""
        self._front.faults.clear()

    def set_envelope(self, enabled: bool) -> None:
        """Switch the ``{code, statusText, data}`` envelope on or off."""
        self._front.envelope = bool(enabled)

    def set_latency(self, seconds: float) -> None:
        """Wait ``seconds`` before every reply."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._front.latency = float(seconds)

    def set_rate_limit(self, spec: str | None) -> None:
        """Limit requests to ``"N/SECONDS"`` per key (sliding window), or ``None`` for no limit."""
        self._front.rate = None if spec is None else Limit.parse(spec)
        self._front.limiter.reset()

    def set_available_agents(self, available: int, *, queue: str = "default") -> None:
        """Make ``available`` human agents free in ``queue``: 0 makes transfers answer 503."""
        self.backend.queues.set(queue, available)

    def set_call_progress(self, seconds: float | Literal["auto"] | None) -> None:
        """Seconds per call step from now on (``None``: only when told; ``"auto"``: see config)."""
        if seconds != "auto" and seconds is not None and not seconds >= 0:
            raise ValueError("seconds must be 'auto', None or >= 0")
        self._timeline.step = seconds

    def add_calls(self, n: int) -> list[dict[str, Any]]:
        """Insert ``n`` new calls as the newest ones (no dialing); return them, newest first."""
        return self.backend.add_calls(n)

    def delete_call(self, call_id: str) -> bool:
        """Delete a call; return whether it existed."""
        return self.backend.calls.delete(call_id)

    # events --------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if self._config.record_requests:
            self.events.append(event)
        self._timeline.on_event(event)
        if self._loop is not None:
            self._deliverer.publish(event, self._loop)

    def advance_calls(self, *call_ids: str) -> list[Event]:
        """Move calls one step now (queued/ringing -> in-progress -> completed); the events fired.

        With no ids, every call made at run time that has not ended moves. Deliveries of the
        events start at once; ``await drain()`` waits for them.
        """
        fired = [self.backend.advance(c) for c in (call_ids or self.backend.moving)]
        return [e for e in fired if e is not None]

    async def drain(self) -> None:
        """Wait until every scheduled call step has fired and every delivery has finished.

        Bounded by the configuration (two steps per call, ``delivery_attempts`` tries of at
        most ``delivery_timeout`` each); wrap it in ``asyncio.timeout()`` to bound it yourself.
        """
        while True:
            await self._deliverer.drain()
            due = self._timeline.next_due()
            if due is None:
                if not self._deliverer.pending:
                    return
                continue
            await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()) + 0.001)

    # lifecycle -----------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        """A new ``aiohttp.web.Application`` serving this sandbox's state (for custom runners)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._front.handle)
        return app

    async def start(self) -> None:
        """Bind and start serving."""
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        runner = web.AppRunner(
            self.make_app(), handle_signals=False, access_log=None, shutdown_timeout=0.25
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        address = runner.addresses[0]
        self._port = int(address[1])
        self._runner = runner
        self._loop = asyncio.get_running_loop()  # the only loop it serves on (see session())
        self._timeline.start(self._loop)

    async def close(self) -> None:
        """Stop serving and delivering (pending steps and deliveries are dropped). Safe twice."""
        runner, self._runner = self._runner, None
        self._timeline.close()
        self._loop = None
        await self._deliverer.close()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
