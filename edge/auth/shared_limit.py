"""Sliding-window rate limits shared by every edge through Redis, local when Redis is not.

Each key is a sorted set of attempt times (ms, Redis's own clock, so edges with skewed clocks
agree) under ``<prefix>limit:<scope>:<key>``. One Lua script checks every key of an attempt
and records it in all of them only when none is at its limit, atomically, so two edges can
never both let the Nth attempt through. The set expires with its window.

Without Redis, or while it is degraded, the in-memory ``SlidingWindowLimiter`` of this edge
decides (it also records the attempts Redis accepted, so a fall-back starts warm). A Redis
failure never refuses or fails a request; it only makes the limit local for a while.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

import redis.exceptions

from actors.redis_store import limit_key
from edge.auth.ratelimit import SlidingWindowLimiter
from edge.dependency import Dependency

__all__ = ["SLIDING_WINDOW_SCRIPT", "SharedLimiter"]

_NONCE_BYTES = 8
_MS_PER_S = 1000

# KEYS: the attempt's keys. ARGV: limit, window (ms), a unique member for this attempt.
# Returns 0 when the attempt was recorded, else the ms until the fullest key frees a slot.
SLIDING_WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w < 1 then w = 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


class SharedLimiter:
    def __init__(
        self,
        *,
        scope: str,
        limit: int,
        window_s: float,
        redis: Any = None,
        dependency: Dependency | None = None,
        prefix: str = "deltastream:",
    ) -> None:
        self.scope = scope
        self.limit = limit
        self.window_ms = int(window_s * _MS_PER_S)
        self.prefix = prefix
        self.local = SlidingWindowLimiter(limit=limit, window_s=window_s)
        self.dependency = dependency
        self._script = redis.register_script(SLIDING_WINDOW_SCRIPT) if redis is not None else None

    @property
    def shared(self) -> bool:
        """True while the limit is kept in Redis (shared with the other edges)."""
        return self._script is not None and self.dependency is not None and self.dependency.usable()

    async def acquire(self, keys: Sequence[str]) -> int | None:
        """Count one attempt against every key unless one is at its limit; then answer the
        seconds to wait (and count nothing)."""
        if self._script is not None and self.dependency is not None and self.dependency.usable():
            try:
                wait_ms = int(
                    await self._script(
                        keys=[limit_key(self.prefix, self.scope, k) for k in keys],
                        args=[self.limit, self.window_ms, secrets.token_hex(_NONCE_BYTES)],
                    )
                )
            except (redis.exceptions.RedisError, OSError) as exc:
                self.dependency.failed(exc)
            else:
                if wait_ms > 0:
                    return max(1, math.ceil(wait_ms / _MS_PER_S))
                for key in keys:
                    self.local.hit(key)
                return None
        return self.local.acquire(keys)
