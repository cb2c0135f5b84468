"""Event delivery: calls moving on a compressed clock, and signed POSTs to the webhooks.

Standard Webhooks: each POST carries ``webhook-id`` (the event id, the same on every retry, so a
receiver can dedupe), ``webhook-timestamp`` and ``webhook-signature`` (``_webhook.sign``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import aiohttp
import attrs

from calleague_async._webhook import sign_webhook
from calleague_async.testing._state import CALL_ENDED, Event, StateError, WebhookRegistry

__all__ = ["Deliverer", "Delivery", "Timeline"]


@attrs.frozen
class Delivery:
    """One attempt to deliver an event to a webhook, as :attr:`SandboxServer.deliveries` keeps it.

    Attributes:
        url: The webhook's URL.
        webhook_id: The webhook (``wh_...``).
        event_id: The event (``evt_...``), sent as the ``webhook-id`` header on every attempt.
        type: The event type, e.g. ``"call.ended"``.
        call_id: The call the event is about.
        attempt: 1 for the first try, 2 for the first redelivery ...
        status: The receiver's HTTP status, or None when it could not be reached.
        error: Why it could not be reached (None when it answered).
    """

    url: str
    webhook_id: str
    event_id: str
    type: str
    call_id: str
    attempt: int
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver took it (a 2xx)."""
        return self.status is not None and 200 <= self.status < 300


WATCHED_STEP = 0.1
"""Seconds per step of a call with ``call_progress_seconds="auto"`` while a webhook listens."""


class Timeline:
    """Moves run-time calls one step every ``step`` seconds.

    ``step="auto"``: calls move on their own only while a webhook is registered (``watched``
    says so), every :data:`WATCHED_STEP` seconds, so a receiver under test hears a call end
    without any setting, while a sandbox nobody listens to keeps each call as it was made
    (tests read ``"ringing"`` right after ``calls.start``). ``step=None``: only when told.
    One timer per moving call on the event loop's own clock; each fired step schedules the
    next, until the call has ended. ``close()`` cancels them all.
    """

    def __init__(
        self,
        step: float | Literal["auto"] | None,
        advance: Callable[[str], object],
        watched: Callable[[], bool] = lambda: False,
    ) -> None:
        self.step = step
        self._advance = advance
        self._watched = watched
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_event(self, event: Event) -> None:
        """Schedule the call's next step after each of its events (none after it ended)."""
        call_id = str(event.call.get("callId"))
        timer = self._timers.pop(call_id, None)
        if timer is not None:
            timer.cancel()
        step = self.step
        if step == "auto":
            step = WATCHED_STEP if self._watched() else None
        if step is None or self._loop is None or event.type == CALL_ENDED:
            return
        self._timers[call_id] = self._loop.call_later(step, self._fire, call_id)

    def _fire(self, call_id: str) -> None:
        self._timers.pop(call_id, None)
        with contextlib.suppress(StateError):  # the call was deleted meanwhile
            self._advance(call_id)

    def next_due(self) -> float | None:
        """The loop time of the last scheduled step, or None when nothing is scheduled."""
        return max((t.when() for t in self._timers.values()), default=None)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._loop = None


class Deliverer:
    """POSTs each event to every webhook subscribed to its type, retrying with backoff.

    Events of one call reach one webhook in order: a delivery waits for the one before it
    (retries included). Tasks are owned here and cancelled by ``close()``.
    """

    def __init__(
        self,
        webhooks: WebhookRegistry,
        *,
        attempts: int,
        backoff: float,
        timeout: float,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._webhooks = webhooks
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.deliveries: list[Delivery] = []

    @property
    def pending(self) -> int:
        """Deliveries not finished yet (delivered or given up)."""
        return len(self._tasks)

    def publish(self, event: Event, loop: asyncio.AbstractEventLoop) -> None:
        """Start delivering ``event`` to its subscribers, on the sandbox's ``loop``."""
        hooks = self._webhooks.subscribers(event.type)
        if not hooks:
            return
        body = json.dumps(event.body(), separators=(",", ":")).encode()
        call_id = str(event.call.get("callId"))
        for hook in hooks:
            chain = (str(hook["webhookId"]), call_id)
            task = loop.create_task(self._deliver(hook, event, body, self._last.get(chain)))
            self._last[chain] = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._done, chain=chain))

    def _done(self, task: asyncio.Task[None], *, chain: tuple[str, str]) -> None:
        self._tasks.discard(task)
        if self._last.get(chain) is task:
            del self._last[chain]

    async def _deliver(
        self,
        hook: Mapping[str, Any],
        event: Event,
        body: bytes,
        before: asyncio.Task[None] | None,
    ) -> None:
        if before is not None:
            await asyncio.wait([before])
        if self._http is None:
            # Receivers are local test servers: no proxies from the environment.
            self._http = aiohttp.ClientSession(timeout=self._timeout, trust_env=False)
        url, secret = str(hook["url"]), str(hook["secret"])
        for attempt in range(1, self._attempts + 1):
            stamp = int(self._wall_clock())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "calleague-sandbox",
                **sign_webhook(body, secret, msg_id=event.id, timestamp=stamp),
            }
            status: int | None = None
            error: str | None = None
            try:
                async with self._http.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as reply:
                    status = reply.status
                    await reply.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            record = Delivery(
                url, str(hook["webhookId"]), event.id, event.type,
                str(event.call.get("callId")), attempt, status, error,
            )  # fmt: skip
            self.deliveries.append(record)
            if record.ok:
                return
            if attempt < self._attempts:
                await self._sleep(self._backoff * 2 ** (attempt - 1))

    async def drain(self) -> None:
        """Wait until every delivery started so far has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel unfinished deliveries and close the HTTP client."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._last.clear()
        http, self._http = self._http, None
        if http is not None:
            await http.close()
