"""The route table: every API operation named once, with its method, path and retry safety.

Seed 000 calls every path but ``agent/call`` illustrative, so a session may override any path.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from urllib.parse import quote

import attrs

from calleague_async import _validate
from calleague_async.errors import ConfigurationError, ValidationError

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_FILLED_SIZE = 1024
_PLAIN_ID = re.compile(r"[A-Za-z0-9_\-]*[A-Za-z0-9_][A-Za-z0-9_\-]*")  # not ".", "..", ""


@attrs.frozen
class DocumentedLimit:
    """A rate limit a seed document publishes for a route: the limiter keeps to it by default.

    ``rate`` is the route's own limit per API key (``"30/minute"``). ``shared`` is a limit the
    document sets for all the routes of one API together (seed 002's "100/minute per API
    key"), counted in one bucket per key named after ``api``. Calleague documents no limits for
    its own routes ("fair-use limits per workspace"), so they carry none.
    """

    rate: str | None = None
    shared: str | None = None
    api: str | None = None


def seed_002_limit(rate: str | None = None) -> DocumentedLimit:
    """Seed 002's limits for one of its routes: ``rate`` from its table, if any.

    Plus "100/minute per API key" for all of seed 002's endpoints together, never Calleague's.
    """
    return DocumentedLimit(rate=rate, shared="100/minute", api="seed-002")


@attrs.frozen
class Route:
    """One API operation.

    ``idempotent`` says whether repeating the request can do no harm, so a failed attempt may
    be retried; ``creates_call`` marks the operation that dials a person; ``documented_limit``
    is the limit a document publishes for it (None: unknown, so the limiter learns it).
    """

    name: str
    method: str
    path: str
    idempotent: bool
    creates_call: bool = False
    documented_limit: DocumentedLimit | None = None
    params: tuple[str, ...] = attrs.field(init=False)

    one: tuple[str, str, str] | None = attrs.field(init=False, eq=False, repr=False)
    """``(prefix, name, suffix)`` when the path has exactly one placeholder."""

    key: str = attrs.field(init=False, eq=False, repr=False)
    """``"METHOD /path/template"``, the form rate-limit settings are keyed by (made once)."""

    @params.default
    def _params(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.path) if f)

    @one.default
    def _one(self) -> tuple[str, str, str] | None:
        if len(self.params) != 1:
            return None
        prefix, suffix = self.path.split("{" + self.params[0] + "}", 1)
        return prefix, self.params[0], suffix

    @key.default
    def _key(self) -> str:
        return f"{self.method} {self.path}"


ROUTES: dict[str, Route] = {
    r.name: r
    for r in (
        Route(
            "calls.start", "POST", "/api/core/voice/agent/call", idempotent=False, creates_call=True
        ),
        Route("calls.get", "GET", "/api/core/voice/call/{call_id}", idempotent=True),
        Route("calls.list", "GET", "/api/core/voice/call/list", idempotent=True),
        Route("agents.list", "GET", "/api/core/voice/agent/list", idempotent=True),
        Route("agents.get", "GET", "/api/core/voice/agent/{agent_id}", idempotent=True),
        Route("webhooks.create", "POST", "/api/core/webhook", idempotent=False),
        # Seed 002's platform operations, paths and per-endpoint limits as its tables give them.
        # Setting fields (update, metadata), ending and stopping are safe to repeat; creating,
        # importing, launching and transferring are not.
        Route(
            "contacts.create",
            "POST",
            "/v1/contacts",
            idempotent=False,
            documented_limit=seed_002_limit("60/minute"),
        ),
        Route(
            "contacts.update",
            "PATCH",
            "/v1/contacts/{contact_id}",
            idempotent=True,
            documented_limit=seed_002_limit("60/minute"),
        ),
        Route(
            "contacts.bulk_create",
            "POST",
            "/v1/contacts/bulk",
            idempotent=False,
            documented_limit=seed_002_limit("10/minute"),
        ),
        Route(
            "campaigns.launch",
            "POST",
            "/v1/campaigns/{campaign_id}/launch",
            idempotent=False,
            documented_limit=seed_002_limit("5/minute"),
        ),
        Route(
            "campaigns.stop",
            "POST",
            "/v1/campaigns/{campaign_id}/stop",
            idempotent=True,
            documented_limit=seed_002_limit("5/minute"),
        ),
        Route(
            "calls.transfer",
            "POST",
            "/api/voice/calls/{call_id}/transfer",
            idempotent=False,
            documented_limit=seed_002_limit("10/minute"),
        ),
        Route(
            "calls.end",
            "POST",
            "/api/voice/calls/{call_id}/end",
            idempotent=True,
            documented_limit=seed_002_limit("10/minute"),
        ),
        Route(
            "calls.set_metadata",
            "POST",
            "/api/voice/calls/{call_id}/metadata",
            idempotent=True,
            documented_limit=seed_002_limit("30/minute"),
        ),
        Route(
            "agents.availability",
            "GET",
            "/api/voice/calls/agent-availability",
            idempotent=True,
            documented_limit=seed_002_limit("30/minute"),
        ),
    )
}
"""The documented operations, by name (``"calls.get"`` ...)."""


def adhoc(method: str, path: str) -> Route:
    """A route for the escape hatch ``session.request(method, path)``: retried only if safe."""
    method = method.upper()
    if not path.startswith("/"):
        raise ValidationError("path", f"must start with '/' (got {path!r})")
    # An ad-hoc path is sent as given: braces are literal, not placeholders.
    escaped = path.replace("{", "{{").replace("}", "}}")
    return Route("request", method, escaped, idempotent=method in _SAFE_METHODS)


class RouteTable(dict[str, Route]):
    """The session's routes: the documented table with the caller's path overrides applied.

    A ``dict`` by operation name: looking a route up (per request) is a C-level lookup.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        routes = dict(ROUTES)
        for name, path in (overrides or {}).items():
            base = routes.get(name)
            if base is None:
                raise ConfigurationError(
                    f"unknown operation {name!r} in paths=; known: {', '.join(sorted(ROUTES))}"
                )
            new = attrs.evolve(base, path=path)
            if not path.startswith("/") or set(new.params) != set(base.params):
                raise ConfigurationError(
                    f"path for {name!r} must start with '/' and use exactly the placeholders "
                    f"{sorted(base.params)} (got {path!r})"
                )
            routes[name] = new
        super().__init__(routes)
        # Literal paths per method: an id must never turn one route into another
        # (seed 000's call/{callId} with id "list" would read the list route).
        self._literal = {(r.method, r.path) for r in routes.values() if not r.params}
        self._literal_paths: dict[str, frozenset[str]] = {
            method: frozenset(p for m, p in self._literal if m == method)
            for method in {r.method for r in routes.values()} | set(_SAFE_METHODS) | {"POST"}
        }
        self._filled: dict[str, dict[str, str]] = {}

    def url_path(self, route: Route, ids: Mapping[str, str] | None = None) -> str:
        """Fill ``route``'s placeholders with validated, percent-encoded ids."""
        ids = ids or {}
        one = route.one
        if one is not None:  # every documented route: prefix + one segment + suffix
            prefix, name, suffix = one
            value = ids[name]
            # Paths already built for this route, by id: the same call read again (polling,
            # a detail page) costs one lookup. Bounded: cleared when full, never grown.
            done = self._filled.get(route.key)
            if done is None:
                done = self._filled[route.key] = {}
            elif type(value) is str:
                path = done.get(value)
                if path is not None:
                    return path
            key = value
            if not (isinstance(value, str) and _PLAIN_ID.fullmatch(value)):
                # Plain ids (cl_8f2a) need neither checks nor quoting.
                value = quote(_validate.identifier(name, value), safe="")
            path = prefix + value + suffix
            if path in self._literal_paths.get(route.method, ()):
                raise ValidationError(name, f"{ids[name]!r} would address another route")
            if len(done) >= _FILLED_SIZE:
                done.clear()
            if type(key) is str:
                done[key] = path
            return path
        params = route.params
        if not params:
            return route.path.replace("{{", "{").replace("}}", "}")
        filled = {
            # Plain ids (cl_8f2a) need neither checks nor quoting: the fast path per request.
            name: value
            if isinstance(value := ids[name], str) and _PLAIN_ID.fullmatch(value)
            else quote(_validate.identifier(name, value), safe="")
            for name in route.params
        }
        path = route.path.format(**filled)
        if path in self._literal_paths.get(route.method, frozenset()):
            field = route.params[0]
            raise ValidationError(field, f"{ids[field]!r} would address another route")
        return path
