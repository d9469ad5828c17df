"""The actor host's small HTTP endpoint for Prometheus and probes (uvicorn, in-process).

::

    GET /metrics       Prometheus text: the host's metrics and the process's log shipping
    GET /health        200 when the supervisor has not escalated and NATS is connected,
                       else 503; the body is ``ActorHost.health()`` (the same as
                       ``deltastream.svc.health``)
    GET /health/live   200 while the process answers and its NATS connection is not
                       closed for good (503 then: only a restart brings it back)

It listens on ``actors_http_host``:``actors_http_port`` (port 0 here lets the OS pick; the
host starts it only when the setting is not 0). Signals stay with the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator
from typing import Any

import msgspec
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.metrics import ACTOR_HOST_HEALTHY, LOG_REGISTRY

__all__ = ["MonitoringServer", "monitoring_app"]

_STARTUP_TIMEOUT_S = 30.0
_encoder = msgspec.json.Encoder(enc_hook=repr)


def _json(body: Any, status_code: int = 200) -> Response:
    return Response(_encoder.encode(body), status_code=status_code, media_type="application/json")


def monitoring_app(
    health: Callable[[], dict[str, Any]], alive: Callable[[], str | None] = lambda: None
) -> Starlette:
    """``alive`` returns why the process can no longer recover by itself, or None."""

    async def metrics(request: Request) -> Response:
        ACTOR_HOST_HEALTHY.set(1 if health().get("healthy") else 0)
        body = generate_latest(REGISTRY) + generate_latest(LOG_REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def ready(request: Request) -> Response:
        state = health()
        return _json(state, status_code=200 if state.get("healthy") else 503)

    async def live(request: Request) -> Response:
        dead = alive()
        if dead is not None:
            return _json({"status": "dead", "detail": dead}, status_code=503)
        return _json({"status": "ok"})

    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=["GET"]),
            Route("/health", ready, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
        ]
    )


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the process's owner handles SIGINT/SIGTERM


class MonitoringServer:
    def __init__(
        self,
        health: Callable[[], dict[str, Any]],
        *,
        host: str,
        port: int,
        alive: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.host = host
        self.port = port
        self._health = health
        self._alive = alive
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (raises OSError when the port is taken) and wait until uvicorn serves."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            monitoring_app(self._health, self._alive),
            lifespan="off",
            log_config=None,
            access_log=False,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(
            self._server.serve(sockets=[sock]), name="actors-monitoring"
        )
        ready = asyncio.create_task(self._server.ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=_STARTUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            await self.stop()
            raise RuntimeError(f"the monitoring endpoint did not start on {self.url}")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()
        self._server = None
        self._task = None
        self._sock = None
