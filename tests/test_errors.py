"""Errors that travel (pickling, processes) and never carry the API key (scrubbing)."""

from __future__ import annotations

import inspect
import json
import logging
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from aioresponses import aioresponses
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping

import calleague_async as ca
from calleague_async import errors
from calleague_async.errors import scrub_error

KEY = "sk_live_SECRET_do_not_leak_123"
BASE = "https://app.calleague.ai"
CALL_URL = f"{BASE}/api/core/voice/call/cl_8f2a"
START_URL = f"{BASE}/api/core/voice/agent/call"


def _cause() -> ca.ServerError:
    return ca.ServerError(
        "upstream failed",
        status_code=502,
        body="<html>bad gateway</html>",
        headers={"X-Request-Id": "req_c"},
        method="POST",
        path="/api/core/voice/agent/call",
        retry_after=None,
    )


# A realistic value for every argument an error class may take, by name. A class added later
# with a required argument not named here fails test_every_error_pickles, saying so.
SAMPLES: dict[str, Any] = {
    "message": "the server said no",
    "status_code": 429,
    "code": "rate_limited",
    "request_id": "req_1",
    "body": {"detail": [{"loc": ["body", "to"], "msg": "bad"}], "n": [1, 2.5, None, True]},
    # What aiohttp hands over: a proxy, which itself does not pickle.
    "headers": CIMultiDictProxy(
        CIMultiDict([("Retry-After", "3"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    ),
    "method": "POST",
    "path": "/api/core/voice/agent/call",
    "retry_after": 3.0,
    "number": "+905551230001",
    "field": "to",
    "request_sent": False,
    "route": "POST /api/core/voice/agent/call",
    "wait": 2.5,
    "max_wait": 1.0,
    "request": {"agentId": "ag_123", "to": "+903121234567", "metadata": {"lead": [1, "x"]}},
    "idempotency_key": "lead-42",
    "cause": _cause(),
    "limit": 10 * 1024 * 1024,
    "location": "https://elsewhere.example/api",
    "reason": "429 on GET /api/core/voice/call/{call_id} with Retry-After 3600s",
}


def make(cls: type[ca.CalleagueError]) -> ca.CalleagueError:
    """An instance of ``cls`` with every argument its ``__init__`` (and those it forwards) takes."""
    kwargs: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if not issubclass(klass, ca.CalleagueError):  # BaseException's: (*args)
            return cls(SAMPLES["message"], **kwargs)
        forwards = False
        for name, param in inspect.signature(init).parameters.items():
            if name == "self":
                continue
            if param.kind is param.VAR_KEYWORD:
                forwards = True
            elif param.kind is not param.VAR_POSITIONAL and name not in kwargs:
                if name in SAMPLES:
                    kwargs[name] = SAMPLES[name]
                elif param.default is param.empty:
                    pytest.fail(f"add a sample value for {cls.__name__}'s {name!r} to SAMPLES")
        if not forwards:
            break
    return cls(**kwargs)


def comparable(value: Any) -> Any:
    if isinstance(value, BaseException):
        return (type(value), value.args, str(value), comparable(vars(value)))
    if isinstance(value, MultiMapping):
        return ("multidict", list(value.items()))
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    return value


PUBLIC = [getattr(errors, name) for name in errors.__all__]


def test_every_public_name_is_an_error_class() -> None:
    assert all(isinstance(c, type) and issubclass(c, ca.CalleagueError) for c in PUBLIC)


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_every_error_pickles(cls: type[ca.CalleagueError], protocol: int) -> None:
    error = make(cls)
    copy = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert repr(copy) == repr(error)
    assert copy.args == error.args
    assert comparable(copy) == comparable(error)
    for name in SAMPLES:
        if hasattr(error, name):
            assert comparable(getattr(copy, name)) == comparable(getattr(error, name)), name


@pytest.mark.parametrize(
    "cls", [c for c in PUBLIC if issubclass(c, ca.APIError)], ids=lambda c: c.__name__
)
def test_headers_stay_case_insensitive_after_pickling(cls: type[ca.APIError]) -> None:
    error = make(cls)
    assert isinstance(error, ca.APIError)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.headers["retry-after"] == "3"
    assert copy.headers.getall("SET-COOKIE") == ["a=1", "b=2"]


def test_a_chained_cause_and_notes_travel_too() -> None:
    error = make(ca.OutcomeUnknownError)
    assert isinstance(error, ca.OutcomeUnknownError)
    error.__cause__ = error.cause
    error.add_note("row 17 of leads.csv")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ca.OutcomeUnknownError)
    assert copy.__cause__ is copy.cause  # one object, as before
    assert copy.__notes__ == ["row 17 of leads.csv"]


def test_an_error_is_still_an_instance_of_its_builtin_bases_after_pickling() -> None:
    limiter = pickle.loads(pickle.dumps(make(ca.LimiterTimeoutError)))
    assert isinstance(limiter, TimeoutError)
    validation = pickle.loads(pickle.dumps(ca.ValidationError("to", "must be E.164")))
    assert isinstance(validation, ca.ValidationError) and isinstance(validation, ValueError)
    assert (validation.field, str(validation)) == ("to", "to: must be E.164")


def fail_in_worker(to: str) -> None:
    """Runs in another process: raises as a bulk export or dialer worker would."""
    raise ca.OutcomeUnknownError(
        method="POST",
        path="/api/core/voice/agent/call",
        request={"agentId": "ag_123", "to": to},
        idempotency_key="lead-42",
        cause=ca.APITimeoutError("no reply within 30s", method="POST", path="/x"),
    )


def test_an_error_raised_in_a_worker_process_arrives_whole() -> None:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as Celery's would be
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(fail_in_worker, "+903121234567")
        with pytest.raises(ca.OutcomeUnknownError) as info:
            future.result(timeout=60)
    error = info.value
    assert error.request == {"agentId": "ag_123", "to": "+903121234567"}
    assert error.idempotency_key == "lead-42"
    assert isinstance(error.cause, ca.APITimeoutError)
    assert error.cause.request_sent is True
    assert "outcome unknown for POST" in str(error)


# --- scrubbing ---------------------------------------------------------------------------


def everything(error: BaseException) -> str:
    """All a user, a log or another process can see of ``error``."""
    parts = [str(error), repr(error), repr(error.args), repr(vars(error))]
    parts.append(pickle.dumps(error).decode("latin-1"))
    for chained in (error.__cause__, error.__context__, getattr(error, "cause", None)):
        if isinstance(chained, BaseException):
            parts.append(everything(chained))
    return "\n".join(parts)


def echoing_error() -> ca.OutcomeUnknownError:
    cause = ca.AuthenticationError(
        f"Invalid API key {KEY}",
        status_code=401,
        body={
            "message": f"Invalid API key {KEY}",
            "echo": {"headers": [["Authorization", f"Bearer {KEY}"]], KEY: KEY},
            "escaped": json.dumps(KEY),
            "url": f"/x?key={quote(KEY, safe='')}",
        },
        headers=CIMultiDict([("X-Echo", f"Bearer {KEY}"), (f"X-{KEY}", "1")]),
        method="POST",
        path="/api/core/voice/agent/call",
    )
    error = ca.OutcomeUnknownError(
        method="POST",
        path="/api/core/voice/agent/call",
        request={"agentId": "ag_1", "to": "+903121234567", "metadata": {"k": (KEY,)}},
        idempotency_key="k1",
        cause=cause,
    )
    error.__cause__ = cause
    error.add_note(f"while using {KEY}")
    return error


def test_scrub_removes_the_key_from_everything_in_place() -> None:
    error = echoing_error()
    assert KEY in everything(error)
    assert scrub_error(error, [KEY]) is error
    assert KEY not in everything(error)
    cause = error.cause
    assert isinstance(cause, ca.AuthenticationError)
    assert cause.message == "Invalid API key ***"
    assert cause.headers["x-echo"] == "Bearer ***"  # still case-insensitive
    assert isinstance(cause.body, dict)  # body is `object`: the JSON is narrowed by the reader
    assert cause.body["echo"] == {"headers": [["Authorization", "Bearer ***"]], "***": "***"}
    assert error.request["metadata"] == {"k": ("***",)}
    assert error.__cause__ is cause
    assert error.__notes__ == ["while using ***"]


def test_scrub_matches_the_key_escaped_as_a_server_may_echo_it() -> None:
    key = 'sk_a+b/c"d\\e'
    error = ca.BadRequestError(
        f"bad {quote(key, safe='')} or {json.dumps(key)[1:-1]} or {key}", status_code=400
    )
    scrub_error(error, [key])
    assert str(error) == "400: bad *** or *** or ***"


def test_scrub_with_no_secret_changes_nothing() -> None:
    error = make(ca.RateLimitError)
    before = comparable(error)
    assert comparable(scrub_error(error, [])) == before
    assert comparable(scrub_error(error, [""])) == before


def test_scrub_leaves_other_libraries_exceptions_alone() -> None:
    error = ca.APIConnectionError("dropped", method="GET", path="/x")
    os_error = ConnectionResetError(104, f"reset {KEY}")
    error.__context__ = os_error
    scrub_error(error, [KEY])
    assert os_error.errno == 104  # untouched: its args carry meaning


def test_scrub_survives_cycles_and_absurd_nesting() -> None:
    deep: list[Any] = [KEY]
    for _ in range(5000):
        deep = [deep]
    a = ca.CalleagueError("a")
    b = ca.CalleagueError(f"b {KEY}")
    a.__context__, b.__context__ = b, a
    error = ca.ServerError("x", status_code=500, body=deep)
    error.__cause__ = a
    scrub_error(error, [KEY])
    assert KEY not in str(b)
    assert KEY not in repr(error.body)


# --- a server that echoes the key, end to end ---------------------------------------------


async def test_a_server_echoing_the_key_never_puts_it_in_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {
        "message": f"Invalid API key {KEY}",
        "error": {"received": {"authorization": f"Bearer {KEY}"}},
        "request_id": "req_echo",
    }
    with aioresponses() as mock:
        mock.get(CALL_URL, status=401, payload=echo, headers={"X-Echo": f"Bearer {KEY}"})
        mock.post(START_URL, status=500, payload=echo, headers={"X-Echo": f"Bearer {KEY}"})
        async with ca.AsyncSession(api_key=KEY, rate_limits=None, max_retries=0) as s:
            with pytest.raises(ca.AuthenticationError) as got:
                await s.calls.get("cl_8f2a")
            with pytest.raises(ca.OutcomeUnknownError) as started:
                await s.calls.start(agent_id="ag_123", to="+903121234567")
    for error in (got.value, started.value):
        assert KEY not in everything(error)
        logging.getLogger("calleague_async").error("failed", exc_info=error)
    auth = got.value
    assert auth.message == "Invalid API key ***"
    assert isinstance(auth.body, dict)
    assert auth.body["error"] == {"received": {"authorization": "Bearer ***"}}
    assert auth.headers["x-echo"] == "Bearer ***"
    assert auth.request_id == "req_echo"
    cause = started.value.cause
    assert isinstance(cause, ca.ServerError)
    assert KEY not in str(cause.body) and KEY not in str(cause.headers)
    assert KEY not in caplog.text
