"""The edge's ASGI application: Starlette for REST, python-socketio for ``/socket.io``.

``create_app(settings)`` returns ``socketio.ASGIApp(sio, other_asgi_app=starlette_app)``;
the Starlette lifespan (forwarded by the Socket.IO app) connects NATS, opens the users
bucket, settles the JWT key, attaches the snapshot client to the socket hub and starts the
ANALYTICS bridge. Nothing here blocks the loop: argon2 work runs in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import nats
import nats.errors
import socketio
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from actors import subjects
from actors.errors import ConfigError
from actors.settings import Settings
from actors.streams import open_bucket
from edge import openapi
from edge.auth.passwords import PasswordHasher
from edge.auth.ratelimit import SlidingWindowLimiter
from edge.auth.tokens import MIN_KEY_BYTES, TokenIssuer
from edge.auth.users import UserStore
from edge.bridge import Bridge
from edge.errors import EdgeError, handle_error
from edge.history import AnalyticsHistory
from edge.latest import LatestMessages
from edge.metrics import EdgeMetrics, LatencyMiddleware
from edge.routes import analytics_routes, auth_routes, data_routes, health_routes
from edge.routes.web import routes as web_routes
from edge.snapshots import SnapshotClient
from edge.sockets import SocketHub
from edge.state import EdgeState

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

LOGIN_WINDOW_S = 60.0


async def _signing_key(settings: Settings, users: UserStore) -> bytes:
    if settings.jwt_secret is None:
        return await users.signing_key()
    key = settings.jwt_secret.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"setting DELTASTREAM_JWT_SECRET needs at least {MIN_KEY_BYTES} bytes")
    return key


def create_app(settings: Settings) -> socketio.ASGIApp:
    metrics = EdgeMetrics()
    hub = SocketHub(metrics=metrics, auth_required=settings.auth_required)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nc = await nats.connect(
            settings.nats_url,
            name="deltastream-edge",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_log_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
        )
        bridge: Bridge | None = None
        try:
            js = nc.jetstream()
            users = UserStore(await open_bucket(js, subjects.KV_USERS, settings))
            tokens = TokenIssuer(await _signing_key(settings, users), ttl_s=settings.token_ttl_s)
            latest = LatestMessages(max_age_s=settings.snapshot_max_age_s)
            snapshots = SnapshotClient(nc, latest=latest)
            hub.attach(snapshots, tokens)
            limit = settings.login_attempts_per_minute
            app.state.edge = EdgeState(
                settings=settings,
                metrics=metrics,
                nc=nc,
                js=js,
                snapshots=snapshots,
                history=AnalyticsHistory(js),
                users=users,
                passwords=await asyncio.to_thread(PasswordHasher),
                tokens=tokens,
                account_limiter=SlidingWindowLimiter(limit=limit, window_s=LOGIN_WINDOW_S),
                address_limiter=SlidingWindowLimiter(limit=limit, window_s=LOGIN_WINDOW_S),
                hub=hub,
            )
            bridge = Bridge(nc, hub, metrics, latest)
            await bridge.start()
            metrics.nats_connected.set(1)
            log.info("edge_started", nats=settings.nats_url, auth_required=settings.auth_required)
            yield
        finally:
            if bridge is not None:
                await bridge.stop()
            await hub.close()
            with contextlib.suppress(nats.errors.Error, OSError):
                await nc.drain()
            log.info("edge_stopped")

    handlers: dict[Any, Any] = {
        Exception: handle_error,
        HTTPException: handle_error,
        EdgeError: handle_error,
        msgspec.ValidationError: handle_error,
    }
    starlette_app = Starlette(
        routes=[
            *data_routes,
            *analytics_routes,
            *auth_routes,
            *health_routes,
            *openapi.routes,
            *web_routes,
        ],
        lifespan=lifespan,
        exception_handlers=handlers,
        middleware=[
            Middleware(LatencyMiddleware, metrics=metrics, routes=lambda: starlette_app.routes)
        ],
    )
    return socketio.ASGIApp(hub.sio, other_asgi_app=starlette_app, socketio_path="socket.io")


async def _log_error(exc: Exception) -> None:
    log.warning("nats_error", error=type(exc).__name__)


async def _log_disconnected() -> None:
    log.warning("nats_disconnected")


async def _log_reconnected() -> None:
    log.info("nats_reconnected")
