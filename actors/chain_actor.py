"""One actor per product/expiry: owns a ChainBook, coalesces updates, publishes analytics.

Thread model: every method here runs on this actor's own pykka thread. The ingress
``ask``s ``ApplyChain``/``ApplySpot`` and acks the feed message once the reply arrives;
the actor then ``tell``s itself ``Recompute``, which lands behind whatever else is already
queued, so a burst of updates costs one recompute and one publish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pykka
import structlog

from actors import subjects
from actors.chain_book import BookSnapshot, ChainBook
from actors.commands import (
    ApplyChain,
    ApplySpot,
    ChainTotals,
    Flush,
    GetEnriched,
    GetMaxPain,
    GetSmile,
    GetSnapshot,
    GetSummary,
    Recompute,
    SetProduct,
    SmileUpdate,
)
from actors.errors import TooManyStrikes
from actors.futures import BridgedActor
from actors.messages import ChainFeed, encode
from actors.metrics import RECOMPUTE_SECONDS
from actors.publisher import Publisher

__all__ = ["ChainActor"]

log = structlog.get_logger(__name__)


class ChainActor(BridgedActor):
    def __init__(
        self,
        book: ChainBook,
        *,
        publisher: Publisher,
        product_ref: pykka.ActorRef[Any] | None,
        publish_floor: int,
        chain_interval_ns: int,
        surface_interval_ns: int,
        on_crash: Callable[[pykka.ActorRef[Any], BaseException | None], None] | None = None,
        max_strikes: int | None = None,
    ) -> None:
        super().__init__()
        self.on_crash = on_crash
        self.max_strikes = max_strikes
        self.book = book
        self.publisher = publisher
        self.product_ref = product_ref
        # Summaries up to this stream sequence were already published before a restart.
        self.publish_floor = publish_floor
        self.chain_interval_ns = chain_interval_ns
        self.surface_interval_ns = surface_interval_ns
        self._recompute_queued = False
        self._summary_bytes = b""
        self._chain_dirty = False
        self._smile_dirty = False
        self._last_chain_pub = 0
        self._last_smile_pub = 0
        self._summary_subject = subjects.analytics_summary(book.product, book.expiry_str)
        self._chain_subject = subjects.analytics_chain(book.product, book.expiry_str)
        self.log = log.bind(product=book.product, expiry=book.expiry_str)

    def on_start(self) -> None:
        if self.book.applied:
            self._summary_bytes = encode(self.book.summary(published_ns=time.time_ns()))
            # A restored chain owes its product actor a smile for the surface.
            self._smile_dirty = True
            if self.book.stream_seq > self.publish_floor:
                # The snapshot is ahead of ANALYTICS: the summary of this state was never
                # published (or was lost with the host that owned the chain). Publish it now,
                # still above the floor, so ANALYTICS ends on the state that was reached.
                self.publisher.publish(self._summary_subject, self._summary_bytes)
                self._chain_dirty = True
        self.log.debug("chain_actor_started", stream_seq=self.book.stream_seq)

    def on_receive(self, message: Any) -> Any:
        match message:
            case ApplyChain(feed=feed, stream_seq=seq, replace=replace):
                if seq <= self.book.stream_seq:
                    self.log.debug("duplicate_skipped", stream_seq=seq, at=self.book.stream_seq)
                    return False  # already applied (redelivery or replay overlap)
                self._check_strike_cap(feed, replace=replace)
                if replace:
                    self.book.apply_chain(feed, seq)
                else:
                    self.book.apply_quotes(feed, seq)
                self._queue_recompute()
                return True
            case ApplySpot(price=price, ts_ns=ts, stream_seq=seq):
                if seq <= self.book.stream_seq:
                    self.log.debug("duplicate_skipped", stream_seq=seq, at=self.book.stream_seq)
                    return False
                self.book.apply_spot(price, ts, seq)
                self._queue_recompute()
                return True
            case Recompute():
                self._recompute()
                return None
            case Flush(now_ns=now):
                self._flush(now)
                return None
            case GetSummary():
                return self._summary_bytes
            case GetEnriched():
                return encode(self.book.enriched(published_ns=time.time_ns()))
            case GetSnapshot():
                return self.book.to_snapshot()
            case GetSmile():
                return self.book.smile()
            case GetMaxPain():
                return encode(self.book.max_pain())
            case SetProduct(ref=ref):
                self.product_ref = ref
                return None
        raise TypeError(f"unexpected message {type(message).__name__}")

    def _check_strike_cap(self, feed: ChainFeed, *, replace: bool) -> None:
        """Refuse, before any change, a message that would list more strikes than the cap
        (the ingress dead-letters it; the chain carries on as if it never came)."""
        cap = self.max_strikes
        listed = 0 if replace else self.book.strikes.size
        if cap is None or listed + len(feed.quotes) <= cap:
            return  # cannot reach the cap: the common case costs nothing
        strikes = np.unique(np.array([q.strike for q in feed.quotes], dtype=float))
        if not replace:
            strikes = strikes[~np.isin(strikes, self.book.strikes)]
        if listed + strikes.size > cap:
            raise TooManyStrikes(
                f"chain {self.book.product} {self.book.expiry_str} would list "
                f"{listed + strikes.size} strikes; the cap is {cap}"
            )

    def _queue_recompute(self) -> None:
        if not self._recompute_queued:
            self._recompute_queued = True
            self.actor_ref.tell(Recompute())

    def _recompute(self) -> None:
        self._recompute_queued = False
        if not self.book.pending:
            return
        started = time.perf_counter()
        self.book.recompute()
        summary = self.book.summary(published_ns=time.time_ns())
        RECOMPUTE_SECONDS.observe(time.perf_counter() - started)
        self._summary_bytes = encode(summary)
        self._chain_dirty = self._smile_dirty = True
        if self.book.stream_seq > self.publish_floor:
            self.publisher.publish(self._summary_subject, self._summary_bytes)
        self._tell_product(
            ChainTotals(
                expiry=self.book.expiry_str,
                call_oi=summary.call_oi,
                put_oi=summary.put_oi,
                call_volume=summary.call_volume,
                put_volume=summary.put_volume,
            )
        )

    def _flush(self, now_ns: int) -> None:
        if self._chain_dirty and now_ns - self._last_chain_pub >= self.chain_interval_ns:
            self._chain_dirty = False
            self._last_chain_pub = now_ns
            if self.book.stream_seq > self.publish_floor:
                enriched = self.book.enriched(published_ns=time.time_ns())
                self.publisher.publish(self._chain_subject, encode(enriched))
        if (
            self._smile_dirty
            and self.product_ref is not None
            and now_ns - self._last_smile_pub >= self.surface_interval_ns
        ):
            self._smile_dirty = False
            self._last_smile_pub = now_ns
            self._tell_product(SmileUpdate(smile=self.book.smile()))

    def _tell_product(self, message: Any) -> None:
        # The product actor only aggregates; while it is being restarted, drop the update
        # (the next recompute sends a fresh one) rather than fail this chain.
        if self.product_ref is None:
            return
        try:
            self.product_ref.tell(message)
        except pykka.ActorDeadError:
            self.product_ref = None

    def snapshot(self) -> BookSnapshot:
        return self.book.to_snapshot()
