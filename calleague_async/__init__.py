"""calleague-async: the async Python SDK for the Calleague voice-assistant API.

>>> import calleague_async as ca
>>> async with ca.AsyncSession() as s:          # key from CALLEAGUE_API_KEY
...     async for call in s.calls.list(status="completed"):
...         print(call.call_id, call.duration_sec)
"""

from calleague_async._client import AsyncSession
from calleague_async._limits import DEFAULT_RATE_LIMITS
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async._version import __version__
from calleague_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CalleagueError,
    ConfigurationError,
    ConflictError,
    InvalidResponseError,
    LimiterTimeoutError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    UnprocessableEntityError,
    ValidationError,
)
from calleague_async.models import Agent, Call, CallStatus, Page, Webhook
from calleague_async.resources.calls import CallRequest, StartResult

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Agent",
    "AsyncPager",
    "AsyncSession",
    "AuthenticationError",
    "BadRequestError",
    "Call",
    "CallRequest",
    "CallStatus",
    "CalleagueError",
    "ConfigurationError",
    "ConflictError",
    "InvalidResponseError",
    "LimiterTimeoutError",
    "ListCursor",
    "NotFoundError",
    "OutcomeUnknownError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ServerError",
    "StartResult",
    "UnprocessableEntityError",
    "ValidationError",
    "Webhook",
    "__version__",
]
