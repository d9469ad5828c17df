"""One actor per product: the underlying (enriched ticks, OHLC bars), the IV surface
across expiries and the product-wide PCR.

Chain actors ``tell`` it their smiles and totals; it never asks them anything back.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import pykka
import structlog

from actors import subjects
from actors.analytics import chain, expiry, surface
from actors.commands import (
    ApplyBatch,
    ApplyUnderlying,
    ChainTotals,
    Flush,
    GetOhlc,
    GetSnapshot,
    GetSurface,
    GetUnderlying,
    SmileUpdate,
)
from actors.futures import BridgedActor
from actors.messages import OhlcBar, SmileSlice, Surface, UnderlyingTick, encode
from actors.products import ProductSpec
from actors.publisher import Publisher
from actors.streams import LATEST_ONLY

__all__ = ["INTERVALS_NS", "ProductActor", "ProductSnapshot"]

log = structlog.get_logger(__name__)

INTERVALS_NS = {
    "1m": 60 * 10**9,
    "5m": 5 * 60 * 10**9,
    "15m": 15 * 60 * 10**9,
}
BARS_KEPT = 500


class _Bar(msgspec.Struct, kw_only=True):
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    ticks: int


class ProductSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    product: str
    stream_seq: int
    applied: int
    last_ts_ns: int
    price: float | None
    session_date: dt.date | None
    day_open: float | None
    day_high: float | None
    day_low: float | None
    bars: dict[str, _Bar]
    closed: dict[str, list[OhlcBar]]


class ProductActor(BridgedActor):
    def __init__(
        self,
        spec: ProductSpec,
        *,
        publisher: Publisher,
        publish_floor: int,
        surface_interval_ns: int,
        intervals: tuple[str, ...] = ("1m", "5m", "15m"),
        snapshot: ProductSnapshot | None = None,
        on_crash: Callable[[pykka.ActorRef[Any], BaseException | None], None] | None = None,
    ) -> None:
        super().__init__()
        self.on_crash = on_crash
        self.spec = spec
        self.product = spec.name
        self.publisher = publisher
        self.publish_floor = publish_floor
        self.surface_interval_ns = surface_interval_ns
        self.intervals = tuple(i for i in intervals if i in INTERVALS_NS)
        self.stream_seq = 0
        self.applied = 0
        self.last_ts_ns = 0
        self.price: float | None = None
        self.session_date: dt.date | None = None
        self.day_open = self.day_high = self.day_low = math.nan
        self.bars: dict[str, _Bar] = {}
        self.closed: dict[str, deque[OhlcBar]] = {i: deque(maxlen=BARS_KEPT) for i in intervals}
        self.smiles: dict[str, SmileSlice] = {}
        self.totals: dict[str, ChainTotals] = {}
        # The expiry instant of every expiry held in ``smiles`` or ``totals``.
        self._expires_ns: dict[str, int] = {}
        self._surface_dirty = False
        self._last_surface_pub = 0
        self._tick_bytes = b""
        if snapshot is not None:
            self._restore(snapshot)

    def on_receive(self, message: Any) -> Any:
        match message:
            case ApplyUnderlying(feed=feed, stream_seq=seq):
                if seq <= self.stream_seq:
                    return False
                self._apply(feed.price, feed.ts, seq)
                return True
            case ApplyBatch(items=items):
                return self.each(items)
            case SmileUpdate(smile=smile):
                if self._live(smile.expiry):
                    self.smiles[smile.expiry] = smile
                    self._surface_dirty = True
                return None
            case ChainTotals() as totals:
                if self._live(totals.expiry):
                    self.totals[totals.expiry] = totals
                return None
            case Flush(now_ns=now):
                self._flush(now)
                return None
            case GetUnderlying():
                return self._tick_bytes
            case GetSurface():
                return encode(self._surface())
            case GetOhlc(interval=interval, limit=limit):
                return self._ohlc(interval, limit)
            case GetSnapshot():
                return self._snapshot()
        raise TypeError(f"unexpected message {type(message).__name__}")

    # ------------------------------------------------------------ underlying

    def _apply(self, price: float, ts_ns: int, seq: int) -> None:
        self.stream_seq, self.applied = seq, self.applied + 1
        self.last_ts_ns = max(self.last_ts_ns, ts_ns)
        if self._expires_ns and self.last_ts_ns >= min(self._expires_ns.values()):
            self._drop_expired()
        day = expiry.session_date(ts_ns, tz=self.spec.tz)
        if self.session_date is None or day > self.session_date:
            self.session_date = day
            self.day_open = self.day_high = self.day_low = price
        self.day_high = max(self.day_high, price)
        self.day_low = min(self.day_low, price)
        self.price = price
        # The floor is the ``seq`` (ticks applied) of the last tick on ANALYTICS.
        publish = self.applied > self.publish_floor
        for interval in self.intervals:
            self._bar(interval, price, ts_ns, publish=publish)
        self._tick_bytes = encode(self._tick(price, ts_ns))
        if publish:
            self.publisher.publish(subjects.analytics_underlying(self.product), self._tick_bytes)

    def _tick(self, price: float, ts_ns: int) -> UnderlyingTick:
        change = price - self.day_open
        return UnderlyingTick(
            # The latest feed time applied, like a summary's ts: a tick that arrives late
            # moves the price but not the clock, so ts never decreases along the subject.
            ts=self.last_ts_ns,
            product=self.product,
            price=price,
            change=change,
            change_pct=100.0 * change / self.day_open,
            day_open=self.day_open,
            day_high=self.day_high,
            day_low=self.day_low,
            seq=self.applied,
            published_ns=time.time_ns(),
        )

    def on_start(self) -> None:
        super().on_start()
        if self.price is None:
            return
        # Restored from a snapshot: the last tick is served again, and published if ANALYTICS
        # does not have it yet (it was applied, snapshotted, then its publish was lost with
        # the host that owned the product).
        self._tick_bytes = encode(self._tick(self.price, self.last_ts_ns))
        if self.applied > self.publish_floor:
            self.publisher.publish(subjects.analytics_underlying(self.product), self._tick_bytes)

    def _bar(self, interval: str, price: float, ts_ns: int, *, publish: bool) -> None:
        width = INTERVALS_NS[interval]
        start = ts_ns - ts_ns % width
        bar = self.bars.get(interval)
        if bar is not None and start > bar.start_ns:
            closed = OhlcBar(
                product=self.product,
                interval=interval,
                start_ns=bar.start_ns,
                end_ns=bar.start_ns + width,
                open=bar.open,
                high=bar.high,
                low=bar.low,
                close=bar.close,
                ticks=bar.ticks,
            )
            self.closed[interval].append(closed)
            if publish:
                # Latest only: REST and the snapshot service serve the history from
                # `closed` (kept in the KV snapshot); a bar kept 2000 deep on ANALYTICS lived
                # 33 hours and pinned the file block it sat in with every deleted message.
                self.publisher.publish(
                    subjects.analytics_ohlc(self.product, interval), encode(closed), LATEST_ONLY
                )
            bar = None
        if bar is None:
            self.bars[interval] = _Bar(
                start_ns=start, open=price, high=price, low=price, close=price, ticks=1
            )
        elif start == bar.start_ns:
            bar.high, bar.low = max(bar.high, price), min(bar.low, price)
            bar.close, bar.ticks = price, bar.ticks + 1
        # A tick older than the open bar (start < bar.start_ns) cannot reopen a closed bar.

    def _ohlc(self, interval: str, limit: int) -> list[OhlcBar]:
        bars = list(self.closed.get(interval, ()))[-limit:] if limit > 0 else []
        return bars

    # ------------------------------------------------------------ surface

    def _live(self, expiry_iso: str) -> bool:
        """Whether an expiry is still live at the product's clock (noting its instant)."""
        instant = self._expires_ns.get(expiry_iso)
        if instant is None:
            instant = self.spec.expires_ns(dt.date.fromisoformat(expiry_iso))
        if instant <= self.last_ts_ns:
            return False
        self._expires_ns[expiry_iso] = instant
        return True

    def _drop_expired(self) -> None:
        """Settled expiries leave the surface and the product's PCR: kept, their last smile
        and OI would count there for ever."""
        for expiry_iso, instant in list(self._expires_ns.items()):
            if instant <= self.last_ts_ns:
                del self._expires_ns[expiry_iso]
                self.smiles.pop(expiry_iso, None)
                self.totals.pop(expiry_iso, None)
                self._surface_dirty = True

    def _surface(self) -> Surface:
        slices = sorted(self.smiles.values(), key=lambda s: s.expiry)
        terms = surface.term_structure(
            t_years=[s.t_years if s.t_years is not None else math.nan for s in slices],
            atm_iv=[s.atm_iv if s.atm_iv is not None else math.nan for s in slices],
        )
        call_oi = sum(t.call_oi for t in self.totals.values())
        put_oi = sum(t.put_oi for t in self.totals.values())
        call_vol = sum(t.call_volume for t in self.totals.values())
        put_vol = sum(t.put_volume for t in self.totals.values())
        return Surface(
            product=self.product,
            ts=self.last_ts_ns,
            expiries=slices,
            term_structure=[
                {
                    "expiry": s.expiry,
                    "t_years": s.t_years,
                    "atm_iv": s.atm_iv,
                    "total_variance": None if math.isnan(w) else w,
                    "calendar_arbitrage": bool(flag),
                }
                for s, w, flag in zip(
                    slices,
                    terms.total_variance.tolist(),
                    terms.calendar_arbitrage.tolist(),
                    strict=True,
                )
            ],
            calendar_arbitrage=bool(terms.calendar_arbitrage.any()),
            pcr_oi=chain.pcr(put_oi, call_oi),
            pcr_volume=chain.pcr(put_vol, call_vol),
            published_ns=time.time_ns(),
        )

    def _flush(self, now_ns: int) -> None:
        if self._surface_dirty and now_ns - self._last_surface_pub >= self.surface_interval_ns:
            self._surface_dirty = False
            self._last_surface_pub = now_ns
            self.publisher.publish(
                subjects.analytics_surface(self.product), encode(self._surface()), LATEST_ONLY
            )

    # ------------------------------------------------------------ persistence

    def _snapshot(self) -> ProductSnapshot:
        def opt(x: float) -> float | None:
            return None if math.isnan(x) else x

        return ProductSnapshot(
            product=self.product,
            stream_seq=self.stream_seq,
            applied=self.applied,
            last_ts_ns=self.last_ts_ns,
            price=self.price,
            session_date=self.session_date,
            day_open=opt(self.day_open),
            day_high=opt(self.day_high),
            day_low=opt(self.day_low),
            bars={k: msgspec.structs.replace(v) for k, v in self.bars.items()},
            closed={k: list(v) for k, v in self.closed.items()},
        )

    def _restore(self, snap: ProductSnapshot) -> None:
        def nan(x: float | None) -> float:
            return math.nan if x is None else x

        self.stream_seq, self.applied, self.last_ts_ns = (
            snap.stream_seq,
            snap.applied,
            snap.last_ts_ns,
        )
        self.price, self.session_date = snap.price, snap.session_date
        self.day_open, self.day_high = nan(snap.day_open), nan(snap.day_high)
        self.day_low = nan(snap.day_low)
        self.bars = {k: msgspec.structs.replace(v) for k, v in snap.bars.items()}
        for k, bars in snap.closed.items():
            if k in self.closed:
                self.closed[k].extend(bars)
