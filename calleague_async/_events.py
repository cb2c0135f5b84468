"""One place per event of the request pipeline: hooks, logging and tracing hang off it.

The pipeline (``BaseSession._send``) calls an :class:`Events` at each point: request sent,
response received, retry scheduled, limiter wait, error; and opens one span per logical SDK
call. With no hooks, logging off and no tracer, ``Events.enabled`` is False and the pipeline
skips every call: the hot path pays one attribute check.

Log lines (logger ``calleague_async``; route templates only, never a filled path, the key or
a body):

- DEBUG, one per reply: ``calls.get GET /api/core/voice/call/{call_id} -> 200 (attempt 1,
  12.3 ms, request id req_1)``
- INFO, one per retry decision: ``calls.get GET /api/core/voice/call/{call_id}: attempt 1 failed
  (ServerError 503), retrying in 0.52 s``
- INFO, one per limiter pause: ``calls.get GET /api/core/voice/call/{call_id}: waited 0.25 s in
  the rate limiter before attempt 2``
- INFO, one per failed call: ``calls.get GET /api/core/voice/call/{call_id} failed: NotFoundError
  404 (attempt 1, 12.3 ms, request id req_1)``
- WARNING, a hook that raised, with its traceback.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from calleague_async._version import __version__
from calleague_async.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

LOGGER_NAME = "calleague_async"
log = logging.getLogger(LOGGER_NAME)


@attrs.frozen(kw_only=True)
class RequestEvent:
    """What a hook is told about one attempt. Never carries the API key or a request body.

    ``operation`` is the SDK call (``"calls.get"``), ``route`` the route template
    (``"GET /api/core/voice/call/{call_id}"``), ``attempt`` counts from 1 (for
    ``retry_scheduled``, the attempt that failed). ``status`` and ``request_id`` are set once a
    reply arrived; ``elapsed`` is seconds since the attempt began (``response_received``,
    ``error``) or since the call began (``retry_scheduled``). ``wait`` is the retry's or the
    limiter's wait in seconds, ``reason`` why a retry is scheduled (the error's class and
    status), ``error`` the error (``error`` event only).

    >>> events = []
    >>> async with ca.AsyncSession(hooks={"response_received": events.append}) as s:
    ...     await s.calls.get("cl_8f2a")
    >>> events[0].status, events[0].route
    (200, 'GET /api/core/voice/call/{call_id}')
    """

    event: str
    operation: str
    method: str
    route: str
    attempt: int
    status: int | None = None
    elapsed: float | None = None
    request_id: str | None = None
    wait: float | None = None
    reason: str | None = None
    error: BaseException | None = None


Hook = Callable[[RequestEvent], Awaitable[None] | None]
"""A hook: a plain or async callable taking a :class:`RequestEvent`."""

EVENTS = ("request_sent", "response_received", "retry_scheduled", "limiter_wait", "error")
"""The events hooks may subscribe to, in the order one attempt meets them."""


class Events:
    """Dispatches pipeline events to hooks, the log and OpenTelemetry.

    ``hooks`` maps an event name of :data:`EVENTS` to a callable or a list of callables, run in
    that order. ``tracer_provider`` is an OpenTelemetry ``TracerProvider`` for this session's
    spans; without it, OpenTelemetry's global provider is used once one is configured.
    """

    __slots__ = ("_hooks", "_provider", "_tracer", "hooked")

    def __init__(
        self,
        hooks: Mapping[str, Hook | Sequence[Hook]] | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._hooks = _check_hooks(hooks)
        self.hooked = bool(self._hooks)
        """Whether any hook is registered."""
        self._provider = tracer_provider
        # (provider, tracer): a tracer is made once per provider, not once per call.
        self._tracer: tuple[TracerProvider, Tracer] | None = None

    @property
    def enabled(self) -> bool:
        """Whether anything listens: a hook, logging at INFO or DEBUG, or OpenTelemetry.

        True iff a hook is registered, the ``calleague_async`` logger is enabled for INFO, or an
        OpenTelemetry tracer provider is configured. Read once per logical call, so logging or
        tracing switched on after the session was built takes effect.
        """
        # OpenTelemetry cannot trace before something imported it: one lookup, per call.
        return (
            self.hooked
            or log.isEnabledFor(logging.INFO)
            or ("opentelemetry.trace" in sys.modules and self._active() is not None)
        )

    async def emit(self, event: RequestEvent) -> None:
        """Log ``event``, then hand it to every hook subscribed to ``event.event``, in order.

        A hook that raises (or an async one whose awaitable raises) is logged at WARNING with
        its traceback and breaks nothing; cancellation still propagates.
        """
        _log_event(event)
        for hook in self._hooks.get(event.event, ()):
            try:
                result = hook(event)
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception:  # a broken hook never breaks the request
                log.warning(
                    "the %s hook %s raised; the request goes on",
                    event.event,
                    getattr(hook, "__qualname__", type(hook).__qualname__),
                    exc_info=True,
                )

    def span(self, operation: str, route: str) -> CallSpan | NoSpan:
        """A context manager: one OpenTelemetry span for one logical SDK call, all its attempts.

        It yields an object whose ``record(attempts=, limiter_wait=, status=, error=)`` the
        pipeline calls once before the span ends. Without OpenTelemetry: a shared no-op.
        """
        provider = self._active()
        if provider is None:
            return NO_SPAN
        cached = self._tracer
        if cached is None or cached[0] is not provider:
            cached = self._tracer = (provider, provider.get_tracer(LOGGER_NAME, __version__))
        return CallSpan(cached[1], operation, route)

    def _active(self) -> TracerProvider | None:
        """The tracer provider spans go to, or None when OpenTelemetry is not active."""
        # Never imported here: if nothing imported OpenTelemetry, nothing configured it (and
        # a provider passed in was built with it).
        trace: Any = sys.modules.get("opentelemetry.trace")
        if trace is None:
            return None
        provider: Any = self._provider
        if provider is None:
            # get_tracer_provider() looks the environment up on every call (1.5 us, read per
            # SDK call): the global it returns once one is set is read directly, for as long as
            # OpenTelemetry keeps it under this name (1.x does); the public call otherwise.
            provider = getattr(trace, "_TRACER_PROVIDER", _GONE)
            if provider is None and not _PROVIDER_FROM_ENV:
                return None
            if provider is None or provider is _GONE:
                provider = trace.get_tracer_provider()
        # The proxy stands in until a provider is set; the no-op one is "tracing off".
        if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
            return None
        return provider  # type: ignore[no-any-return]


_GONE = object()
# A provider named in the environment is made on the first get_tracer_provider() call.
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def _check_hooks(hooks: object) -> dict[str, tuple[Hook, ...]]:
    """``hooks=`` as a dict of tuples, or a ConfigurationError naming what is wrong."""
    if hooks is None:
        return {}
    if not isinstance(hooks, Mapping):
        raise ConfigurationError(
            "hooks must be a mapping of event name to a callable or a list of callables "
            f"(got {type(hooks).__name__})"
        )
    checked: dict[str, tuple[Hook, ...]] = {}
    for name, value in hooks.items():
        if name not in EVENTS:
            raise ConfigurationError(
                f"hooks: {name!r} is not an event; the events are {', '.join(EVENTS)}"
            )
        many = (
            tuple(value)
            if isinstance(value, Sequence) and not isinstance(value, str | bytes)
            else (value,)
        )
        for hook in many:
            if not callable(hook):
                raise ConfigurationError(
                    f"hooks: {name!r} must be a callable or a list of callables taking a "
                    f"RequestEvent (got {type(hook).__name__})"
                )
        if many:
            checked[name] = many
    return checked


# -- logging -----------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _log_event(e: RequestEvent) -> None:
    kind = e.event
    if kind == "response_received":
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s (attempt %d, %s, request id %s)",
                e.operation,
                e.route,
                e.status,
                e.attempt,
                _ms(e.elapsed),
                e.request_id or "-",
            )
    elif not log.isEnabledFor(logging.INFO):
        return
    elif kind == "retry_scheduled":
        log.info(
            "%s %s: attempt %d failed (%s), retrying in %.2f s",
            e.operation,
            e.route,
            e.attempt,
            e.reason or "-",
            e.wait or 0.0,
        )
    elif kind == "limiter_wait":
        log.info(
            "%s %s: waited %.2f s in the rate limiter before attempt %d",
            e.operation,
            e.route,
            e.wait or 0.0,
            e.attempt,
        )
    elif kind == "error":
        # The class and status only: an error's message may quote a server's body.
        what = type(e.error).__name__ if e.error is not None else "error"
        log.info(
            "%s %s failed: %s%s (attempt %d, %s, request id %s)",
            e.operation,
            e.route,
            what,
            f" {e.status}" if e.status is not None else "",
            e.attempt,
            _ms(e.elapsed),
            e.request_id or "-",
        )


# Header values and Bearer tokens, in "Authorization: Bearer x", "'X-Api-Key': 'x'",
# "authorization=x" or a bare "Bearer x".
_SECRET = re.compile(
    r"""(?ix)
    (?P<head>\b(?:authorization|x-api-key)["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token)\s+)?)
        (?P<value>[^\s"',;}]+)
    | (?P<bearer>\bbearer\s+)(?P<token>[A-Za-z0-9._~+/=-]+)
    """
)


def _may_hold_secret(text: str) -> bool:
    # Plain substring tests first: the regex costs microseconds on every DEBUG line.
    lowered = text.lower()
    return (
        "authorization" in lowered or "api-key" in lowered or "bearer" in lowered
    ) and _SECRET.search(text) is not None


def _redact(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group("head") or m.group("bearer")) + "***", text)


class RedactingFilter(logging.Filter):
    """Replaces ``Authorization`` / ``X-Api-Key`` values and Bearer tokens in logs with ``***``.

    It rewrites a record's message, traceback and stack text, and never drops a record.

    The ``calleague_async`` logger has one already; add one to your own handlers to cover
    other loggers (aiohttp's, your own) too:

    >>> handler = logging.StreamHandler()
    >>> handler.addFilter(ca.RedactingFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; never drops it."""
        message = record.getMessage()
        if _may_hold_secret(message):
            record.msg, record.args = _redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatted here, once: handlers reuse exc_text rather than format it again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and _may_hold_secret(record.exc_text):
            record.exc_text = _redact(record.exc_text)
        if record.stack_info and _may_hold_secret(record.stack_info):
            record.stack_info = _redact(record.stack_info)
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)

    def flush(self) -> None:
        self.stream = sys.stderr
        super().flush()


LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "off": logging.NOTSET,
}
"""The names ``enable_logging`` and ``CALLEAGUE_LOG`` take."""

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def enable_logging(level: str = "info") -> None:
    """Print the SDK's log lines to stderr from ``level`` up; ``"off"`` undoes it.

    ``level`` is ``"debug"`` (adds one line per reply), ``"info"`` (retries, limiter pauses,
    failed calls), ``"warning"``, ``"error"`` or ``"off"``. Calling it again changes the level;
    it never adds a second handler. ``CALLEAGUE_LOG=debug`` in the environment does the same at
    import. Records still propagate to your own logging set-up too.

    >>> ca.enable_logging("debug")
    """
    number = LEVELS.get(level.lower()) if isinstance(level, str) else None
    if number is None:
        raise ConfigurationError(
            f"logging level must be one of {', '.join(LEVELS)} (got {level!r})"
        )
    ours = [h for h in log.handlers if isinstance(h, _StderrHandler)]
    if number == logging.NOTSET:
        for handler in ours:
            log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
        return
    if not ours:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RedactingFilter())
        log.addHandler(handler)
    log.setLevel(number)


def _set_up_logging() -> None:
    """At import: a NullHandler, redaction on the logger, then ``CALLEAGUE_LOG``.

    The NullHandler keeps Python's last-resort handler from printing our warnings to stderr
    unasked.
    """
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    if not any(isinstance(f, RedactingFilter) for f in log.filters):
        log.addFilter(RedactingFilter())
    wanted = os.environ.get("CALLEAGUE_LOG", "").strip()
    if wanted:
        try:
            enable_logging(wanted)
        except ConfigurationError as exc:  # a typo in the environment must not stop imports
            warnings.warn(f"CALLEAGUE_LOG ignored: {exc}", RuntimeWarning, stacklevel=2)


_set_up_logging()


# -- OpenTelemetry ----------------------------------------------------------------------------


class _NoRecord:
    __slots__ = ()

    def record(
        self,
        *,
        attempts: int,
        limiter_wait: float,
        status: int | None,
        error: BaseException | None,
        request_id: str | None = None,
    ) -> None:
        """Nothing to record without OpenTelemetry."""


class NoSpan:
    """The span of a call when OpenTelemetry is not active: does nothing, shared."""

    __slots__ = ()

    def __enter__(self) -> _NoRecord:
        return _NO_RECORD

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NO_RECORD = _NoRecord()
NO_SPAN = NoSpan()


def _type_name(cls: type[BaseException]) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class CallSpan:
    """One OpenTelemetry span around one logical SDK call (all its attempts).

    Attributes: ``calleague.route`` (the template), ``calleague.attempts``,
    ``calleague.limiter_wait_s``, ``http.response.status_code``, ``calleague.request_id``; on
    failure status ERROR and ``error.type`` (the exception's class: never its message, which
    may quote a server's body). A cancelled call is not an error: ``calleague.cancelled``.
    What :meth:`record` says wins: the exception seen on exit counts only if ``record`` was
    never called (``sys.exc_info()`` in a ``finally`` may name an exception the caller is
    handling, not one leaving the call).
    """

    __slots__ = ("_cm", "_recorded", "_span")

    def __init__(self, tracer: Tracer, operation: str, route: str) -> None:
        # OpenTelemetry's own exception handling would put the message in the span: off.
        self._cm = tracer.start_as_current_span(
            operation,
            attributes={"calleague.route": route},
            record_exception=False,
            set_status_on_exception=False,
        )
        self._recorded = False
        self._span: Span | None = None

    def __enter__(self) -> CallSpan:
        self._span = self._cm.__enter__()
        return self

    def record(
        self,
        *,
        attempts: int,
        limiter_wait: float,
        status: int | None,
        error: BaseException | None,
        request_id: str | None = None,
    ) -> None:
        """What the call came to: set on the span before it ends."""
        span = self._span
        if span is None or not span.is_recording():
            return
        self._recorded = True
        attributes: dict[str, int | float | str] = {
            "calleague.attempts": attempts,
            "calleague.limiter_wait_s": float(limiter_wait),
        }
        if status is not None:
            attributes["http.response.status_code"] = status
        if request_id is not None:
            attributes["calleague.request_id"] = request_id
        span.set_attributes(attributes)
        if error is not None:
            self._fail(type(error))

    def _fail(self, cls: type[BaseException]) -> None:
        from opentelemetry.trace import Status, StatusCode

        assert self._span is not None
        if issubclass(cls, asyncio.CancelledError):
            self._span.set_attribute("calleague.cancelled", True)
            return
        self._span.set_attribute("error.type", _type_name(cls))
        self._span.set_status(Status(StatusCode.ERROR))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Left by an exception the pipeline did not record (cancellation, a bug): still shown.
        span = self._span
        if exc_type is not None and not self._recorded and span is not None and span.is_recording():
            self._fail(exc_type)
        self._cm.__exit__(exc_type, exc, tb)
