"""Where GCRA state lives: this process's memory, or Redis for many processes and machines.

A store holds one number per bucket, its theoretical arrival time; a pause after a 429 is
that number pushed into the future, so the pause is shared wherever the state is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from calleague_async._limits._rate import gcra
from calleague_async.errors import ConfigurationError


@attrs.frozen
class BucketSpec:
    """One bucket to take a token from.

    Its store key, seconds per token, burst tolerance, and the lateness credited to a waiter
    that woke up late (see ``gcra``).
    """

    key: str
    interval: float
    tolerance: float
    slack: float = 0.0


class Store(Protocol):
    """Takes tokens from several buckets at once, all or none."""

    async def acquire(self, specs: Sequence[BucketSpec], now: float) -> float:
        """Take one token from each bucket and return 0, or take none and return the wait."""
        ...

    async def pause(self, spec: BucketSpec, seconds: float, now: float) -> None:
        """Let no token out of ``spec``'s bucket for ``seconds``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryStore:
    """Buckets in this process, as plain numbers on the limiter's clock."""

    def __init__(self) -> None:
        self.tats: dict[str, float] = {}
        """Each bucket's theoretical arrival time (the limiter's fast path reads it too)."""

    def acquire_now(self, specs: Sequence[BucketSpec], now: float) -> float:
        """Synchronous :meth:`acquire`: no await between the check and the update."""
        tat = self.tats
        if len(specs) == 1:
            spec = specs[0]
            wait, new = gcra(tat.get(spec.key, now), now, spec.interval, spec.tolerance, spec.slack)
            if wait <= 0.0:
                tat[spec.key] = new
            return wait
        news = []
        longest = 0.0
        for spec in specs:
            wait, new = gcra(tat.get(spec.key, now), now, spec.interval, spec.tolerance, spec.slack)
            longest = max(longest, wait)
            news.append(new)
        if longest > 0.0:
            return longest
        for spec, new in zip(specs, news, strict=True):
            tat[spec.key] = new
        return 0.0

    def peek(self, spec: BucketSpec, now: float) -> float:
        """How long a request would wait for ``spec``'s bucket now; takes nothing."""
        tat = self.tats.get(spec.key, now)
        return gcra(tat, now, spec.interval, spec.tolerance, spec.slack)[0]

    async def acquire(self, specs: Sequence[BucketSpec], now: float) -> float:
        """Take one token from each bucket and return 0, or take none and return the wait."""
        return self.acquire_now(specs, now)

    async def pause(self, spec: BucketSpec, seconds: float, now: float) -> None:
        """Let no token out of ``spec``'s bucket for ``seconds``."""
        until = now + seconds + spec.tolerance
        self.tats[spec.key] = max(self.tats.get(spec.key, now), until)

    async def close(self) -> None:
        """Nothing to release."""


# Redis TIME is the only clock: processes on different machines never compare their clocks.
# Times are formatted with %.6f because Lua's tostring keeps only 14 significant digits.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
local news = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = tonumber(ARGV[3 * i - 1])
  local slack = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now - slack then tat = now end
  local allow = tat - tolerance
  if now < allow then
    if allow - now > wait then wait = allow - now end
  else
    news[i] = tat + interval
  end
end
-- A wait under a microsecond must not print as 0.000000, which would read as "granted".
if wait > 0 then return string.format('%.6f', math.max(wait, 0.000001)) end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((news[i] - now) * 1000) + 1000
  redis.call('SET', key, string.format('%.6f', news[i]), 'PX', ttl)
end
return '0'
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if untl > tat then
  local ttl = math.ceil((untl - now) * 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.6f', untl), 'PX', ttl)
end
return 1
"""


class RedisStore:
    """Buckets in Redis, shared by every process and machine using the same server.

    One Lua script per acquisition, so the check and the update are one atomic step.
    """

    def __init__(self, url: str, *, prefix: str = "calleague:rl:") -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise ConfigurationError(
                "rate_limit_store='redis://...' needs redis-py: "
                "pip install 'calleague-async[redis]'"
            ) from None
        self._client: Any = aioredis.from_url(url)
        self._prefix = prefix
        self._acquire: Any = self._client.register_script(_ACQUIRE)
        self._pause: Any = self._client.register_script(_PAUSE)

    async def acquire(self, specs: Sequence[BucketSpec], now: float) -> float:
        """Take one token from each bucket and return 0, or take none and return the wait."""
        keys = [self._prefix + s.key for s in specs]
        args: list[str] = []
        for spec in specs:
            args += (f"{spec.interval:.6f}", f"{spec.tolerance:.6f}", f"{spec.slack:.6f}")
        result = await self._acquire(keys=keys, args=args)
        return float(result)

    async def pause(self, spec: BucketSpec, seconds: float, now: float) -> None:
        """Let no token out of ``spec``'s bucket for ``seconds``, for every process."""
        await self._pause(keys=[self._prefix + spec.key], args=[f"{seconds + spec.tolerance:.6f}"])

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
