"""IV and greeks of one chain's options, worked out when first read.

A ``ChainBook`` recompute fixes what its options are priced from (the mids, the forward and
the time to expiry); the numbers themselves are computed here on demand. The summary
published on every update needs only the ATM IV, so only the rows around the money are
priced for it; the enriched chain and the smile, a few times a second, price the rest.
Whatever is read equals pricing every option at the recompute, since the inputs do not
change until the next one.

Cells are flat ``[side, row]`` indices (side 0 calls, 1 puts; rows = strikes ascending).
Owned by one ``ChainBook`` and, like it, not thread-safe.
"""

from __future__ import annotations

import math

import numpy as np

from actors.analytics import black76

__all__ = ["COLUMNS", "ChainPricing"]

COLUMNS = ("iv", "delta", "gamma", "vega", "theta", "rho")
"""What is priced per option, in the order of ``ChainPricing.column``."""

_SIDES = 2
_ATM_CHUNK = 4  # cells priced at a time walking out from the money for the ATM IV


class ChainPricing:
    def __init__(self, strikes: np.ndarray, *, rate: float) -> None:
        n = strikes.size
        self.strikes = strikes
        self.rate = rate
        self.mid = np.full((_SIDES, n), np.nan)
        self._values = np.full((len(COLUMNS), _SIDES * n), np.nan)
        self._iv_stale = np.zeros(_SIDES * n, dtype=bool)
        self._greeks_stale = np.zeros(_SIDES * n, dtype=bool)
        self._forward = self._t_years = math.nan
        self._cell_strike = np.concatenate([strikes, strikes])
        self._cell_is_call = np.arange(_SIDES * n) < n

    def fix(
        self, mid: np.ndarray, cells: np.ndarray | None, *, forward: float, t_years: float
    ) -> None:
        """New mids (shape ``[side, row]``) for these cells, all of them when None, to be
        priced from ``forward`` and ``t_years``. A new forward or time always comes with all
        cells: every cell still unpriced then belongs to them."""
        if cells is None:
            self.mid = mid
            self._iv_stale[:] = self._greeks_stale[:] = True
        else:
            self.mid.reshape(-1)[cells] = mid.reshape(-1)[cells]
            self._iv_stale[cells] = self._greeks_stale[cells] = True
        self._forward = forward
        self._t_years = t_years if t_years > 0 else math.nan

    def column(self, name: str) -> np.ndarray:
        """One of ``COLUMNS`` for every option, shape ``[side, row]``, read-only."""
        if self._iv_stale.any():
            self._price_iv(np.flatnonzero(self._iv_stale))
        if name != "iv" and self._greeks_stale.any():
            cells = np.flatnonzero(self._greeks_stale)
            g = black76.greeks(
                self._forward,
                strike=self._cell_strike[cells],
                t_years=self._t_years,
                rate=self.rate,
                vol=self._values[0, cells],
                is_call=self._cell_is_call[cells],
            )
            self._values[1:, cells] = (g.delta, g.gamma, g.vega, g.theta, g.rho)
            self._greeks_stale[cells] = False
        view = self._values[COLUMNS.index(name)].reshape(_SIDES, -1).view()
        view.flags.writeable = False
        return view

    def atm_iv(self, forward: float) -> float:
        """ATM IV exactly as ``surface.atm_vol`` reads it off the smile (OTM IV linear in
        k = ln(K/F) at k = 0), pricing only the cells that decide it: the nearest usable
        out-of-the-money option on each side of ``forward``, or one exactly at it."""
        if not (math.isfinite(forward) and forward > 0.0):
            return math.nan
        n = self.strikes.size
        k = np.log(self.strikes / forward)  # as atm_vol computes it: ascending (strikes > 0)
        money = int(np.count_nonzero(k < 0.0))  # OTM puts below this row, calls from it on
        puts = range(n + money - 1, n - 1, -1)  # put cells, nearest the money first
        calls = range(money, n)
        # One pricing call for the few cells nearest the money on both sides: usually all
        # that is needed.
        near = np.array([*puts[:_ATM_CHUNK], *calls[:_ATM_CHUNK]], dtype=np.intp)
        todo = near[self._iv_stale[near]]
        if todo.size:
            self._price_iv(todo)
        iv = self._values[0]
        if money < n and k[money] == 0.0:
            if self._nearest_usable(range(money, money + 1)) >= 0:
                return float(iv[money])
            calls = range(money + 1, n)
        lo = self._nearest_usable(puts)
        hi = self._nearest_usable(calls)
        if lo < 0 or hi < 0:
            return math.nan
        lo -= n
        iv_lo, iv_hi = iv[n + lo], iv[hi]
        weight = -k[lo] / (k[hi] - k[lo])
        return float(iv_lo + weight * (iv_hi - iv_lo))

    def _price_iv(self, cells: np.ndarray) -> None:
        self._values[0, cells] = black76.implied_vol(
            self.mid.reshape(-1)[cells],
            forward=self._forward,
            strike=self._cell_strike[cells],
            t_years=self._t_years,
            rate=self.rate,
            is_call=self._cell_is_call[cells],
        )
        self._iv_stale[cells] = False

    def _nearest_usable(self, cells: range) -> int:
        """The first of these cells with a usable IV (finite, positive), pricing those not
        yet priced a few at a time; −1 when there is none."""
        start, chunk = 0, _ATM_CHUNK
        while start < len(cells):
            batch = cells[start : start + chunk]
            idx = np.arange(batch.start, batch.stop, batch.step)
            todo = idx[self._iv_stale[idx]]
            if todo.size:
                self._price_iv(todo)
            for cell, iv in zip(batch, self._values[0, idx].tolist(), strict=True):
                if iv > 0.0 and iv != math.inf:  # NaN compares False
                    return cell
            start, chunk = start + chunk, 2 * chunk
        return -1
