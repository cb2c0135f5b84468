"""``s.contacts``: create and update contacts, and import many in paced batches (seed 002)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from calleague_async import _validate
from calleague_async._convert import structure
from calleague_async._limits import BATCH_MAX_WAIT, queueing
from calleague_async._options import NOT_GIVEN, NotGiven, RequestOptions
from calleague_async._raw import RawResponse, raw
from calleague_async._routes import Route
from calleague_async.errors import CalleagueError, ValidationError
from calleague_async.models import Contact
from calleague_async.resources._base import Resource, with_extra_body
from calleague_async.resources._reply import with_id

T = TypeVar("T")

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
"""The largest ``batch_size``: one batch is one request body, held in memory while it is sent."""


@attrs.frozen(kw_only=True)
class ContactRequest:
    """One contact to import with :meth:`Contacts.bulk_create`.

    ``phone`` is E.164; ``metadata`` is your own JSON object; ``fields`` are sent as given,
    beside them (names as the server spells them).

    >>> ca.ContactRequest(phone="+905551230001", metadata={"crm_id": "L-1"}, fields={"name": "Ada"})
    """

    phone: str
    metadata: dict[str, Any] | None = None
    fields: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class BulkRejected:
    """A row :meth:`Contacts.bulk_create` refused client-side: never sent, never imported.

    ``index`` is its position in your input (from 0), ``contact`` the row as you gave it and
    ``error`` why (a bad phone number, metadata that is no JSON object ...).
    """

    index: int
    contact: object
    error: ValidationError


@attrs.frozen(kw_only=True)
class BulkResult:
    """The outcome of one batch of :meth:`Contacts.bulk_create` (one ``POST /v1/contacts/bulk``).

    ``batch`` numbers the batches from 0; batch ``k`` covers input rows ``k * batch_size`` up to
    the next batch's. ``indexes`` are the input positions of the rows sent, in the order sent;
    ``rejected`` the rows refused before sending (:class:`BulkRejected`).

    When the request succeeded (``ok``), ``created`` is the number of contacts the server says
    it created (``None`` if the reply does not say), ``contacts`` the created contacts the reply
    lists, ``failed`` the per-row failures it lists, as sent, and ``reply`` the reply itself
    (seed 002 does not document its shape).

    When it failed, ``error`` says why. A batch refused with a 4xx, or never sent, imported
    nothing: fix it and send it again. Otherwise (a 5xx, a timeout, a dropped connection)
    ``outcome_unknown`` is True: the server may have imported some or all of the batch, so check
    before sending those rows again.
    """

    batch: int
    indexes: tuple[int, ...]
    rejected: tuple[BulkRejected, ...] = ()
    created: int | None = None
    contacts: tuple[Contact, ...] = ()
    failed: tuple[object, ...] = ()
    reply: object = attrs.field(default=None, repr=False)
    error: CalleagueError | None = None
    outcome_unknown: bool = False

    @property
    def ok(self) -> bool:
        """Whether the batch's request succeeded (or there was nothing valid to send)."""
        return self.error is None

    @property
    def sent(self) -> int:
        """How many rows of this batch were sent."""
        return len(self.indexes)


