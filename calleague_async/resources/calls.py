"""``s.calls``: start a call, look one up, list them; transfer, end and annotate live calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Literal, Required, TypedDict, overload

import attrs

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async._limits import BATCH_MAX_WAIT, queueing
from calleague_async._options import NOT_GIVEN, NotGiven
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async._raw import RawResponse, raw
from calleague_async.errors import CalleagueError, OutcomeUnknownError, ValidationError
from calleague_async.models import Call, CallStatus
from calleague_async.resources._base import DEFAULT_PAGE_SIZE, Resource, with_extra_body
from calleague_async.resources._reply import with_id


@attrs.frozen(kw_only=True)
class CallRequest:
    """One call to place with :meth:`Calls.start_many`: who dials whom, with your metadata.

    ``idempotency_key`` is sent as the ``Idempotency-Key`` header; one is made if not given.
    """

    agent_id: str
    to: str
    metadata: dict[str, Any] | None = None
    idempotency_key: str | None = None


class CallRequestDict(TypedDict, total=False):
    """A :class:`CallRequest` as a ``dict``, which :meth:`Calls.start_many` takes too.

    Annotate a list of leads with it and a misspelt key fails the type check, not the batch::

        leads: list[ca.CallRequestDict] = [{"agent_id": "ag_123", "to": "+905551230001"}]
    """

    agent_id: Required[str]
    to: Required[str]
    metadata: dict[str, Any] | None
    idempotency_key: str | None


class StartResult:
    """The outcome of one request of :meth:`Calls.start_many`: placed, or failed.

    It is a :class:`StartPlaced` or a :class:`StartFailed`: ``start_many`` yields
    ``StartPlaced | StartFailed``, a union type checkers narrow. ``if result.ok:`` makes
    ``result.call`` a :class:`~calleague_async.models.Call` under mypy; ``result.call is not
    None``, ``isinstance(result, StartPlaced)`` and ``match`` do it under every checker
    (pyright does not narrow on a bare ``result.ok``). On a :class:`StartFailed`, ``error``
    says why; an :class:`~calleague_async.errors.OutcomeUnknownError` (``outcome_unknown``)
    means the call may or may not have been placed: check before placing it again.

    ``StartResult(index=..., request=..., call=...)`` builds a :class:`StartPlaced` and
    ``StartResult(index=..., request=..., error=...)`` a :class:`StartFailed`, e.g. for a
    fake ``start_many`` in your tests.
    """

    __slots__ = ()

    index: int
    """The request's position in the batch, from 0."""
    request: CallRequest
    """The request, as a :class:`CallRequest` (dicts are converted)."""
    call: Call | None
    """The placed call (a :class:`StartPlaced`), else ``None``."""
    error: CalleagueError | None
    """Why the call was not placed (a :class:`StartFailed`), else ``None``."""
    duplicate_of: int | None
    """With ``start_many(..., dedupe=True)``: the ``index`` of the earlier request with the
    same number, when this one was therefore not sent; else ``None``."""

    @overload
    def __new__(
        cls, *, index: int, request: CallRequest, call: Call, error: None = None
    ) -> StartPlaced: ...
    @overload
    def __new__(
        cls,
        *,
        index: int,
        request: CallRequest,
        call: None = None,
        error: CalleagueError,
        duplicate_of: int | None = None,
    ) -> StartFailed: ...
    def __new__(cls, *args: Any, **kwargs: Any) -> StartResult:
        """Build the kind of result the arguments describe."""
        if cls is not StartResult:  # a subclass, or unpickling and copying (no arguments)
            return super().__new__(cls)
        placed = kwargs.get("call") is not None
        if placed == (kwargs.get("error") is not None):
            raise TypeError("StartResult() takes one of call= (placed) and error= (not placed)")
        kind: type[StartResult] = StartPlaced if placed else StartFailed
        return object.__new__(kind)

    @property
    def ok(self) -> bool:
        """Whether the call was placed."""
        return self.call is not None

    @property
    def outcome_unknown(self) -> bool:
        """Whether the call may have been placed although no reply said so."""
        return isinstance(self.error, OutcomeUnknownError)

    @property
    def duplicate(self) -> bool:
        """Whether this request was skipped as a duplicate of ``duplicate_of`` (``dedupe=True``)."""
        return self.duplicate_of is not None


