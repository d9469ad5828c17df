"""Publish to NATS from actor threads, in order, without blocking them or the loop.

Actors run on pykka threads; the NATS client lives on the asyncio loop. ``publish`` appends
to a queue and wakes the loop once per burst; one drain task sends in FIFO order.

A ``gate`` (the lease of the FEED partition these actors belong to) is asked before each
send. While it is closed (a lease renewal is overdue) messages wait in the queue, in order;
they go out if the renewal comes through, and ``discard`` drops them when the partition is
lost, so nothing is published next to its successor's.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable

import nats.aio.client
import structlog

__all__ = ["Publisher"]

log = structlog.get_logger(__name__)

_GATE_RETRY_S = 0.05


class Publisher:
    def __init__(
        self,
        nc: nats.aio.client.Client,
        loop: asyncio.AbstractEventLoop,
        *,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        self._nc = nc
        self._loop = loop
        self._gate = gate
        self.fenced = 0  # messages dropped because the partition was lost
        self._queue: deque[tuple[str, bytes, dict[str, str] | None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self.published = 0
        self.failed = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Thread-safe; returns at once."""
        with self._lock:
            self._queue.append((subject, payload, headers))
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._idle.clear()
        self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._scheduled = False
                    self._idle.set()
                    return
                gated = self._gate is not None and not self._gate()
                if not gated:
                    batch = list(self._queue)
                    self._queue.clear()
            if gated:
                # Hold everything until the lease is renewed, or ``discard`` drops it.
                await asyncio.sleep(_GATE_RETRY_S)
                continue
            for subject, payload, headers in batch:
                try:
                    await self._nc.publish(subject, payload, headers=headers)
                    self.published += 1
                except nats.errors.Error as exc:
                    # Disconnected: the client buffers while reconnecting; past its buffer
                    # the analytics message is lost, but it is derived and can be rebuilt.
                    self.failed += 1
                    if self.failed == 1 or self.failed % 1000 == 0:
                        log.warning("analytics_publish_failed", failed=self.failed, error=str(exc))

    def stats(self) -> dict[str, int]:
        with self._lock:
            queued = len(self._queue)
        return {
            "published": self.published,
            "failed": self.failed,
            "dropped_on_loss": self.fenced,
            "queued": queued,
        }

    async def drained(self) -> None:
        """Wait until everything queued so far has been handed to the client."""
        await self._idle.wait()

    def discard(self) -> None:
        """Drop what is queued (the partition was lost to another host)."""
        with self._lock:
            self.fenced += len(self._queue)
            self._queue.clear()
