"""One actor per product/expiry: owns a ChainBook, coalesces updates, publishes analytics.

Thread model: every method here runs on this actor's own pykka thread. The ingress
``ask``s ``ApplyChain``/``ApplySpot`` and acks the feed message once the reply arrives;
the actor then ``tell``s itself ``Recompute``, which lands behind whatever else is already
queued, and goes to the back again while more is queued, so a burst of updates costs one
recompute and one publish.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pykka
import structlog

from actors import subjects
from actors.chain_book import ChainBook
from actors.chain_snapshot import BookSnapshot
from actors.commands import (
    ApplyBatch,
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
from actors.messages import ChainFeed, Summary, encode
from actors.metrics import RECOMPUTE_SECONDS
from actors.publisher import Publisher
from actors.streams import LATEST_ONLY

__all__ = ["ChainActor"]

log = structlog.get_logger(__name__)

# A queued Recompute that finds more messages behind it goes to the back of the inbox, at
# most this many times in a row: under a backlog one recompute then covers many updates,
# and a steady stream of other messages cannot hold the summary back for long.
_MAX_RECOMPUTE_DEFERRALS = 16


_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _phase(product: str, expiry: dt.date) -> float:
    """A fixed fraction of the publish interval for this chain, the same on every run:
    weekly expiries a week apart are a golden-ratio step apart, which spreads any number of
    them evenly over the interval."""
    weeks = expiry.toordinal() / 7.0
    return (zlib.crc32(product.encode()) / 2**32 + weeks * _GOLDEN) % 1.0


def _next_slot(now_ns: int, interval_ns: int, phase: float) -> int:
    """The first instant after ``now_ns`` at ``phase`` of a whole interval."""
    if interval_ns <= 0:
        return now_ns
    offset = int(phase * interval_ns)
    return now_ns - (now_ns - offset) % interval_ns + interval_ns


def _totals(summary: Summary) -> ChainTotals:
    return ChainTotals(
        expiry=summary.expiry,
        call_oi=summary.call_oi,
        put_oi=summary.put_oi,
        call_volume=summary.call_volume,
        put_volume=summary.put_volume,
    )


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
        self._deferrals = 0
        self._summary_bytes = b""
        self._totals: ChainTotals | None = None  # from the last recompute
        self._totals_sent: ChainTotals | None = None
        self._chain_dirty = False
        self._smile_dirty = False
        # Next instants the enriched chain and the smile may go out (0: at once). Each chain
        # keeps its own phase within the interval, so the chains of a host do not all build
        # these large views in the same flush tick and stall the summaries behind them.
        self._next_chain_ns = 0
        self._next_smile_ns = 0
        self._phase = _phase(book.product, book.expiry)
        self._expires_ns = book.spec.expires_ns(book.expiry)
        self._summary_subject = subjects.analytics_summary(book.product, book.expiry_str)
        self._chain_subject = subjects.analytics_chain(book.product, book.expiry_str)
        self.log = log.bind(product=book.product, expiry=book.expiry_str)

    def on_start(self) -> None:
        super().on_start()
        if self.book.applied:
            summary = self.book.summary(published_ns=time.time_ns())
            self._summary_bytes = encode(summary)
            self._totals = _totals(summary)
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
                if ts >= self._expires_ns:
                    return False  # settled: the chain keeps its last state before expiry
                self.book.apply_spot(price, ts, seq)
                self._queue_recompute()
                return True
            case ApplyBatch(items=items):
                return self.each(items)
            case Recompute():
                if not self.actor_inbox.empty() and self._deferrals < _MAX_RECOMPUTE_DEFERRALS:
                    # More is queued (a backlog): go behind it, so it joins this recompute.
                    self._deferrals += 1
                    self.actor_ref.tell(message)
                    return None
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
                self._totals_sent = None  # the new product actor has none yet
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
        self._deferrals = 0
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
        self._totals = _totals(summary)

    def _flush(self, now_ns: int) -> None:
        # The product actor needs the totals only for its (rate-limited) surface: send them
        # once per flush tick when they changed, not on every recompute; each message to
        # another thread wakes it, and on a busy host that wake-up is what costs.
        if self._totals is not None and self._totals != self._totals_sent:
            self._totals_sent = self._totals
            self._tell_product(self._totals)
        if self._chain_dirty and now_ns >= self._next_chain_ns:
            self._chain_dirty = False
            self._next_chain_ns = _next_slot(now_ns, self.chain_interval_ns, self._phase)
            if self.book.stream_seq > self.publish_floor:
                enriched = self.book.enriched(published_ns=time.time_ns())
                self.publisher.publish(self._chain_subject, encode(enriched), LATEST_ONLY)
        if self._smile_dirty and self.product_ref is not None and now_ns >= self._next_smile_ns:
            self._smile_dirty = False
            # Half an interval apart from this chain's enriched view.
            phase = (self._phase + 0.5) % 1.0
            self._next_smile_ns = _next_slot(now_ns, self.surface_interval_ns, phase)
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
