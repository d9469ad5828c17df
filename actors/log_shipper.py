"""Ship this process's log events to NATS (``deltastream.logs.<service>``, stream LOGS).

Logging must never wait for NATS nor fail because of it: ``offer`` (any thread) appends to a
bounded in-memory buffer and returns; one task on the event loop publishes from it with core
NATS (the LOGS stream captures the subjects). While NATS is away the buffer fills, and past
``capacity`` the oldest event is dropped and counted (``deltastream_log_events_dropped``).
The shipper has its own connection, which keeps trying to (re)connect in the background, and
creates the LOGS stream idempotently whenever it connects. Delivery is at most once: core
publishes written into a connection in the instant it breaks are lost with it. It never
logs about itself (that would feed its own buffer while NATS is down); its state is in the
metrics.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from typing import Any

import nats
import nats.errors

from actors import subjects
from actors.metrics import LOG_EVENTS_BUFFERED, LOG_EVENTS_DROPPED, LOG_EVENTS_PUBLISHED
from actors.settings import Settings, nats_servers
from actors.streams import ensure_logs_stream

__all__ = ["LogShipper"]

_STREAM_TIMEOUT_S = 5.0
_RECONNECT_WAIT_S = 0.5


class LogShipper:
    def __init__(self, *, capacity: int, name: str = "deltastream-logs") -> None:
        self.capacity = capacity
        self.name = name
        self.published = 0
        self.dropped = 0
        self.errors = 0
        self.connected = asyncio.Event()  # set while the connection is up (tests wait on it)
        self.disconnected = asyncio.Event()  # set while a connection is lost (until reconnected)
        self.stream_ready = asyncio.Event()  # LOGS was ensured on this connection
        self._buffer: collections.deque[tuple[str, bytes]] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._notified = False
        self._nc: Any = None
        self._settings: Settings | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        LOG_EVENTS_BUFFERED.set_function(lambda: len(self._buffer))

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def offer(self, service: str, payload: bytes) -> None:
        """Queue one encoded event; thread-safe, never blocks, never raises."""
        dropped = False
        with self._lock:
            if len(self._buffer) >= self.capacity:
                self._buffer.popleft()
                self.dropped += 1
                dropped = True
            self._buffer.append((subjects.logs(service), payload))
            loop = self._loop
            notify = loop is not None and not self._notified
            if notify:
                self._notified = True
        if dropped:
            LOG_EVENTS_DROPPED.inc()
        if notify and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: keep the event
                loop.call_soon_threadsafe(self._wake.set)

    async def start(self, settings: Settings) -> None:
        """Begin shipping in the background; returns at once, connected or not."""
        self._settings = settings
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(settings), name="log-shipper")
        self._wake.set()

    async def close(self, timeout_s: float = 2.0) -> None:
        """Send what is buffered (for at most ``timeout_s`` when connected), then disconnect;
        returns within about three times ``timeout_s`` whatever the connection is doing."""
        self._closing = True
        nc = self._nc
        if nc is not None and nc.is_connected:
            with contextlib.suppress(TimeoutError, nats.errors.Error):
                await asyncio.wait_for(self._drain(), timeout_s)
                await nc.flush(timeout=timeout_s)
        if self._task is not None:
            # Python 3.11's wait_for (inside nats-py's connect, and the stream check) can
            # swallow a cancellation that arrives as its inner wait completes; the task then
            # carries on, so its loop also stops on ``_closing`` and this wait is bounded.
            # An unbounded wait here hung `deltastream feed replay` at exit.
            self._task.cancel()
            self._wake.set()
            await asyncio.wait({self._task}, timeout=timeout_s)
            self._task = None
        nc = self._nc  # connected meanwhile, if the connect ignored its cancellation
        if nc is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await asyncio.wait_for(nc.close(), timeout_s)
        self._nc = None
        self._loop = None
        self.connected.clear()
        self.stream_ready.clear()

    async def _run(self, settings: Settings) -> None:
        self._nc = await nats.connect(
            nats_servers(settings.nats_url),
            name=self.name,
            max_reconnect_attempts=-1,  # also keeps retrying the first connect
            reconnect_time_wait=_RECONNECT_WAIT_S,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self.connected.set()
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if not self.stream_ready.is_set() and self._nc.is_connected:
                await self._ensure_stream(settings)
            await self._drain()

    async def _ensure_stream(self, settings: Settings) -> None:
        try:
            await asyncio.wait_for(
                ensure_logs_stream(self._nc.jetstream(), settings), _STREAM_TIMEOUT_S
            )
            self.stream_ready.set()
        except (TimeoutError, nats.errors.Error):
            # No JetStream (or no permission): live subscribers still get the events.
            self.stream_ready.clear()

    async def _drain(self) -> None:
        nc = self._nc
        while True:
            with self._lock:
                self._notified = False
                if not self._buffer or nc is None or not nc.is_connected:
                    return
                batch = list(self._buffer)
                self._buffer.clear()
            sent = 0
            try:
                for subject, payload in batch:
                    if not nc.is_connected:
                        break
                    await nc.publish(subject, payload)
                    sent += 1
            except nats.errors.Error:
                pass
            finally:
                self.published += sent
                LOG_EVENTS_PUBLISHED.inc(sent)
                if sent < len(batch):
                    self._put_back(batch[sent:])
            if sent < len(batch):
                return

    def _put_back(self, unsent: list[tuple[str, bytes]]) -> None:
        with self._lock:
            merged = collections.deque(unsent)
            merged.extend(self._buffer)
            overflow = len(merged) - self.capacity
            for _ in range(max(0, overflow)):
                merged.popleft()
            self._buffer = merged
            if overflow > 0:
                self.dropped += overflow
        if overflow > 0:
            LOG_EVENTS_DROPPED.inc(overflow)

    async def _on_error(self, exc: Exception) -> None:
        self.errors += 1  # not logged: see the module docstring

    async def _on_disconnected(self) -> None:
        self.connected.clear()
        self.stream_ready.clear()
        self.disconnected.set()

    async def _on_reconnected(self) -> None:
        self.stream_ready.clear()  # a restarted server may have lost it
        self.disconnected.clear()
        self.connected.set()
        self._wake.set()
