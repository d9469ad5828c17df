"""The actor host: one process's NATS connection, supervisor, ingress, service and timers.

Start-up order matters for exact recovery: streams → restore snapshots → recreate the
ingress consumer at the checkpoint → start consuming. Shutdown takes a final checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import nats
import nats.errors
import structlog
from nats.micro.service import Service

from actors import subjects
from actors.chain_actor import ChainActor
from actors.ingress import Ingress
from actors.monitoring import MonitoringServer
from actors.products import ProductSpec
from actors.publisher import Publisher
from actors.service import start_service
from actors.settings import Settings
from actors.snapshot_store import Checkpoint, SnapshotStore
from actors.streams import ensure_ingress_consumer, ensure_streams, open_bucket
from actors.supervisor import Supervisor

__all__ = ["ActorHost"]

log = structlog.get_logger(__name__)

FLUSH_PERIOD_S = 0.1


class ActorHost:
    def __init__(
        self,
        settings: Settings,
        products: Mapping[str, ProductSpec],
        *,
        name: str = "actors",
        chain_actor: type[ChainActor] = ChainActor,
    ) -> None:
        self.settings = settings
        self.chain_actor = chain_actor
        self.products = products
        self.name = name
        self.nc: Any = None
        self.supervisor: Supervisor | None = None
        self.ingress: Ingress | None = None
        self.store: SnapshotStore | None = None
        self.publisher: Publisher | None = None
        self.service: Service | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = asyncio.Event()
        self.monitoring: MonitoringServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.settings.actors_http_port:
            # First, so liveness answers (and /health says 503) during a long restore.
            self.monitoring = MonitoringServer(
                self.health,
                host=self.settings.actors_http_host,
                port=self.settings.actors_http_port,
            )
            await self.monitoring.start()
        self.nc = await nats.connect(
            self.settings.nats_url,
            name=f"deltastream-{self.name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_log_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
        )
        js = self.nc.jetstream()
        await ensure_streams(js, self.settings)
        kv = await open_bucket(js, subjects.KV_SNAPSHOTS, self.settings)
        self.store = SnapshotStore(kv)
        self.publisher = Publisher(self.nc, loop)
        self.supervisor = Supervisor(
            js=js,
            store=self.store,
            publisher=self.publisher,
            settings=self.settings,
            products=self.products,
            chain_actor=self.chain_actor,
        )
        await self.supervisor.restore_all()
        checkpoint = await self.store.load_checkpoint()
        start_seq = checkpoint.stream_seq + 1 if checkpoint else 1
        await ensure_ingress_consumer(js, self.settings, start_seq=start_seq)
        self.ingress = Ingress(
            nc=self.nc, js=js, supervisor=self.supervisor, settings=self.settings
        )
        self.ingress.handled_seq = start_seq - 1
        self.service = await start_service(
            self.nc, self.supervisor, timeout_s=self.settings.actor_timeout_s, health=self.health
        )
        self._tasks = [
            asyncio.create_task(self.ingress.run(), name="ingress"),
            asyncio.create_task(self._flush_loop(), name="flush"),
            asyncio.create_task(self._checkpoint_loop(), name="checkpoint"),
        ]
        log.info(
            "actor_host_started",
            nats=self.settings.nats_url,
            start_seq=start_seq,
            chains=len(self.supervisor.chains),
        )
        self.started.set()

    async def _flush_loop(self) -> None:
        assert self.supervisor is not None
        while True:
            self.supervisor.flush_all(time.time_ns())
            await asyncio.sleep(FLUSH_PERIOD_S)

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.snapshot_interval_s)
            try:
                await self.checkpoint()
            except nats.errors.Error as exc:
                log.warning("checkpoint_failed", error=type(exc).__name__)

    async def checkpoint(self) -> int:
        """Snapshot every actor to KV, then record the FEED sequence they all cover."""
        assert self.supervisor and self.store and self.ingress
        watermark = self.ingress.watermark
        chains, products = await self.supervisor.snapshots()
        for snap in chains:
            await self.store.save_chain(snap)
        for psnap in products:
            await self.store.save_product(psnap)
        await self.store.save_checkpoint(
            Checkpoint(stream_seq=watermark, written_ns=time.time_ns())
        )
        log.debug("checkpoint_written", stream_seq=watermark, chains=len(chains))
        return watermark

    def health(self) -> dict[str, Any]:
        sup = self.supervisor.health() if self.supervisor else {"healthy": False}
        connected = bool(self.nc and self.nc.is_connected)
        return {
            **sup,
            "healthy": bool(sup.get("healthy")) and connected,
            "nats_connected": connected,
            "ingress": self.ingress.stats() if self.ingress else None,
        }

    async def stop(self) -> None:
        if self.ingress:
            self.ingress.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, nats.errors.Error, TimeoutError):
                await task
        self._tasks = []
        if self.nc is not None and self.nc.is_connected and self.supervisor:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self.checkpoint()
        if self.publisher:
            await self.publisher.drained()
        if self.service:
            with contextlib.suppress(nats.errors.Error):
                await self.service.stop()
        if self.supervisor:
            self.supervisor.stop_all()
        if self.nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.nc.drain()
        if self.monitoring is not None:
            await self.monitoring.stop()
            self.monitoring = None
        log.info("actor_host_stopped")


async def _log_error(exc: Exception) -> None:
    log.warning("nats_error", error=type(exc).__name__, detail=str(exc)[:200])


async def _log_disconnected() -> None:
    log.warning("nats_disconnected")


async def _log_reconnected() -> None:
    log.info("nats_reconnected")
