"""The HTTP pipeline: record, inject faults, check the key and limits, route, render.

One aiohttp handler for every path; routes come from the route table, and each reply is
rendered in its API's shape (Calleague's ``{code, message}`` or seed 002's ``{detail}``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web

from calleague_async._routes import ROUTES
from calleague_async.testing._config import RecordedRequest, SandboxConfig, snake
from calleague_async.testing._handlers import handle
from calleague_async.testing._knobs import (
    PRE_FAULTS,
    Fault,
    Faults,
    Limit,
    RateLimiter,
    seed_002_limits,
)
from calleague_async.testing._replies import ApiError, Ctx, Reply
from calleague_async.testing._state import Backend

__all__ = ["Front", "RouteMap"]

_TEMPLATE_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEY_HEADERS: Final = frozenset({"authorization", "x-api-key"})  # never recorded


@attrs.frozen
class _Served:
    operation: str
    method: str
    pattern: re.Pattern[str] | None  # None: a literal path
    detail: bool  # errors as seed 002's {"detail": ...} instead of {"code", "message"}


class RouteMap:
    """The route table (with path overrides) as the sandbox matches it: literal paths first."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self.templates = {name: paths.get(name, route.path) for name, route in ROUTES.items()}
        self._literal: dict[str, list[_Served]] = {}
        self._patterns: list[_Served] = []
        for name, template in self.templates.items():
            route = ROUTES[name]
            limit = route.documented_limit
            detail = limit is not None and limit.api == "seed-002"  # seed 002's error shape
            if _TEMPLATE_PARAM.search(template) is None:
                self._literal.setdefault(template, []).append(
                    _Served(name, route.method, None, detail)
                )
                continue
            pieces, last = [], 0
            for match in _TEMPLATE_PARAM.finditer(template):
                pieces.append(re.escape(template[last : match.start()]))
                pieces.append(f"(?P<{snake(match.group(1))}>[^/]+)")
                last = match.end()
            pieces.append(re.escape(template[last:]))
            self._patterns.append(_Served(name, route.method, re.compile("".join(pieces)), detail))

    def match(self, method: str, path: str) -> tuple[_Served | None, dict[str, str], list[str]]:
        """``(route, params, other methods)``: the route for ``method`` if one serves the path."""
        allowed: list[str] = []
        for served in self._literal.get(path, ()):
            if served.method == method:
                return served, {}, allowed
            allowed.append(served.method)
        for served in self._patterns:
            assert served.pattern is not None
            found = served.pattern.fullmatch(path)
            if found is None:
                continue
            if served.method == method:
                return served, found.groupdict(), allowed
            allowed.append(served.method)
        return None, {}, allowed

    def path(self, operation: str, **params: str) -> str:
        """The served path of ``operation`` with its placeholders filled (either spelling)."""
        given = {snake(k): v for k, v in params.items()}
        return _TEMPLATE_PARAM.sub(lambda m: given[snake(m.group(1))], self.templates[operation])


