"""``s.calls``: start a call, look one up, list them; transfer, end and annotate live calls."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Literal, Required, TypedDict, overload

import attrs

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async._ledger import (
    Ledger,
    LedgerEntry,
    check_campaign,
    new_owner,
    open_ledger,
)
from calleague_async._limits import BATCH_MAX_WAIT, queueing
from calleague_async._options import NOT_GIVEN, NotGiven
from calleague_async._pagecore import IdKey
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async._raw import RawResponse, raw
from calleague_async._session import Flight
from calleague_async.errors import (
    APIConnectionError,
    CalleagueError,
    DuplicateError,
    LimiterTimeoutError,
    NotSentError,
    OutcomeUnknownError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from calleague_async.models import Call, CallStatus
from calleague_async.resources._base import DEFAULT_PAGE_SIZE, Resource, with_extra_body
from calleague_async.resources._reply import with_id

log: logging.Logger = logging.getLogger("calleague_async")


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


Outcome = Literal["placed", "failed", "unknown", "not_sent", "duplicate"]
"""What became of one request of a batch: :attr:`StartResult.status`."""


class StartResult:
    """The outcome of one request of :meth:`Calls.start_many`: placed, or failed.

    It is a :class:`StartPlaced` or a :class:`StartFailed`: ``start_many`` yields
    ``StartPlaced | StartFailed``, a union type checkers narrow. ``if result.ok:`` makes
    ``result.call`` a :class:`~calleague_async.models.Call` under mypy; ``result.call is not
    None``, ``isinstance(result, StartPlaced)`` and ``match`` do it under every checker
    (pyright does not narrow on a bare ``result.ok``). On a :class:`StartFailed`, ``error``
    says why; an :class:`~calleague_async.errors.OutcomeUnknownError` (``outcome_unknown``)
    means the call may or may not have been placed: check before placing it again.

    ``status`` sorts every result into one of five words, the ones ``calleague dial`` writes:
    ``"placed"``, ``"failed"`` (refused as invalid: a bad number, an unknown agent),
    ``"unknown"`` (may have been placed), ``"not_sent"`` (nothing was placed and it may be sent
    again) and ``"duplicate"`` (its person is dialed by an earlier request or another dialer).

    ``StartResult(index=..., request=..., call=...)`` builds a :class:`StartPlaced` and
    ``StartResult(index=..., request=..., error=...)`` a :class:`StartFailed`, e.g. for a
    fake ``start_many`` in your tests.
    """

    __slots__ = ()

    index: int
    """The request's position in the batch, from 0."""
    request: CallRequest
    """The request, as a :class:`CallRequest` (dicts are converted), its ``idempotency_key``
    the one it was (or would have been) sent with."""
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
        """Whether this request was not sent because its person is already dialed.

        By an earlier request of the batch (``duplicate_of``), or, with a ledger, by another
        dialer of the campaign (the error, a :class:`~calleague_async.errors.DuplicateError`,
        says which state the ledger holds).
        """
        return self.duplicate_of is not None or isinstance(self.error, DuplicateError)

    @property
    def sent(self) -> bool:
        """Whether the request left the rate limiter and began to be written to the server.

        False for a request refused client-side, a duplicate, one the limiter still held when
        the batch stopped, and one whose every connection failed to open.
        """
        error = self.error
        return error is None or error.sent

    @property
    def status(self) -> Outcome:
        """``"placed"``, ``"failed"``, ``"unknown"``, ``"not_sent"`` or ``"duplicate"``.

        ``"not_sent"``: no call was placed and the request can be sent again later; it was
        never sent (the batch stopped first, the limiter would have held it past
        ``max_wait``), or every attempt was refused in a way that proves nothing happened (a
        429, a 503, a 402 quota, a connection that never opened). ``sent`` tells those apart.
        ``"failed"``: refused as invalid, by the SDK (a bad number) or the server (400, 404,
        422 ...): sending it again would fail again. ``"unknown"``: it may have been placed.
        """
        error = self.error
        if error is None:
            return "placed"
        if self.duplicate:
            return "duplicate"
        if isinstance(error, OutcomeUnknownError):
            return "unknown"
        return "not_sent" if _nothing_placed(error) else "failed"


