"""Per-client conflation: a slow client gets the latest payload per (event, room), never a
growing queue.

python-engineio's per-client queue is unbounded: a client that reads slower than the market
moves would make the edge buffer every update for it. Each client instead has an ``Outbox``
holding at most one frame per key (event, room), where room is the message's own room
(``chain:<P>:<E>`` for chain events, ``product:<P>`` for underlying and surface): a newer
frame replaces a pending one in place. One of two deliveries moves frames to the wire:

- ``DirectDelivery`` (websocket clients, ``edge.websocket``): ``offer`` writes the frame to
  the transport at once while its buffer is below the high-water mark and nothing is
  pending; otherwise the frame waits in the outbox, and the transport's "drained" callback
  writes what is pending. No task per client: the fan-out loop and that callback do all the
  work. Held per client: the transport buffer (up to its high-water mark plus the frame that
  crossed it), the kernel's send buffer, and one frame per key here.
- ``QueuedDelivery`` (long-polling clients, and clients that upgraded from polling): a pump
  task hands one frame at a time to python-engineio and waits until its writer took it
  (the engine.io queue is joined; over a websocket uvicorn's ``send`` also waits while the
  transport is paused), so engine.io's queue never holds more than one of our frames. The
  answers to the client's own requests go to engine.io's queue at once, up to
  ``MAX_UNREAD_ANSWERS`` of them not yet taken by the client.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Any

from edge.frames import Frame
from edge.websocket import FrameSink

__all__ = [
    "MAX_UNREAD_ANSWERS",
    "DirectDelivery",
    "Offer",
    "Outbox",
    "OutboxKey",
    "QueuedDelivery",
]

OutboxKey = tuple[str, str]  # (event, room)

# Answers a long-polling client may leave in engine.io's queue before its requests wait. A
# client polls continuously, so a handful at most are ever there; the answer is not held
# back at the first one, because the engine.io client stops polling during its upgrade to a
# websocket until the POST in flight has returned.
MAX_UNREAD_ANSWERS = 32


class Offer(enum.Enum):
    SENT = "sent"  # written to the transport now
    QUEUED = "queued"  # waits in the outbox
    REPLACED = "replaced"  # waits in the outbox, in place of an unsent older frame
    CLOSED = "closed"  # the connection is gone


class Outbox:
    def __init__(self) -> None:
        self._pending: dict[OutboxKey, Frame] = {}
        self.ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, key: OutboxKey, frame: Frame) -> Offer:
        replaced = key in self._pending
        self._pending[key] = frame
        self.ready.set()
        return Offer.REPLACED if replaced else Offer.QUEUED

    def peek(self, key: OutboxKey) -> Frame | None:
        return self._pending.get(key)

    def pop(self) -> Frame | None:
        """The pending frame of the oldest key."""
        if not self._pending:
            self.ready.clear()
            return None
        key = next(iter(self._pending))
        return self._pending.pop(key)

    def forget_room(self, room: str) -> None:
        for key in [k for k in self._pending if k[1] == room]:
            del self._pending[key]


class DirectDelivery:
    """Frames straight to a websocket transport; conflated only while it is paused."""

    def __init__(self, sink: FrameSink, on_sent: Callable[[str, int], None]) -> None:
        self.outbox = Outbox()
        self._sink = sink
        self._on_sent = on_sent
        self.held = 0  # answers waiting for the transport to drain
        sink.on_writable = self._drain

    def offer(self, key: OutboxKey, frame: Frame) -> Offer:
        if not self.outbox and self._sink.writable:
            return Offer.SENT if self._sink.write(frame.wire) else Offer.CLOSED
        offer = self.outbox.put(key, frame)
        if self._sink.writable:  # only after the outbox was filled while paused
            self._drain()
        return offer

    async def send(self, frame: Frame) -> None:
        """A reply to the client's own request (``subscribed``, ``error``...), never
        conflated: written once the transport is below its high-water mark. Waiting holds
        the client's next request back (events are handled one at a time per client, and
        uvicorn reads on only when the last one was taken), so a client that keeps asking
        without reading the answers cannot make the edge buffer them: its requests wait in
        its own socket, and all are answered once it reads again."""
        if not self._sink.writable:
            self.held += 1
            try:
                await self._sink.wait_writable()
            finally:
                self.held -= 1
        if self._sink.write(frame.wire):
            self._on_sent(frame.event, 1)

    def _drain(self) -> None:
        while self._sink.writable:
            frame = self.outbox.pop()
            if frame is None:
                return
            if self._sink.write(frame.wire):
                self._on_sent(frame.event, 1)

    async def close(self) -> None:
        self._sink.on_writable = None


class QueuedDelivery:
    """Frames through python-engineio's queue, one at a time, by a pump task."""

    def __init__(self, eio: Any, eio_sid: str, on_sent: Callable[[str, int], None]) -> None:
        self.outbox = Outbox()
        self._eio = eio  # the engineio.AsyncServer
        self._eio_sid = eio_sid
        self._on_sent = on_sent
        self.held = 0  # answers waiting for the client to take the earlier ones
        self._task = asyncio.create_task(self._pump(), name=f"pump-{eio_sid}")

    def offer(self, key: OutboxKey, frame: Frame) -> Offer:
        return self.outbox.put(key, frame)

    async def send(self, frame: Frame) -> None:
        """A reply to the client's own request, never conflated, into engine.io's queue;
        past ``MAX_UNREAD_ANSWERS`` there, it first waits until the client took them all (or
        is gone). That wait holds the client's POST and so its next requests: a client that
        posts requests without polling for the answers cannot make the edge buffer them."""
        sock = self._socket()
        if sock is None:
            return
        if sock.queue.qsize() >= MAX_UNREAD_ANSWERS:
            taken = asyncio.ensure_future(sock.queue.join())
            self.held += 1
            try:
                # The pump ends when the client is gone (``close``), the join may not.
                await asyncio.wait({taken, self._task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.held -= 1
                taken.cancel()
            if self._socket() is None:
                return
        await self._eio.send(self._eio_sid, frame.packet)
        self._on_sent(frame.event, 1)

    def _socket(self) -> Any:
        sock = self._eio.sockets.get(self._eio_sid)
        return None if sock is None or sock.closed or sock.closing else sock

    async def _pump(self) -> None:
        """Send the outbox's frames, oldest key first, one at a time, until the client is
        gone. Each waits until engine.io's writer took the previous one (the queue is
        joined), so engine.io's queue holds at most one of them."""
        outbox = self.outbox
        while True:
            await outbox.ready.wait()
            frame = outbox.pop()
            if frame is None:
                continue
            sock = self._socket()
            if sock is None:
                return
            await self._eio.send(self._eio_sid, frame.packet)
            await sock.queue.join()
            self._on_sent(frame.event, 1)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
