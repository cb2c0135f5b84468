"""Every exception the SDK raises, rooted at :class:`CalleagueError`.

Each class says *when* it is raised. None of them ever carries the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CalleagueError",
    "ConfigurationError",
    "ConflictError",
    "InvalidResponseError",
    "LimiterTimeoutError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnprocessableEntityError",
    "ValidationError",
]


class CalleagueError(Exception):
    """Base class of every error this SDK raises."""


class ConfigurationError(CalleagueError):
    """The session cannot be built as asked: no API key, an unsafe base URL, a bad path."""


class ValidationError(CalleagueError, ValueError):
    """An argument was refused client-side, before any request was sent.

    ``field`` names the argument at fault (``"to"``, ``"page_size"``, ``"metadata"`` ...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


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
    JSON body, or the raw text when it was not JSON) and ``headers`` (the reply's headers).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | int | None = None,
        request_id: str | None = None,
        body: Any = None,
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
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.method = method
        self.path = path


class BadRequestError(APIError):
    """400: the request was malformed or missed a field."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the key is valid but its account may not do this."""


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


class LimiterTimeoutError(CalleagueError, TimeoutError):
    """The client-side rate limiter would hold this request longer than ``max_wait`` allows.

    Nothing was sent. ``route`` is the ``"METHOD /path"`` key, ``wait`` the expected wait.
    """

    def __init__(self, route: str, wait: float, max_wait: float) -> None:
        super().__init__(
            f"{route}: the rate limiter would wait {wait:.2f}s, more than max_wait={max_wait:g}s"
        )
        self.route = route
        self.wait = wait
        self.max_wait = max_wait


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
