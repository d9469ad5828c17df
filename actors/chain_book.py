"""The live state of one option chain and the analytics derived from it incrementally.

A ``ChainBook`` is owned by exactly one ``ChainActor`` and is not thread-safe. It keeps
numpy arrays indexed ``[side, row]`` (side 0 = calls, 1 = puts; rows = strikes ascending).

Determinism (what makes crash recovery exact): every derived value is a function of the
message sequence, never of how updates were coalesced. The forward and time to expiry are
fixed when a spot tick or a chain snapshot is *applied*; rows touched later are priced with
those values until the next one, and a reprice after either covers all rows. The OI and
volume totals per side are int64 running sums, changed by the difference in exactly the
cells a message writes (a chain snapshot starts them again from zero; a restored snapshot
sums them once), so they equal the sums of the arrays whatever was coalesced. The max-pain
payout curve is updated from the rows whose OI changed, exactly on a whole-number strike grid
(elsewhere, or past a few changed rows, it is rebuilt from the OI). IV and greeks are worked
out when first read (``actors.chain_pricing``), from what the last recompute fixed.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

import numpy as np

from actors import _book_kernels, chain_snapshot, chain_views
from actors.analytics import buildup, chain, expiry
from actors.book_columns import column, write
from actors.chain_forward import PricingInputs
from actors.chain_payout import updated_payout
from actors.chain_pricing import ChainPricing
from actors.messages import ChainFeed, EnrichedChain, MaxPainCurve, SmileSlice, Summary
from actors.products import ProductSpec

if TYPE_CHECKING:
    from actors.chain_snapshot import BookSnapshot

__all__ = ["CALL", "PUT", "ChainBook"]

CALL, PUT = 0, 1
_SIDES = 2
_NO_OI = -1  # oi_open not yet seen this session
_NO_CHANGES = np.zeros(0, dtype=np.int64)  # write_counts: keep no per-cell changes


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


class ChainBook:
    def __init__(self, spec: ProductSpec, expiry_date: dt.date) -> None:
        self.spec = spec
        self.product = spec.name
        self.expiry = expiry_date
        self.expiry_str = expiry_date.isoformat()
        self._expiry_ns = expiry.expiry_instant_ns(
            expiry_date, expiry_time=spec.expiry_time, tz=spec.tz
        )
        self.stream_seq = 0
        self.applied = 0
        self.as_of_ns = 0
        self.session_date: dt.date | None = None
        self.spot: float | None = None
        self.spot_ts_ns = 0
        self._forward = math.nan
        self._forward_source = "none"
        self._t_years = math.nan
        self._pending: PricingInputs | None = None
        self._alloc(np.empty(0))

    # ------------------------------------------------------------ storage

    def _alloc(self, strikes: np.ndarray) -> None:
        n = strikes.size
        self.strikes = strikes.astype(float)
        self._row = {float(k): i for i, k in enumerate(self.strikes)}
        # Incremental payout updates are exact (and so independent of coalescing) only
        # while every OI·distance product is an integer: whole-number strikes.
        self._payout_exact = bool(np.all(self.strikes == np.round(self.strikes)))
        nan = np.full((_SIDES, n), np.nan)
        self.bid, self.ask, self.ltp, self.ltp_open = nan.copy(), nan.copy(), nan.copy(), nan
        self.oi = np.zeros((_SIDES, n), dtype=np.int64)
        self.oi_open = np.full((_SIDES, n), _NO_OI, dtype=np.int64)
        self.volume = np.zeros((_SIDES, n), dtype=np.int64)
        # Running per-side sums of oi and volume, in int64 so exact: every write to those
        # arrays goes through write_counts, which moves them by the written cells' changes.
        self._oi_total = np.zeros(_SIDES, dtype=np.int64)
        self._volume_total = np.zeros(_SIDES, dtype=np.int64)
        self._alloc_derived()

    def _alloc_derived(self) -> None:
        shape = (_SIDES, self.strikes.size)
        self._prices = ChainPricing(self.strikes, rate=self.spec.rate)
        self._payout = np.zeros(self.strikes.size)
        self._dirty = np.zeros(shape, dtype=bool)
        self._oi_delta = np.zeros(shape, dtype=np.int64)
        self._oi_touched = False
        self._payout_stale = True  # the payout curve is rebuilt from OI at the next recompute
        self._full = True

    def _insert_strikes(self, new: list[float]) -> None:
        merged = np.union1d(self.strikes, np.array(new, dtype=float))
        pos = np.searchsorted(merged, self.strikes)
        old = (self.bid, self.ask, self.ltp, self.ltp_open, self.oi, self.oi_open, self.volume)
        totals = (self._oi_total, self._volume_total)
        self._alloc(merged)
        # The new rows are empty (zero counts), so the sums are those of the old rows.
        self._oi_total, self._volume_total = totals
        for dst, src in zip(
            (self.bid, self.ask, self.ltp, self.ltp_open, self.oi, self.oi_open, self.volume),
            old,
            strict=True,
        ):
            dst[:, pos] = src

    # ------------------------------------------------------------ inputs

    def _advance_clock(self, ts_ns: int, stream_seq: int) -> None:
        self.as_of_ns = max(self.as_of_ns, ts_ns)
        self.stream_seq = max(self.stream_seq, stream_seq)
        self.applied += 1
        day = expiry.session_date(self.as_of_ns, tz=self.spec.tz)
        if self.session_date is None or day > self.session_date:
            # A new trading day: today's changes are measured from the first values seen.
            self.session_date = day
            self.oi_open[:] = _NO_OI
            self.ltp_open[:] = np.nan

    def apply_chain(self, feed: ChainFeed, stream_seq: int) -> None:
        """A full snapshot: replaces every quote (session-open marks are kept)."""
        strikes = np.unique(np.array([q.strike for q in feed.quotes], dtype=float))
        keep_oi_open, keep_ltp_open = self.oi_open, self.ltp_open
        old_row = self._row
        self._alloc(strikes)
        for k, i in self._row.items():
            j = old_row.get(k)
            if j is not None:
                self.oi_open[:, i] = keep_oi_open[:, j]
                self.ltp_open[:, i] = keep_ltp_open[:, j]
        self._advance_clock(feed.ts, stream_seq)
        self._apply_rows(feed, self._cells(feed), replace=True)
        if feed.spot is not None:
            self.spot, self.spot_ts_ns = feed.spot, max(self.spot_ts_ns, feed.ts)
        self._reprice_inputs()

    def apply_quotes(self, feed: ChainFeed, stream_seq: int) -> None:
        try:
            cells = self._cells(feed)
        except KeyError:
            self._insert_strikes(sorted({float(q.strike) for q in feed.quotes} - self._row.keys()))
            cells = self._cells(feed)
        self._advance_clock(feed.ts, stream_seq)
        self._apply_rows(feed, cells, replace=False)
        if feed.spot is not None:
            self.spot, self.spot_ts_ns = feed.spot, max(self.spot_ts_ns, feed.ts)
            self._reprice_inputs()

    def apply_spot(self, price: float, ts_ns: int, stream_seq: int) -> None:
        self._advance_clock(ts_ns, stream_seq)
        self.spot, self.spot_ts_ns = price, max(self.spot_ts_ns, ts_ns)
        self._reprice_inputs()

    def _cells(self, feed: ChainFeed) -> np.ndarray:
        """Flat ``[side, row]`` index of each quote (KeyError for a strike not listed)."""
        row, put = self._row, self.strikes.size
        return np.array(
            [row[q.strike] + (put if q.right == "P" else 0) for q in feed.quotes], dtype=np.intp
        )

    def _apply_rows(self, feed: ChainFeed, cells: np.ndarray, *, replace: bool) -> None:
        """Write the message's rows column by column: one list per field, one numpy write
        (for OI and volume a compiled loop that also moves the per-side totals); rows are
        unique per message (validation rejects duplicates)."""
        quotes = feed.quotes
        if not quotes:
            return
        write(self.bid, cells, [q.bid for q in quotes], replace=replace)
        write(self.ask, cells, [q.ask for q in quotes], replace=replace)
        write(self.ltp, cells, [q.ltp for q in quotes], replace=replace)
        n = self.strikes.size
        volume_cells, new_volume = column(
            [q.volume for q in quotes], cells, np.int64, replace=replace
        )
        _book_kernels.write_counts(
            self.volume.reshape(-1), volume_cells, new_volume, n, self._volume_total, _NO_CHANGES
        )
        oi_cells, new_oi = column([q.oi for q in quotes], cells, np.int64, replace=replace)
        if oi_cells.size:
            self._oi_touched = True
            _book_kernels.write_counts(
                self.oi.reshape(-1), oi_cells, new_oi, n, self._oi_total, self._oi_delta.reshape(-1)
            )
            oi_open = self.oi_open.reshape(-1)
            unset = oi_open[oi_cells] == _NO_OI
            oi_open[oi_cells[unset]] = new_oi[unset]
        ltp_open = self.ltp_open.reshape(-1)
        fresh = cells[np.isnan(ltp_open[cells])]
        ltp_open[fresh] = self.ltp.reshape(-1)[fresh]
        self._dirty.reshape(-1)[cells] = True

    def _current_mid(self) -> np.ndarray:
        """IV input: the two-sided mid, else the last trade."""
        two_sided = chain.mid_price(self.bid, self.ask)
        return np.where(np.isfinite(two_sided), two_sided, self.ltp)

    def _reprice_inputs(self) -> None:
        """Fix forward and time to expiry from the state as it is now; reprice every row.

        Only the inputs are kept here (the clock, the spot, the two-sided quotes); the
        forward is worked out from them when first read. A later reprice replaces them
        before anything reads the forward, and every row is repriced with the latest one,
        so under a backlog most ticks cost a copy instead of a parity fit.
        """
        self._pending = PricingInputs(
            as_of_ns=self.as_of_ns,
            spot=math.nan if self.spot is None else self.spot,
            strikes=self.strikes,
            bid=self.bid.copy(),
            ask=self.ask.copy(),
        )
        self._full = True

    def _resolve_pricing(self) -> None:
        inputs, self._pending = self._pending, None
        if inputs is None:
            return
        self._t_years = inputs.t_years(self._expiry_ns)
        est = inputs.forward_estimate(
            t_years=self._t_years, rate=self.spec.rate, dividend_yield=self.spec.dividend_yield
        )
        self._forward, self._forward_source = float(est.forward), str(est.source)

    @property
    def forward(self) -> float:
        """The forward fixed by the last spot tick or chain snapshot (NaN before one)."""
        self._resolve_pricing()
        return self._forward

    @property
    def forward_source(self) -> str:
        self._resolve_pricing()
        return self._forward_source

    @property
    def t_years(self) -> float:
        """Years to expiry at the last spot tick or chain snapshot (NaN before one)."""
        self._resolve_pricing()
        return self._t_years

    # ------------------------------------------------------------ derived

    @property
    def pending(self) -> bool:
        return self._full or bool(self._dirty.any())

    def recompute(self) -> int:
        """Bring mids and the payout curve up to date and fix what IV and greeks are priced
        from; returns the number of options repriced.

        IV and greeks themselves are worked out when first read (``iv``, ``delta``, …,
        ``atm_iv``) from the mids, forward and time fixed here: the summary on every update
        needs the few rows around the money, the full chain is read a few times a second.
        What is read is exactly what pricing every row here would have given."""
        full = self._full
        if self._oi_touched or self._payout_stale:
            self._payout = updated_payout(
                self._payout,
                self.strikes,
                oi=self.oi,
                oi_delta=self._oi_delta,
                rebuild=self._payout_stale or not self._payout_exact,
            )
            self._oi_delta[:] = 0
            self._oi_touched = self._payout_stale = False
        cells = None if full else np.flatnonzero(self._dirty)
        self._dirty[:] = False
        self._full = False
        n = self.strikes.size
        if n == 0 or (cells is not None and cells.size == 0):
            return 0
        # New pricing inputs always come with a full recompute (a reprice sets _full).
        self._prices.fix(self._current_mid(), cells, forward=self.forward, t_years=self.t_years)
        return 2 * n if cells is None else int(cells.size)

    @property
    def mid(self) -> np.ndarray:
        """The IV input per [side, row] at the last recompute: two-sided mid, else LTP."""
        return self._prices.mid

    @property
    def iv(self) -> np.ndarray:
        """Implied vol per [side, row] as of the last recompute (read-only)."""
        return self._prices.column("iv")

    @property
    def delta(self) -> np.ndarray:
        return self._prices.column("delta")

    @property
    def gamma(self) -> np.ndarray:
        return self._prices.column("gamma")

    @property
    def vega(self) -> np.ndarray:
        return self._prices.column("vega")

    @property
    def theta(self) -> np.ndarray:
        return self._prices.column("theta")

    @property
    def rho(self) -> np.ndarray:
        return self._prices.column("rho")

    def atm_iv(self) -> float:
        """ATM IV (``surface.atm_vol`` of the smile), pricing only the rows it reads."""
        return self._prices.atm_iv(self.forward)

    # ------------------------------------------------------------ views

    def oi_change(self) -> np.ndarray:
        """OI change per cell since the session open (0 where no open mark yet)."""
        return np.where(self.oi_open == _NO_OI, 0, self.oi - self.oi_open)

    def price_change(self) -> np.ndarray:
        """LTP change per cell since the session open (NaN where either is missing)."""
        with np.errstate(invalid="ignore"):
            return self.ltp - self.ltp_open

    def buildup_codes(self) -> np.ndarray:
        return buildup.buildup(self.price_change(), self.oi_change().astype(float))

    @property
    def oi_total(self) -> np.ndarray:
        """Open interest summed per side, ``[call, put]`` (int64, read-only view), kept as a
        running sum: equal to ``oi.sum(axis=1)`` without reading the rows."""
        return _read_only(self._oi_total)

    @property
    def volume_total(self) -> np.ndarray:
        """Volume summed per side, ``[call, put]`` (int64, read-only view), kept as a
        running sum: equal to ``volume.sum(axis=1)`` without reading the rows."""
        return _read_only(self._volume_total)

    def max_pain_strike(self) -> float:
        """NaN without open interest: no settlement strike is then better than another."""
        if not self.oi.any():
            return math.nan
        return float(chain.max_pain_from_payout(self.strikes, payout=self._payout).strike)

    def atm_reference(self) -> float:
        """The forward, else the spot: what ATM is measured against."""
        return self.forward if math.isfinite(self.forward) else (self.spot or math.nan)

    def atm_index(self) -> int:
        return chain.atm_index(self.strikes, self.atm_reference())

    @property
    def payout(self) -> np.ndarray:
        """Payout to holders if settled at each strike (read-only view)."""
        return _read_only(self._payout)

    # The published messages are built in actors.chain_views; these keep the book's API.

    def summary(self, *, published_ns: int = 0) -> Summary:
        return chain_views.summary(self, published_ns=published_ns)

    def enriched(self, *, published_ns: int = 0) -> EnrichedChain:
        return chain_views.enriched(self, published_ns=published_ns)

    def max_pain(self) -> MaxPainCurve:
        return chain_views.max_pain(self)

    def smile(self) -> SmileSlice:
        return chain_views.smile(self)

    # ------------------------------------------------------------ persistence
    # Snapshots are taken and restored in actors.chain_snapshot; these keep the book's API.

    def to_snapshot(self) -> BookSnapshot:
        return chain_snapshot.to_snapshot(self)

    @classmethod
    def from_snapshot(cls, spec: ProductSpec, snap: BookSnapshot) -> ChainBook:
        book = cls(spec, snap.expiry)
        chain_snapshot.restore(book, snap)
        return book
