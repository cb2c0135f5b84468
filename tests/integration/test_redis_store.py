"""The Redis store on a real redis-server: both buckets or neither, shared pauses, no key leaks."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

import calleague_async as ca
from calleague_async._limits import BucketSpec, RedisStore
from calleague_async.testing import SandboxServer


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


async def test_tokens_come_from_both_buckets_or_neither(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix=prefix)
    slow = BucketSpec("route", interval=100.0, tolerance=0.0)
    fast = BucketSpec("default", interval=10.0, tolerance=10.0)  # exactly two tokens
    try:
        assert await store.acquire([slow, fast], now=0.0) == 0.0
        wait = await store.acquire([slow, fast], now=0.0)
        assert 99.0 < wait <= 100.0  # refused by the route bucket ...
        assert await store.acquire([fast], now=0.0) == 0.0  # ... so default lost no token
        assert await store.acquire([fast], now=0.0) > 0.0  # (and now it is empty)
    finally:
        await store.close()


async def test_a_pause_is_seen_by_every_store_on_the_server(redis_url: str, prefix: str) -> None:
    a, b = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    spec = BucketSpec("default", interval=0.01, tolerance=0.0)
    try:
        await a.pause(spec, 30.0, now=0.0)
        wait = await b.acquire([spec], now=0.0)
        assert 29.0 < wait <= 30.0
    finally:
        await a.close()
        await b.close()


async def test_redis_keys_never_contain_the_api_key(redis_url: str) -> None:
    async with (
        SandboxServer(calls=3) as sb,
        ca.AsyncSession(
            api_key=sb.api_key,
            base_url=sb.base_url,
            rate_limits={"default": "1000/second"},
            rate_limit_store=redis_url,
        ) as s,
    ):
        await s.calls.get("cl_8f2a")
        await s.calls.start(agent_id="ag_123", to="+903121234567")
    client = aioredis.from_url(redis_url)
    try:
        keys = [
            k.decode() if isinstance(k, bytes) else k for k in await client.keys("calleague:rl:*")
        ]
    finally:
        await client.aclose()
    assert keys
    assert not [k for k in keys if sb.api_key in k or sb.api_key[-8:] in k]


def test_unknown_store_spec_is_refused() -> None:
    with pytest.raises(ca.ConfigurationError, match="rate_limit_store"):
        ca.AsyncSession(api_key="sk_x", rate_limit_store="memcached://h:1")


def test_sessions_with_one_key_share_buckets_in_process() -> None:
    a = ca.AsyncSession(api_key="sk_same")
    b = ca.AsyncSession(api_key="sk_same")
    c = ca.AsyncSession(api_key="sk_other")
    assert a._limiter is not None and b._limiter is not None and c._limiter is not None
    assert a._limiter._store is b._limiter._store
    assert a._limiter._scope == b._limiter._scope != c._limiter._scope
    assert a._limiter._learn is b._limiter._learn is not c._limiter._learn  # what they learn