@attrs.frozen(kw_only=True)
class StartPlaced(StartResult):
    """A call :meth:`Calls.start_many` placed: ``ok`` is True and ``call`` is the new call."""

    # Narrower than the base's: frozen fields are read-only, so covariant (pyright reads the
    # base's plain annotations as mutable).
    index: int
    request: CallRequest
    call: Call  # pyright: ignore[reportIncompatibleVariableOverride]
    error: None = attrs.field(default=None, repr=False)  # pyright: ignore[reportIncompatibleVariableOverride]
    duplicate_of: None = attrs.field(default=None, repr=False)  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def ok(self) -> Literal[True]:
        """True: the call was placed."""
        return True

    @property
    def outcome_unknown(self) -> Literal[False]:
        """False: the reply said the call was placed."""
        return False


@attrs.frozen(kw_only=True)
class StartFailed(StartResult):
    """A request :meth:`Calls.start_many` did not place: ``ok`` is False and ``error`` says why.

    ``outcome_unknown`` is True when ``error`` is an
    :class:`~calleague_async.errors.OutcomeUnknownError`: the call may have been placed.
    ``duplicate`` is True (and ``duplicate_of`` the earlier request's ``index``) when
    ``start_many(..., dedupe=True)`` skipped it: its number was already dialed in the batch.
    """

    index: int
    request: CallRequest
    error: CalleagueError  # pyright: ignore[reportIncompatibleVariableOverride]
    call: None = attrs.field(default=None, repr=False)  # pyright: ignore[reportIncompatibleVariableOverride]
    duplicate_of: int | None = None

    @property
    def ok(self) -> Literal[False]:
        """False: no reply said the call was placed."""
        return False


def _as_request(item: CallRequest | Mapping[str, Any]) -> CallRequest:
    if isinstance(item, CallRequest):
        return item
    if not isinstance(item, Mapping):
        raise ValidationError("requests", f"items must be CallRequest or dict (got {item!r:.60})")
    unknown = set(item) - {"agent_id", "to", "metadata", "idempotency_key"}
    if unknown:
        raise ValidationError("requests", f"unknown keys {sorted(unknown)} in {dict(item)!r:.80}")
    try:
        return CallRequest(**item)
    except TypeError as exc:
        raise ValidationError("requests", f"{exc} in {dict(item)!r:.80}") from None


def _call_id(record: dict[str, Any]) -> Any:
    return record.get("callId", record.get("id"))


