"""calleague-async: the async Python SDK for the Calleague voice-assistant API.

>>> import calleague_async as ca
>>> async with ca.AsyncSession() as s:          # key from CALLEAGUE_API_KEY
...     async for call in s.calls.list(status="completed"):
...         print(call.call_id, call.duration_sec)
"""

from calleague_async._client import AsyncSession
from calleague_async._events import Hook, RedactingFilter, RequestEvent, enable_logging
from calleague_async._ledger import Ledger, LedgerEntry, MemoryLedger, RedisLedger, open_ledger
from calleague_async._limits import DEFAULT_RATE_LIMITS, BucketSpec, Store
from calleague_async._options import NOT_GIVEN, NotGiven
from calleague_async._pagestyles import PaginationStyle
from calleague_async._pagination import AsyncPager, ListCursor
from calleague_async._raw import RawResponse
from calleague_async._version import __version__
from calleague_async._webhook import WebhookEvent, parse_webhook
from calleague_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CalleagueError,
    ConfigurationError,
    ConflictError,
    DuplicateError,
    InvalidResponseError,
    InvalidWebhookError,
    LimiterTimeoutError,
    NotFoundError,
    NotSentError,
    OutcomeUnknownError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    UnprocessableEntityError,
    ValidationError,
    WebhookVerificationError,
)
from calleague_async.models import (
    Agent,
    AgentAvailability,
    Call,
    CallStatus,
    Campaign,
    Contact,
    Page,
    Webhook,
)
from calleague_async.resources.calls import (
    CallRequest,
    CallRequestDict,
    Outcome,
    StartBatch,
    StartFailed,
    StartPlaced,
    StartResult,
    campaign_idempotency_key,
)
from calleague_async.resources.contacts import BulkRejected, BulkResult, ContactRequest

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Agent",
    "AgentAvailability",
    "AsyncPager",
    "AsyncSession",
    "AuthenticationError",
    "BadRequestError",
    "BucketSpec",
    "BulkRejected",
    "BulkResult",
    "Call",
    "CallRequest",
    "CallRequestDict",
    "CallStatus",
    "CalleagueError",
    "Campaign",
    "ConfigurationError",
    "ConflictError",
    "Contact",
    "ContactRequest",
    "DuplicateError",
    "Hook",
    "InvalidResponseError",
    "InvalidWebhookError",
    "Ledger",
    "LedgerEntry",
    "LimiterTimeoutError",
    "ListCursor",
    "MemoryLedger",
    "NotFoundError",
    "NotGiven",
    "NotSentError",
    "Outcome",
    "OutcomeUnknownError",
    "Page",
    "PaginationStyle",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RawResponse",
    "RedactingFilter",
    "RedirectError",
    "RedisLedger",
    "RequestEvent",
    "ResponseTooLargeError",
    "ServerError",
    "StartBatch",
    "StartFailed",
    "StartPlaced",
    "StartResult",
    "Store",
    "UnprocessableEntityError",
    "ValidationError",
    "Webhook",
    "WebhookEvent",
    "WebhookVerificationError",
    "__version__",
    "campaign_idempotency_key",
    "enable_logging",
    "open_ledger",
    "parse_webhook",
]


def _publish() -> None:
    """Give each public class this package as its ``__module__``.

    ``help(ca.AsyncSession)``, reprs and tracebacks then name ``calleague_async.AsyncSession``,
    where users import it from, not the private module it lives in; pickle finds the classes
    here too. Postponed annotations are strings resolved in the module ``__module__`` names, so
    each class's own annotations are resolved in its home module first: ``typing.get_type_hints``
    and cattrs keep working on the public classes.
    """
    import contextlib
    import inspect
    import typing

    for name in __all__:
        obj = globals()[name]
        if not isinstance(obj, type) or not obj.__module__.startswith(f"{__name__}."):
            continue
        own = inspect.get_annotations(obj)
        if any(isinstance(hint, str) for hint in own.values()):
            with contextlib.suppress(Exception):  # left as strings if they cannot be resolved
                hints = typing.get_type_hints(obj)
                obj.__annotations__ = {key: hints[key] for key in own}
        obj.__module__ = __name__


_publish()
del _publish
