"""``s.calls``: start a call, look one up, list them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

import attrs

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async._limits import BATCH_MAX_WAIT, queueing
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async.errors import CalleagueError, OutcomeUnknownError, ValidationError
from calleague_async.models import Call, CallStatus
from calleague_async.resources._base import DEFAULT_PAGE_SIZE, Resource


@attrs.frozen(kw_only=True)
class CallRequest:
    """One call to place with :meth:`Calls.start_many`: who dials whom, with your metadata.

    ``idempotency_key`` is sent as the ``Idempotency-Key`` header; one is made if not given.
    """

    agent_id: str
    to: str
    metadata: dict[str, Any] | None = None
    idempotency_key: str | None = None


@attrs.frozen(kw_only=True)
class StartResult:
    """The outcome of one :class:`CallRequest`: ``call`` when placed, else ``error``.

    ``error`` is an :class:`~calleague_async.errors.OutcomeUnknownError` when the call may or
    may not have been placed; check before placing it again.
    """

    index: int
    request: CallRequest
    call: Call | None = None
    error: CalleagueError | None = None

    @property
    def ok(self) -> bool:
        """Whether the call was placed."""
        return self.call is not None

    @property
    def outcome_unknown(self) -> bool:
        """Whether the call may have been placed although no reply said so."""
        return isinstance(self.error, OutcomeUnknownError)


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
    ) -> Call:
        """Start an outbound call: ``agent_id``'s assistant dials ``to`` (E.164).

        ``metadata`` is your own JSON object, echoed back on the call and its events. The request
        is retried only when the reply proves no call was placed (429, 503, no connection);
        when a failure leaves that open (a 500, a timeout, a dropped connection) it raises
        :class:`~calleague_async.errors.OutcomeUnknownError` instead of dialing twice. Every
        attempt carries one ``Idempotency-Key`` (``idempotency_key``, or a fresh one).

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
        route = self._session._routes["calls.start"]
        data = await self._session._send(
            route, json=body, expect="object", idempotency_key=idempotency_key
        )
        return structure(data, Call)

    async def start_many(
        self,
        requests: Iterable[CallRequest | Mapping[str, Any]]
        | AsyncIterable[CallRequest | Mapping[str, Any]],
        *,
        concurrency: int = 32,
        max_wait: float | None = BATCH_MAX_WAIT,
    ) -> AsyncGenerator[StartResult, None]:
        """Place many calls, ``concurrency`` at a time, yielding each result as it completes.

        One request's failure never stops the batch: its :class:`StartResult` carries the
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

        >>> leads = [{"agent_id": "ag_123", "to": "+903121234567", "metadata": {"lead": 1}}]
        >>> async for result in s.calls.start_many(leads, concurrency=16):
        ...     print(result.index, result.call.call_id if result.ok else result.error)
        """
        _validate.positive_int("concurrency", concurrency)
        if max_wait is not None and (
            not isinstance(max_wait, int | float) or isinstance(max_wait, bool) or not max_wait >= 0
        ):
            raise ValidationError("max_wait", f"must be a number >= 0 or None (got {max_wait!r})")
        source = _numbered(requests)
        pending: set[asyncio.Task[StartResult]] = set()
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
                            pending.add(asyncio.ensure_future(self._start_one(*item)))
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

    async def _start_one(self, index: int, item: CallRequest | Mapping[str, Any]) -> StartResult:
        request = CallRequest(agent_id="", to="")
        try:
            request = _as_request(item)
            # The checks start() makes, made here first: a request refused before it was sent is
            # a plain failure, whatever raised, never an unknown outcome.
            _validate.identifier("agent_id", request.agent_id)
            _validate.phone_number("to", request.to)
            if request.metadata is not None:
                _validate.json_object("metadata", request.metadata)
            if request.idempotency_key is not None:
                _validate.identifier("idempotency_key", request.idempotency_key)
        except ValidationError as exc:
            return StartResult(index=index, request=request, error=exc)
        except Exception as exc:  # a check's own failure: still nothing was sent
            refused = ValidationError("requests", f"{type(exc).__name__}: {exc}")
            refused.__cause__ = exc
            return StartResult(index=index, request=request, error=refused)
        try:
            call = await self.start(
                agent_id=request.agent_id,
                to=request.to,
                metadata=request.metadata,
                idempotency_key=request.idempotency_key,
            )
        except CalleagueError as exc:
            return StartResult(index=index, request=request, error=exc)
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
            return StartResult(index=index, request=request, error=unknown)
        return StartResult(index=index, request=request, call=call)

    async def get(self, call_id: str) -> Call:
        """Read one call's detail and outcome.

        >>> call = await s.calls.get("cl_8f2a")
        >>> call.duration_sec, call.ended_reason
        (84, 'completed')
        """
        route = self._session._routes["calls.get"]
        data = await self._session._send(route, ids={"call_id": call_id}, expect="object")
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
        )


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
