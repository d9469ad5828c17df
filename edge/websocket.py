"""The edge's websocket protocol: uvicorn's wsproto protocol plus a direct frame path.

python-engineio passes every outgoing packet through a queue and a writer task per
connection, and uvicorn's ASGI ``send`` frames each message again per connection; with a
room of 1,000 clients that per-connection work was where an edge's time went
(bench/RESULTS.md). ``FrameProtocol`` puts a ``FrameSink`` into the websocket scope's ASGI
extensions under ``FRAMES_EXTENSION``. The socket hub writes frames built once
(``edge.frames``) straight to the connection's transport through it, and the sink tells when
the transport's buffer went above its high-water mark (``writable`` false: conflate, see
``edge.conflation``) and when it drained again (``on_writable``).

Everything else (handshake, reads, close, keep-alive pings, python-engineio's own packets)
stays uvicorn's. Both paths write whole frames synchronously on the event loop, so frames
never interleave on the wire.
"""

from __future__ import annotations

from collections.abc import Callable

from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import events

__all__ = ["FRAMES_EXTENSION", "FrameProtocol", "FrameSink"]

FRAMES_EXTENSION = "deltastream.frames"


class FrameSink:
    """Direct writes of complete websocket frames to one connection (event loop only)."""

    __slots__ = ("_protocol", "on_writable")

    def __init__(self, protocol: FrameProtocol) -> None:
        self._protocol = protocol
        # Called (synchronously, from the transport) when a paused transport drained.
        self.on_writable: Callable[[], None] | None = None

    @property
    def open(self) -> bool:
        # uvicorn answers a client's close frame and closes the transport in the same call
        # that read it, so these flags cover every state in which frames must not be sent.
        p = self._protocol
        return not (p.close_sent or p.disconnected or p.transport.is_closing())

    @property
    def writable(self) -> bool:
        """Open, and the transport's buffer is below its high-water mark."""
        return self._protocol.writable.is_set() and self.open

    async def wait_writable(self) -> None:
        """Until the transport's buffer is below its high-water mark, or the connection is
        gone (uvicorn sets the event then too)."""
        await self._protocol.writable.wait()

    def write(self, frame: bytes) -> bool:
        """Write one complete frame now (whatever the buffer holds); False when closed."""
        if not self.open:
            return False
        self._protocol.transport.write(frame)
        return True


class FrameProtocol(WSProtocol):
    frames: FrameSink | None = None

    def handle_connect(self, event: events.Request) -> None:
        super().handle_connect(event)
        self.frames = FrameSink(self)
        extensions = self.scope.setdefault("extensions", {})
        assert extensions is not None
        extensions[FRAMES_EXTENSION] = {"sink": self.frames}

    def resume_writing(self) -> None:
        super().resume_writing()
        sink = self.frames
        if sink is not None and sink.on_writable is not None:
            sink.on_writable()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.frames is not None:
            self.frames.on_writable = None
