"""One handler per operation of the route table: parse the request, call the backend, reply.

Thin on purpose (moto's ``responses.py``): the rules live in ``_state``, the pipeline
(auth, limits, faults, envelopes) in ``_http``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Final

from calleague_async.testing._replies import ApiError, Ctx, Reply
from calleague_async.testing._state import Backend, StateError

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[[Backend, Ctx], Awaitable[Reply]]

_PAGE_NUMBER: Final = re.compile(r"[0-9]{1,12}")
_MAX_PAGE_SIZE: Final = 100


def _paging(ctx: Ctx) -> tuple[int, int]:
    values: list[int] = []
    for name, default in (("page", 1), ("pageSize", 20)):
        text = ctx.request.query.get(name, "")
        if text == "":
            values.append(default)
            continue
        if not _PAGE_NUMBER.fullmatch(text):
            raise ApiError(400, f"{name} must be a positive integer")
        values.append(int(text))
    page, size = values
    if page < 1:
        raise ApiError(400, "page must be >= 1")
    if not 1 <= size <= _MAX_PAGE_SIZE:
        raise ApiError(400, f"pageSize must be between 1 and {_MAX_PAGE_SIZE}")
    return (page - 1) * size, size


# seed 000: Calleague's own operations -------------------------------------------------------------
async def calls_start(backend: Backend, ctx: Ctx) -> Reply:
    data = ctx.object_body()
    key = ctx.request.headers.get("Idempotency-Key")
    call, replayed = backend.start_call(data, key)
    return Reply(call, headers={"Idempotent-Replayed": "true"} if replayed else {})


async def calls_get(backend: Backend, ctx: Ctx) -> Reply:
    call = backend.calls.get(ctx.params["call_id"])
    if call is None:
        raise ApiError(404, "Call not found")
    return Reply(call)


async def calls_list(backend: Backend, ctx: Ctx) -> Reply:
    offset, limit = _paging(ctx)
    status = ctx.request.query.get("status") or None
    agent_id = ctx.request.query.get("agentId") or None
    if status is not None or agent_id is not None:
        await backend.calls.prepare_filter(status, agent_id)
    total, items = backend.calls.page(offset, limit, status=status, agent_id=agent_id)
    return Reply({"total": total, "list": items})


async def agents_list(backend: Backend, ctx: Ctx) -> Reply:
    offset, limit = _paging(ctx)
    agents = list(backend.agents.values())
    return Reply({"total": len(agents), "list": agents[offset : offset + limit]})


async def agents_get(backend: Backend, ctx: Ctx) -> Reply:
    agent = backend.agents.get(ctx.params["agent_id"])
    if agent is None:
        raise ApiError(404, "Agent not found")
    return Reply(agent)


async def webhooks_create(backend: Backend, ctx: Ctx) -> Reply:
    data = ctx.object_body()
    return Reply(backend.webhooks.register(data.get("url"), data.get("events")))


# seed 002: the platform's operations --------------------------------------------------------------
async def contacts_create(backend: Backend, ctx: Ctx) -> Reply:
    return Reply(backend.contacts.create(ctx.object_body()), status=201)


async def contacts_update(backend: Backend, ctx: Ctx) -> Reply:
    return Reply(backend.contacts.update(ctx.params["contact_id"], ctx.object_body()))


async def contacts_bulk_create(backend: Backend, ctx: Ctx) -> Reply:
    body = ctx.json_body()
    items = body.get("contacts") if isinstance(body, dict) else body  # a list, or {"contacts"}
    return Reply(backend.contacts.bulk_create(items))


async def campaigns_launch(backend: Backend, ctx: Ctx) -> Reply:
    return Reply(backend.launch(ctx.params["campaign_id"]))


async def campaigns_stop(backend: Backend, ctx: Ctx) -> Reply:
    return Reply(backend.stop(ctx.params["campaign_id"]))


async def calls_transfer(backend: Backend, ctx: Ctx) -> Reply:
    data = ctx.object_body() if ctx.request.body_exists else {}  # the queue is optional
    return Reply(backend.transfer(ctx.params["call_id"], data))


async def calls_end(backend: Backend, ctx: Ctx) -> Reply:
    return Reply(backend.end_call(ctx.params["call_id"]))


async def calls_set_metadata(backend: Backend, ctx: Ctx) -> Reply:
    return Reply(backend.set_metadata(ctx.params["call_id"], ctx.object_body()))


async def agents_availability(backend: Backend, ctx: Ctx) -> Reply:
    return Reply(backend.availability())


HANDLERS: Final[Mapping[str, Handler]] = MappingProxyType(
    {
        "calls.start": calls_start,
        "calls.get": calls_get,
        "calls.list": calls_list,
        "agents.list": agents_list,
        "agents.get": agents_get,
        "webhooks.create": webhooks_create,
        "contacts.create": contacts_create,
        "contacts.update": contacts_update,
        "contacts.bulk_create": contacts_bulk_create,
        "campaigns.launch": campaigns_launch,
        "campaigns.stop": campaigns_stop,
        "calls.transfer": calls_transfer,
        "calls.end": calls_end,
        "calls.set_metadata": calls_set_metadata,
        "agents.availability": agents_availability,
    }
)
"""Operation name (as in the route table) -> its handler."""


async def handle(operation: str, backend: Backend, ctx: Ctx) -> Reply:
    """Run ``operation``'s handler; a refusal of the state becomes its error reply."""
    try:
        return await HANDLERS[operation](backend, ctx)
    except StateError as error:
        raise ApiError(error.status, error.detail) from None