class Front:
    """The request pipeline of one sandbox, over its backend and knobs."""

    def __init__(
        self, config: SandboxConfig, api_key: str, backend: Backend, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.backend = backend
        self.api_key = api_key
        self.envelope = config.envelope
        self.latency = config.latency
        self.rate: Limit | None = (
            None if config.rate_limit is None else Limit.parse(config.rate_limit)
        )
        self.faults = Faults()
        self.limiter = RateLimiter(clock, headers=config.rate_limit_headers)
        self.requests: list[RecordedRequest] = []
        self.routes = RouteMap(config.paths)
        own, shared = seed_002_limits() if config.seed_002_limits else ({}, {})
        own.update(config.route_rate_limits)
        self._route_limits = {op: Limit.parse(spec) for op, spec in own.items()}
        self._shared_limits = {op: (api, Limit.parse(spec)) for op, (api, spec) in shared.items()}

    def render(self, reply: Reply | ApiError, request_id: str, detail: bool) -> web.Response:
        """The reply as JSON: enveloped if the knob says so, errors in the route's shape."""
        headers = {"X-Request-Id": request_id, **reply.headers}
        if isinstance(reply, Reply):
            status = reply.status
            body: Any = (
                {"code": status, "statusText": "", "data": reply.payload}
                if self.envelope
                else reply.payload
            )
        else:
            status = reply.status
            if self.envelope:
                body = {"code": status, "statusText": reply.message, "data": None}
            elif detail:
                body = {"detail": reply.message}
            else:
                body = {"code": status, "message": reply.message}
        return web.json_response(body, status=status, headers=headers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (the one aiohttp handler of the app)."""
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
            body_ok = raw != b""
        except ValueError:
            body, body_ok = None, False
        if self.config.record_requests:
            seen = {k: v for k, v in request.headers.items() if k.lower() not in _KEY_HEADERS}
            self.requests.append(
                RecordedRequest(
                    request.method, request.path, dict(request.query.items()), body, seen
                )
            )
        request_id = "req_" + secrets.token_hex(8)
        served, params, allowed = self.routes.match(request.method, request.path)
        detail = served is not None and served.detail
        rule = self.faults.take(request.method, request.path)
        if self.latency > 0:
            await asyncio.sleep(self.latency)

        fault = rule.fault if rule is not None else None
        if rule is not None and fault is Fault.SLOW:
            await asyncio.sleep(rule.delay if rule.delay is not None else self.config.slow_seconds)
        elif fault is Fault.DROP:
            return _drop(request)
        elif fault is Fault.NOT_JSON:
            return web.Response(
                text="<html>oops</html>",
                content_type="text/html",
                headers={"X-Request-Id": request_id},
            )
        elif fault in PRE_FAULTS:
            status, message, retry_after = PRE_FAULTS[fault]
            extra = {"Retry-After": "1"} if retry_after else None
            return self.render(ApiError(status, message, extra), request_id, detail)

        try:
            reply: Reply | ApiError = await self._process(
                request, served, params, allowed, body, body_ok
            )
        except ApiError as error:
            reply = error

        if fault is Fault.COMMIT_THEN_500:
            return self.render(ApiError(500, "Internal server error"), request_id, detail)
        if fault is Fault.COMMIT_THEN_DROP:
            return _drop(request)
        response = self.render(reply, request_id, detail)
        if fault is Fault.TRUNCATED:
            assert isinstance(response.body, bytes)
            return web.Response(
                body=response.body[: len(response.body) // 2],
                status=response.status,
                content_type="application/json",
                headers={"X-Request-Id": request_id, **reply.headers},
            )
        return response

    def _check_auth(self, request: web.Request, detail: bool) -> str:
        key = self.api_key.encode()
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key):
            return self.api_key
        # Seed 004's APIs also take the key as X-Api-Key.
        if hmac.compare_digest(request.headers.get("X-Api-Key", "").strip().encode(), key):
            return self.api_key
        message = "Invalid or expired token" if detail else "Invalid or missing API key"
        raise ApiError(401, message)

    async def _process(
        self,
        request: web.Request,
        served: _Served | None,
        params: dict[str, str],
        allowed: list[str],
        body: Any,
        body_ok: bool,
    ) -> Reply:
        key = self._check_auth(request, served is not None and served.detail)
        if self.rate is not None:
            self.limiter.check(key, self.rate)
        if served is None:
            if allowed:
                raise ApiError(
                    405, "Method not allowed", {"Allow": ", ".join(sorted(set(allowed)))}
                )
            raise ApiError(404, "Not found")
        headers: dict[str, str] = {}
        shared = self._shared_limits.get(served.operation)
        if shared is not None:
            headers = self.limiter.check(f"{key}|api:{shared[0]}", shared[1])
        own = self._route_limits.get(served.operation)
        if own is not None:
            headers = self.limiter.check(f"{key}|{served.operation}", own)
        result = await handle(served.operation, self.backend, Ctx(request, params, body, body_ok))
        if headers:
            result = attrs.evolve(result, headers={**result.headers, **headers})
        return result


def _drop(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)  # never reaches the client: the socket is closed
