"""FEED → actors: one partition's durable pull consumer, acks after the actor applied,
dead letters.

Per fetched batch: validate each message, collect its commands per actor in stream order
and send each actor its share as one trip (``ApplyBatch``; the actors' inboxes keep that
order), wait for every reply, then ack each message by its own outcome. What can never
succeed is terminated and dead-lettered at once; what fails for a passing reason is nak'd
and redelivered, and after ``max_deliver`` the MAX_DELIVERIES advisory moves it to the DLQ.

With several partitions every consumer also receives every underlying tick (FEED cannot
partition two subject shapes, see ``subjects.FeedLayout``); keyed by product, a tick of
another partition's product is acked and skipped; keyed by chain, it goes to this
partition's chains of the product (and to the product actor in its home partition), and a
partition with neither skips it.
``active`` (the partition's lease) is asked before every batch and every ack: while a
renewal is overdue the ingress pauses, and it is stopped when the lease is lost, so a host
that may have lost the partition stops touching its consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, get_args

import msgspec
import nats.errors
import nats.js
import nats.js.errors
import pykka
import structlog
from nats.aio.msg import Msg

from actors import subjects
from actors.commands import ApplyChain, ApplySpot, ApplyUnderlying
from actors.dead_letters import dead_letter
from actors.errors import FeedRejected
from actors.messages import ChainFeed, UnderlyingFeed
from actors.metrics import FEED_ACCEPTED, FEED_REDELIVERED, FEED_REJECTED
from actors.pull import ContinuousPull, delivery
from actors.settings import Settings
from actors.supervisor import ChainKey, Supervisor
from actors.trips import Part, Trips
from actors.validation import ValidFeed, validate

__all__ = ["Ingress"]

log = structlog.get_logger(__name__)

_NAK_DELAY_S = 1.0
_IDLE_S = 0.5  # also how soon an idle host restarts an actor that crashed
_PAUSE_S = 0.05
_DEAD_LETTER_RETRY_MAX_S = 30.0
# Commands collected before they go out: a long batch (a backlog) is not held back until
# all of it is validated, and each actor still gets many messages per wake-up.
_TRIP_ITEMS = 64


# Bound once: ``labels()`` takes a lock and a dict lookup on every message otherwise.
_ACCEPTED = {kind: FEED_ACCEPTED.labels(kind) for kind in get_args(subjects.FeedKind)}


class _Advisory(msgspec.Struct):
    stream_seq: int
    deliveries: int = 0


class _Unavailable(Exception):
    """The chain is down (supervisor gave up on it): retry later."""


# An actor a valid message goes to (its chain key; None for the product actor) and the command.
_Target = tuple[ChainKey | None, pykka.ActorRef[Any], Any]


class Ingress:
    def __init__(
        self,
        *,
        nc: Any,
        js: nats.js.JetStreamContext,
        supervisor: Supervisor,
        settings: Settings,
        durable: str = subjects.INGRESS_CONSUMER,
        partition: int = 0,
        active: Callable[[], bool] | None = None,
    ) -> None:
        self.nc = nc
        self.js = js
        self.supervisor = supervisor
        self.settings = settings
        self.durable = durable
        self.partition = partition
        self.layout = settings.feed_layout()
        self.active = active or _always
        self.accepted = 0
        self.foreign = 0  # underlying ticks no actor of this partition needs, skipped
        self.redelivered = 0
        self.rejected: Counter[str] = Counter()
        self.dead_letter_retries = 0  # DLQ stores that failed and were tried again
        self.handled_seq = 0
        self._outstanding: set[int] = set()
        self._stopping = asyncio.Event()
        self.batch_done = asyncio.Condition()
        self._max_ts_ahead_ns = int(settings.max_ts_ahead_s * 1e9)

    # ------------------------------------------------------------ state for checkpoints

    @property
    def watermark(self) -> int:
        """Every FEED message at or below this sequence has been applied or dead-lettered."""
        if self._outstanding:
            return min(self._outstanding) - 1
        return self.handled_seq

    def stats(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "redelivered": self.redelivered,
            "rejected": dict(self.rejected),
            "dead_letter_retries": self.dead_letter_retries,
            "handled_seq": self.handled_seq,
            "watermark": self.watermark,
            "partition": self.partition,
            "consumer": self.durable,
            "foreign_skipped": self.foreign,
        }

    # ------------------------------------------------------------ loop

    async def run(self) -> None:
        sub = ContinuousPull(
            self.nc,
            stream=subjects.FEED_STREAM,
            consumer=self.durable,
            batch=self.settings.fetch_batch,
            active=self.active,
        )
        await sub.start()
        advisory = await self.nc.subscribe(
            subjects.max_deliveries_advisory(subjects.FEED_STREAM, self.durable),
            cb=self._on_max_deliveries,
        )
        try:
            while not self._stopping.is_set():
                if not self.active():
                    # A lease renewal is overdue: touch nothing until it comes through (or
                    # the partition is lost and this ingress is stopped).
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), _PAUSE_S)
                    continue
                if self.supervisor.crash_pending.is_set():
                    await self.supervisor.restart_crashed()
                try:
                    msgs = await sub.next_batch(self.settings.fetch_batch, timeout_s=_IDLE_S)
                except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
                    return
                except nats.errors.Error as exc:
                    # Disconnected or JetStream briefly unavailable: the client reconnects
                    # by itself; fetch again after a pause rather than spin.
                    log.warning("fetch_failed", error=type(exc).__name__)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), _NAK_DELAY_S)
                    continue
                if not msgs:
                    continue
                try:
                    await self.handle_batch(msgs)
                except nats.errors.Error as exc:
                    # Unacked messages are redelivered after ack_wait; carry on.
                    log.warning("batch_interrupted", error=type(exc).__name__)
                except Exception:  # the transport's outermost loop: never let ingress die
                    log.exception("batch_failed")
        finally:
            with contextlib.suppress(nats.errors.Error):
                await advisory.unsubscribe()
            with contextlib.suppress(nats.errors.Error):
                await sub.stop()
            async with self.batch_done:  # whoever waits on progress learns it has ended
                self.batch_done.notify_all()

    def stop(self) -> None:
        self._stopping.set()

    async def batch_finished(self, timeout_s: float) -> bool:
        """Wait until a batch is done (True) or ``timeout_s`` has passed (False)."""
        with contextlib.suppress(TimeoutError):
            async with self.batch_done:
                await asyncio.wait_for(self.batch_done.wait(), timeout_s)
                return True
        return False

    # ------------------------------------------------------------ one batch

    async def handle_batch(self, msgs: list[Msg]) -> None:
        if self.supervisor.crash_pending.is_set():
            await self.supervisor.restart_crashed()
        trips = Trips()
        dispatched: list[tuple[Msg, int, list[Part]]] = []
        now_ns = time.time_ns()
        last_seq = 0
        for msg in msgs:
            seq, delivered = delivery(msg)
            last_seq = seq  # the batch is in stream order
            if delivered > 1:
                self.redelivered += 1
                FEED_REDELIVERED.inc()
            if self._foreign(msg.subject):
                self.foreign += 1
                await self._ack(msg, seq, counted=False)
                continue
            try:
                valid = validate(
                    self.layout.canonical(msg.subject),
                    msg.data,
                    products=self.supervisor.products,
                    restrict_products=self.settings.restrict_products,
                    max_payload_bytes=self.settings.max_payload_bytes,
                    now_ns=now_ns,
                    max_ahead_ns=self._max_ts_ahead_ns,
                )
                targets = await self._targets(valid, seq)
            except FeedRejected as exc:
                await self._reject(msg, seq, exc.reason, str(exc))
                continue
            except _Unavailable:
                await self._retry_later(msg, seq)
                continue
            self.supervisor.dispatched_seq = max(self.supervisor.dispatched_seq, seq)
            dispatched.append((msg, seq, [trips.add(*t) for t in targets]))
            if trips.items_open >= _TRIP_ITEMS:
                trips.send()  # a long batch: let the actors start on its first part
        trips.send()

        done: set[asyncio.Future[Any]] = set()
        if trips.futures:
            done, _ = await asyncio.wait(trips.futures, timeout=self.settings.actor_timeout_s)
        poison: dict[ChainKey, set[int]] = {}
        broken: dict[ChainKey, pykka.ActorRef[Any]] = {}  # dead or too slow: restart, retry
        for msg, seq, parts in dispatched:
            error: BaseException | None = None
            refused: FeedRejected | None = None  # by the actor, before any change
            retry = False
            for part in parts:
                trip = part.trip
                outcome = trip.outcome(part.index, done)
                if outcome is None or isinstance(outcome, pykka.ActorDeadError):
                    retry = True
                    if trip.key is not None:
                        broken[trip.key] = trip.ref
                elif isinstance(outcome, FeedRejected):
                    refused = outcome
                elif isinstance(outcome, BaseException):
                    error = error or outcome
                    if trip.key is not None:
                        poison.setdefault(trip.key, set()).add(seq)
                        broken[trip.key] = trip.ref
            if error is not None:
                await self._reject(msg, seq, "actor_failed", f"{type(error).__name__}: {error}")
            elif refused is not None:
                await self._reject(msg, seq, refused.reason, str(refused))
            elif retry:
                # Applied by the rebuilt actor's replay below, or on redelivery.
                await self._retry_later(msg, seq)
            else:
                await self._ack(msg, seq)
        for key, ref in broken.items():
            ok = await self.supervisor.restart_chain(
                key, through_seq=last_seq, poison=poison.get(key, set()), failed_ref=ref
            )
            if not ok:
                log.error("chain_down", product=key[0], expiry=key[1])
        if self.supervisor.crash_pending.is_set():
            await self.supervisor.restart_crashed()
        if self.supervisor.expiry.due():
            await self.supervisor.retire()
        self.handled_seq = max(self.handled_seq, last_seq)
        async with self.batch_done:
            self.batch_done.notify_all()

    def _foreign(self, stored: str) -> bool:
        """A message of another partition: skipped before it is even decoded. Keyed by
        chain, an underlying tick belongs to every partition that runs the product's actor or
        holds a chain of it; the home partition validates (and dead-letters) every one."""
        owner = self.layout.stored_partition(stored)
        if owner is not None:
            return owner != self.partition
        if not self.layout.by_chain:
            return False
        return not self.supervisor.wants_tick(stored.rsplit(".", 1)[1])

    async def _targets(self, valid: ValidFeed, seq: int) -> list[_Target]:
        """The actors a valid message goes to, each with its command; creates the product's
        or chain's actor on first sight."""
        m = valid.message
        sup = self.supervisor
        sup.expiry.advance(m.product, m.ts)
        if isinstance(m, UnderlyingFeed):
            targets: list[_Target] = []
            # Keyed by chain, every partition takes every tick for its own chains of the
            # product, and only the product's home partition runs its product actor.
            if sup.runs_product(m.product):
                if m.product in sup.products_down:
                    raise _Unavailable
                product_ref = await sup.product(valid.spec)
                targets.append((None, product_ref, ApplyUnderlying(feed=m, stream_seq=seq)))
                _ACCEPTED["underlying"].inc()
            spot = ApplySpot(price=m.price, ts_ns=m.ts, stream_seq=seq)
            targets.extend((key, ref, spot) for key, ref in sup.live_chains_of(m.product, m.ts))
            return targets
        assert isinstance(m, ChainFeed)
        key = (m.product, m.expiry.isoformat())
        if key in sup.down:
            raise _Unavailable
        ref = await sup.chain(valid.spec, m.expiry)
        replace = valid.subject.kind == "chain"
        _ACCEPTED[valid.subject.kind].inc()
        return [(key, ref, ApplyChain(feed=m, stream_seq=seq, replace=replace))]

    # ------------------------------------------------------------ outcomes

    async def _ack(self, msg: Msg, seq: int, *, counted: bool = True) -> None:
        if counted:
            self.accepted += 1
        self._outstanding.discard(seq)
        if not self.active():
            return  # the consumer may be its next owner's by now
        with contextlib.suppress(nats.errors.Error):
            await msg.ack()

    async def _retry_later(self, msg: Msg, seq: int) -> None:
        self._outstanding.add(seq)
        if not self.active():
            return
        with contextlib.suppress(nats.errors.Error):
            await msg.nak(delay=_NAK_DELAY_S)

    async def _reject(self, msg: Msg, seq: int, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        FEED_REJECTED.labels(reason).inc()
        subject = self.layout.canonical(msg.subject)
        log.warning(
            "feed_rejected", reason=reason, detail=detail[:300], subject=subject, stream_seq=seq
        )
        try:
            await dead_letter(
                self.js,
                subject=subject,
                payload=msg.data,
                reason=reason,
                detail=detail,
                stream_seq=seq,
                max_payload=self.nc.max_payload,
            )
        except nats.errors.Error as exc:
            # Could not store the dead letter: keep the message for redelivery instead.
            log.error("dead_letter_failed", error=type(exc).__name__, stream_seq=seq)
            await self._retry_later(msg, seq)
            return
        self._outstanding.discard(seq)
        if not self.active():
            return
        with contextlib.suppress(nats.errors.Error):
            await msg.term()

    async def _on_max_deliveries(self, advisory_msg: Msg) -> None:
        try:
            advisory = msgspec.json.decode(advisory_msg.data, type=_Advisory)
            raw = await self.js.get_msg(subjects.FEED_STREAM, advisory.stream_seq)
        except (msgspec.DecodeError, nats.errors.Error) as exc:
            log.error("max_deliveries_unreadable", error=str(exc))
            return
        detail = f"not applied after {advisory.deliveries} deliveries"
        self.rejected["max_deliveries"] += 1
        FEED_REJECTED.labels("max_deliveries").inc()
        # FEED will not deliver this message again, so the DLQ copy is its only way out:
        # unlike a rejection (kept for redelivery when the DLQ refuses), keep trying, with a
        # growing pause, until the DLQ takes it or this ingress stops.
        delay_s = _NAK_DELAY_S
        while True:
            try:
                await dead_letter(
                    self.js,
                    subject=self.layout.canonical(raw.subject or ""),
                    payload=raw.data or b"",
                    reason="max_deliveries",
                    detail=detail,
                    stream_seq=advisory.stream_seq,
                    max_payload=self.nc.max_payload,
                )
                break
            except nats.errors.Error as exc:
                self.dead_letter_retries += 1
                if self._stopping.is_set():
                    log.error(
                        "dead_letter_abandoned",
                        error=type(exc).__name__,
                        stream_seq=advisory.stream_seq,
                        hint="the message is still in FEED at this sequence",
                    )
                    return
                log.error(
                    "dead_letter_failed",
                    error=type(exc).__name__,
                    stream_seq=advisory.stream_seq,
                    retry_in_s=delay_s,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay_s)
            delay_s = min(delay_s * 2, _DEAD_LETTER_RETRY_MAX_S)
        self._outstanding.discard(advisory.stream_seq)  # the watermark may move past it
        log.warning("feed_dead_lettered", reason="max_deliveries", stream_seq=advisory.stream_seq)
        async with self.batch_done:
            self.batch_done.notify_all()


def _always() -> bool:
    return True
