"""The retry decision with plain data: what is retried, for which routes, and how long to wait."""

from __future__ import annotations

import pytest

import calleague_async as ca
from calleague_async._retry import RetryPolicy
from calleague_async._routes import ROUTES

GET = ROUTES["calls.get"]
START = ROUTES["calls.start"]


def policy(**kw: object) -> RetryPolicy:
    return RetryPolicy(jitter=lambda v: v, **kw)  # type: ignore[arg-type]


def server(status: int, retry_after: float | None = None) -> ca.ServerError:
    return ca.ServerError("x", status_code=status, retry_after=retry_after)


def conn(sent: bool) -> ca.APIConnectionError:
    return ca.APIConnectionError("x", method="POST", path="/p", request_sent=sent)


SAFE_TO_REPEAT = [
    server(500),
    server(502),
    server(503),
    server(504),
    ca.RateLimitError("x", status_code=429),
    conn(True),
    conn(False),
    ca.APITimeoutError("t", method="GET", path="/p"),
    ca.InvalidResponseError("cut", status_code=200),
    ca.APIError("timeout", status_code=408),
]


@pytest.mark.parametrize("error", SAFE_TO_REPEAT)
def test_safe_route_retries_every_transient_failure(error: ca.CalleagueError) -> None:
    assert policy().should_retry(GET, error)


@pytest.mark.parametrize(
    "error",
    [
        ca.NotFoundError("x", status_code=404),
        ca.AuthenticationError("x", status_code=401),
        ca.UnprocessableEntityError("x", status_code=422),
        server(501),
        ca.ValidationError("to", "bad"),
    ],
)
def test_permanent_failures_are_never_retried(error: ca.CalleagueError) -> None:
    assert not policy().should_retry(GET, error)
    assert not policy().should_retry(START, error)


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (ca.RateLimitError("x", status_code=429), True),
        (server(503), True),
        (conn(False), True),
        (server(500), False),
        (server(502), False),
        (conn(True), False),
        (ca.APITimeoutError("t", method="POST", path="/p"), False),
        (ca.InvalidResponseError("cut", status_code=200), False),
    ],
)
def test_call_creation_is_retried_only_when_nothing_happened(
    error: ca.CalleagueError, retry: bool
) -> None:
    assert policy().should_retry(START, error) is retry


def test_waits_grow_exponentially_up_to_the_cap_and_stop_after_max_retries() -> None:
    p = policy(max_retries=5, base=0.5, cap=3.0)
    waits = [p.wait(GET, server(500), n) for n in range(1, 7)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0, None]


def test_full_jitter_stays_within_the_exponential_bound() -> None:
    p = RetryPolicy(max_retries=10, base=1.0, cap=4.0)
    for attempt in range(1, 10):
        for _ in range(50):
            w = p.wait(GET, server(502), attempt)
            assert w is not None and 0.0 <= w <= min(4.0, 2 ** (attempt - 1))


def test_retry_after_is_a_floor_and_too_long_a_wait_gives_up() -> None:
    p = policy(max_retry_after=30.0)
    assert p.wait(GET, ca.RateLimitError("x", status_code=429, retry_after=5.0), 1) == 5.5
    assert p.wait(GET, ca.RateLimitError("x", status_code=429, retry_after=31.0), 1) is None
