"""Publish feed messages to JetStream, pipelined, with de-duplication ids and a bound
on acks in flight (the FEED stream answers every publish; waiting on each one would
cap a feed at one round trip per message)."""

from __future__ import annotations

import asyncio

import msgspec
import nats.errors
import nats.js
import structlog

__all__ = ["FeedSink"]

log = structlog.get_logger(__name__)

MAX_IN_FLIGHT = 2000


class FeedSink:
    def __init__(self, js: nats.js.JetStreamContext, *, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.js = js
        self._sem = asyncio.Semaphore(max_in_flight)
        self._pending: set[asyncio.Future[object]] = set()
        self._encoder = msgspec.json.Encoder()
        self.published = 0
        self.failed = 0

    async def publish(self, subject: str, payload: object, *, msg_id: str | None = None) -> None:
        data = payload if isinstance(payload, bytes) else self._encoder.encode(payload)
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self._sem.acquire()
        try:
            fut = await self.js.publish_async(subject, data, headers=headers)
        except nats.errors.Error:
            self._sem.release()
            self.failed += 1
            raise
        self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[object]) -> None:
        self._pending.discard(fut)
        self._sem.release()
        if fut.cancelled() or fut.exception() is not None:
            self.failed += 1
            exc = None if fut.cancelled() else fut.exception()
            log.warning("feed_publish_failed", error=type(exc).__name__ if exc else "cancelled")
        else:
            self.published += 1

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every publish so far is acknowledged (or failed)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