def _json_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Pass-through body fields, checked to be JSON; each error names its field."""
    for name, value in fields.items():
        if not isinstance(name, str) or not name:
            raise ValidationError("fields", f"names must be non-empty strings (got {name!r})")
        _validate.json_value(name, value)
    return dict(fields)


def _contact_body(phone: object, metadata: object, fields: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"phone": _validate.phone_number("phone", phone)}
    if metadata is not None:
        body["metadata"] = _validate.json_object("metadata", metadata)
    for name, value in _json_fields(fields).items():
        if name in body:
            raise ValidationError(name, "given twice (as an argument and as a field)")
        body[name] = value
    return body


def _row_body(row: object) -> dict[str, Any]:
    """One bulk row as it is sent: checked, phone E.164, other fields as given."""
    if isinstance(row, ContactRequest):
        return _contact_body(row.phone, row.metadata, row.fields)
    if not isinstance(row, Mapping):
        raise ValidationError(
            "contacts", f"rows must be ContactRequest or dict (got {type(row).__name__})"
        )
    rest = dict(row)
    if "phone" not in rest:
        raise ValidationError("phone", f"is required (row {rest!r:.80})")
    return _contact_body(rest.pop("phone"), rest.pop("metadata", None), rest)


_CONTACT_LISTS = ("contacts", "created", "items", "data", "list", "results")
_CREATED_COUNTS = ("created", "created_count", "createdCount", "imported", "inserted", "count")
_FAILED_LISTS = ("failed", "errors", "rejected", "failures")


def read_bulk_reply(data: object) -> tuple[int | None, tuple[Contact, ...], tuple[object, ...]]:
    """``(created, contacts, failed)`` from a bulk reply, whatever shape it has. Pure.

    Seed 002 documents no reply: a bare list of contacts, or an object carrying a list of
    contacts, a count and/or a list of failures under their usual names, are all read.
    """
    created: int | None = None
    records: list[Any] = []
    failed: list[Any] = []
    if isinstance(data, list):
        records = data
    elif isinstance(data, dict):
        records = next((v for k in _CONTACT_LISTS if isinstance(v := data.get(k), list)), [])
        created = next(
            (
                v
                for k in _CREATED_COUNTS
                if isinstance(v := data.get(k), int) and not isinstance(v, bool)
            ),
            None,
        )
        failed = next((v for k in _FAILED_LISTS if isinstance(v := data.get(k), list)), [])
    contacts = tuple(structure(r, Contact) for r in records if isinstance(r, dict))
    if created is None and contacts:
        created = len(contacts)
    return created, contacts, tuple(failed)


class Contacts(Resource):
    """Operations on contacts (seed 002's ``/v1/contacts``).

    Body fields that seed 002 does not name pass through ``**fields`` as given (snake_case, as
    seed 002 writes them); the names ``timeout``, ``extra_headers``, ``extra_query`` and
    ``extra_body`` are the per-call options, so a body field of one of those names goes in
    ``extra_body``.
    """

    async def create(
        self,
        *,
        phone: str,
        metadata: Mapping[str, Any] | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Contact:
        """Create a contact: ``phone`` (E.164, checked before sending) and your ``metadata``.

        Other keyword arguments are body fields, sent as given (checked to be JSON). The
        request is retried only when the reply proves nothing was created (429, 503).
        ``timeout``, ``extra_headers``, ``extra_query`` and ``extra_body`` apply to this call only.

        >>> contact = await s.contacts.create(phone="+905551230001", metadata={"crm_id": "L-1"},
        ...                                   name="Ada Lovelace")
        >>> contact.contact_id
        """
        body = with_extra_body(_contact_body(phone, metadata, fields), extra_body)
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["contacts.create"]
        data = await self._session._send(route, json=body, expect="object", options=options)
        return structure(data, Contact)

    async def update(
        self,
        contact_id: str,
        *,
        phone: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Contact:
        """Change a contact's fields (``PATCH``): only those given are sent.

        ``phone`` is checked as E.164; ``None`` leaves a field as it is (to send a JSON
        ``null``, e.g. to clear ``metadata``, use ``extra_body={"metadata": None}``). Other
        keyword arguments are body fields, sent as given. A 404 is
        :class:`~calleague_async.errors.NotFoundError` (``"Contact not found"``).

        >>> contact = await s.contacts.update("ct_1", metadata={"stage": "qualified"})
        """
        body: dict[str, Any] = {}
        if phone is not None:
            body["phone"] = _validate.phone_number("phone", phone)
        if metadata is not None:
            body["metadata"] = _validate.json_object("metadata", metadata)
        body.update(_json_fields(fields))
        body = with_extra_body(body, extra_body)
        if not body:
            raise ValidationError("fields", "give at least one field to update")
        options = self._options(timeout, extra_headers, extra_query)
        route = self._session._routes["contacts.update"]
        data = await self._session._send(
            route, ids={"contact_id": contact_id}, json=body, expect="any", options=options
        )
        return structure(with_id(data, "id", ("contactId", "contact_id"), contact_id), Contact)

    def bulk_create(
        self,
        contacts: Iterable[ContactRequest | Mapping[str, Any]]
        | AsyncIterable[ContactRequest | Mapping[str, Any]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_wait: float | None = BATCH_MAX_WAIT,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[BulkResult, None]:
        """Import contacts in batches of ``batch_size``, yielding a :class:`BulkResult` per batch.

        Use with ``async for``. Rows (``ContactRequest`` or dicts, from a list or an (async)
        iterator) are read lazily, one batch at a time, so a CRM export of any size costs the
        memory of one batch. Each batch is one ``POST /v1/contacts/bulk`` with body
        ``{"contacts": [...]}`` (dict rows are sent with their keys as given); batches go one
        after another, paced by the route's documented limit (10/minute) and queued behind it
        by design: ``max_wait`` bounds only the wait at the head of the queue (see
        ``calls.start_many``).

        A row whose phone is not E.164 (or that is otherwise invalid) is not sent: it is
        reported in its batch's ``rejected`` and the rest of the batch goes on. One batch's
        failure never stops the import: its result carries the ``error``; a batch that failed
        with a 4xx imported nothing, one that failed otherwise may have been imported
        (``outcome_unknown``): a bulk import is not retried unless the reply proves nothing
        happened (429, 503). ``break`` stops reading and sending at once. ``timeout``,
        ``extra_headers`` and ``extra_query`` apply to each batch's request; ``extra_body`` adds
        fields beside ``contacts``.

        >>> rows = [{"phone": "+905551230001", "metadata": {"crm_id": "L-1"}}]
        >>> async for batch in s.contacts.bulk_create(rows, batch_size=500):
        ...     print(batch.batch, batch.created, len(batch.rejected), batch.error)
        """
        _validate.positive_int("batch_size", batch_size, maximum=MAX_BATCH_SIZE)
        if max_wait is not None and (
            not isinstance(max_wait, int | float) or isinstance(max_wait, bool) or not max_wait >= 0
        ):
            raise ValidationError("max_wait", f"must be a number >= 0 or None (got {max_wait!r})")
        if isinstance(contacts, str | bytes | Mapping) or not isinstance(
            contacts, Iterable | AsyncIterable
        ):
            raise ValidationError(
                "contacts", f"must be an iterable of rows (got {type(contacts).__name__})"
            )
        options = self._options(timeout, extra_headers, extra_query)
        extra = _validate.json_object("extra_body", extra_body) if extra_body is not None else {}
        if "contacts" in extra:
            raise ValidationError("extra_body", "must not set 'contacts' (the rows go there)")
        return self._bulk(contacts, batch_size, max_wait, options, extra)

    async def _bulk(
        self,
        rows: Iterable[Any] | AsyncIterable[Any],
        batch_size: int,
        max_wait: float | None,
        options: RequestOptions | None,
        extra: dict[str, Any],
    ) -> AsyncGenerator[BulkResult, None]:
        route = self._session._routes["contacts.bulk_create"]
        source = _numbered(rows)
        try:
            batch = 0
            exhausted = False
            while not exhausted:
                indexes: list[int] = []
                bodies: list[dict[str, Any]] = []
                rejected: list[BulkRejected] = []
                while len(indexes) + len(rejected) < batch_size:
                    item = await anext(source, None)
                    if item is None:
                        exhausted = True
                        break
                    index, row = item
                    try:
                        bodies.append(_row_body(row))
                    except Exception as exc:  # a check's own failure too: nothing was sent
                        rejected.append(BulkRejected(index=index, contact=row, error=_refused(exc)))
                        continue
                    indexes.append(index)
                if not indexes and not rejected:
                    return
                result = BulkResult(batch=batch, indexes=tuple(indexes), rejected=tuple(rejected))
                if bodies:
                    result = await self._send_batch(route, result, bodies, max_wait, options, extra)
                yield result
                batch += 1
        finally:
            await source.aclose()

    async def _send_batch(
        self,
        route: Route,
        result: BulkResult,
        bodies: list[dict[str, Any]],
        max_wait: float | None,
        options: RequestOptions | None,
        extra: dict[str, Any],
    ) -> BulkResult:
        try:
            # A bulk import queues behind its 10/minute by design, like a batch of calls.
            with queueing(max_wait):
                data = await self._session._send(
                    route, json={"contacts": bodies, **extra}, expect="any", options=options
                )
        except CalleagueError as exc:
            # The pipeline judged every attempt, not just the last (a 429 after a 500).
            return attrs.evolve(result, error=exc, outcome_unknown=exc.may_have_acted)
        except Exception as exc:  # not one of ours (a bug, a library's error): maybe sent
            error = CalleagueError(f"{type(exc).__name__}: {exc}")
            error.__cause__ = exc
            return attrs.evolve(result, error=error, outcome_unknown=True)
        created, contacts, failed = read_bulk_reply(data)
        return attrs.evolve(result, created=created, contacts=contacts, failed=failed, reply=data)

    @property
    def with_raw_response(self) -> ContactsWithRawResponse:
        """These methods returning a :class:`~calleague_async.RawResponse` around the model.

        (``bulk_create`` yields one result per request; it has no raw form.)

        >>> raw = await s.contacts.with_raw_response.create(phone="+905551230001")
        >>> raw.status, raw.parse().contact_id
        """
        return ContactsWithRawResponse(self)


class ContactsWithRawResponse:
    """``s.contacts`` whose awaitable methods return a :class:`~calleague_async.RawResponse`."""

    def __init__(self, contacts: Contacts) -> None:
        self._contacts = contacts

    async def create(
        self,
        *,
        phone: str,
        metadata: Mapping[str, Any] | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RawResponse[Contact]:
        """:meth:`Contacts.create`, with the reply's status, headers, request id and attempts."""
        return await raw(self._contacts.create)(
            phone=phone,
            metadata=metadata,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            **fields,
        )

    async def update(
        self,
        contact_id: str,
        *,
        phone: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RawResponse[Contact]:
        """:meth:`Contacts.update`, with the reply's status, headers, request id and attempts."""
        return await raw(self._contacts.update)(
            contact_id,
            phone=phone,
            metadata=metadata,
            timeout=timeout,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            **fields,
        )


def _refused(exc: Exception) -> ValidationError:
    if isinstance(exc, ValidationError):
        return exc
    refused = ValidationError("contacts", f"{type(exc).__name__}: {exc}")
    refused.__cause__ = exc
    return refused


async def _numbered(items: Iterable[T] | AsyncIterable[T]) -> AsyncGenerator[tuple[int, T], None]:
    index = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield index, item
            index += 1
    else:
        for item in items:
            yield index, item
            index += 1
