"""Webhook events in over aiohttp.web: verify, deduplicate, hand each event to your callback once.

Verifying and parsing are :func:`calleague_async.parse_webhook` (pure, usable from any
framework); this module is the aiohttp edge around it.

```py
from aiohttp import web
from calleague_async.webhooks import WebhookReceiver

async def on_event(event: ca.WebhookEvent) -> None:
    if event.type == "call.ended" and event.call is not None:
        save(event.call.call_id, event.call.transcript)

app = web.Application()
WebhookReceiver(on_event, secret=WEBHOOK_SECRET).add_to(app, "/hooks/calleague")
web.run_app(app)
```
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from aiohttp import web

from calleague_async._webhook import (
    DEFAULT_TOLERANCE,
    WebhookEvent,
    _keys,
    check_tolerance,
    parse_webhook,
    sign_webhook,
)
from calleague_async.errors import ConfigurationError, InvalidWebhookError, WebhookVerificationError

__all__ = ["WebhookCallback", "WebhookReceiver", "sign_webhook", "webhook_handler"]

_log = logging.getLogger("calleague_async.webhooks")

WebhookCallback: TypeAlias = Callable[[WebhookEvent], Awaitable[object] | object]
"""What gets each event: a function or a coroutine function taking a :class:`WebhookEvent`."""

Handler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY_SIZE = 1 << 20
"""The default cap on a delivery's body (1 MiB); a larger one is answered 413 unread."""

# How long a shutting-down app waits for events still being handled in the background.
_SHUTDOWN_DRAIN = 10.0


