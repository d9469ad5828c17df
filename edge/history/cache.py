"""Cache-aside for archive history pages in Redis, invalidated by generation.

A page is stored under ``<prefix>history:page:<subject>:<digest of the range>`` (every bound
of it: time, sequence, limit, cursor) together with the subject's generation token
(``<prefix>history:gen:<subject>``) read before the page was; the archive writer replaces that
token whenever it stores newer documents on the subject. One ``MGET`` reads both: a page
tagged with another token is stale and is read again from MongoDB. A subject without a token
gets one (``SET NX``) before anything is cached for it, so a token lost with a restarted or
evicting Redis can never match an old page again.

Redis failing never fails a request: the page is read from the archive and the edge's Redis
``Dependency`` turns degraded until its probe sees Redis again.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import msgspec
import redis.exceptions

from actors.archive.pages import HistoryItem, HistoryPage, HistoryRange, Position
from actors.redis_store import generation_key, page_key
from edge.dependency import Dependency
from edge.metrics import EdgeMetrics

__all__ = ["HistoryCache"]

TOKEN_BYTES = 8
_DIGEST_CHARS = 32
_REDIS_FAILURES = (redis.exceptions.RedisError, OSError)

_Entry = tuple[bytes, list[tuple[int, int, bytes]], tuple[int, int] | None]
_entry_decoder = msgspec.msgpack.Decoder(_Entry)


def _digest(r: HistoryRange) -> str:
    key = f"{r.from_ns}|{r.to_ns}|{r.limit}|{r.before}|{r.from_seq}|{r.to_seq}"
    return hashlib.sha256(key.encode()).hexdigest()[:_DIGEST_CHARS]


class HistoryCache:
    def __init__(
        self,
        client: Any,
        *,
        dependency: Dependency,
        prefix: str,
        ttl_s: float,
        metrics: EdgeMetrics,
    ) -> None:
        self.client = client
        self.dependency = dependency
        self.prefix = prefix
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.metrics = metrics

    async def get(self, r: HistoryRange) -> tuple[HistoryPage | None, bytes | None]:
        """The cached page (or None) and the generation to tag a fill with (None: don't)."""
        if not self.dependency.usable():
            return None, None
        gen_key = generation_key(self.prefix, r.subject)
        try:
            generation, raw = await self.client.mget(
                gen_key, page_key(self.prefix, r.subject, _digest(r))
            )
            if generation is None:
                token = secrets.token_hex(TOKEN_BYTES).encode()
                if await self.client.set(gen_key, token, nx=True):
                    generation = token
                else:
                    generation = await self.client.get(gen_key)
        except _REDIS_FAILURES as exc:
            self.dependency.failed(exc)
            self.metrics.history_cache.labels("error").inc()
            return None, None
        if raw is not None:
            try:
                tag, items, nxt = _entry_decoder.decode(raw)
            except msgspec.DecodeError:
                tag = b""  # written by something else: refill it
            if tag == generation:
                self.metrics.history_cache.labels("hit").inc()
                page_items = [HistoryItem(ts, seq, payload) for ts, seq, payload in items]
                return HistoryPage(page_items, Position(*nxt) if nxt else None), generation
        self.metrics.history_cache.labels("miss").inc()
        return None, generation

    async def put(self, r: HistoryRange, generation: bytes, page: HistoryPage) -> None:
        entry: _Entry = (
            generation,
            [(i.ts, i.seq, i.payload) for i in page.items],
            tuple(page.next) if page.next else None,
        )
        try:
            await self.client.set(
                page_key(self.prefix, r.subject, _digest(r)),
                msgspec.msgpack.encode(entry),
                px=self.ttl_ms,
            )
        except _REDIS_FAILURES as exc:
            self.dependency.failed(exc)