def _nothing_placed(error: CalleagueError) -> bool:
    """Whether ``error`` proves no call was placed for a reason other than the request itself."""
    if error.may_have_acted:
        return False
    if isinstance(error, NotSentError | LimiterTimeoutError | RateLimitError | QuotaExceededError):
        return True
    if isinstance(error, APIConnectionError):
        return not error.request_sent
    return isinstance(error, ServerError) and error.status_code == 503


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


_call_id = IdKey("callId", "id")


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
        return await self._start(
            agent_id,
            to,
            metadata,
            idempotency_key,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )

    async def _start(
        self,
        agent_id: str,
        to: str,
        metadata: dict[str, Any] | None,
        idempotency_key: str | None,
        *,
        timeout: float | NotGiven | None,
        extra_headers: Mapping[str, str] | None,
        extra_query: Mapping[str, Any] | None,
        extra_body: Mapping[str, Any] | None,
        flight: Flight | None = None,
    ) -> Call:
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
        call: Call = await self._session._send(
            route,
            json=body,
            idempotency_key=idempotency_key,
            options=options,
            flight=flight,
            model=Call,
        )
        return call

    def start_many(
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
        campaign: str | None = None,
        ledger: str | Ledger | None = None,
        redial_unknown: bool = False,
    ) -> StartBatch:
        """Place many calls, ``concurrency`` at a time, yielding each result as it completes.

        One request's failure never stops the batch: its :class:`StartFailed` carries the
        error. Each request is attempted once unless a retry is provably safe, and the rate
        limiter paces the whole batch. Requests are read lazily, so a huge (async) iterable of
        leads costs memory only for those in flight.

        **Stopping early.** Closing the batch (leaving ``async with``, ``contextlib.aclosing``,
        or ``aclose()``) or cancelling the task that iterates it cancels the requests in
        flight, and ``batch.unyielded`` then holds a result for every request it had taken in
        and not yielded: ``"unknown"`` only for those the server may have acted on (an attempt
        was being written or answered, or one failed after it may have reached the server),
        ``"not_sent"`` for the rest (still held by the limiter, or every attempt refused in a
        way that proves nothing happened), and those that completed as they are. Requests it
        had not taken in yet were never sent. Break out of a bare ``async for`` and the batch is
        closed only when garbage-collected: use ``async with``::

            async with s.calls.start_many(leads) as batch:
                async for result in batch:
                    ...
            # after a break, an exception or a cancellation:
            for result in batch.unyielded:
                print(result.index, result.status)  # "unknown" / "not_sent" / ...

        A batch queues behind the rate limit by design, so a call's place in that queue is
        never held against it: ``max_wait`` (default 120 s, never less than the session's)
        bounds only how long a call may wait once it is first in line, e.g. for a pause the
        server asked for. A wait beyond that (an hourly quota spent, ``Retry-After: 3600``)
        fails the calls at once with :class:`~calleague_async.errors.LimiterTimeoutError`,
        nothing dialed (``"not_sent"``), instead of hanging the batch; ``None`` waits as long
        as the server says.

        **One dial per person.** ``dedupe=True`` dials each number once per batch: numbers are
        compared normalised (spaces, dashes, dots and parentheses removed, so
        ``+90 555 123 0001`` is ``+905551230001``), and a request whose number an earlier, sent
        request already had is not sent: its :class:`StartFailed` has ``duplicate`` True and
        ``duplicate_of`` the earlier request's ``index``. A request refused before sending (a
        bad field) claims no number. It keeps one entry per distinct number dialed.

        **A campaign, and a fleet of dialers.** ``campaign`` names the campaign: each request
        without an ``idempotency_key`` gets one derived from the campaign and its number
        (:func:`campaign_idempotency_key`), the same in every run and every process.
        ``ledger`` (a ``redis://`` URL, or a ledger object) shares the campaign between
        processes: each number is claimed in Redis (an atomic set-if-absent keyed by campaign
        and number) before it is dialed and its outcome recorded after, so processes given the
        same leads never dial the same person (the others' rows are ``"duplicate"``). A claim
        whose dialer stopped without recording an outcome (a crash), and an ``"unknown"``
        outcome, are left for review: a later request for that number is ``"unknown"``, not
        dialed, unless ``redial_unknown=True``, which dials it again with the same derived
        ``Idempotency-Key``, for a server that honours it. A request never sent releases its
        claim. ``ledger`` implies ``dedupe`` and needs ``campaign``; it needs redis-py
        (``pip install 'calleague-async[redis]'``).

        >>> leads = [{"agent_id": "ag_123", "to": "+903121234567", "metadata": {"lead": 1}}]
        >>> async with s.calls.start_many(leads, concurrency=16) as batch:
        ...     async for result in batch:
        ...         print(result.index, result.status, result.call.call_id if result.ok else "")
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
        if campaign is not None:
            _validate.identifier("campaign", campaign)
        if ledger is not None and campaign is None:
            raise ValidationError("campaign", "a ledger keeps campaigns apart: name the campaign")
        if redial_unknown and ledger is None:
            raise ValidationError(
                "redial_unknown", "needs a ledger, which remembers what was dialed before"
            )
        fleet = None
        if ledger is not None and campaign is not None:
            check_campaign(campaign)
            fleet = _Fleet(
                ledger=open_ledger(ledger),
                campaign=campaign,
                owns_ledger=isinstance(ledger, str),
                redial_unknown=redial_unknown,
            )
        plan = _Plan(
            each={
                "timeout": timeout,
                "extra_headers": extra_headers,
                "extra_query": extra_query,
                "extra_body": extra_body,
            },
            seen={} if dedupe or fleet is not None else None,
            campaign=campaign,
            fleet=fleet,
        )
        batch = StartBatch()
        batch._run = self._run_batch(batch, _numbered(requests), concurrency, max_wait, plan)
        return batch

    async def _run_batch(
        self,
        batch: StartBatch,
        source: AsyncIterator[tuple[int, CallRequest | Mapping[str, Any]]],
        concurrency: int,
        max_wait: float | None,
        plan: _Plan,
    ) -> AsyncGenerator[StartPlaced | StartFailed, None]:
        pending: dict[asyncio.Task[StartPlaced | StartFailed], _Slot] = {}
        ready: collections.deque[StartPlaced | StartFailed] = collections.deque()
        exhausted = False
        try:
            if plan.fleet is not None:
                await plan.fleet.start()
            while True:
                while not exhausted and len(pending) < concurrency:
                    item = await anext(source, None)
                    if item is None:
                        exhausted = True
                        continue
                    slot = _Slot(*item)
                    # The task copies this context: its requests queue as a batch.
                    with queueing(max_wait):
                        task = asyncio.ensure_future(self._start_one(slot, plan))
                    pending[task] = slot
                if not pending:
                    return
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                finished = [self._settled(task, pending.pop(task), plan.campaign) for task in done]
                ready.extend(sorted(finished, key=_by_index))
                while ready:
                    # Taken off before the yield: closed there, the caller has it already.
                    yield ready.popleft()
        finally:
            for task in pending:
                task.cancel()
            try:
                if pending:
                    await asyncio.wait(pending)
            finally:
                left = list(ready)
                abandoned: list[tuple[_Slot, StartPlaced | StartFailed]] = []
                for task, slot in pending.items():
                    if task.done() and not task.cancelled() and task.exception() is None:
                        left.append(task.result())
                    else:
                        result = self._settled(task, slot, plan.campaign)
                        abandoned.append((slot, result))
                        left.append(result)
                batch.unyielded = sorted(left, key=_by_index)
                if plan.fleet is not None:
                    await plan.fleet.finish(abandoned)

    def _settled(
        self, task: asyncio.Task[StartPlaced | StartFailed], slot: _Slot, campaign: str | None
    ) -> StartPlaced | StartFailed:
        """What a request's task came to, even if it was cancelled or failed (a bug)."""
        if task.done() and not task.cancelled():
            error = task.exception()
            if error is None:
                return task.result()
            log.error("calleague_async: a request of start_many failed", exc_info=error)
        if slot.result is not None:  # stopped while its ledger entry was written
            return slot.result
        return self._abandoned(slot, campaign)

    def _abandoned(self, slot: _Slot, campaign: str | None) -> StartFailed:
        """The result of a request the batch stopped before it finished: unknown, or not sent."""
        request = slot.request
        if request is None:  # stopped before its task began
            request = _request_or_blank(slot.item)
            if request.idempotency_key is None and campaign is not None and request.to:
                key = campaign_idempotency_key(campaign, request.to)
                request = attrs.evolve(request, idempotency_key=key)
        flight = slot.flight
        error: CalleagueError
        if flight.sending or flight.acted:
            stopped = CalleagueError("the batch stopped while the request was in flight")
            error = self._unknown(request, stopped)
        elif flight.sent:
            error = NotSentError(
                "the batch stopped while the request waited to be retried; every attempt "
                "was refused in a way that proves nothing happened"
            )
        else:
            error = NotSentError("the batch stopped before the request was sent")
        error.sent = flight.sent
        return StartFailed(index=slot.index, request=request, error=error)

    def _unknown(self, request: CallRequest, cause: CalleagueError) -> OutcomeUnknownError:
        """The error of a batch's request that may have placed its call, for ``cause``."""
        unknown = OutcomeUnknownError(
            method="POST",
            path=self._session._routes["calls.start"].path,
            request={"agentId": request.agent_id, "to": request.to},
            idempotency_key=request.idempotency_key,
            cause=cause,
        )
        unknown.may_have_acted = True
        return unknown

    async def _start_one(self, slot: _Slot, plan: _Plan) -> StartPlaced | StartFailed:
        index, seen = slot.index, plan.seen
        request = CallRequest(agent_id="", to="")
        number: str | None = None
        try:
            request = _as_request(slot.item)
            slot.request = request
            if seen is not None:
                number = _normalised_number(request.to)
                first = seen.get(number) if number is not None else None
                if number is not None and first is not None:
                    duplicate = DuplicateError(
                        f"{number} duplicates request {first}: not dialed again",
                        number=number,
                        duplicate_of=first,
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
        if request.idempotency_key is None:
            key = (
                campaign_idempotency_key(plan.campaign, request.to)
                if plan.campaign is not None
                else uuid.uuid4().hex
            )
            request = slot.request = attrs.evolve(request, idempotency_key=key)
        fleet = plan.fleet
        if fleet is None:
            return await self._place(slot, request, plan.each)
        if number is not None:
            refused_by_ledger = await fleet.claim(slot, request, number)
            if refused_by_ledger is not None:
                return refused_by_ledger
        result = slot.result = await self._place(slot, request, plan.each)
        await fleet.record(slot, result)
        return result

    async def _place(
        self, slot: _Slot, request: CallRequest, each: dict[str, Any]
    ) -> StartPlaced | StartFailed:
        try:
            call = await self._start(
                request.agent_id,
                request.to,
                request.metadata,
                request.idempotency_key,
                flight=slot.flight,
                **each,
            )
        except CalleagueError as exc:
            return StartFailed(index=slot.index, request=request, error=exc)
        except Exception as exc:
            # Not one of ours (a bug, or a library's error): the request may have been sent.
            unknown = self._unknown(request, CalleagueError(f"{type(exc).__name__}: {exc}"))
            unknown.__cause__ = exc
            unknown.sent = True
            return StartFailed(index=slot.index, request=request, error=unknown)
        return StartPlaced(index=slot.index, request=request, call=call)

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
        call: Call = await self._session._send(
            route, ids={"call_id": call_id}, options=options, model=Call
        )
        return call

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


class StartBatch:
    """What :meth:`Calls.start_many` returns: its results, as an async iterator.

    ``async for result in batch`` yields each result as it completes. Use it as an async
    context manager (or call :meth:`aclose`) to stop it early; then :attr:`unyielded` holds
    a result for every request it had taken in and not yielded (see
    :meth:`Calls.start_many`).
    """

    def __init__(self) -> None:
        self._run: AsyncGenerator[StartPlaced | StartFailed, None] | None = None
        self.unyielded: list[StartPlaced | StartFailed] = []
        """After the batch stopped early: the results it had not yielded, by ``index``.

        Each request taken in and not yielded, as ``"unknown"`` when the server may have acted
        on it, ``"not_sent"`` when it provably did not, or as it completed. Empty until the
        batch stops, and after a batch that ran to its end."""

    def __aiter__(self) -> StartBatch:
        return self

    async def __anext__(self) -> StartPlaced | StartFailed:
        """The next result, as it completes."""
        assert self._run is not None
        return await self._run.__anext__()

    async def aclose(self) -> None:
        """Stop the batch: cancel the requests in flight and fill :attr:`unyielded`."""
        if self._run is not None:
            await self._run.aclose()

    async def __aenter__(self) -> StartBatch:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Slot:
    """One request a batch took in: where it is, for a report when the batch stops."""

    __slots__ = ("claimed", "flight", "index", "item", "request", "result")

    def __init__(self, index: int, item: CallRequest | Mapping[str, Any]) -> None:
        self.index = index
        self.item = item
        self.request: CallRequest | None = None
        self.claimed: str | None = None  # the number this request holds in the ledger
        self.flight = Flight()
        self.result: StartPlaced | StartFailed | None = None  # once known


@attrs.define
class _Plan:
    """A batch's settings."""

    each: dict[str, Any]
    seen: dict[str, int] | None
    campaign: str | None
    fleet: _Fleet | None


@attrs.define
class _Fleet:
    """A batch's campaign ledger: claims before dialing, outcomes after, a heartbeat."""

    ledger: Ledger
    campaign: str
    owns_ledger: bool
    redial_unknown: bool
    owner: str = attrs.field(factory=new_owner)
    heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Say this dialer is alive (before its first claim), and keep saying it."""
        ledger, campaign, owner = self.ledger, self.campaign, self.owner
        try:
            await ledger.heartbeat(campaign, owner)
        except Exception as exc:  # the batch's finally lets an owned ledger go
            raise _ledger_down(exc) from exc

        every = ledger.heartbeat_ttl / 3  # three beats per lifetime: one may be late

        async def beat() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await ledger.heartbeat(campaign, owner)
                except Exception:  # the next beat may get through; claims keep their owner
                    log.warning("calleague_async: ledger heartbeat failed", exc_info=True)

        self.heartbeat = asyncio.create_task(beat())

    async def claim(self, slot: _Slot, request: CallRequest, number: str) -> StartFailed | None:
        """Claim ``number`` in the ledger; the result to report when it is not ours."""
        # Held from before the claim is asked for: stopped mid-claim, it is released (a
        # release is a no-op unless this dialer holds the entry).
        slot.claimed = number
        try:
            entry = await self.ledger.claim(
                self.campaign,
                number,
                owner=self.owner,
                idempotency_key=request.idempotency_key,
                reclaim_unknown=self.redial_unknown,
            )
        except Exception as exc:
            # Redis may have taken the claim and lost the reply: let it go, if it can.
            with contextlib.suppress(Exception):
                await self.ledger.release(self.campaign, number, owner=self.owner)
            slot.claimed = None
            return StartFailed(index=slot.index, request=request, error=_ledger_down(exc))
        if entry is None:
            return None
        slot.claimed = None
        return StartFailed(index=slot.index, request=request, error=_held(entry))

    async def record(self, slot: _Slot, result: StartPlaced | StartFailed) -> None:
        """Write ``result`` to the ledger: the outcome, or the claim released if not sent."""
        number = slot.claimed
        if number is None:
            return
        status = result.status
        try:
            if status == "not_sent":
                await self.ledger.release(self.campaign, number, owner=self.owner)
            elif status in ("placed", "failed", "unknown"):
                await self.ledger.record(
                    self.campaign,
                    number,
                    status,
                    owner=self.owner,
                    call_id=result.call.call_id if result.call is not None else None,
                    reason=None if result.error is None else str(result.error)[:200],
                )
        except Exception:
            # The claim stays: once this dialer stops it is left for review, never redialed.
            log.warning(
                "calleague_async: could not record %s for %s in the campaign ledger",
                status,
                number,
                exc_info=True,
            )

    async def finish(self, abandoned: list[tuple[_Slot, StartPlaced | StartFailed]]) -> None:
        """Record what the stopped requests became, stop the heartbeat, let the ledger go."""
        try:
            for slot, result in abandoned:
                await self.record(slot, result)
        finally:
            try:
                if self.heartbeat is not None:
                    self.heartbeat.cancel()
                    await self.ledger.retire(self.campaign, self.owner)
            except Exception:
                log.warning("calleague_async: could not retire from the ledger", exc_info=True)
            finally:
                if self.owns_ledger:
                    await self.ledger.close()


def _ledger_down(exc: Exception) -> APIConnectionError:
    """The ledger's own failure (Redis down): proof that nothing was dialed for it."""
    return APIConnectionError(
        f"campaign ledger unavailable: {type(exc).__name__}: {exc}",
        method="POST",
        path="ledger",
        request_sent=False,
    )


def _held(entry: LedgerEntry) -> CalleagueError:
    """The error for a number the ledger holds for someone else (or for review)."""
    try:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.at))
    except (OverflowError, ValueError, OSError):  # an entry another program wrote
        when = f"time {entry.at!r}"
    if entry.needs_review:
        why = (
            f"outcome unknown ({entry.reason})"
            if entry.state == "unknown"
            else "claimed, and that dialer stopped before recording an outcome"
        )
        held = DuplicateError(
            f"{entry.number} in campaign {entry.campaign!r}: {why} (by {entry.owner} at "
            f"{when}): review before redialing",
            number=entry.number,
            ledger_state=entry.state,
        )
        unknown = OutcomeUnknownError(
            method="POST",
            path="ledger",
            request={"to": entry.number},
            idempotency_key=entry.idempotency_key,
            cause=held,
        )
        unknown.may_have_acted = True
        return unknown
    what = {"claimed": "being dialed", "placed": "placed", "failed": "failed"}[entry.state]
    detail = f" as {entry.call_id}" if entry.call_id else ""
    return DuplicateError(
        f"{entry.number} already {what}{detail} in campaign {entry.campaign!r} "
        f"(by {entry.owner} at {when}): not dialed again",
        number=entry.number,
        ledger_state=entry.state,
    )


def campaign_idempotency_key(campaign: str, to: str) -> str:
    """The ``Idempotency-Key`` of a campaign's call to ``to``: the same in every run.

    Derived from the campaign and the number (normalised, so ``+90 555 123 0001`` and
    ``+905551230001`` share it): a rerun, a resumed run and another process of the campaign
    send the same key for the same person, and one person is dialed once per campaign.

    >>> campaign_idempotency_key("spring-2026", "+905551230001")
    'cmp-...'
    """
    number = _normalised_number(to) or to
    digest = hashlib.sha256(f"calleague-campaign\0{campaign}\0{number}".encode()).hexdigest()
    return "cmp-" + digest[:40]


def _by_index(result: StartResult) -> int:
    return result.index


def _request_or_blank(item: CallRequest | Mapping[str, Any]) -> CallRequest:
    try:
        return _as_request(item)
    except ValidationError:
        return CallRequest(agent_id="", to="")


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
