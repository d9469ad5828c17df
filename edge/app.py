"""The edge's ASGI application: Starlette for REST, python-socketio for ``/socket.io``.

``create_app(settings)`` returns ``socketio.ASGIApp(sio, other_asgi_app=starlette_app)``;
the Starlette lifespan (forwarded by the Socket.IO app) connects NATS, opens the users
bucket, settles the JWT key, attaches the snapshot client to the socket hub, opens the
optional Redis and MongoDB clients (lazily: an edge starts, degraded, while either is down)
and starts the ANALYTICS bridge. Nothing here blocks the loop: argon2 work runs in threads.
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
from actors.archive.store import ArchiveStore, mongo_client
from actors.errors import ConfigError
from actors.jetstream_ready import when_ready
from actors.redis_store import open_redis
from actors.settings import Settings, nats_servers
from actors.streams import ensure_logs_stream, open_bucket
from edge import openapi
from edge.auth.passwords import PasswordHasher
from edge.auth.ratelimit import SlidingWindowLimiter
from edge.auth.shared_limit import SharedLimiter
from edge.auth.tokens import MIN_KEY_BYTES, TokenIssuer
from edge.auth.users import UserStore
from edge.bridge import Bridge
from edge.dependency import Dependency
from edge.errors import EdgeError, handle_error
from edge.history.cache import HistoryCache
from edge.history.service import HistoryService
from edge.history.stream import AnalyticsHistory
from edge.latest import LatestMessages
from edge.metrics import EdgeMetrics, LatencyMiddleware
from edge.routes import analytics_routes, auth_routes, data_routes, health_routes, logs_routes
from edge.routes.web import routes as web_routes
from edge.snapshots import SnapshotClient
from edge.sockets import SocketHub
from edge.state import EdgeState

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

LOGIN_WINDOW_S = 60.0
LOG_POST_WINDOW_S = 60.0
API_WINDOW_S = 60.0


async def _signing_key(settings: Settings, users: UserStore) -> bytes:
    if settings.jwt_secret is None:
        return await users.signing_key()
    key = settings.jwt_secret.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"setting DELTASTREAM_JWT_SECRET needs at least {MIN_KEY_BYTES} bytes")
    return key


class _Backends:
    """The optional Redis and MongoDB clients of one edge, and their health."""

    def __init__(self, settings: Settings, metrics: EdgeMetrics, mongo: Any) -> None:
        self.redis: Any = None
        self.redis_dep: Dependency | None = None
        self.archive: ArchiveStore | None = None
        self.mongo_dep: Dependency | None = None
        self._own_mongo = False
        if settings.redis_url is not None:
            self.redis = open_redis(settings)
            self.redis_dep = Dependency(
                "redis",
                probe=self.redis.ping,
                retry_s=settings.dependency_retry_s,
                gauge=metrics.up_gauge("redis"),
                consequence="no history cache; rate limits local to this edge",
            )
        if settings.mongo_url is not None or mongo is not None:
            if mongo is None:
                mongo = mongo_client(settings, app_name="deltastream-edge")
                self._own_mongo = True
            self.archive = ArchiveStore.from_settings(settings, mongo)
            self.mongo_dep = Dependency(
                "mongo",
                probe=self.archive.ping,
                retry_s=settings.dependency_retry_s,
                gauge=metrics.up_gauge("mongo"),
                consequence="history from the ANALYTICS stream (recent only)",
            )

    async def start(self) -> None:
        for dep in (self.redis_dep, self.mongo_dep):
            if dep is not None:
                await dep.start()

    async def close(self) -> None:
        for dep in (self.redis_dep, self.mongo_dep):
            if dep is not None:
                await dep.close()
        if self.redis is not None:
            with contextlib.suppress(OSError):
                await self.redis.aclose()
        if self.archive is not None and self._own_mongo:
            self.archive.close()


def create_app(settings: Settings, *, mongo: Any = None) -> socketio.ASGIApp:
    """The edge app. ``mongo``: a motor-compatible client to read the archive with instead of
    one opened from ``settings.mongo_url`` (the tests pass mongomock-motor's)."""
    metrics = EdgeMetrics()
    hub = SocketHub(metrics=metrics, auth_required=settings.auth_required)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nc = await nats.connect(
            nats_servers(settings.nats_url),
            name="deltastream-edge",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_log_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
        )
        bridge: Bridge | None = None
        backends = _Backends(settings, metrics, mongo)
        try:
            js = nc.jetstream()
            try:
                await ensure_logs_stream(js, settings)  # POST /api/logs stores into it
            except (nats.errors.Error, TimeoutError) as exc:
                # The edge serves without it; /api/logs answers 503 until it exists.
                log.warning("logs_stream_unavailable", error=type(exc).__name__)
            # A first edge on a fresh cluster creates the bucket and writes its first key
            # while the bucket's stream may still be electing a leader.
            users = UserStore(
                await when_ready(
                    "users_bucket", lambda: open_bucket(js, subjects.KV_USERS, settings)
                )
            )
            key = await when_ready("signing_key", lambda: _signing_key(settings, users))
            tokens = TokenIssuer(key, ttl_s=settings.token_ttl_s)
            latest = LatestMessages(max_age_s=settings.snapshot_max_age_s)
            snapshots = SnapshotClient(nc, latest=latest)
            hub.attach(snapshots, tokens)
            await backends.start()
            shared = {
                "redis": backends.redis,
                "dependency": backends.redis_dep,
                "prefix": settings.redis_key_prefix,
            }
            cache = None
            if backends.archive is not None and backends.redis_dep is not None:
                cache = HistoryCache(
                    backends.redis,
                    dependency=backends.redis_dep,
                    prefix=settings.redis_key_prefix,
                    ttl_s=settings.history_cache_ttl_s,
                    metrics=metrics,
                )
            api_limiter = None
            if settings.api_requests_per_minute > 0:
                api_limiter = SharedLimiter(
                    scope="api",
                    limit=settings.api_requests_per_minute,
                    window_s=API_WINDOW_S,
                    **shared,
                )
            app.state.edge = EdgeState(
                settings=settings,
                metrics=metrics,
                nc=nc,
                js=js,
                snapshots=snapshots,
                history=HistoryService(
                    AnalyticsHistory(js),
                    metrics=metrics,
                    archive=backends.archive,
                    mongo=backends.mongo_dep,
                    cache=cache,
                ),
                users=users,
                passwords=await asyncio.to_thread(PasswordHasher),
                tokens=tokens,
                login_limiter=SharedLimiter(
                    scope="login",
                    limit=settings.login_attempts_per_minute,
                    window_s=LOGIN_WINDOW_S,
                    **shared,
                ),
                api_limiter=api_limiter,
                log_limiter=SlidingWindowLimiter(
                    limit=settings.log_posts_per_minute, window_s=LOG_POST_WINDOW_S
                ),
                hub=hub,
                redis=backends.redis_dep,
                mongo=backends.mongo_dep,
            )
            bridge = Bridge(nc, hub, metrics, latest)
            await bridge.start()
            metrics.nats_connected.set(1)
            log.info(
                "edge_started",
                nats=settings.nats_url,
                auth_required=settings.auth_required,
                redis=settings.redis_url is not None,
                archive=backends.archive is not None,
            )
            yield
        finally:
            if bridge is not None:
                await bridge.stop()
            await hub.close()
            await backends.close()
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
            *logs_routes,
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
