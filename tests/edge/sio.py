"""Test clients: a python-socketio AsyncClient that queues every event, and a raw
engine.io-over-websocket client (wsproto on an asyncio socket) whose reads the test controls."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
import wsproto
import wsproto.events

EVENT_TIMEOUT_S = 15.0


class Recorder:
    """Connects an AsyncClient and puts every (event, data) it receives into a queue."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def any_event(event: str, *args: Any) -> None:
            await self.events.put((event, args[0] if args else None))

        self.client.on("*", any_event)

    async def next(self, *names: str, where: Any = None) -> Any:
        """The data of the next event named in ``names`` (that ``where`` accepts)."""
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                event, data = await self.events.get()
                if event in names and (where is None or where(data)):
                    return data

    def drain(self) -> list[tuple[str, Any]]:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out


@asynccontextmanager
async def recorder(
    url: str, auth: Any = None, transports: list[str] | None = None
) -> AsyncIterator[Recorder]:
    """A connected ``Recorder``; websocket only unless ``transports`` says otherwise."""
    rec = Recorder()
    await rec.client.connect(
        url, auth=auth, transports=transports or ["websocket"], wait_timeout=10
    )
    try:
        yield rec
    finally:
        await rec.client.disconnect()


class RawEngineIO:
    """Engine.IO v4 over a websocket with a tiny receive buffer; stops reading on request."""

    def __init__(self, port: int, *, rcvbuf: int = 4096) -> None:
        self.port = port
        self.rcvbuf = rcvbuf
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._texts: list[str] = []
        self._partial = ""

    async def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)  # before connect
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        # A small stream limit too: asyncio stops reading the socket past it.
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=self.rcvbuf)
        target = "/socket.io/?EIO=4&transport=websocket"
        self._send(wsproto.events.Request(host="127.0.0.1", target=target))
        await self.writer.drain()
        assert (await self.recv()).startswith("0")  # engine.io OPEN
        await self.send_text("40")  # socket.io CONNECT to "/"
        assert (await self.recv()).startswith("40")

    def _send(self, event: Any) -> None:
        assert self.writer is not None
        self.writer.write(self.ws.send(event))

    async def send_text(self, text: str) -> None:
        assert self.writer is not None
        self._send(wsproto.events.Message(data=text))
        await self.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        """A binary websocket message (an engine.io v4 binary packet, e.g. an attachment)."""
        assert self.writer is not None
        self._send(wsproto.events.Message(data=data))
        await self.writer.drain()

    async def emit(self, event: str, data: Any) -> None:
        await self.send_text("42" + json.dumps([event, data]))

    async def recv(self, timeout_s: float | None = EVENT_TIMEOUT_S) -> str:
        """The next text message; answers engine.io pings on the way."""
        assert self.reader is not None
        async with asyncio.timeout(timeout_s):
            while not self._texts:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("server closed the websocket")
                self.ws.receive_data(chunk)
                for ev in self.ws.events():
                    if isinstance(ev, wsproto.events.TextMessage):
                        self._partial += ev.data
                        if ev.message_finished:
                            self._texts.append(self._partial)
                            self._partial = ""
                    elif isinstance(ev, wsproto.events.Ping):
                        self._send(ev.response())
                    elif isinstance(ev, wsproto.events.CloseConnection):
                        raise ConnectionError(f"server closed the websocket ({ev.code})")
            text = self._texts.pop(0)
        if text == "2":  # engine.io PING
            await self.send_text("3")
            return await self.recv(timeout_s)
        return text

    async def next_event(self, name: str) -> Any:
        while True:
            text = await self.recv()
            if text.startswith("42"):
                event, *args = json.loads(text[2:])
                if event == name:
                    return args[0] if args else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
