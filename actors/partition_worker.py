"""One FEED partition at work on this host: its supervisor, ingress, publisher and timers.

Start (once the host holds the partition's lease) — the order matters for exact recovery:
restore the snapshots of the partition's chains and product actors → recreate its durable
consumer at its checkpoint + 1 → consume. Keyed by chain, the worker also takes product
notes (``actors/product_notes.py``) for the product actors it runs and repeats its own
chains' notes to the others every ``NOTE_REPEAT_PERIOD_S``. Stop, gracefully (the lease is
still held, the partition is being handed over or the host shuts down): stop consuming,
checkpoint, stop the actors, wait until their last publishes left. Stop, fenced (the lease
was lost): stop at once, drop what was not published yet and write nothing; the next owner
starts from the last checkpoint. While a renewal is only overdue the worker pauses (ingress,
publishes, checkpoints wait on ``held``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
import nats.errors
import structlog

from actors import subjects
from actors.chain_actor import ChainActor
from actors.feed_watch import FeedWatch
from actors.ingress import Ingress
from actors.product_notes import decode_note, deliver, loop_sender
from actors.products import ProductSpec
from actors.publisher import Publisher
from actors.settings import Settings
from actors.snapshot_store import Checkpoint, SnapshotStore
from actors.streams import ensure_ingress_consumer
from actors.supervisor import Supervisor

__all__ = ["PartitionWorker"]

log = structlog.get_logger(__name__)

FLUSH_PERIOD_S = 0.1
FEED_CHECK_PERIOD_S = 5.0
# Keyed by chain: how often chains repeat their latest notes to a product actor elsewhere.
NOTE_REPEAT_PERIOD_S = 5.0
# A hand-over (checkpoint, last publishes) that takes longer is abandoned: the next owner
# then replays from the previous checkpoint instead.
GRACEFUL_STOP_S = 10.0


class PartitionWorker:
    def __init__(
        self,
        partition: int,
        *,
        nc: Any,
        settings: Settings,
        store: SnapshotStore,
        products: Mapping[str, ProductSpec],
        held: Callable[[], bool],
        host_id: str = "",
        chain_actor: type[ChainActor] = ChainActor,
    ) -> None:
        self.partition = partition
        self.nc = nc
        self.js = nc.jetstream()
        self.settings = settings
        self.store = store
        self.held = held
        self.layout = settings.feed_layout()
        loop = asyncio.get_running_loop()
        self.publisher = Publisher(nc, loop, gate=held)
        self.supervisor = Supervisor(
            js=self.js,
            store=store,
            publisher=self.publisher,
            settings=settings,
            products=products,
            chain_actor=chain_actor,
            partition=partition,
            send_note=loop_sender(nc, loop, held) if self.layout.by_chain else None,
        )
        self._notes_sub: Any = None
        self.notes_received = 0  # handed to a product actor here
        self.notes_malformed = 0
        self.ingress: Ingress | None = None
        self.feed_watch: FeedWatch | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Loops also check this: Python 3.11's wait_for can swallow a cancellation that
        # arrives as its inner request completes, and a swallowed one must not keep a loop up.
        self._closing = asyncio.Event()
        self.log = log.bind(partition=partition, host=host_id)

    async def start(self) -> None:
        started = time.perf_counter()
        await self.supervisor.restore_all()
        if self.layout.by_chain:
            self._notes_sub = await self.nc.subscribe(subjects.product_note("*"), cb=self._on_note)
        checkpoint = await self.store.load_checkpoint(partition=self.partition)
        start_seq = checkpoint.stream_seq + 1 if checkpoint else 1
        durable = await ensure_ingress_consumer(
            self.js, self.settings, start_seq=start_seq, partition=self.partition
        )
        self.feed_watch = FeedWatch(
            self.js, durable=durable, partition=self.partition, partitions=self.settings.partitions
        )
        if checkpoint:
            await self.feed_watch.check_start(start_seq)
        self.ingress = Ingress(
            nc=self.nc,
            js=self.js,
            supervisor=self.supervisor,
            settings=self.settings,
            durable=durable,
            partition=self.partition,
            active=self.held,
        )
        self.ingress.handled_seq = start_seq - 1
        snapshot_s = self.settings.snapshot_interval_s
        self._tasks = [
            asyncio.create_task(self.ingress.run(), name=f"ingress-{self.partition}"),
            asyncio.create_task(self._flush_loop(), name=f"flush-{self.partition}"),
            asyncio.create_task(
                self._every(snapshot_s, self.checkpoint, "checkpoint_failed"),
                name=f"checkpoint-{self.partition}",
            ),
            asyncio.create_task(
                self._every(FEED_CHECK_PERIOD_S, self._check_feed, "feed_check_failed"),
                name=f"feed-check-{self.partition}",
            ),
        ]
        if self.layout.by_chain:
            self._tasks.append(
                asyncio.create_task(
                    self._every(NOTE_REPEAT_PERIOD_S, self._repeat_notes, "note_repeat_failed"),
                    name=f"note-repeat-{self.partition}",
                )
            )
        self.log.info(
            "partition_started",
            start_seq=start_seq,
            chains=len(self.supervisor.chains),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _flush_loop(self) -> None:
        # The actors build their rate-limited views (enriched chains, smiles, surfaces) when
        # this tick reaches them. Sent just after a feed batch is done, that work runs in the
        # gap before the next batch instead of inside one, where it would hold back that
        # batch's summaries (bench/RESULTS.md); with no feed the tick is only later by
        # FLUSH_PERIOD_S at most.
        while not self._closing.is_set():
            self.supervisor.flush_all(time.time_ns())
            await asyncio.sleep(FLUSH_PERIOD_S)
            if self.ingress is not None:
                await self.ingress.batch_finished(FLUSH_PERIOD_S)

    async def _every(
        self, period_s: float, action: Callable[[], Awaitable[object]], failed: str
    ) -> None:
        """Run ``action`` every ``period_s`` until the worker closes; a NATS error is logged
        as ``failed`` and the next round tries again."""
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), period_s)
                return
            try:
                await action()
            except nats.errors.Error as exc:
                self.log.warning(failed, error=type(exc).__name__)

    async def _repeat_notes(self) -> None:
        if self.held():
            for remote in list(self.supervisor.remote_products.values()):
                remote.repeat()

    async def _check_feed(self) -> None:
        if self.feed_watch is not None and self.held():
            await self.feed_watch.check()

    async def _on_note(self, msg: Any) -> None:
        """A chain of another partition tells its product actor, which runs here when this
        is the product's home partition (keyed by chain)."""
        try:
            note = decode_note(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.notes_malformed += 1
            self.log.warning("product_note_malformed", error=str(exc)[:200])
            return
        # Only to a product actor that exists: ticks reach every partition, so the home has
        # one from the product's first tick on; an earlier note comes again (``repeat``).
        ref = self.supervisor.product_refs.get(note.product)
        if ref is not None and self.held():
            self.notes_received += 1
            deliver(ref, note)

    async def checkpoint(self) -> int | None:
        """Snapshot every actor of the partition to KV, then record the FEED sequence they all
        cover. None (nothing written) when the host may no longer own the partition."""
        if self.ingress is None or not self.held():
            return None
        watermark = self.ingress.watermark
        chains, products = await self.supervisor.snapshots()
        for snap in chains:
            await self.store.save_chain(snap)
        for psnap in products:
            await self.store.save_product(psnap)
        if not self.held():
            return None
        await self.store.save_checkpoint(
            Checkpoint(stream_seq=watermark, written_ns=time.time_ns()), partition=self.partition
        )
        self.log.debug("checkpoint_written", stream_seq=watermark, chains=len(chains))
        return watermark

    async def stop(self, *, graceful: bool) -> None:
        if self.ingress is not None:
            self.ingress.stop()
        if self._notes_sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._notes_sub.unsubscribe()
            self._notes_sub = None
        self._closing.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            done, stuck = await asyncio.wait(self._tasks, timeout=GRACEFUL_STOP_S)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    self.log.warning("partition_task_failed", task=task.get_name())
            for task in stuck:
                self.log.error("partition_task_stuck", task=task.get_name())
        self._tasks = []
        if graceful:
            try:
                await asyncio.wait_for(self._hand_over(), GRACEFUL_STOP_S)
            except TimeoutError:
                self.log.warning("partition_hand_over_slow", timeout_s=GRACEFUL_STOP_S)
                graceful = False
        self.supervisor.stop_all()
        if not graceful:
            self.publisher.discard()
        await self.publisher.close()
        self.log.info("partition_stopped", graceful=graceful)

    async def _hand_over(self) -> None:
        if self.nc.is_connected:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self.checkpoint()
        # Hand over only once what the actors published is on its way to the server, so the
        # next owner's publish floors see it.
        await self.publisher.drained()
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self.nc.flush(timeout=2)

    def health(self) -> dict[str, Any]:
        notes = {}
        if self.layout.by_chain:
            sent = sum(r.sent for r in self.supervisor.remote_products.values())
            notes["product_notes"] = {
                "sent": sent,
                "received": self.notes_received,
                "malformed": self.notes_malformed,
            }
        return {
            **self.supervisor.health(),
            **notes,
            "ingress": self.ingress.stats() if self.ingress else None,
            "publisher": self.publisher.stats(),
            "feed": self.feed_watch.stats() if self.feed_watch else None,
            "warnings": self.feed_watch.warnings() if self.feed_watch else [],
        }
