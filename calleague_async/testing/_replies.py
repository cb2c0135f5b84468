"""What a handler gets and gives back: the parsed request, a reply, an error reply.

Shared by the HTTP pipeline (``_http``), the operation handlers and the knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

__all__ = ["ApiError", "Ctx", "Reply"]


class ApiError(Exception):
    """An error reply: ``status`` and a message the pipeline puts in the route's error shape."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@attrs.frozen
class Reply:
    """A successful reply: the payload (before any envelope), its status and extra headers."""

    payload: Any
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Ctx:
    """One request as a handler sees it: path parameters (snake_case names) and the body."""

    request: web.Request
    params: Mapping[str, str]
    body: Any
    body_ok: bool

    def object_body(self) -> dict[str, Any]:
        """The JSON object body, or a 400 saying what is wrong with it."""
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "Body must be a JSON object")
        return body

    def json_body(self) -> Any:
        """Any JSON body (a list for bulk imports), or a 400."""
        content_type = self.request.content_type
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise ApiError(400, "Content-Type must be application/json")
        if not self.body_ok:
            raise ApiError(400, "Malformed JSON body")
        return self.body
