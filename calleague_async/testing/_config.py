"""The sandbox's settings (``SandboxConfig``), their keyword form, and the paths it serves.

Every operation comes from the SDK's route table (``calleague_async._routes.ROUTES``), so the
SDK and the sandbox read one list; ``SandboxConfig.paths`` moves any of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, TypedDict

import attrs

from calleague_async._routes import ROUTES
from calleague_async.testing._knobs import parse_rate_limit
from calleague_async.testing._state import MAX_CALLS

__all__ = [
    "DEFAULT_PATHS",
    "RecordedRequest",
    "SandboxConfig",
    "SandboxOptions",
    "placeholders",
    "snake",
]

DEFAULT_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {name: route.path for name, route in ROUTES.items()}
)
"""Operation name -> the path template the sandbox serves it on (the SDK's route table)."""

_TEMPLATE_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HUMP: Final = re.compile(r"(?<!^)([A-Z])")


def snake(name: str) -> str:
    """``callId`` -> ``call_id``: path overrides may name placeholders as the wire does."""
    return _HUMP.sub(r"_\1", name).lower()


def placeholders(template: str) -> list[str]:
    """The placeholder names of a path template, snake_cased."""
    return [snake(m) for m in _TEMPLATE_PARAM.findall(template)]


def _check_rate_limit(_: object, __: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        parse_rate_limit(value)


def _known(value: Mapping[str, Any], what: str) -> None:
    unknown = sorted(set(value) - set(ROUTES))
    if unknown:
        raise ValueError(f"unknown operation(s) in {what}: {unknown}; known: {sorted(ROUTES)}")


def _freeze_route_limits(value: Mapping[str, str]) -> Mapping[str, str]:
    _known(value, "route_rate_limits")
    for spec in value.values():
        parse_rate_limit(spec)
    return MappingProxyType(dict(value))


def _check_api_key(_: object, __: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (not value or any(c.isspace() for c in value)):
        raise ValueError("api_key must be a non-empty string without whitespace")


def _freeze_paths(value: Mapping[str, str]) -> Mapping[str, str]:
    _known(value, "paths")
    for name, path in value.items():
        want = sorted(ROUTES[name].params)
        if not path.startswith("/") or sorted(placeholders(path)) != want:
            raise ValueError(
                f"path for {name!r} must start with '/' and use the placeholders {want} "
                f"(camelCase or snake_case), got {path!r}"
            )
    return MappingProxyType(dict(value))


def _freeze_queues(value: Mapping[str, int]) -> Mapping[str, int]:
    if any(not isinstance(n, int) or n < 0 or not q for q, n in value.items()):
        raise ValueError("agent_queues maps queue names to counts >= 0")
    return MappingProxyType(dict(value))


def _optional_seconds(
    _: object, attribute: attrs.Attribute[Any], value: float | Literal["auto"] | None
) -> None:
    if value != "auto" and value is not None and not value >= 0:
        raise ValueError(f"{attribute.name} must be 'auto', None or >= 0")


@attrs.frozen(kw_only=True)
class SandboxConfig:
    """Settings for a :class:`SandboxServer`. Frozen; use ``attrs.evolve`` to vary one.

    Attributes:
        api_key: The only key accepted, as ``Authorization: Bearer <key>`` or
            ``X-Api-Key: <key>``. ``None`` makes a fresh ``sk_test_...`` key per server.
            Never shown in ``repr()``.
        agents: Seeded assistants: ``ag_123`` ("Support Assistant") plus ``agents - 1``
            generated ones. ``0`` means none; at most 10,000.
        calls: Seeded calls: seed 000's ``cl_8f2a`` plus ``calls - 1`` generated ones, older
            and newest first. Generated lazily, so a million costs nothing. ``0`` means none.
        seed: Makes the generated data reproducible.
        envelope: Wrap replies as ``{"code", "statusText", "data"}`` (seed 001's shape).
        latency: Seconds to wait before every reply.
        rate_limit: ``"N/SECONDS"``: at most N requests per sliding window per key, else 429.
        slow_seconds: Default delay of :attr:`Fault.SLOW`.
        paths: Per-operation path overrides, e.g. ``{"calls.list": "/api/v1/calls"}``;
            see ``DEFAULT_PATHS`` for the names.
        record_requests: Keep every request in ``SandboxServer.requests`` (and every event in
            ``SandboxServer.events``); turn off for long-running servers (the command line does).
        route_rate_limits: Per-operation limits on top of ``rate_limit``, like seed 002's
            table: ``{"calls.start": "30/60"}``; a 429 names the limit that was hit.
        rate_limit_headers: Send ``X-RateLimit-Limit/Remaining/Reset`` with every reply
            of a limited operation, as many APIs do.
        seed_002_limits: Enforce seed 002's table for its routes: each route's own limit
            (``route_rate_limits`` wins where it names the route) and 100/minute per key
            across all of them.
        agent_queues: Free human agents per transfer queue (seed 002's warm transfer); a
            transfer to a queue with none answers 503. The first queue is the default one.
        call_progress_seconds: Seconds per step of a call made at run time (``calls.start``,
            campaign launches): queued/ringing -> in-progress -> completed, each step firing
            its event. ``"auto"`` (the default): every 0.1 s while a webhook is registered (so
            a receiver under test hears its calls end with no setting), else calls stay as
            made; ``None``: calls move only when ``SandboxServer.advance_calls()`` or
            ``calls.end`` moves them.
        delivery_attempts: Tries per webhook delivery (a non-2xx reply or a connection error
            is tried again, with the same ``webhook-id``).
        delivery_backoff: Seconds before the first redelivery; doubles with each one.
        delivery_timeout: Seconds a receiver has to answer one delivery.
    """

    api_key: str | None = attrs.field(default=None, repr=False, validator=_check_api_key)
    agents: int = attrs.field(
        default=3, validator=[attrs.validators.ge(0), attrs.validators.le(10_000)]
    )
    calls: int = attrs.field(
        default=50, validator=[attrs.validators.ge(0), attrs.validators.le(MAX_CALLS)]
    )
    seed: int = 0
    envelope: bool = False
    latency: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    rate_limit: str | None = attrs.field(default=None, validator=_check_rate_limit)
    slow_seconds: float = attrs.field(default=5.0, validator=attrs.validators.ge(0.0))
    paths: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_paths, hash=False)
    record_requests: bool = True
    route_rate_limits: Mapping[str, str] = attrs.field(
        factory=dict, converter=_freeze_route_limits, hash=False
    )
    rate_limit_headers: bool = False
    seed_002_limits: bool = False
    agent_queues: Mapping[str, int] = attrs.field(
        factory=lambda: {"default": 2}, converter=_freeze_queues, hash=False
    )
    call_progress_seconds: float | Literal["auto"] | None = attrs.field(
        default="auto", validator=_optional_seconds
    )
    delivery_attempts: int = attrs.field(
        default=5, validator=[attrs.validators.ge(1), attrs.validators.le(50)]
    )
    delivery_backoff: float = attrs.field(default=0.05, validator=attrs.validators.ge(0.0))
    delivery_timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0.0))


class SandboxOptions(TypedDict, total=False):
    """The :class:`SandboxConfig` fields as keyword arguments: ``SandboxServer(calls=10)``.

    Typed one by one, so a misspelt or mistyped option fails the type check, not the test run.
    """

    api_key: str | None
    agents: int
    calls: int
    seed: int
    envelope: bool
    latency: float
    rate_limit: str | None
    slow_seconds: float
    paths: Mapping[str, str]
    record_requests: bool
    route_rate_limits: Mapping[str, str]
    rate_limit_headers: bool
    seed_002_limits: bool
    agent_queues: Mapping[str, int]
    call_progress_seconds: float | Literal["auto"] | None
    delivery_attempts: int
    delivery_backoff: float
    delivery_timeout: float


@attrs.frozen
class RecordedRequest:
    """One request the sandbox received, as seen on the wire (minus the key's headers).

    Attributes:
        method: Upper-case HTTP method.
        path: Decoded path, without the query string.
        query: Query parameters (the last value wins when one repeats).
        json: The decoded JSON body, or ``None`` when there was no valid JSON body.
        headers: Request headers, without ``Authorization`` and ``X-Api-Key``.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
