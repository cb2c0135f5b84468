"""Raw responses: what an exchange looked like (status, headers, request id, attempts, time).

``s.calls.with_raw_response.get(...)`` runs the plain method while the pipeline notes the final
reply of the call in a :class:`Capture` (a context variable, so concurrent calls never mix);
the wrapper then hands back a :class:`RawResponse` whose :meth:`~RawResponse.parse` gives the
model the plain method returned.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, ParamSpec, TypeVar

import attrs

T = TypeVar("T")
P = ParamSpec("P")


@attrs.define
class Capture:
    """Filled in by the pipeline for the one call made while it is set."""

    status: int = 0
    headers: Mapping[str, str] = attrs.field(factory=dict)
    request_id: str | None = None
    attempts: int = 0
    elapsed: float = 0.0


CAPTURE: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "calleague_async_capture", default=None
)


@attrs.frozen(kw_only=True)
class RawResponse(Generic[T]):
    """One call as it went over the wire, and its result.

    ``status`` and ``headers`` are the final reply's; ``request_id`` is the server's request id
    (``X-Request-Id`` and kin); ``attempts`` counts the requests sent, retries included;
    ``elapsed`` is seconds from the call to its result, limiter waits and retries included.

    >>> raw = await s.calls.with_raw_response.get("cl_8f2a")
    >>> raw.status, raw.request_id, raw.attempts
    (200, 'req_...', 1)
    >>> call = raw.parse()
    """

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    request_id: str | None
    attempts: int
    elapsed: float
    _parsed: T = attrs.field(repr=False, alias="parsed")

    def parse(self) -> T:
        """The model (or value) the plain method returns."""
        return self._parsed


def raw(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """``method`` made to return a :class:`RawResponse` around its result."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        capture = Capture()
        token = CAPTURE.set(capture)
        try:
            result = await method(*args, **kwargs)
        finally:
            CAPTURE.reset(token)
        return RawResponse(
            status=capture.status,
            headers=capture.headers,
            request_id=capture.request_id,
            attempts=capture.attempts,
            elapsed=capture.elapsed,
            parsed=result,
        )

    return call
