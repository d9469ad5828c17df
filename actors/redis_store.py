"""Redis: how deltastream opens it, and the layout of every key it writes (one place).

Redis is optional (``DELTASTREAM_REDIS_URL``). The archive writer and the edges use it;
``subjects.md`` ("Redis keys") documents each key. Every key starts with
``DELTASTREAM_REDIS_KEY_PREFIX`` (``deltastream:``) so one Redis can serve several systems.

- ``<prefix>history:gen:<subject>``: the generation of a subject's archived history, a random
  token the archive writer replaces after it stored newer documents on that subject.
- ``<prefix>history:page:<subject>:<digest>``: one cached history page, tagged with the
  generation it was read at; it expires after ``DELTASTREAM_HISTORY_CACHE_TTL_S``.
- ``<prefix>limit:<scope>:<key>``: a sorted set of attempt times (ms) of one rate limit key,
  expiring after its window.
"""

from __future__ import annotations

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from actors.settings import Settings

__all__ = ["generation_key", "limit_key", "open_redis", "page_key"]


def open_redis(settings: Settings) -> redis.asyncio.Redis:
    """A client for ``settings.redis_url``; it connects lazily, so this never blocks.

    One immediate retry replaces a pooled connection that died with a restarted server;
    anything beyond that fails fast, and callers fall back (no cache, local limits).
    """
    assert settings.redis_url is not None
    return redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 1),
        decode_responses=False,
    )


def generation_key(prefix: str, subject: str) -> str:
    return f"{prefix}history:gen:{subject}"


def page_key(prefix: str, subject: str, digest: str) -> str:
    return f"{prefix}history:page:{subject}:{digest}"


def limit_key(prefix: str, scope: str, key: str) -> str:
    return f"{prefix}limit:{scope}:{key}"
