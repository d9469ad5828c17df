"""The actor host: one process's NATS connection, snapshot service, partition leases and
the workers of the FEED partitions it owns.

Start-up: streams and buckets → the snapshot service → a first lease round, which takes the
host's share of the free partitions and starts a ``PartitionWorker`` for each (restore
snapshots → recreate the partition's consumer at its checkpoint → consume). From then on
the ``LeaseKeeper`` renews, hands partitions over and takes them as hosts come and go.
Shutdown stops every worker gracefully (a final checkpoint each) and gives the leases back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
from collections.abc import Mapping
from typing import Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.micro.service import Service

from actors import subjects
from actors.chain_actor import ChainActor
from actors.ingress import Ingress
from actors.jetstream_ready import when_ready
from actors.leases import LeaseKeeper
from actors.metrics import recompute_histogram
from actors.monitoring import MonitoringServer
from actors.partition_worker import PartitionWorker
from actors.products import ProductSpec
from actors.service import SnapshotService
from actors.settings import Settings, nats_servers
from actors.snapshot_store import SnapshotStore
from actors.streams import ensure_streams, open_bucket, open_lease_bucket
from actors.supervisor import Supervisor

__all__ = ["ActorHost", "default_host_id"]

log = structlog.get_logger(__name__)


def default_host_id() -> str:
    """``<hostname>-<pid>``, reduced to the characters a KV key token allows."""
    raw = f"{socket.gethostname()}-{os.getpid()}"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in raw)[:64]


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
        self._closing = False  # stop() has begun: a closed connection is expected
        self.nats_closed = asyncio.Event()  # the NATS connection closed (for good)
        self.host_id = settings.host_id or default_host_id()
        self.nc: Any = None
        self.store: SnapshotStore | None = None
        self.snapshot_service: SnapshotService | None = None
        self.service: Service | None = None
        self.leases: LeaseKeeper | None = None
        self.workers: dict[int, PartitionWorker] = {}
        # Notified whenever a partition starts or stops here (a lost lease taken back gives
        # the partition a new worker, whose ingress starts again from the last checkpoint).
        self.partitions_changed = asyncio.Condition()
        self._partition_locks = {k: asyncio.Lock() for k in range(settings.partitions)}
        self._lease_task: asyncio.Task[None] | None = None
        self.started = asyncio.Event()
        self.monitoring: MonitoringServer | None = None

    # With one partition (the default) these are that partition's, as before scale-out.
    @property
    def supervisor(self) -> Supervisor | None:
        worker = self.workers.get(0) if self.settings.partitions == 1 else None
        return worker.supervisor if worker else None

    @property
    def ingress(self) -> Ingress | None:
        worker = self.workers.get(0) if self.settings.partitions == 1 else None
        return worker.ingress if worker else None

    async def start(self) -> None:
        if self.settings.actors_http_port:
            # First, so liveness answers (and /health says 503) during a long restore.
            self.monitoring = MonitoringServer(
                self.health,
                host=self.settings.actors_http_host,
                port=self.settings.actors_http_port,
                alive=self.dead_reason,
            )
            await self.monitoring.start()
        self.nc = await nats.connect(
            nats_servers(self.settings.nats_url),
            name=f"deltastream-{self.name}-{self.host_id}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_log_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
            closed_cb=self._on_closed,
        )
        js = self.nc.jetstream()
        await when_ready("streams", lambda: ensure_streams(js, self.settings))
        kv = await when_ready(
            "snapshots_bucket", lambda: open_bucket(js, subjects.KV_SNAPSHOTS, self.settings)
        )
        self.store = SnapshotStore(kv, js, partitions=self.settings.partitions)
        self.snapshot_service = SnapshotService(
            self.nc,
            partitions=self.settings.partitions,
            key=self.settings.partition_key,
            local=self._local_supervisor,
            timeout_s=self.settings.actor_timeout_s,
            health=self.health,
        )
        self.service = await self.snapshot_service.start()
        self.leases = LeaseKeeper(
            js,
            await when_ready("lease_bucket", lambda: open_lease_bucket(js, self.settings)),
            self,
            partitions=self.settings.partitions,
            host_id=self.host_id,
            ttl_s=self.settings.lease_ttl_s,
            renew_s=self.settings.lease_renew_s,
            reopen=lambda: open_lease_bucket(js, self.settings),
        )
        await when_ready("identity", self.leases.claim_identity)
        # One round now, so that a host alone with free partitions owns them on return.
        try:
            await self.leases.round()
        except nats.errors.Error as exc:
            # e.g. the lease bucket was just created and its stream has no leader yet:
            # the keeper's loop tries again.
            log.warning("first_lease_round_failed", error=type(exc).__name__)
        await self.leases.settled()
        self._lease_task = asyncio.create_task(self.leases.run(), name="leases")
        if gc.get_freeze_count() == 0:
            # Start-up built most of what lives for good (modules, compiled kernels,
            # restored actors): freezing it keeps the cyclic GC from rescanning it in every
            # full collection, each of which stalled every thread for 0.1-0.2 s under a
            # backlog (bench/pipeline.py). Once per process; garbage is collected first.
            gc.collect()
            gc.freeze()
        log.info(
            "actor_host_started",
            nats=self.settings.nats_url,
            host_id=self.host_id,
            partitions=self.settings.partitions,
            owned=sorted(self.workers),
        )
        self.started.set()

    def _local_supervisor(self, partition: int) -> Supervisor | None:
        worker = self.workers.get(partition)
        return worker.supervisor if worker is not None else None

    # ------------------------------------------------------------ PartitionOwner

    async def start_partition(self, partition: int) -> None:
        assert self.leases is not None and self.store is not None
        leases = self.leases
        async with self._partition_locks[partition]:
            if partition in self.workers:
                return
            worker = PartitionWorker(
                partition,
                nc=self.nc,
                settings=self.settings,
                store=self.store,
                products=self.products,
                held=lambda: leases.held(partition),
                host_id=self.host_id,
                chain_actor=self.chain_actor,
            )
            try:
                await worker.start()
            except BaseException:
                await worker.stop(graceful=False)
                raise
            self.workers[partition] = worker
            await self._notify_partitions_changed()
            if self.snapshot_service is not None:
                await self.snapshot_service.serve_partition(partition)

    async def stop_partition(self, partition: int, *, graceful: bool) -> None:
        async with self._partition_locks[partition]:
            worker = self.workers.pop(partition, None)
            if worker is None:
                return
            await self._notify_partitions_changed()
            if self.snapshot_service is not None:
                await self.snapshot_service.stop_serving_partition(partition)
            await worker.stop(graceful=graceful)

    async def _notify_partitions_changed(self) -> None:
        async with self.partitions_changed:
            self.partitions_changed.notify_all()

    # ------------------------------------------------------------ checkpoints, health

    async def checkpoint(self) -> int | None:
        """Checkpoint every partition this host runs; the lowest FEED sequence they cover
        (with one partition: its watermark), None when nothing was written."""
        written = [await w.checkpoint() for _, w in sorted(self.workers.items())]
        covered = [w for w in written if w is not None]
        return min(covered) if covered else None

    def health(self) -> dict[str, Any]:
        by_partition = {k: w.health() for k, w in sorted(self.workers.items())}
        parts = list(by_partition.values())
        connected = bool(self.nc and self.nc.is_connected)
        escalations = [p["escalation"] for p in parts if p.get("escalation")]
        # Not ready until start-up (streams, service, the first lease round) is done.
        healthy = all(p["healthy"] for p in parts) and connected and self.started.is_set()
        # One partition: its own stats; several: an object of them per owned partition.
        per: dict[str, Any] = {}
        for key in ("ingress", "publisher", "feed"):
            if self.settings.partitions == 1:
                per[key] = parts[0][key] if parts else None
            else:
                per[key] = {str(k): p[key] for k, p in by_partition.items()}
        return {
            "host_id": self.host_id,
            "healthy": healthy,
            "escalation": escalations[0] if escalations else None,
            "chains": sum(p["chains"] for p in parts),
            "products": sum(p["products"] for p in parts),
            "chains_down": sorted(c for p in parts for c in p["chains_down"]),
            "products_down": sorted(c for p in parts for c in p["products_down"]),
            "restarts": sum(p["restarts"] for p in parts),
            "chains_retired": sum(p["chains_retired"] for p in parts),
            # Running, but something was or may be lost (FEED's limits): /health says degraded.
            "warnings": [w for p in parts for w in p["warnings"]],
            "nats_connected": connected,
            **per,
            "leases": self.leases.stats() if self.leases else None,
            "forwarded": self.snapshot_service.forwarded if self.snapshot_service else 0,
            # The process's recompute times (all chains of this host; hosts that share one
            # process, as in tests, share the histogram).
            "recompute": recompute_histogram(),
            **self._notes_health(parts),
        }

    def _notes_health(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """Keyed by chain: the product notes of all owned partitions, summed."""
        if not self.settings.feed_layout().by_chain:
            return {}
        keys = ("sent", "received", "malformed")
        return {"product_notes": {k: sum(p["product_notes"][k] for p in parts) for k in keys}}

    def dead_reason(self) -> str | None:
        """Why this host cannot recover by itself (for the liveness probe), or None."""
        if self.nc is not None and self.nc.is_closed and not self._closing:
            return "the NATS connection is closed for good (a server protocol error)"
        return None

    async def _on_closed(self) -> None:
        # nats-py reconnects after any network trouble; it closes for good only on a protocol
        # error from the server. Nothing here works after that: say so, and fail liveness.
        self.nats_closed.set()
        if not self._closing:
            log.critical("nats_connection_closed", hint="restart this actor host")

    async def stop(self) -> None:
        self._closing = True
        if self.leases is not None:
            if self.nc is not None and self.nc.is_connected:
                await self.leases.stop()
            else:
                for k in list(self.workers):
                    await self.stop_partition(k, graceful=False)
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
                await self._lease_task
            self._lease_task = None
        for k in list(self.workers):  # left by a failed start
            await self.stop_partition(k, graceful=False)
        if self.snapshot_service is not None:
            # ``service`` is None when somebody (a test) already stopped the micro service.
            with contextlib.suppress(nats.errors.Error):
                await self.snapshot_service.stop(micro=self.service is not None)
        if self.nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.nc.drain()
        if self.monitoring is not None:
            await self.monitoring.stop()
            self.monitoring = None
        log.info("actor_host_stopped", host_id=self.host_id)


async def _log_error(exc: Exception) -> None:
    log.warning("nats_error", error=type(exc).__name__, detail=str(exc)[:200])


async def _log_disconnected() -> None:
    log.warning("nats_disconnected")


async def _log_reconnected() -> None:
    log.info("nats_reconnected")
