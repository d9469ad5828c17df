"""Run the edge's uvicorn server in-process, on the running event loop.

``serve(settings, stop=..., ready=..., bound=..., mongo=...)`` returns when ``stop`` is set (or
raises when start-up failed). ``ready`` is set once the lifespan finished and the socket
listens. With ``http_port`` 0 the OS picks a free port: the socket is bound before uvicorn
starts, and its port is appended to ``bound`` (a list the caller passes) before ``ready``
is set. ``mongo`` is an optional archive client (see ``create_app``). Signals are left to
the caller (``edge/cli.py`` turns SIGINT/SIGTERM into ``stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from actors.settings import Settings
from edge.app import create_app
from edge.websocket import FrameProtocol

__all__ = ["serve"]

# Engine.IO packets are capped far lower (edge.sockets); this is the websocket frame guard.
WS_MAX_FRAME_BYTES = 1024 * 1024
# Accepted sockets inherit this from the listener. A fixed kernel send buffer stops Linux
# autotuning from parking up to tcp_wmem[2] (4 MiB) per stalled client, and makes a slow
# client's back-pressure reach the per-client conflation sooner. 256 KiB still carries a
# full chain per round trip to a distant browser.
SOCKET_SEND_BUFFER_BYTES = 256 * 1024


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: asyncio.Event | None) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit and self._ready is not None:
            self._ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the caller owns signal handling and sets ``stop``


def _listen(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it Nagle + delayed ACKs hold every keep-alive response ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER_BYTES)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    bound: list[int] | None = None,
    mongo: Any = None,
) -> None:
    config = uvicorn.Config(
        create_app(settings, mongo=mongo),
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,
        access_log=False,
        # uvicorn's wsproto protocol plus the direct frame path of the Socket.IO fan-out;
        # per-client conflation (edge.conflation) sees a slow client by the transport's
        # high-water mark (pause_writing/resume_writing).
        ws=FrameProtocol,
        ws_max_size=WS_MAX_FRAME_BYTES,
        # X-Forwarded-For names the client (rate limits are per address) only when it comes
        # from a trusted proxy: the reverse proxy in front of the edges.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    sock = _listen(settings.http_host, settings.http_port, reuse_port=settings.http_reuse_port)
    if bound is not None:
        bound.append(sock.getsockname()[1])
    server = _Server(config, ready)

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stopper(), name="edge-stop")
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        sock.close()
    if not server.started and not stop.is_set():
        raise RuntimeError("the edge failed to start (see the log for the lifespan error)")
