"""ANALYTICS → MongoDB: the archive writer's consumer loop.

A durable pull consumer (``archive``, explicit ack) hands over batches; each batch is mapped
to documents (``documents.py``), written unordered (``store.py``), the history cache is told
(``invalidation.py``), and only then is every message of the batch acked. Nothing is acked
that is not stored, dead-lettered or deliberately downsampled, so a writer killed at any point
leaves the rest in the stream for the next one, and the unique indexes make the replay free.

MongoDB down: the batch is held and retried with a bounded exponential back-off
(0.5 s doubling up to ``archive_backoff_max_s``), with in-progress acks so the server does not
hand it out again meanwhile; the stream keeps everything newer until the archive catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.msg import Msg

from actors import subjects
from actors.archive.documents import ArchiveRejected, DocumentMapper, PlannedDocument
from actors.archive.invalidation import CacheInvalidator
from actors.archive.metrics import ArchiveMetrics
from actors.archive.store import ArchiveStore, ArchiveUnavailable, WriteOutcome, mongo_client
from actors.dead_letters import dead_letter
from actors.redis_store import open_redis
from actors.settings import Settings, nats_servers
from actors.streams import ensure_archive_consumer

__all__ = ["ArchiveWriter"]

log = structlog.get_logger(__name__)

FETCH_TIMEOUT_S = 1.0
BACKOFF_FIRST_S = 0.5
_NATS_PAUSE_S = 1.0
_STOP_TIMEOUT_S = 10.0


class ArchiveWriter:
    def __init__(
        self,
        settings: Settings,
        *,
        store: ArchiveStore,
        invalidator: CacheInvalidator | None = None,
        metrics: ArchiveMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.invalidator = invalidator
        self.metrics = metrics or ArchiveMetrics()
        self.mapper = DocumentMapper(chain_interval_s=settings.archive_chain_interval_s)
        self.nc: Any = None
        self.task: asyncio.Task[None] | None = None
        self.acked_seq = 0  # highest ANALYTICS sequence acked so far
        self.progress = asyncio.Condition()
        self.mongo_ok = True
        self._indexes_ready = False
        self._fetching = False
        self._stopping = asyncio.Event()
        self._owned: list[Any] = []

    @classmethod
    def from_settings(cls, settings: Settings, *, mongo: Any = None) -> ArchiveWriter:
        """A writer on ``settings.mongo_url`` (or the motor-compatible client ``mongo``), with
        cache invalidation when ``settings.redis_url`` is set; it closes what it opened."""
        owned: list[Any] = []
        if mongo is None:
            mongo = mongo_client(settings, app_name="deltastream-archive")
            owned.append(mongo)
        invalidator = None
        if settings.redis_url is not None:
            invalidator = CacheInvalidator(open_redis(settings), prefix=settings.redis_key_prefix)
            owned.append(invalidator)
        writer = cls(
            settings, store=ArchiveStore.from_settings(settings, mongo), invalidator=invalidator
        )
        writer._owned = owned
        return writer

    async def start(self) -> None:
        self.nc = await nats.connect(
            nats_servers(self.settings.nats_url),
            name="deltastream-archive",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_log_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
        )
        self.task = asyncio.create_task(self.run(), name="archive")
        log.info("archive_started", nats=self.settings.nats_url,
                 database=self.settings.mongo_database)  # fmt: skip

    async def stop(self) -> None:
        """Finish the batch in hand (unless MongoDB is down: then it stays unacked), stop."""
        self._stopping.set()
        if self.task is not None:
            if self._fetching:
                self.task.cancel()  # no batch in hand: nothing to finish
            try:
                await asyncio.wait_for(self.task, _STOP_TIMEOUT_S)
            except asyncio.CancelledError:
                pass
            except TimeoutError:
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task
        if self.nc is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self.nc.flush()  # the last acks and dead letters
            await self.nc.close()
        for owned in self._owned:
            if isinstance(owned, CacheInvalidator):
                await owned.close()
            else:
                owned.close()
        log.info("archive_stopped", acked_seq=self.acked_seq)

    async def wait_acked(self, seq: int, timeout_s: float) -> None:
        """Wait until a message at or beyond ANALYTICS sequence ``seq`` is acked; batches are
        acked whole and in delivery order, so every first delivery before it is too."""
        async with self.progress:
            await asyncio.wait_for(self.progress.wait_for(lambda: self.acked_seq >= seq), timeout_s)

    async def run(self) -> None:
        js = self.nc.jetstream()
        sub = await self._subscribe(js)
        if sub is None:
            return
        try:
            await self._consume(sub)
        finally:
            # What a lingering pull request still delivers stays unacked: it comes back to
            # the next writer after ack_wait.
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _consume(self, sub: Any) -> None:
        while not self._stopping.is_set():
            self._fetching = True
            try:
                msgs = await sub.fetch(self.settings.archive_batch, timeout=FETCH_TIMEOUT_S)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error as exc:
                log.warning("archive_fetch_failed", error=type(exc).__name__)
                await self._pause(_NATS_PAUSE_S)
                continue
            finally:
                self._fetching = False
            try:
                await self.handle_batch(msgs)
            except (nats.errors.Error, TimeoutError) as exc:
                # Unacked messages come back after ack_wait; what was stored is a duplicate then.
                log.warning("archive_batch_unacked", error=type(exc).__name__)
                await self._pause(_NATS_PAUSE_S)
            except Exception:  # the transport's outermost loop: the writer never dies
                log.exception("archive_batch_failed")
                await self._pause(self.settings.archive_backoff_max_s)

    async def _subscribe(self, js: Any) -> Any:
        waiting_logged = False
        while not self._stopping.is_set():
            try:
                await js.stream_info(subjects.ANALYTICS_STREAM)
                await ensure_archive_consumer(js, self.settings)
                return await js.pull_subscribe_bind(
                    durable=subjects.ARCHIVE_CONSUMER, stream=subjects.ANALYTICS_STREAM
                )
            except nats.js.errors.NotFoundError:
                if not waiting_logged:
                    log.info("archive_waiting_for_stream", stream=subjects.ANALYTICS_STREAM)
                    waiting_logged = True
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("archive_subscribe_failed", error=type(exc).__name__)
            await self._pause(_NATS_PAUSE_S)
        return None

    async def handle_batch(self, msgs: list[Msg]) -> None:
        archived_at = dt.datetime.now(dt.UTC)
        planned: list[PlannedDocument] = []
        owners: list[Msg] = []
        rejected: list[tuple[Msg, ArchiveRejected]] = []
        for msg in msgs:
            meta = msg.metadata
            if meta.num_delivered > 1:
                self.metrics.redelivered.inc()
            try:
                doc = self.mapper.plan(
                    msg.subject, meta.sequence.stream, msg.data, archived_at=archived_at
                )
            except ArchiveRejected as exc:
                rejected.append((msg, exc))
                continue
            if doc is None:
                self.metrics.skipped.inc()
                continue
            planned.append(doc)
            owners.append(msg)
        outcome = await self._write_until_confirmed(planned, msgs)
        if outcome is None:
            return  # stopping while MongoDB is down: leave the batch to the next writer
        for i, reason in outcome.refused.items():
            rejected.append((owners[i], ArchiveRejected("archive_refused", reason)))
        for msg, exc in rejected:
            await self._dead_letter(msg, exc)
        if self.invalidator is not None:
            touched = {p.document["subject"] for i, p in enumerate(planned)
                       if i not in outcome.refused}  # fmt: skip
            await self.invalidator.bump(touched)
        refused = {id(m) for m, _ in rejected}
        for msg in msgs:
            await (msg.term() if id(msg) in refused else msg.ack())
        if msgs:
            last = msgs[-1].metadata
            self.metrics.lag_messages.set(last.num_pending)
            self.metrics.lag_seconds.set(max(0.0, time.time() - last.timestamp.timestamp()))
            async with self.progress:
                self.acked_seq = max(self.acked_seq, max(m.metadata.sequence.stream for m in msgs))
                self.progress.notify_all()

    async def _write_until_confirmed(
        self, planned: list[PlannedDocument], held: list[Msg]
    ) -> WriteOutcome | None:
        attempt = 0
        while True:
            try:
                if not self._indexes_ready:
                    await self.store.ensure_indexes()
                    self._indexes_ready = True
                started = time.perf_counter()
                outcome = await self.store.write(planned) if planned else WriteOutcome()
            except ArchiveUnavailable as exc:
                self.metrics.failures.inc()
                self.metrics.mongo_up.set(0)
                delay = min(self.settings.archive_backoff_max_s, BACKOFF_FIRST_S * 2**attempt)
                attempt += 1
                self.mongo_ok = False
                log.warning("archive_write_failed", error=str(exc), attempt=attempt,
                            retry_in_s=delay, held=len(held))  # fmt: skip
                if not await self._hold(held, delay):
                    return None
                continue
            if planned:
                self.metrics.write_seconds.observe(time.perf_counter() - started)
            self.metrics.mongo_up.set(1)
            if not self.mongo_ok:
                log.info("archive_write_recovered", attempts=attempt)
            self.mongo_ok = True
            for name, n in outcome.stored.items():
                self.metrics.documents.labels(name, "stored").inc(n)
            for name, n in outcome.duplicates.items():
                self.metrics.documents.labels(name, "duplicate").inc(n)
            return outcome

    async def _hold(self, held: list[Msg], delay_s: float) -> bool:
        """Wait ``delay_s`` keeping ``held`` ours (in-progress acks); False when stopping."""
        deadline = time.monotonic() + delay_s
        step_s = self.settings.archive_ack_wait_s / 3
        while (remaining := deadline - time.monotonic()) > 0:
            if await self._pause(min(remaining, step_s)):
                return False
            for msg in held:
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await msg.in_progress()
        return not self._stopping.is_set()

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when a stop was requested meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _dead_letter(self, msg: Msg, exc: ArchiveRejected) -> None:
        self.metrics.rejected.labels(exc.reason).inc()
        log.warning("archive_rejected", subject=msg.subject, reason=exc.reason,
                    detail=exc.detail[:200])  # fmt: skip
        await dead_letter(
            self.nc.jetstream(),
            subject=msg.subject,
            payload=bytes(msg.data),
            reason=exc.reason,
            detail=exc.detail,
            stream_seq=msg.metadata.sequence.stream,
            stream=subjects.ANALYTICS_STREAM,
            max_payload=self.nc.max_payload,
        )


async def _log_error(exc: Exception) -> None:
    log.warning("nats_error", error=type(exc).__name__)


async def _log_disconnected() -> None:
    log.info("nats_disconnected")


async def _log_reconnected() -> None:
    log.info("nats_reconnected")