class WebhookReceiver:
    """An aiohttp.web endpoint that verifies deliveries and hands each event to ``callback`` once.

    Each POST is read (at most ``max_body_size`` bytes, else 413), verified with ``secret``
    (see :func:`~calleague_async.parse_webhook`; a failure is 401, a body that is no event
    400, neither ever says why: the reason goes to the ``calleague_async.webhooks`` logger)
    and its event given to ``callback``, a plain or ``async`` function. A plain function runs
    on the event loop: keep it quick, or make it ``async`` and hand blocking work to
    ``asyncio.to_thread``.

    Answers: 204 once the callback returned; 500 when it raised (logged with its traceback),
    so the sender delivers the event again and it is processed again. Senders redeliver, so
    an event whose id was handled already is answered 204 without calling ``callback`` again,
    for the last ``seen`` ids (bounded memory: an older id is forgotten); a duplicate that
    arrives while the first is still being handled waits for it and gets its answer.

    ``background=True`` answers 202 at once and runs the callback after: the fastest answer,
    but a failing callback can no longer ask for a redelivery (it is only logged), and events
    in flight are lost if the process dies. At most ``max_pending`` run at a time; beyond
    that deliveries get 503, and the sender retries later. The default, inline, ties the
    answer to the outcome. :meth:`add_to` waits for background events on shutdown.

    >>> app = web.Application()
    >>> receiver = WebhookReceiver(print, secret=hook.secret).add_to(app, "/hooks")
    """

    def __init__(
        self,
        callback: WebhookCallback,
        *,
        secret: str | Sequence[str] | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        seen: int = 10_000,
        max_body_size: int = MAX_BODY_SIZE,
        background: bool = False,
        max_pending: int = 1000,
        now: Callable[[], float] = time.time,
    ) -> None:
        if secret is not None:
            _keys(secret)  # a bad secret fails here, at startup, not on the first delivery
        check_tolerance(tolerance)
        for name, value, least in (
            ("seen", seen, 0),
            ("max_body_size", max_body_size, 1),
            ("max_pending", max_pending, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigurationError(f"{name} must be an integer >= {least}, not {value!r}")
        self._callback = callback
        self._secret = secret
        self._tolerance = tolerance
        self._seen = seen
        self._max_body_size = max_body_size
        self._background = background
        self._max_pending = max_pending
        self._now = now
        # Ids whose callback succeeded, oldest first: an LRU of at most ``seen``.
        self._done: OrderedDict[str, None] = OrderedDict()
        # Ids being handled now, each with a future of whether that went well.
        self._inflight: dict[str, asyncio.Future[bool]] = {}
        self._tasks: set[asyncio.Task[bool]] = set()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler: ``app.router.add_post("/hooks", receiver.handler)``."""
        body = await self._read(request)
        if body is None:
            return web.Response(status=413, text="payload too large")
        try:
            event = parse_webhook(
                body,
                request.headers,
                secret=self._secret,
                tolerance=self._tolerance,
                now=self._now,
            )
        except WebhookVerificationError as exc:
            _log.warning("webhook delivery refused (401): %s", exc.reason)
            return web.Response(status=401, text="webhook verification failed")
        except InvalidWebhookError as exc:
            _log.warning("webhook delivery refused (400): %s", exc.reason)
            return web.Response(status=400, text="invalid webhook payload")
        return await self._dispatch(event)

    def add_to(self, app: web.Application, path: str = "/webhooks") -> WebhookReceiver:
        """Route POSTs to ``path`` of ``app`` here; on shutdown, finish background events.

        Returns the receiver itself.
        """
        app.router.add_post(path, self.handler)
        app.on_shutdown.append(self._on_shutdown)
        return self

    async def drain(self, grace: float | None = None) -> None:
        """Wait for the events being handled in the background; cancel those left after ``grace``.

        ``grace`` is in seconds; None waits for all of them however long they take.
        """
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _on_shutdown(self, _: web.Application) -> None:
        await self.drain(_SHUTDOWN_DRAIN)

    async def _read(self, request: web.Request) -> bytes | None:
        """The raw body, or None as soon as it is larger than allowed (decoded size)."""
        length = request.content_length
        if length is not None and length > self._max_body_size:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > self._max_body_size:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _dispatch(self, event: WebhookEvent) -> web.StreamResponse:
        key = event.id
        if key is not None:
            if key in self._done:
                self._done.move_to_end(key)
                _log.debug("webhook event %s delivered again; acknowledged, not handled", key)
                return web.Response(status=204)
            pending = self._inflight.get(key)
            if pending is not None:
                if self._background:
                    return web.Response(status=202)
                # Shielded: a duplicate whose sender hangs up must not cancel the first.
                ok = await asyncio.shield(pending)
                return web.Response(status=204) if ok else _failed()
        if self._background and len(self._tasks) >= self._max_pending:
            _log.warning("webhook delivery refused (503): %d events pending", len(self._tasks))
            return web.Response(status=503, text="busy", headers={"Retry-After": "5"})
        future: asyncio.Future[bool] | None = None
        if key is not None:
            future = asyncio.get_running_loop().create_future()
            self._inflight[key] = future
        if self._background:
            task = asyncio.create_task(self._process(event, future))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return web.Response(status=202)
        ok = await self._process(event, future)
        return web.Response(status=204) if ok else _failed()

    async def _process(self, event: WebhookEvent, future: asyncio.Future[bool] | None) -> bool:
        """Run the callback once; remember the id if it went well. Never raises but cancellation."""
        ok = False
        try:
            result = self._callback(event)
            if inspect.isawaitable(result):
                await result
            ok = True
        except Exception:
            _log.exception("webhook callback failed on event %s (%s)", event.id, event.type)
        finally:
            if event.id is not None:
                self._inflight.pop(event.id, None)
                if ok:
                    self._remember(event.id)
            if future is not None and not future.done():
                future.set_result(ok)
        return ok

    def _remember(self, key: str) -> None:
        if self._seen == 0:
            return
        self._done[key] = None
        self._done.move_to_end(key)
        while len(self._done) > self._seen:
            self._done.popitem(last=False)


def _failed() -> web.Response:
    return web.Response(status=500, text="webhook handler failed")


def webhook_handler(
    callback: WebhookCallback,
    *,
    secret: str | Sequence[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    seen: int = 10_000,
    max_body_size: int = MAX_BODY_SIZE,
) -> Handler:
    """An aiohttp handler that verifies deliveries and hands each event to ``callback`` once.

    The inline :class:`WebhookReceiver` as a bare handler, for routing it yourself:

    >>> app = web.Application()
    >>> app.router.add_post("/hooks", webhook_handler(print, secret=hook.secret))
    """
    receiver = WebhookReceiver(
        callback, secret=secret, tolerance=tolerance, seen=seen, max_body_size=max_body_size
    )
    return receiver.handler
