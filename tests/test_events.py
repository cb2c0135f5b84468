"""Events: hooks, log lines, redaction, OpenTelemetry spans, and the switches that turn them on."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, StatusCode

import calleague_async as ca
from calleague_async import _events
from calleague_async._events import EVENTS, NO_SPAN, Events, RequestEvent, enable_logging
from calleague_async.errors import ConfigurationError, NotFoundError, ServerError

OP, METHOD, ROUTE = "calls.get", "GET", "GET /api/core/voice/call/{call_id}"
PHONE = "+905551230001"
KEY = "sk_live_0123456789abcdef"


def event(kind: str, **fields: Any) -> RequestEvent:
    return RequestEvent(
        event=kind, operation=OP, method=METHOD, route=ROUTE, **{"attempt": 1, **fields}
    )


# One logical call as the pipeline reports it: a 503, a retry, a limiter pause, then a 200.
SEQUENCE = [
    event("request_sent"),
    event("response_received", status=503, elapsed=0.012, request_id="req_1"),
    event("retry_scheduled", wait=0.5, reason="ServerError 503", elapsed=0.013),
    event("limiter_wait", attempt=2, wait=0.25),
    event("request_sent", attempt=2),
    event("response_received", attempt=2, status=200, elapsed=0.009, request_id="req_2"),
]


@pytest.fixture(autouse=True)
def package_logger() -> Iterator[logging.Logger]:
    """Each test gets the package logger as import left it, and leaves it that way."""
    logger = logging.getLogger("calleague_async")
    saved = logger.level, list(logger.handlers), list(logger.filters), logger.propagate
    yield logger
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.filters[:] = saved[2]
    logger.propagate = saved[3]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    # A provider of the test's own: OpenTelemetry's global one can be set once per process.
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CALLEAGUE_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- hooks -------------------------------------------------------------------------------------


async def test_hooks_get_every_event_of_a_call_in_order_with_its_fields() -> None:
    seen: list[RequestEvent] = []
    events = Events({name: seen.append for name in EVENTS})

    for e in SEQUENCE:
        await events.emit(e)

    assert seen == SEQUENCE
    assert [e.event for e in seen] == [
        "request_sent",
        "response_received",
        "retry_scheduled",
        "limiter_wait",
        "request_sent",
        "response_received",
    ]
    reply = seen[1]
    assert (reply.operation, reply.method, reply.route) == (OP, METHOD, ROUTE)
    assert (reply.attempt, reply.status, reply.elapsed, reply.request_id) == (
        1,
        503,
        0.012,
        "req_1",
    )
    assert (seen[2].wait, seen[2].reason) == (0.5, "ServerError 503")
    assert (seen[3].attempt, seen[3].wait) == (2, 0.25)


async def test_async_and_plain_hooks_of_one_event_run_in_registration_order() -> None:
    order: list[str] = []

    def first(e: RequestEvent) -> None:
        order.append("first")

    async def second(e: RequestEvent) -> None:
        await asyncio.sleep(0)
        order.append("second")

    def third(e: RequestEvent) -> None:
        order.append("third")

    events = Events({"response_received": [first, second, third]})
    await events.emit(SEQUENCE[1])

    assert order == ["first", "second", "third"]


async def test_a_hook_hears_only_the_event_it_subscribed_to() -> None:
    errors: list[RequestEvent] = []
    events = Events({"error": errors.append})
    failure = NotFoundError("no such call", status_code=404)

    for e in SEQUENCE:
        await events.emit(e)
    await events.emit(event("error", status=404, error=failure, elapsed=0.01))

    assert len(errors) == 1
    assert errors[0].error is failure


def test_an_event_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        SEQUENCE[0].status = 200  # type: ignore[misc]


@pytest.mark.parametrize("kind", ["plain", "async"])
async def test_a_raising_hook_is_logged_with_its_traceback_and_the_others_still_run(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    def plain(e: RequestEvent) -> None:
        raise RuntimeError("hook bug")

    async def asynchronous(e: RequestEvent) -> None:
        raise RuntimeError("hook bug")

    after: list[RequestEvent] = []
    events = Events(
        {"response_received": [plain if kind == "plain" else asynchronous, after.append]}
    )

    await events.emit(SEQUENCE[1])  # does not raise

    assert after == [SEQUENCE[1]]
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.name == "calleague_async"
    assert "response_received hook" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


async def test_cancellation_inside_an_async_hook_is_not_swallowed() -> None:
    async def cancelled(e: RequestEvent) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await Events({"request_sent": cancelled}).emit(SEQUENCE[0])


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ({"response": print}, "'response' is not an event"),
        ({"request_sent": "print"}, "must be a callable"),
        ({"request_sent": [print, 42]}, "must be a callable"),
        ({"error": None}, "must be a callable"),
        ([("request_sent", print)], "hooks must be a mapping"),
    ],
)
def test_bad_hooks_are_refused_when_the_events_are_built(hooks: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Events(hooks)


def test_hooks_may_be_one_callable_a_list_or_a_tuple() -> None:
    assert Events({"request_sent": print, "error": [print], "limiter_wait": (print, print)}).enabled


# -- enabled ------------------------------------------------------------------------------------


def test_enabled_is_false_with_no_hook_no_logging_and_no_tracer() -> None:
    events = Events()
    assert not events.enabled
    assert not Events({"request_sent": []}).enabled  # an empty list is no hook
    assert events.span(OP, ROUTE) is NO_SPAN


def test_enabled_follows_the_package_loggers_level_after_the_events_were_built(
    package_logger: logging.Logger,
) -> None:
    events = Events()
    package_logger.setLevel(logging.INFO)
    assert events.enabled
    package_logger.setLevel(logging.DEBUG)
    assert events.enabled
    package_logger.setLevel(logging.WARNING)
    assert not events.enabled


def test_enabled_when_the_root_logger_is_at_info() -> None:
    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.INFO)
    try:
        assert Events().enabled
    finally:
        root.setLevel(saved)


def test_enabled_with_a_hook_or_a_real_tracer_provider(provider: TracerProvider) -> None:
    assert Events({"error": print}).enabled
    assert Events(tracer_provider=provider).enabled
    assert not Events(tracer_provider=NoOpTracerProvider()).enabled


def test_enabled_turns_on_when_a_global_provider_is_configured_later() -> None:
    # In a process of its own: OpenTelemetry's global provider can be set only once.
    result = run_python(
        "import sys\n"
        "from calleague_async._events import Events\n"
        "events = Events()\n"
        "assert not events.enabled\n"
        "assert 'opentelemetry' not in sys.modules  # never imported by the SDK itself\n"
        "from opentelemetry import trace\n"
        "assert not events.enabled  # imported, not configured: the proxy provider\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "assert events.enabled\n"
        "with events.span('calls.get', 'GET /api/core/voice/call/{call_id}') as span:\n"
        "    span.record(attempts=1, limiter_wait=0.0, status=200, error=None)\n"
        "print([s.name for s in exporter.get_finished_spans()])\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['calls.get']"


def test_a_provider_named_in_the_environment_turns_tracing_on() -> None:
    result = run_python(
        "import opentelemetry.trace\n"
        "from calleague_async._events import Events\n"
        "print(Events().enabled)\n",
        OTEL_PYTHON_TRACER_PROVIDER="sdk_tracer_provider",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# -- log lines ----------------------------------------------------------------------------------


async def test_log_lines_per_reply_at_debug_and_per_retry_pause_and_failure_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="calleague_async")
    events = Events()
    for e in SEQUENCE:
        await events.emit(e)
    failure = NotFoundError(f"no call for {PHONE}", status_code=404)
    await events.emit(
        event("error", attempt=3, status=404, elapsed=0.0123, request_id="req_3", error=failure)
    )

    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("DEBUG", f"{OP} {ROUTE} -> 503 (attempt 1, 12.0 ms, request id req_1)"),
        ("INFO", f"{OP} {ROUTE}: attempt 1 failed (ServerError 503), retrying in 0.50 s"),
        ("INFO", f"{OP} {ROUTE}: waited 0.25 s in the rate limiter before attempt 2"),
        ("DEBUG", f"{OP} {ROUTE} -> 200 (attempt 2, 9.0 ms, request id req_2)"),
        ("INFO", f"{OP} {ROUTE} failed: NotFoundError 404 (attempt 3, 12.3 ms, request id req_3)"),
    ]
    assert PHONE not in caplog.text  # the error's message is never logged


async def test_info_logging_leaves_out_the_per_reply_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="calleague_async")
    events = Events()
    for e in SEQUENCE:
        await events.emit(e)
    await events.emit(event("error", error=ServerError("down", status_code=503)))

    assert [r.levelname for r in caplog.records] == ["INFO", "INFO", "INFO"]
    assert caplog.records[-1].getMessage() == (
        f"{OP} {ROUTE} failed: ServerError (attempt 1, -, request id -)"
    )


async def test_nothing_is_logged_with_logging_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="calleague_async")
    events = Events({"request_sent": lambda e: None})
    for e in SEQUENCE:
        await events.emit(e)
    assert caplog.records == []


# -- redaction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer ***"),
        (f"authorization=Bearer {KEY}; next", "authorization=Bearer ***; next"),
        (
            f"{{'Authorization': 'Bearer {KEY}', 'Accept': 'x'}}",
            "{'Authorization': 'Bearer ***', 'Accept': 'x'}",
        ),
        (f'{{"X-Api-Key": "{KEY}"}}', '{"X-Api-Key": "***"}'),
        (f"x-api-key: {KEY}", "x-api-key: ***"),
        (f"Authorization: {KEY}", "Authorization: ***"),
        (f"sent with bearer {KEY} to the API", "sent with bearer *** to the API"),
        ("missing Authorization header", "missing Authorization header"),
        ("GET /api/core/voice/call/{call_id} -> 200", "GET /api/core/voice/call/{call_id} -> 200"),
    ],
)
def test_redacting_filter_hides_header_values_and_bearer_tokens(text: str, shown: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (text,), None)
    assert ca.RedactingFilter().filter(record) is True
    assert record.getMessage() == shown


def test_redacting_filter_hides_tokens_in_a_traceback() -> None:
    try:
        raise ValueError(f"bad header Authorization: Bearer {KEY}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    ca.RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert KEY not in text
    assert "Authorization: Bearer ***" in text


def test_the_package_logger_redacts_before_any_handler_sees_the_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # caplog's handler sits on the root logger, like a user's own logging set-up.
    caplog.set_level(logging.INFO, logger="calleague_async")
    logging.getLogger("calleague_async").info("headers: %s", {"Authorization": f"Bearer {KEY}"})
    assert KEY not in caplog.text
    assert "'Authorization': 'Bearer ***'" in caplog.text


# -- enable_logging, CALLEAGUE_LOG, the NullHandler ---------------------------------------------


def test_enable_logging_prints_to_stderr_and_is_idempotent(
    package_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    ca.enable_logging("debug")
    ca.enable_logging("debug")
    ca.enable_logging("INFO")

    ours = [h for h in package_logger.handlers if isinstance(h, logging.StreamHandler)]
    assert len(ours) == 1
    assert package_logger.level == logging.INFO
    package_logger.debug("not shown at info")
    package_logger.info("shown with Authorization: Bearer %s", KEY)
    err = capsys.readouterr().err
    assert "not shown" not in err
    assert " INFO calleague_async: shown with Authorization: Bearer ***" in err
    assert KEY not in err


def test_enable_logging_off_removes_the_handler_and_the_level(
    package_logger: logging.Logger,
) -> None:
    enable_logging("info")
    enable_logging("off")
    assert package_logger.level == logging.NOTSET
    assert not [h for h in package_logger.handlers if isinstance(h, logging.StreamHandler)]
    assert not Events().enabled


@pytest.mark.parametrize("level", ["verbose", "", 10])
def test_enable_logging_refuses_unknown_levels(level: Any) -> None:
    with pytest.raises(ConfigurationError, match="logging level must be one of"):
        enable_logging(level)


def test_calleague_log_in_the_environment_turns_logging_on_at_import() -> None:
    result = run_python(
        "import logging, calleague_async\n"
        "log = logging.getLogger('calleague_async')\n"
        "print(logging.getLevelName(log.level))\n"
        f"log.debug('request with Authorization: Bearer {KEY}')\n",
        CALLEAGUE_LOG="debug",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "DEBUG"
    assert "DEBUG calleague_async: request with Authorization: Bearer ***" in result.stderr
    assert KEY not in result.stderr


def test_an_unknown_calleague_log_warns_and_the_import_goes_on() -> None:
    result = run_python(
        "import logging, calleague_async\nprint(logging.getLogger('calleague_async').level)\n",
        CALLEAGUE_LOG="loud",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
    assert "CALLEAGUE_LOG ignored" in result.stderr


def test_the_package_logger_has_a_null_handler(package_logger: logging.Logger) -> None:
    assert any(isinstance(h, logging.NullHandler) for h in package_logger.handlers)


def test_a_warning_on_the_package_logger_reaches_no_stderr_unasked() -> None:
    result = run_python(
        "import logging, calleague_async\n"
        "logging.getLogger('calleague_async').warning('Call.status has an unexpected value')\n"
    )
    assert result.returncode == 0
    assert result.stderr == ""


# -- OpenTelemetry -------------------------------------------------------------------------------


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


def shown_anywhere(span: ReadableSpan) -> str:
    """Everything a tracing backend would display for ``span``."""
    return repr(
        (
            span.name,
            dict(span.attributes or {}),
            span.status.description,
            [(e.name, dict(e.attributes or {})) for e in span.events],
        )
    )


def test_one_span_per_call_named_by_operation_with_route_attempts_and_limiter_wait(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    events = Events(tracer_provider=provider)
    with events.span(OP, ROUTE) as span:
        span.record(attempts=2, limiter_wait=0.25, status=200, error=None, request_id="req_2")

    finished = only_span(exporter)
    assert finished.name == "calls.get"
    assert dict(finished.attributes or {}) == {
        "calleague.route": ROUTE,
        "calleague.attempts": 2,
        "calleague.limiter_wait_s": 0.25,
        "http.response.status_code": 200,
        "calleague.request_id": "req_2",
    }
    assert finished.status.status_code is StatusCode.UNSET


def test_a_failed_call_has_error_status_and_the_error_type_never_its_message(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    events = Events(tracer_provider=provider)
    failure = NotFoundError(f"no call to {PHONE} for Bearer {KEY}", status_code=404)
    with pytest.raises(NotFoundError), events.span(OP, ROUTE) as span:
        span.record(attempts=1, limiter_wait=0.0, status=404, error=failure)
        raise failure

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.attributes is not None
    assert finished.attributes["error.type"] == "calleague_async.NotFoundError"
    assert finished.attributes["http.response.status_code"] == 404
    assert PHONE not in shown_anywhere(finished)
    assert KEY not in shown_anywhere(finished)
    assert "no call" not in shown_anywhere(finished)


def test_an_exception_the_pipeline_did_not_record_still_marks_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(KeyError), Events(tracer_provider=provider).span(OP, ROUTE):
        raise KeyError(PHONE)

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.ERROR
    assert (finished.attributes or {})["error.type"] == "KeyError"
    assert PHONE not in shown_anywhere(finished)


def test_a_cancelled_call_is_marked_cancelled_not_failed(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(asyncio.CancelledError), Events(tracer_provider=provider).span(OP, ROUTE):
        raise asyncio.CancelledError

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.UNSET
    assert (finished.attributes or {})["calleague.cancelled"] is True


def test_a_recorded_cancellation_is_marked_cancelled(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with Events(tracer_provider=provider).span(OP, ROUTE) as span:
        span.record(attempts=1, limiter_wait=0.0, status=None, error=asyncio.CancelledError())

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.UNSET
    assert (finished.attributes or {})["calleague.cancelled"] is True


def test_what_record_says_wins_over_the_exception_seen_on_exit(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    # A caller handling its own KeyError: sys.exc_info() in the pipeline's finally names it.
    context = Events(tracer_provider=provider).span(OP, ROUTE)
    span = context.__enter__()
    span.record(attempts=1, limiter_wait=0.0, status=200, error=None)
    stale = KeyError("the caller's own")
    context.__exit__(KeyError, stale, None)

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.UNSET
    assert "error.type" not in (finished.attributes or {})


def test_spans_inside_the_call_span_are_its_children(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    # What aiohttp-client instrumentation's per-attempt spans become inside our span.
    tracer = provider.get_tracer("test")
    with Events(tracer_provider=provider).span(OP, ROUTE) as span:
        with tracer.start_as_current_span("GET"):
            pass
        span.record(attempts=1, limiter_wait=0.0, status=200, error=None)

    child, parent = exporter.get_finished_spans()
    assert child.parent is not None
    assert parent.context is not None
    assert child.parent.span_id == parent.context.span_id


def test_without_opentelemetry_the_span_is_a_shared_noop() -> None:
    events = Events({"error": print})  # enabled by a hook, but no tracer
    context = events.span(OP, ROUTE)
    assert context is _events.NO_SPAN
    with context as span:
        span.record(attempts=1, limiter_wait=0.0, status=200, error=None)
