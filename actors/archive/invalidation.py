"""Tell the edges' history cache that a subject has newer archived documents.

After a batch is stored, the writer replaces ``<prefix>history:gen:<subject>`` of every
subject it touched with a fresh random token; an edge serves a cached page only when it was
read at the current token. Random tokens, not counters: a generation lost with a Redis restart
or an eviction can never come back to a value an old page was tagged with.

Redis is optional and never holds the archive up: when it cannot be reached the subjects are
kept and retried with the next batch (a cached page is at most ``history_cache_ttl_s`` old).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import redis.exceptions
import structlog

from actors.redis_store import generation_key

__all__ = ["CacheInvalidator"]

log = structlog.get_logger(__name__)

TOKEN_BYTES = 8
MAX_PENDING_SUBJECTS = 100_000


class CacheInvalidator:
    def __init__(self, client: Any, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.pending: set[str] = set()
        self.healthy = True

    async def bump(self, subjects: Iterable[str]) -> None:
        self.pending.update(subjects)
        if not self.pending:
            return
        if len(self.pending) > MAX_PENDING_SUBJECTS:
            # Unreachable for a long time: what is left is bounded by the pages' TTL anyway.
            self.pending = set(list(self.pending)[-MAX_PENDING_SUBJECTS:])
        mapping = {
            generation_key(self.prefix, s): secrets.token_hex(TOKEN_BYTES) for s in self.pending
        }
        try:
            await self.client.mset(mapping)
        except (redis.exceptions.RedisError, OSError) as exc:
            if self.healthy:
                log.warning("cache_invalidation_failed", error=type(exc).__name__,
                            pending=len(self.pending))  # fmt: skip
            self.healthy = False
            return
        if not self.healthy:
            log.info("cache_invalidation_recovered", subjects=len(self.pending))
        self.healthy = True
        self.pending.clear()

    async def close(self) -> None:
        await self.client.aclose()
