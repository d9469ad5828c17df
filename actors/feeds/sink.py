"""Publish feed messages to JetStream: pipelined, de-duplicated, and nothing lost when the
connection to NATS breaks.

JetStream answers every publish; waiting on each answer would cap a feed at one round trip
per message, so acks are awaited in the background, at most ``max_in_flight`` at a time.
Every message carries a ``Nats-Msg-Id`` (the caller's, or this sink's id and a counter), so
sending it again is harmless: FEED stores one id once within its de-duplication window.

A publish that fails (JetStream not answering yet after a server restart, no ack within
``ack_timeout_s`` because the server died with the message, the connection lost and
regained) starts a resync: new messages wait, every unacknowledged one is sent again in
publish order, one ack at a time, then the sink carries on. New messages also wait while
the connection is down, so a restart keeps the stored order the publish order, except for
messages the client had already queued when the server died (they go out on reconnect,
before the resent ones). A message still unacknowledged ``give_up_after_s`` after it was
published (kept below FEED's de-duplication window) is counted in ``failed`` and logged, and
so is one JetStream refuses for good (too large, no stream for its subject).

(nats-py resolves no future for an async publish JetStream answers with an error: that
answer raises inside its reply handler. The ack time-out and the resync, which publishes
one message at a time and does see the error, cover that too.)
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
import structlog

__all__ = ["FeedSink"]

log = structlog.get_logger(__name__)

MAX_IN_FLIGHT = 2000
ACK_TIMEOUT_S = 5.0
# FEED de-duplicates ids for 120 s by default (DELTASTREAM_FEED_DEDUP_WINDOW_S): resending
# later could store a message twice.
GIVE_UP_AFTER_S = 110.0
_CONNECTED_POLL_S = 0.05


@dataclass(slots=True, eq=False)
class _Unacked:
    subject: str
    data: bytes
    headers: dict[str, str]
    published_at: float
    future: asyncio.Future[Any] | None = field(default=None)


class FeedSink:
    def __init__(
        self,
        nc: Any,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        ack_timeout_s: float = ACK_TIMEOUT_S,
        give_up_after_s: float = GIVE_UP_AFTER_S,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.ack_timeout_s = ack_timeout_s
        self.give_up_after_s = give_up_after_s
        self._sem = asyncio.Semaphore(max_in_flight)
        # Publish order; an OrderedDict finds its oldest entry in O(1) after many pops.
        self._unacked: OrderedDict[int, _Unacked] = OrderedDict()
        self._next = 0
        self._id = secrets.token_hex(6)
        self._encoder = msgspec.json.Encoder()
        self._reconnects = self._reconnect_count()
        self._trouble = False  # a publish failed: resync before the next one
        self._resync: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._stream_seen = False  # an ack came back: a stream does take these subjects
        self.published = 0
        self.failed = 0
        self.resent = 0

    async def publish(self, subject: str, payload: object, *, msg_id: str | None = None) -> None:
        data = payload if isinstance(payload, bytes) else self._encoder.encode(payload)
        await self._sem.acquire()
        try:
            await self._settle()
        except BaseException:
            self._sem.release()
            raise
        n = self._next
        self._next += 1
        item = _Unacked(
            subject,
            data,
            {"Nats-Msg-Id": msg_id or f"{self._id}-{n}"},
            published_at=time.monotonic(),
        )
        self._unacked[n] = item
        await self._send(n, item)

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every publish so far is acknowledged (or given up), at most
        ``timeout_s`` (what is left stays unacknowledged)."""
        deadline = time.monotonic() + timeout_s
        while self._unacked and time.monotonic() < deadline:
            await self._settle()
            if not self._unacked:
                return
            self._changed.clear()
            wait_s = min(self.ack_timeout_s, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(wait_s, 0.0))

    # ------------------------------------------------------------ sending

    async def _send(self, n: int, item: _Unacked) -> None:
        try:
            fut = await self.js.publish_async(item.subject, item.data, headers=item.headers)
        except nats.errors.Error as exc:
            # Closed, or the reconnect buffer is full: the resync sends it again.
            log.warning("feed_publish_failed", error=type(exc).__name__)
            self._trouble = True
            return
        item.future = fut
        fut.add_done_callback(lambda f: self._acked(n, f))

    def _acked(self, n: int, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            return  # by a resync, which sends the message itself
        if fut.exception() is not None:
            log.warning("feed_publish_failed", error=type(fut.exception()).__name__)
            self._trouble = True
            self._changed.set()
            return
        self._done(n, ok=True)

    def _done(self, n: int, *, ok: bool) -> None:
        if self._unacked.pop(n, None) is None:
            return  # already settled (an ack that came during a resync)
        if ok:
            self.published += 1
            self._stream_seen = True
        else:
            self.failed += 1
        self._sem.release()
        self._changed.set()

    # ------------------------------------------------------------ recovery

    def _reconnect_count(self) -> int:
        return int(self.nc.stats.get("reconnects", 0))

    def _needs_resync(self) -> bool:
        if self._trouble or not self.nc.is_connected:
            return True
        if self._reconnect_count() != self._reconnects:
            return True  # whatever was in flight when the connection broke may be lost
        oldest = next(iter(self._unacked.values()), None)
        return oldest is not None and time.monotonic() - oldest.published_at > self.ack_timeout_s

    async def _settle(self) -> None:
        """Return once no resync is needed (running one first when it is)."""
        while True:
            if self._resync is not None:
                await asyncio.shield(self._resync)
                continue
            if not self._needs_resync():
                return
            self._resync = asyncio.create_task(self._run_resync(), name="feed-resync")
            try:
                await asyncio.shield(self._resync)
            finally:
                self._resync = None

    async def _run_resync(self) -> None:
        self._trouble = False
        await self._connected(time.monotonic() + self.give_up_after_s)
        self._reconnects = self._reconnect_count()
        pending = list(self._unacked.items())
        log.warning("feed_resync_started", unacked=len(pending))
        for n, item in pending:
            if n not in self._unacked:
                continue  # its ack came meanwhile
            if item.future is not None and not item.future.done():
                item.future.cancel()
            self._done(n, ok=await self._send_one(item))
            self.resent += 1
        log.warning("feed_resync_finished", resent=len(pending), failed=self.failed)

    async def _send_one(self, item: _Unacked) -> bool:
        """Send one message and wait for its ack, retrying until ``give_up_after_s``."""
        until = item.published_at + self.give_up_after_s
        while await self._connected(until):
            try:
                await self.js.publish(
                    item.subject, item.data, headers=item.headers, timeout=self.ack_timeout_s
                )
                return True
            except nats.js.errors.NoStreamResponseError:
                # Right after a server restart JetStream may not answer yet; a sink that
                # never had an ack is talking to a server without the stream.
                if not self._stream_seen:
                    log.error("feed_no_stream", subject=item.subject)
                    return False
            except (nats.js.errors.ServiceUnavailableError, nats.js.errors.ServerError):
                pass  # JetStream busy or recovering: try again
            except nats.js.errors.APIError as exc:  # refused (too large, ...): final
                log.error("feed_message_refused", subject=item.subject, error=str(exc))
                return False
            except nats.errors.Error as exc:  # timed out, disconnected
                log.warning("feed_resend_failed", error=type(exc).__name__)
            await asyncio.sleep(_CONNECTED_POLL_S)
        log.error("feed_message_given_up", subject=item.subject, headers=item.headers)
        return False

    async def _connected(self, until: float) -> bool:
        """Wait for the connection (the client reconnects by itself; its callbacks belong to
        whoever created it); False once ``until`` (monotonic) has passed or it is closed."""
        while not self.nc.is_connected:
            if self.nc.is_closed or time.monotonic() >= until:
                return False
            await asyncio.sleep(_CONNECTED_POLL_S)
        return time.monotonic() < until
