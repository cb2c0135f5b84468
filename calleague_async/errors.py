"""Every exception the SDK raises, rooted at :class:`CalleagueError`.

Each class says *when* it is raised. None of them ever carries the API key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from multidict import CIMultiDict, MultiMapping

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CalleagueError",
    "ConfigurationError",
    "ConflictError",
    "DuplicateError",
    "InvalidResponseError",
    "InvalidWebhookError",
    "LimiterTimeoutError",
    "NotFoundError",
    "NotSentError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ServerError",
    "UnprocessableEntityError",
    "ValidationError",
    "WebhookVerificationError",
]


def _rebuild(cls: type[CalleagueError], args: tuple[Any, ...]) -> CalleagueError:
    """Unpickle an error without calling its ``__init__``; its attributes come back as state."""
    error = cls.__new__(cls)
    error.args = args
    return error


class CalleagueError(Exception):
    """Base class of every error this SDK raises.

    Every one pickles (multiprocessing, Celery, pytest-xdist) with its type, message and
    attributes, whatever its ``__init__`` takes.

    An error a request ended with also says how it went: ``attempts`` (requests sent, retries
    included; 0 when nothing was sent), ``request_id`` (the server's id of the last reply, when
    it sent one), ``history`` (what each earlier attempt got, e.g. ``"502 Bad Gateway"``) and
    ``may_have_acted`` (whether any attempt failed after it may have reached the server: for a
    request that is not safe to repeat, its effect is then unknown) and ``sent`` (whether any
    attempt left the rate limiter and began to be written to the server: False for a request
    refused client-side, held by the limiter, or whose every connection failed to open).
    """

    attempts: int = 0
    may_have_acted: bool = False
    sent: bool = False
    request_id: str | None = None
    history: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as ``type(*args)``, which keyword-only __init__s refuse.
        state = dict(self.__dict__)
        if isinstance(self.__cause__, CalleagueError):  # ours pickle; others may not
            state["__cause__"] = self.__cause__
        return _rebuild, (type(self), self.args), state


class ConfigurationError(CalleagueError):
    """The session cannot be built or used as asked.

    No API key, an unsafe base URL, a bad path or option; or a session used from another event
    loop than the one it opened on (make one session per loop).
    """


class ValidationError(CalleagueError, ValueError):
    """An argument was refused client-side, before any request was sent.

    ``field`` names the argument at fault (``"to"``, ``"page_size"``, ``"metadata"`` ...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class DuplicateError(ValidationError):
    """A request ``start_many`` did not send: its person is already dialed, or being dialed.

    By an earlier request of the batch, or by a dialer of the campaign's ledger.

    ``number`` is the normalised number; ``duplicate_of`` the ``index`` of the earlier request
    of the batch with it (``None`` when the campaign's ledger holds it); ``ledger_state`` the
    ledger's state for it (``"claimed"``, ``"placed"``, ``"failed"``, ``"unknown"``), or
    ``None`` for a duplicate within the batch. Nothing was sent.
    """

    def __init__(
        self,
        message: str,
        *,
        number: str,
        duplicate_of: int | None = None,
        ledger_state: str | None = None,
    ) -> None:
        super().__init__("to", message)
        self.number = number
        self.duplicate_of = duplicate_of
        self.ledger_state = ledger_state


class NotSentError(CalleagueError):
    """A request a batch had taken in but never sent: the batch was closed or cancelled first.

    Raised into no one: :meth:`~calleague_async.resources.Calls.start_many` reports it on the
    request's result (in ``batch.unyielded``) when the batch stops early. Nothing reached the
    server, or every attempt that did was refused in a way that proves nothing happened (a
    429, a 503): the call can be placed later. ``attempts`` counts the refused attempts.
    """


class APIConnectionError(CalleagueError):
    """No usable HTTP reply arrived: the connection failed, dropped, or the body was cut off.

    ``request_sent`` is False only when the connection never opened, which proves the server
    did nothing; otherwise the request may have reached the server.
    """

    def __init__(self, message: str, *, method: str, path: str, request_sent: bool = True) -> None:
        super().__init__(f"{message} ({method} {path})")
        self.method = method
        self.path = path
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The request did not complete within its timeout."""


class APIError(CalleagueError):
    """The server answered with an error (a non-2xx status, or an envelope whose ``code`` says so).

    Attributes: ``status_code`` (the effective status), ``code`` (the server's own code, if any),
    ``message`` (human-readable), ``request_id`` (when the server sent one), ``body`` (the parsed
    JSON body, or the raw text when it was not JSON) and ``headers`` (a case-insensitive copy of
    the reply's headers).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | int | None = None,
        request_id: str | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        where = f" ({method} {path})" if method else ""
        rid = f" [request_id={request_id}]" if request_id else ""
        super().__init__(f"{status_code}: {message}{where}{rid}")
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body: object = body
        self.headers: Mapping[str, str] = _copy_headers(headers)
        self.method = method
        self.path = path


class BadRequestError(APIError):
    """400: the request was malformed or missed a field."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the key is valid but its account may not do this."""


class QuotaExceededError(APIError):
    """402: the account's quota is spent (seed 003: "Monthly minute limit reached").

    Nothing was done, and waiting a few seconds will not help: it is not retried.
    """


class NotFoundError(APIError):
    """404: unknown id or path."""


class ConflictError(APIError):
    """409: the resource's state blocks the action."""


class UnprocessableEntityError(APIError):
    """422: valid JSON but invalid values (e.g. a phone number the server refuses)."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: a problem on the server's side; ``retry_after`` is set when the server sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InvalidResponseError(APIError):
    """A 2xx reply whose body is not the JSON the endpoint promises (cut off, HTML, wrong shape)."""


class ResponseTooLargeError(InvalidResponseError):
    """A 2xx reply's body grew past ``max_response_size`` (decoded) while it was being read.

    Reading stopped there, so a compressed or endless body cannot exhaust memory. A safe
    request is retried once; a call-creating one raises :class:`OutcomeUnknownError`.
    ``limit`` is the cap in bytes.
    """

    def __init__(self, message: str, *, limit: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class RedirectError(APIError):
    """The server answered with a redirect the SDK refuses to follow.

    Requests that are not safe to repeat (placing a call) never follow a redirect: the phone
    number would be sent to wherever the server points. Safe requests follow same-origin
    redirects only, never to plain http, and at most a few hops. ``location`` is the target.
    """

    def __init__(self, message: str, *, location: str | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class LimiterTimeoutError(CalleagueError, TimeoutError):
    """The client-side rate limiter would hold this request longer than ``max_wait`` allows.

    Raised at once, before any waiting, and nothing was sent. ``route`` is the
    ``"METHOD /path/template"`` key, ``wait`` the expected wait in seconds, ``max_wait`` the
    bound it broke, and ``reason`` why the limiter holds the request: which reply taught it
    that, and when (``"429 on GET /api/core/voice/call/{call_id} with Retry-After 3600s at
    2025-06-01T12:00:00Z"``), or the configured limit and the queue ahead.
    """

    def __init__(self, route: str, wait: float, max_wait: float, *, reason: str = "") -> None:
        because = f": {reason}" if reason else ""
        super().__init__(
            f"{route}: the rate limiter would wait {wait:.2f}s, more than "
            f"max_wait={max_wait:g}s{because}"
        )
        self.route = route
        self.wait = wait
        self.max_wait = max_wait
        self.reason = reason


class OutcomeUnknownError(CalleagueError):
    """A call-creating request failed in a way that leaves open whether the call was placed.

    A 500, a timeout after sending, a dropped connection or a cut-off reply: the server may
    have dialed. The request was not retried, so nobody is dialed twice. Check before trying
    again (e.g. ``calls.list`` and your ``metadata``), or retry with the same
    ``idempotency_key`` on a server that honours it. ``request`` is the JSON body that was
    sent, ``idempotency_key`` the key sent with it, ``cause`` the failure (also ``__cause__``).
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        request: Any,
        idempotency_key: str | None,
        cause: CalleagueError,
    ) -> None:
        super().__init__(
            f"outcome unknown for {method} {path}: {cause}; the call may have been placed "
            f"(Idempotency-Key {idempotency_key})"
        )
        self.method = method
        self.path = path
        self.request = request
        self.idempotency_key = idempotency_key
        self.cause = cause


class WebhookVerificationError(CalleagueError):
    """A webhook delivery failed its signature check: answer it 4xx and do not act on it.

    Raised by :func:`~calleague_async.parse_webhook` given a ``secret``. ``reason`` says
    which check failed, in words safe to log (never the secret, never the expected signature):
    ``"missing header webhook-signature"``, ``"invalid header webhook-timestamp"``,
    ``"timestamp outside tolerance"`` or ``"no signature matched"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook verification failed: {reason}")
        self.reason = reason


class InvalidWebhookError(CalleagueError, ValueError):
    """A webhook delivery's body is not an event: not JSON, not a JSON object, or cut off.

    Raised by :func:`~calleague_async.parse_webhook` (after any signature check passed).
    ``reason`` says what was wrong with it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid webhook payload: {reason}")
        self.reason = reason


def _copy_headers(headers: Mapping[str, str] | None) -> CIMultiDict[str]:
    """A case-insensitive copy of a reply's headers that pickles (aiohttp's proxy does not)."""
    if headers is None:
        return CIMultiDict()
    try:
        return CIMultiDict(headers)
    except TypeError:  # a mapping with keys that are not strings
        return CIMultiDict((str(k), str(v)) for k, v in headers.items())


_ErrorT = TypeVar("_ErrorT", bound=BaseException)

_MASK = "***"
# Nested JSON deeper than this is replaced whole: the SDK caps the bodies it keeps far below.
_MAX_SCRUB_DEPTH = 200


def scrub_error(error: _ErrorT, secrets: Iterable[str]) -> _ErrorT:
    """Remove every ``secret`` from ``error`` in place and return it: each becomes ``***``.

    The message (``args``) and every attribute (``message``, ``body``, ``headers``, ``request``,
    ``cause`` ...) are scrubbed, through nested JSON, header multidicts and the SDK's chained
    errors (``cause``, ``__cause__``, ``__context__``), so a server that echoes the API key
    (``"Invalid API key sk_..."``, ``"Bearer sk_..."``) cannot put it in an error. The forms a
    server may echo it in (as is, percent-encoded, JSON-escaped) are all matched.

    >>> scrub_error(CalleagueError("bad key sk_123"), ["sk_123"]).args
    ('bad key ***',)
    """
    variants: set[str] = set()
    for secret in secrets:
        if secret:
            variants |= {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    if variants:
        # Longest first, so no variant is left half-replaced by a shorter one.
        _scrub_error(error, sorted(variants, key=len, reverse=True), set())
    return error


def _scrub_error(error: BaseException, secrets: list[str], seen: set[int]) -> None:
    if id(error) in seen:
        return
    seen.add(id(error))
    if not isinstance(error, CalleagueError):
        return  # another library's exception: its args may carry meaning (OSError's errno)
    error.args = tuple(_scrub(arg, secrets, seen, 0) for arg in error.args)
    state = error.__dict__
    for name, value in list(state.items()):
        state[name] = _scrub(value, secrets, seen, 0)
    for chained in (error.__cause__, error.__context__):
        if chained is not None:
            _scrub_error(chained, secrets, seen)


def _scrub(value: Any, secrets: list[str], seen: set[int], depth: int) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, _MASK)
        return value
    if isinstance(value, bytes | bytearray):
        for secret in secrets:
            value = value.replace(secret.encode("utf-8", "surrogatepass"), _MASK.encode())
        return value
    if isinstance(value, BaseException):
        _scrub_error(value, secrets, seen)
        return value
    if not isinstance(value, Mapping | list | tuple):
        return value
    if depth >= _MAX_SCRUB_DEPTH:
        return "<nested too deeply>"
    depth += 1
    if isinstance(value, MultiMapping):
        return CIMultiDict(
            (_scrub(k, secrets, seen, depth), _scrub(v, secrets, seen, depth))
            for k, v in value.items()
        )
    if isinstance(value, Mapping):
        return {
            _scrub(k, secrets, seen, depth): _scrub(v, secrets, seen, depth)
            for k, v in value.items()
        }
    items = [_scrub(v, secrets, seen, depth) for v in value]
    return items if isinstance(value, list) else tuple(items)
