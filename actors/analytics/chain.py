"""Chain metrics over arrays indexed by strike: PCR, max pain, ATM, straddle, expected move.

OI build-up lives in :mod:`actors.analytics.buildup`.

A chain for one expiry is a set of float64 arrays with one row per strike, strikes finite
and strictly ascending (``call_oi[i]`` and ``put_oi[i]`` belong to ``strikes[i]``). A malformed
strike grid or mismatched shapes raise ``ValueError``; a bad number in a row (NaN, ±inf,
negative OI) never raises: it counts as no open interest, a missing quote, or a neutral
build-up, as each function documents.

Units: strikes, prices and payouts in the underlying's price currency; OI and volume in
contracts (or units, as long as calls and puts agree); payouts are OI × price units.

Example:

>>> import numpy as np
>>> strikes = np.array([100.0, 110.0, 120.0])
>>> mp = max_pain(strikes, call_oi=np.array([10.0, 5.0, 1.0]), put_oi=np.array([1.0, 5.0, 10.0]))
>>> float(mp.strike), mp.index, mp.payout.tolist()
(110.0, 1, [250.0, 200.0, 250.0])
>>> pcr(16.0, 16.0)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from actors.analytics import _chain_kernels as _kernels

__all__ = [
    "ExpectedMove",
    "MaxPain",
    "Straddle",
    "atm_index",
    "expected_move",
    "max_pain",
    "max_pain_from_payout",
    "mid_price",
    "payout_curve",
    "payout_curve_checked",
    "payout_curve_delta",
    "pcr",
    "straddle",
]

FloatArray = npt.NDArray[np.float64]

PAYOUT_TIE_RTOL = 1e-12
"""Payouts within this relative distance of the minimum tie (float rounding is not a signal)."""
_DENSE_DELTA_MIN_ROWS = 16
"""From this many touched rows on, a delta curve is cheaper as O(n) prefix sums than O(n·m)."""


# --------------------------------------------------------------------------- validation


def _as_1d(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _strike_grid(strikes: npt.ArrayLike) -> FloatArray:
    k = _as_1d("strikes", strikes)
    if not np.all(np.isfinite(k)):
        raise ValueError("strikes must be finite")
    if not np.all(k[1:] > k[:-1]):
        raise ValueError("strikes must be strictly ascending")
    return k


def _same_shape(reference: FloatArray, **arrays: npt.ArrayLike) -> list[FloatArray]:
    out = []
    for name, values in arrays.items():
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != reference.shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected {reference.shape}")
        out.append(arr)
    return out


def _clean_oi(oi: FloatArray) -> FloatArray:
    """Open interest with NaN, ±inf and negative values counted as zero."""
    return np.where(np.isfinite(oi) & (oi > 0.0), oi, 0.0)


# --------------------------------------------------------------------------- PCR


def pcr(put_total: float, call_total: float) -> float:
    """Put/call ratio ``put_total / call_total`` (PCR by OI or by volume).

    NaN when the call total is 0, when either total is non-finite or negative (a sum of
    OI or volume cannot be), so a chain with no calls yet publishes NaN, not inf.

    >>> pcr(1250.0, 1000.0)
    1.25
    >>> pcr(5.0, 0.0)
    nan
    """
    put, call = float(put_total), float(call_total)
    if not (math.isfinite(put) and math.isfinite(call)) or put < 0.0 or call <= 0.0:
        return math.nan
    return put / call


# --------------------------------------------------------------------------- max pain


def payout_curve(
    strikes: npt.ArrayLike, *, call_oi: npt.ArrayLike, put_oi: npt.ArrayLike
) -> FloatArray:
    """Total payout to option holders if the underlying settles at each listed strike.

    ``payout[j] = Σ_i call_oi[i]·max(0, K_j − K_i) + put_oi[i]·max(0, K_i − K_j)``, in
    OI × price units. NaN, ±inf and negative OI count as 0. O(n): the call leg grows by
    ``(K_j − K_{j−1})·Σ_{i<j} call_oi[i]`` from one strike to the next (and the put leg
    likewise from the top), so every term is a sum of non-negative numbers and no
    cancellation can occur; integer OI on an integer strike grid is summed exactly (while
    the payouts stay below 2⁵³).

    >>> curve = payout_curve(np.array([1.0, 2.0]), call_oi=np.array([3.0, 0.0]), put_oi=np.zeros(2))
    >>> curve.tolist()
    [0.0, 3.0]
    """
    k = _strike_grid(strikes)
    c, p = (_clean_oi(a) for a in _same_shape(k, call_oi=call_oi, put_oi=put_oi))
    return _payout_curve(k, c, p)


def payout_curve_checked(
    strikes: FloatArray, *, call_oi: FloatArray, put_oi: FloatArray
) -> FloatArray:
    """:func:`payout_curve` of inputs known to be clean: float64 arrays of one shape, the
    strikes finite and strictly ascending, the OI finite and non-negative (a chain book's
    own columns, checked when they were written). The same curve, without checking and
    cleaning them again on every recompute."""
    return _payout_curve(strikes, call_oi, put_oi)


def _payout_curve(k: FloatArray, c: FloatArray, p: FloatArray) -> FloatArray:
    # Absurd OI overflows to inf (no warning, as numpy's errstate "ignore" would give).
    curve = np.empty(k.size)
    _kernels.payout_kernel(np.ascontiguousarray(k), c, p, curve)
    return curve


def payout_curve_delta(
    strikes: npt.ArrayLike,
    *,
    index: npt.ArrayLike,
    d_call_oi: npt.ArrayLike,
    d_put_oi: npt.ArrayLike,
) -> FloatArray:
    """Change of :func:`payout_curve` when the OI at rows ``index`` changes by the given amounts.

    ``curve_new = curve_old + payout_curve_delta(...)`` exactly as a recompute would give (up
    to float rounding), because the curve is linear in OI. ``index`` is a 1-D integer array
    of row numbers in ``[0, n)`` (repeats add up); ``d_call_oi`` and ``d_put_oi`` have its
    shape. The deltas are changes of the *cleaned* OI that :func:`payout_curve` sees (NaN or
    negative OI counts as 0), so compute them as ``clean(new) − clean(old)``; a non-finite
    delta is ignored (treated as 0). Cost O(n·m) for m touched rows, switching to O(n)
    prefix sums once m is large.

    >>> payout_curve_delta(np.array([1.0, 2.0, 3.0]), index=np.array([0]),
    ...                    d_call_oi=np.array([2.0]), d_put_oi=np.array([0.0])).tolist()
    [0.0, 2.0, 4.0]
    """
    k = _strike_grid(strikes)
    idx = np.asarray(index)
    if idx.ndim != 1:
        raise ValueError(f"index must be one-dimensional, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"index must hold integers, got dtype {idx.dtype}")
    idx = idx.astype(np.intp, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= k.size):
        raise ValueError(f"index out of range for {k.size} strikes")
    dc, dp = _same_shape(
        np.empty(idx.shape, dtype=np.float64), d_call_oi=d_call_oi, d_put_oi=d_put_oi
    )
    dc = np.where(np.isfinite(dc), dc, 0.0)
    dp = np.where(np.isfinite(dp), dp, 0.0)
    if idx.size >= _DENSE_DELTA_MIN_ROWS:
        dense_c = np.zeros(k.size)
        dense_p = np.zeros(k.size)
        np.add.at(dense_c, idx, dc)
        np.add.at(dense_p, idx, dp)
        return _payout_curve(k, dense_c, dense_p)
    gap = k[:, None] - k[idx][None, :]  # settlement strike minus touched strike
    with np.errstate(over="ignore", invalid="ignore"):
        change: FloatArray = np.maximum(gap, 0.0) @ dc + np.maximum(-gap, 0.0) @ dp
    return change


@dataclass(frozen=True, slots=True)
class MaxPain:
    """The max-pain strike and the payout curve it minimises.

    ``strike`` is NaN and ``index`` −1 when there is nothing to minimise. ``payout`` is
    read-only, in OI × price units, one entry per strike.
    """

    strike: float
    index: int
    payout: FloatArray


def max_pain_from_payout(strikes: npt.ArrayLike, *, payout: npt.ArrayLike) -> MaxPain:
    """Max pain from an already computed (e.g. incrementally updated) payout curve.

    The lowest strike whose payout is within ``PAYOUT_TIE_RTOL`` of the minimum wins, so
    float rounding never flips a tie. NaN payouts are skipped; empty or all-NaN gives
    strike NaN, index −1. Unlike :func:`max_pain` it cannot tell "no OI" from a flat
    curve: callers that keep OI totals (for PCR) check them.

    >>> max_pain_from_payout(np.array([1.0, 2.0, 3.0]), payout=np.array([5.0, 4.0, 4.0])).index
    1
    """
    k = _strike_grid(strikes)
    (curve,) = _same_shape(k, payout=payout)
    curve = curve.copy()
    curve.setflags(write=False)
    finite = np.isfinite(curve)
    if not finite.any():
        return MaxPain(strike=math.nan, index=-1, payout=curve)
    lowest = float(curve[finite].min())
    tolerance = PAYOUT_TIE_RTOL * abs(lowest)
    with np.errstate(invalid="ignore"):
        at_min = finite & (curve <= lowest + tolerance)
    i = int(np.argmax(at_min))
    return MaxPain(strike=float(k[i]), index=i, payout=curve)


def max_pain(strikes: npt.ArrayLike, *, call_oi: npt.ArrayLike, put_oi: npt.ArrayLike) -> MaxPain:
    """The settlement strike that minimises the total payout to option holders (DESIGN §4).

    Minimises :func:`payout_curve` over the listed strikes; ties go to the lowest strike.
    NaN, ±inf and negative OI count as 0. With no positive OI at all (or no strikes) the
    result is strike NaN, index −1: every strike would tie at 0 and naming one would be a
    made-up number. Invariant under scaling all OI by a positive constant.

    >>> max_pain(np.array([90.0, 100.0]), call_oi=np.array([0.0, 0.0]),
    ...          put_oi=np.array([0.0, 7.0])).strike
    100.0
    """
    k = _strike_grid(strikes)
    c, p = (_clean_oi(a) for a in _same_shape(k, call_oi=call_oi, put_oi=put_oi))
    curve = _payout_curve(k, c, p)
    if not (c.any() or p.any()):
        curve.setflags(write=False)
        return MaxPain(strike=math.nan, index=-1, payout=curve)
    return max_pain_from_payout(k, payout=curve)


# --------------------------------------------------------------------------- ATM, straddle


def atm_index(strikes: npt.ArrayLike, reference: float) -> int:
    """Row of the strike nearest ``reference`` (the forward or the spot); ties to the lower.

    −1 for an empty chain or a reference that is not a finite positive price.

    >>> atm_index(np.array([100.0, 110.0, 120.0]), 105.0)
    0
    >>> atm_index(np.array([100.0, 110.0, 120.0]), 106.0)
    1
    """
    k = _strike_grid(strikes)
    ref = float(reference)
    if k.size == 0 or not math.isfinite(ref) or ref <= 0.0:
        return -1
    hi = int(np.searchsorted(k, ref, side="left"))  # first strike ≥ reference
    if hi == 0:
        return 0
    if hi == k.size:
        return k.size - 1
    lo = hi - 1
    return lo if ref - k[lo] <= k[hi] - ref else hi


def mid_price(bid: npt.ArrayLike, ask: npt.ArrayLike) -> FloatArray:
    """Two-sided mid ``(bid + ask) / 2``; NaN unless both are finite, positive and bid ≤ ask.

    >>> mid_price(np.array([10.0, 0.0, 12.0]), np.array([11.0, 1.0, 11.0])).tolist()
    [10.5, nan, nan]
    """
    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    if b.shape != a.shape:
        raise ValueError(f"bid has shape {b.shape}, ask has shape {a.shape}")
    out = np.empty(b.shape)
    _kernels.mid_kernel(np.ravel(b), np.ravel(a), out.reshape(-1))
    return out


@dataclass(frozen=True, slots=True)
class Straddle:
    """ATM straddle: row, strike, call and put mids and their sum (price units).

    ``price`` is NaN when either mid is missing; ``index`` −1 and ``strike`` NaN when there
    is no ATM strike.
    """

    index: int
    strike: float
    call: float
    put: float
    price: float


def straddle(
    strikes: npt.ArrayLike,
    *,
    call_mid: npt.ArrayLike,
    put_mid: npt.ArrayLike,
    reference: float,
) -> Straddle:
    """ATM straddle price: call mid + put mid at the strike nearest ``reference``.

    ``reference`` is the forward (preferred) or the spot; the ATM row is
    :func:`atm_index`. A mid that is not finite and positive counts as missing and makes
    ``price`` NaN (its own field is then NaN too).

    >>> s = straddle(np.array([100.0, 110.0]), call_mid=np.array([6.0, 1.5]),
    ...              put_mid=np.array([1.0, 5.5]), reference=108.0)
    >>> s.strike, s.price
    (110.0, 7.0)
    """
    k = _strike_grid(strikes)
    cm, pm = _same_shape(k, call_mid=call_mid, put_mid=put_mid)
    i = atm_index(k, reference)
    if i < 0:
        return Straddle(index=-1, strike=math.nan, call=math.nan, put=math.nan, price=math.nan)
    call = float(cm[i]) if math.isfinite(cm[i]) and cm[i] > 0.0 else math.nan
    put = float(pm[i]) if math.isfinite(pm[i]) and pm[i] > 0.0 else math.nan
    return Straddle(index=i, strike=float(k[i]), call=call, put=put, price=call + put)


@dataclass(frozen=True, slots=True)
class ExpectedMove:
    """Two readings of the market's expected move to expiry, in price units.

    ``straddle_move``: the ATM straddle compounded to expiry, ``straddle·e^(rT)``. It is the
    risk-neutral expected *absolute* move E|F_T − K| at the ATM strike; under a lognormal
    forward at K = F it is ≈ √(2/π)·F·σ·√T ≈ 0.8 of the 1-σ move.
    ``sigma_move``: the 1-σ move ``F·σ_ATM·√T`` (the lognormal standard deviation to first
    order in σ√T). Each is NaN when its inputs are missing or the chain has expired.
    """

    straddle_move: float
    sigma_move: float


def expected_move(
    *,
    straddle_price: float,
    forward: float,
    atm_vol: float,
    t_years: float,
    rate: float,
) -> ExpectedMove:
    """Straddle-implied and 1-σ expected moves to expiry (see :class:`ExpectedMove`).

    ``straddle_price`` in price units (discounted, as quoted), ``forward`` in price units,
    ``atm_vol`` as a decimal annual vol (0.15 = 15 %), ``t_years`` ACT/365 (> 0, else both
    NaN), ``rate`` continuously compounded per year.

    >>> em = expected_move(straddle_price=400.0, forward=24000.0, atm_vol=0.12,
    ...                    t_years=0.04, rate=0.0)
    >>> em.straddle_move, round(em.sigma_move, 6)
    (400.0, 576.0)
    """
    price, fwd, vol, t, r = (float(x) for x in (straddle_price, forward, atm_vol, t_years, rate))
    if not (math.isfinite(t) and t > 0.0):
        return ExpectedMove(straddle_move=math.nan, sigma_move=math.nan)
    straddle_move = math.nan
    if math.isfinite(price) and price > 0.0 and math.isfinite(r):
        straddle_move = price * math.exp(r * t)
    sigma_move = math.nan
    if math.isfinite(fwd) and fwd > 0.0 and math.isfinite(vol) and vol > 0.0:
        sigma_move = fwd * vol * math.sqrt(t)
    return ExpectedMove(straddle_move=straddle_move, sigma_move=sigma_move)