class Calls(Resource):
    """Operations on calls."""

    async def start(
        self,
        *,
        agent_id: str,
        to: str,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Call:
        """Start an outbound call: ``agent_id``'s assistant dials ``to`` (E.164).

        ``metadata`` is your own JSON object, echoed back on the call and its events. The request
        is retried only when the reply proves no call was placed (429, 503, no connection);
        when a failure leaves that open (a 500, a timeout, a dropped connection) it raises
        :class:`~calleague_async.errors.OutcomeUnknownError` instead of dialing twice. Every
        attempt carries one ``Idempotency-Key`` (``idempotency_key``, or a fresh one).

        ``timeout``, ``extra_headers`` and ``extra_query`` apply to this call only (``timeout``
        left out: the session's; ``None``: no timeout); ``extra_body`` adds fields
        the SDK does not know to the request body.

        >>> call = await s.calls.start(agent_id="ag_123", to="+903121234567",
        ...                            metadata={"orderId": "A-1042"})
        >>> call.status
        <CallStatus.RINGING: 'ringing'>
        """
        body: dict[str, Any] = {
            "agentId": _validate.identifier("agent_id", agent_id),
            "to": _validate.phone_number("to", to),
        }
        if metadata is not None:
            body["metadata"] = _validate.json_object("metadata", metadata)
        if idempotency_key is not None:
            _validate.identifier("idempotency_key", idempotency_key)
        body = with_extra_body(body, extra_body)
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["calls.start"]
        data = await self._session._send(
            route, json=body, expect="object", idempotency_key=idempotency_key, options=options
        )
        return structure(data, Call)

    async def start_many(
        self,
        requests: Iterable[CallRequest | CallRequestDict | Mapping[str, Any]]
        | AsyncIterable[CallRequest | CallRequestDict | Mapping[str, Any]],
        *,
        concurrency: int = 32,
        max_wait: float | None = BATCH_MAX_WAIT,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        dedupe: bool = False,
    ) -> AsyncGenerator[StartPlaced | StartFailed, None]:
        """Place many calls, ``concurrency`` at a time, yielding each result as it completes.

        One request's failure never stops the batch: its :class:`StartFailed` carries the
        error. Each request is attempted once unless a retry is provably safe, and the rate
        limiter paces the whole batch. Requests are read lazily, so a huge (async) iterable of
        leads costs memory only for those in flight. Closing the iterator cancels the calls
        still in flight (their outcome is then unknown): that happens at once when you
        ``break`` out of ``async for r in s.calls.start_many(...)``; if you keep the iterator in
        a variable, wrap it in ``contextlib.aclosing`` so leaving the loop closes it.

        A batch queues behind the rate limit by design, so a call's place in that queue is
        never held against it: ``max_wait`` (default 120 s, never less than the session's)
        bounds only how long a call may wait once it is first in line, e.g. for a pause the
        server asked for. A wait beyond that (an hourly quota spent, ``Retry-After: 3600``)
        fails the calls at once with :class:`~calleague_async.errors.LimiterTimeoutError`,
        nothing dialed, instead of hanging the batch; ``None`` waits as long as the server says.

        ``dedupe=True`` dials each number once per batch: numbers are compared normalised
        (spaces, dashes, dots and parentheses removed, so ``+90 555 123 0001`` is
        ``+905551230001``), and a request whose number an earlier, sent request already had is
        not sent: its :class:`StartFailed` has ``duplicate`` True and ``duplicate_of`` the
        earlier request's ``index``. A request refused before sending (a bad field) claims no
        number. It keeps one entry per distinct number dialed, so memory grows with those.

        >>> leads = [{"agent_id": "ag_123", "to": "+903121234567", "metadata": {"lead": 1}}]
        >>> async for result in s.calls.start_many(leads, concurrency=16):
        ...     print(result.index, result.call.call_id if result.ok else result.error)
        """
        _validate.positive_int("concurrency", concurrency)
        if max_wait is not None and (
            not isinstance(max_wait, int | float) or isinstance(max_wait, bool) or not max_wait >= 0
        ):
            raise ValidationError("max_wait", f"must be a number >= 0 or None (got {max_wait!r})")
        # Checked once, up front: a bad option is the caller's mistake, not every row's.
        self._options(timeout, extra_headers, extra_query)
        if extra_body is not None:
            _validate.json_object("extra_body", extra_body)
        each = {
            "timeout": timeout,
            "extra_headers": extra_headers,
            "extra_query": extra_query,
            "extra_body": extra_body,
        }
        seen: dict[str, int] | None = {} if dedupe else None
        source = _numbered(requests)
        pending: set[asyncio.Task[StartPlaced | StartFailed]] = set()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < concurrency:
                    item = await anext(source, None)
                    if item is None:
                        exhausted = True
                    else:
                        # The task copies this context: its requests queue as a batch.
                        with queueing(max_wait):
                            pending.add(asyncio.ensure_future(self._start_one(*item, each, seen)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for result in sorted((t.result() for t in done), key=lambda r: r.index):
                    yield result
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _start_one(
        self,
        index: int,
        item: CallRequest | Mapping[str, Any],
        each: dict[str, Any],
        seen: dict[str, int] | None = None,
    ) -> StartPlaced | StartFailed:
        request = CallRequest(agent_id="", to="")
        number: str | None = None
        try:
            request = _as_request(item)
            if seen is not None:
                number = _normalised_number(request.to)
                first = seen.get(number) if number is not None else None
                if first is not None:
                    duplicate = ValidationError(
                        "to", f"{number} duplicates request {first}: not dialed again"
                    )
                    return StartFailed(
                        index=index, request=request, error=duplicate, duplicate_of=first
                    )
            # The checks start() makes, made here first: a request refused before it was sent is
            # a plain failure, whatever raised, never an unknown outcome.
            _validate.identifier("agent_id", request.agent_id)
            _validate.phone_number("to", request.to)
            if request.metadata is not None:
                _validate.json_object("metadata", request.metadata)
            if request.idempotency_key is not None:
                _validate.identifier("idempotency_key", request.idempotency_key)
        except ValidationError as exc:
            return StartFailed(index=index, request=request, error=exc)
        except Exception as exc:  # a check's own failure: still nothing was sent
            refused = ValidationError("requests", f"{type(exc).__name__}: {exc}")
            refused.__cause__ = exc
            return StartFailed(index=index, request=request, error=refused)
        if seen is not None and number is not None:
            # No await since the lookup above, and tasks take their first step in the order
            # they were made: the earliest request with a number claims it.
            seen[number] = index
        try:
            call = await self.start(
                agent_id=request.agent_id,
                to=request.to,
                metadata=request.metadata,
                idempotency_key=request.idempotency_key,
                **each,
            )
        except CalleagueError as exc:
            return StartFailed(index=index, request=request, error=exc)
        except Exception as exc:
            # Not one of ours (a bug, or a library's error): the request may have been sent.
            unknown = OutcomeUnknownError(
                method="POST",
                path=self._session._routes["calls.start"].path,
                request={"agentId": request.agent_id, "to": request.to},
                idempotency_key=request.idempotency_key,
                cause=CalleagueError(f"{type(exc).__name__}: {exc}"),
            )
            unknown.__cause__ = exc
            return StartFailed(index=index, request=request, error=unknown)
        return StartPlaced(index=index, request=request, call=call)

    async def get(
        self,
        call_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> Call:
        """Read one call's detail and outcome.

        >>> call = await s.calls.get("cl_8f2a")
        >>> call.duration_sec, call.ended_reason
        (84, 'completed')
        """
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["calls.get"]
        data = await self._session._send(
            route, ids={"call_id": call_id}, expect="object", options=options
        )
        return structure(data, Call)

    def list(
        self,
        *,
        status: CallStatus | str | None = None,
        agent_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_page: int = 1,
        max_items: int | None = None,
        concurrency: int = 1,
        cursor: ListCursor | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> AsyncPager[Call]:
        """Calls, newest first, across pages: use with ``async for``.

        ``status`` and ``agent_id`` filter; ``page_size`` is 1..100; ``start_page`` starts from a
        page; ``max_items`` stops after that many calls. ``concurrency`` fetches that many pages
        at once once the first page gave ``total``, still yielding in order, each call that
        existed when the listing began exactly once even while new calls arrive. ``cursor``
        (from ``pager.cursor``, saved with ``to_json()``) resumes a listing where it stopped.

        >>> async for call in s.calls.list(status="completed", page_size=100):
        ...     print(call.call_id, call.duration_sec)
        """
        filters = {
            "status": _validate.optional_str("status", status),
            "agentId": _validate.optional_str("agent_id", agent_id),
        }
        return self._pager(
            "calls.list",
            Call,
            _call_id,
            filters,
            page_size=page_size,
            start_page=start_page,
            max_items=max_items,
            concurrency=concurrency,
            cursor=cursor,
            options=self._options(timeout, extra_headers, extra_query),
        )

    # --- call control (seed 002's /api/voice/calls/{uuid}/...) -------------------------------
    # Body fields seed 002 does not name pass through **fields as given; the per-call option
    # names (timeout, extra_headers, extra_query, extra_body) are reserved for those options.

    async def transfer(
        self,
        call_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Call:
        """Bridge a live call to a human agent (a warm transfer); returns the call as reported.

        Keyword arguments are the body's fields, sent as given (checked to be JSON): seed 002
        names none, so use your server's names (``queue="sales"`` ...). Check
        :meth:`~calleague_async.resources.Agents.availability` first: a 503 "No agents available
        in target queue" is a :class:`~calleague_async.errors.ServerError` with that
        ``message``, and a call that has ended is a
        :class:`~calleague_async.errors.ConflictError` ("Call is not currently active"). A
        transfer is not repeated blindly: only a reply that proves nothing happened (429, 503)
        is retried.

        >>> try:
        ...     call = await s.calls.transfer("6ba7b810-9dad-11d1-80b4", queue="sales")
        ... except ca.ServerError as exc:  # "No agents available in target queue"
        ...     print("fall back to an async handoff:", exc.message)
        """
        body = with_extra_body(_body_fields(fields), extra_body)
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["calls.transfer"]
        data = await self._session._send(
            route, ids={"call_id": call_id}, json=body, expect="any", options=options
        )
        return structure(with_id(data, "callId", ("call_id",), call_id), Call)

    async def end(
        self,
        call_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Call:
        """Hang up a live call; returns the call as the server reports it (at least its id).

        A call that is not live is a :class:`~calleague_async.errors.ConflictError` ("Call is
        not currently active"). The request has no body unless ``extra_body`` gives one.

        >>> call = await s.calls.end("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
        """
        body = _validate.json_object("extra_body", extra_body) if extra_body is not None else None
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["calls.end"]
        data = await self._session._send(
            route, ids={"call_id": call_id}, json=body, expect="any", options=options
        )
        return structure(with_id(data, "callId", ("call_id",), call_id), Call)

    async def set_metadata(
        self,
        call_id: str,
        metadata: Mapping[str, Any],
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Call:
        """Write your structured payload back onto a call (e.g. what an LLM extracted).

        ``metadata`` (a JSON object) is the request body itself: the path names the field.
        Returns the call as the server reports it (at least its id).

        >>> call = await s.calls.set_metadata(
        ...     "6ba7b810-9dad-11d1-80b4-00c04fd430c8", {"intent": "callback", "score": 0.92}
        ... )
        """
        body = with_extra_body(_validate.json_object("metadata", metadata), extra_body)
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["calls.set_metadata"]
        data = await self._session._send(
            route, ids={"call_id": call_id}, json=body, expect="any", options=options
        )
        return structure(with_id(data, "callId", ("call_id",), call_id), Call)

    @property
    def with_raw_response(self) -> CallsWithRawResponse:
        """These methods returning a :class:`~calleague_async.RawResponse` around the model.

        >>> raw = await s.calls.with_raw_response.get("cl_8f2a")
        >>> raw.status, raw.request_id, raw.attempts, raw.parse().call_id
        """
        return CallsWithRawResponse(self)


class CallsWithRawResponse:
    """``s.calls`` whose awaitable methods return a :class:`~calleague_async.RawResponse`."""

    def __init__(self, calls: Calls) -> None:
        self._calls = calls

    async def start(
        self,
        *,
        agent_id: str,
        to: str,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Call]:
        """:meth:`Calls.start`, with the reply's status, headers, request id and attempts."""
        return await raw(self._calls.start)(
            agent_id=agent_id,
            to=to,
            metadata=metadata,
            idempotency_key=idempotency_key,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )

    async def get(
        self,
        call_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
    ) -> RawResponse[Call]:
        """:meth:`Calls.get`, with the reply's status, headers, request id and attempts."""
        return await raw(self._calls.get)(
            call_id,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
        )

    async def transfer(
        self,
        call_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RawResponse[Call]:
        """:meth:`Calls.transfer`, with the reply's status, headers, request id and attempts."""
        return await raw(self._calls.transfer)(
            call_id,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            **fields,
        )

    async def end(
        self,
        call_id: str,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Call]:
        """:meth:`Calls.end`, with the reply's status, headers, request id and attempts."""
        return await raw(self._calls.end)(
            call_id,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )

    async def set_metadata(
        self,
        call_id: str,
        metadata: Mapping[str, Any],
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Call]:
        """:meth:`Calls.set_metadata`, with the reply's status, headers, request id and attempts."""
        return await raw(self._calls.set_metadata)(
            call_id,
            metadata,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )


def _body_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Pass-through body fields (``**fields``), each checked to be JSON, its error naming it."""
    for name, value in fields.items():
        _validate.json_value(name, value)
    return dict(fields)


_FORMATTING = str.maketrans("", "", " -.()")


def _normalised_number(value: object) -> str | None:
    """``value`` without spaces, dashes, dots and parentheses, if that is E.164; else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        return _validate.phone_number("to", value.translate(_FORMATTING))
    except ValidationError:
        return None


async def _numbered(
    items: Iterable[CallRequest | Mapping[str, Any]]
    | AsyncIterable[CallRequest | Mapping[str, Any]],
) -> AsyncIterator[tuple[int, CallRequest | Mapping[str, Any]]]:
    index = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield index, item
            index += 1
    else:
        for item in items:
            yield index, item
            index += 1
