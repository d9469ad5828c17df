"""The forward for one expiry: implied by put-call parity, else carried from spot (DESIGN §4).

Parity for European options on one forward: ``C − P = e^(−rT)·(F − K)``, so each strike with
a two-sided call and put gives ``F = K + e^(rT)·(C − P)``. The estimate is the median of
these over the ``n_strikes`` strikes nearest the money (a median shrugs off one stale or
crossed quote). When no strike qualifies, the cost-of-carry forward ``S·e^((r−q)T)`` is
used; when the spot is missing too, the forward is NaN. The source is reported so it can
be published.

Units: strikes, mids, spot and forward in price units; ``t_years`` ACT/365 years; ``rate``
and ``dividend_yield`` continuously compounded per year (0.065 = 6.5 %).

Example (prices on a forward of 101 with r = 0):

>>> import numpy as np
>>> est = implied_forward(np.array([95.0, 100.0, 105.0]), call_mid=np.array([7.0, 3.0, 1.0]),
...                       put_mid=np.array([1.0, 2.0, 5.0]), spot=100.0, t_years=0.1,
...                       rate=0.0, dividend_yield=0.0)
>>> est.forward, est.source
(101.0, 'parity')
"""

from __future__ import annotations

import bisect
import math
import operator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_PARITY_STRIKES",
    "ForwardEstimate",
    "ForwardSource",
    "carry_forward",
    "implied_forward",
]

ForwardSource = Literal["parity", "carry", "none"]
FloatArray = npt.NDArray[np.float64]

DEFAULT_PARITY_STRIKES = 3
"""Strikes nearest the money whose parity forwards are combined (odd, so the median is one)."""


@dataclass(frozen=True, slots=True)
class ForwardEstimate:
    """A forward (price units) and where it came from: ``"parity"``, ``"carry"`` or ``"none"``.

    ``forward`` is NaN exactly when ``source == "none"``.
    """

    forward: float
    source: ForwardSource


def carry_forward(*, spot: float, t_years: float, rate: float, dividend_yield: float) -> float:
    """Cost-of-carry forward ``S·e^((r−q)T)``; NaN unless spot > 0 and all inputs are finite.

    >>> carry_forward(spot=100.0, t_years=0.0, rate=0.05, dividend_yield=0.01)
    100.0
    """
    s, t, r, q = float(spot), float(t_years), float(rate), float(dividend_yield)
    if not all(math.isfinite(x) for x in (s, t, r, q)) or s <= 0.0:
        return math.nan
    forward = s * math.exp((r - q) * t)
    return forward if math.isfinite(forward) else math.nan


def implied_forward(
    strikes: npt.ArrayLike,
    *,
    call_mid: npt.ArrayLike,
    put_mid: npt.ArrayLike,
    spot: float,
    t_years: float,
    rate: float,
    dividend_yield: float,
    n_strikes: int = DEFAULT_PARITY_STRIKES,
) -> ForwardEstimate:
    """Put-call-parity forward from the strikes nearest the money, else the carry forward.

    A strike qualifies when it is finite and positive and both its call and put mids are
    finite and positive (pass two-sided mids: NaN where a side of the book is missing).
    "Nearest the money" is measured as ``|K − S·e^((r−q)T)|`` (ties to the lower strike);
    without a usable spot it is measured as ``|C − P|``, which is smallest where the
    strike crosses the forward. The ``n_strikes`` nearest qualifying strikes each give
    ``F_i = K_i + e^(rT)·(C_i − P_i)``; non-positive ``F_i`` are dropped, and the median of
    the rest is the estimate (source ``"parity"``). Otherwise the carry forward (source
    ``"carry"``), else NaN (source ``"none"``). ``t_years`` and ``rate`` must be finite for
    parity; callers treat ``t_years ≤ 0`` as expired and need not call this.

    Strikes need not be sorted. Raises ``ValueError`` on mismatched shapes or
    ``n_strikes < 1``; bad numbers in rows never raise.

    >>> implied_forward(np.array([100.0]), call_mid=np.array([np.nan]), put_mid=np.array([2.0]),
    ...                 spot=100.0, t_years=0.5, rate=0.0, dividend_yield=0.0).source
    'carry'
    """
    n_strikes = operator.index(n_strikes)
    if n_strikes < 1:
        raise ValueError(f"n_strikes must be ≥ 1, got {n_strikes}")
    k = np.asarray(strikes, dtype=np.float64)
    if k.ndim != 1:
        raise ValueError(f"strikes must be one-dimensional, got shape {k.shape}")
    c = np.asarray(call_mid, dtype=np.float64)
    p = np.asarray(put_mid, dtype=np.float64)
    if c.shape != k.shape or p.shape != k.shape:
        raise ValueError(
            f"strikes {k.shape}, call_mid {c.shape} and put_mid {p.shape} must have one shape"
        )
    carry = carry_forward(spot=spot, t_years=t_years, rate=rate, dividend_yield=dividend_yield)
    t, r = float(t_years), float(rate)
    if math.isfinite(t) and math.isfinite(r):
        parity = _parity_forward(k, c, p, growth=math.exp(r * t), anchor=carry, n=n_strikes)
        if math.isfinite(parity):
            return ForwardEstimate(forward=parity, source="parity")
    if math.isfinite(carry):
        return ForwardEstimate(forward=carry, source="carry")
    return ForwardEstimate(forward=math.nan, source="none")


def _window_nearest(sorted_k: FloatArray, anchor: float, n: int) -> npt.NDArray[np.intp]:
    """Indices of the ``n`` strikes nearest ``anchor`` in an ascending array (ties to the
    lower strike): a window grown outwards from the insertion point, O(n) not O(N log N)."""
    # bisect on a list, not np.searchsorted: numpy releases the GIL inside searchsorted,
    # and on a busy multi-threaded host getting it back costs far more than the search.
    keys = sorted_k.tolist()
    hi = bisect.bisect_left(keys, anchor)
    lo = hi - 1
    picked: list[int] = []
    size = len(keys)
    while len(picked) < n and (lo >= 0 or hi < size):
        if hi >= size or (lo >= 0 and anchor - keys[lo] <= keys[hi] - anchor):
            picked.append(lo)
            lo -= 1
        else:
            picked.append(hi)
            hi += 1
    return np.array(picked, dtype=np.intp)


def _parity_forward(
    k: FloatArray, c: FloatArray, p: FloatArray, *, growth: float, anchor: float, n: int
) -> float:
    if math.isfinite(anchor) and math.isfinite(growth) and bool(np.all(k[1:] >= k[:-1])):
        return _parity_forward_sorted(k.tolist(), c.tolist(), p.tolist(), growth, anchor, n)
    with np.errstate(invalid="ignore", over="ignore"):
        usable = (
            np.isfinite(k) & (k > 0.0) & np.isfinite(c) & (c > 0.0) & np.isfinite(p) & (p > 0.0)
        )
        if not usable.any() or not math.isfinite(growth):
            return math.nan
        ku, cu, pu = k[usable], c[usable], p[usable]
        if ku.size > 1 and not bool(np.all(ku[1:] >= ku[:-1])):
            order = np.argsort(ku, kind="stable")  # ties in distance go to the lower strike
            ku, cu, pu = ku[order], cu[order], pu[order]
        if math.isfinite(anchor):
            nearest = _window_nearest(ku, anchor, n)
        else:
            nearest = np.argsort(np.abs(cu - pu), kind="stable")[:n]
        estimates = ku[nearest] + growth * (cu[nearest] - pu[nearest])
    # A handful of values: the median in plain Python costs a fraction of np.median's.
    kept = sorted(x for x in estimates.tolist() if math.isfinite(x) and x > 0.0)
    if not kept:
        return math.nan
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else 0.5 * (kept[mid - 1] + kept[mid])


def _parity_forward_sorted(
    k: list[float], c: list[float], p: list[float], growth: float, anchor: float, n: int
) -> float:
    """``_parity_forward`` for ascending strikes and a finite anchor (a chain's every tick):
    the same strikes and arithmetic, found by walking out from the anchor over the strikes
    in plain Python instead of masking every row with numpy."""

    def usable(i: int) -> bool:
        ki, ci, pi = k[i], c[i], p[i]
        return (
            math.isfinite(ki)
            and ki > 0.0
            and math.isfinite(ci)
            and ci > 0.0
            and math.isfinite(pi)
            and pi > 0.0
        )

    size = len(k)
    hi = bisect.bisect_left(k, anchor)
    lo = hi - 1
    while lo >= 0 and not usable(lo):
        lo -= 1
    while hi < size and not usable(hi):
        hi += 1
    estimates: list[float] = []
    while len(estimates) < n and (lo >= 0 or hi < size):
        # Ties in distance go to the lower strike, as in _window_nearest.
        if hi >= size or (lo >= 0 and anchor - k[lo] <= k[hi] - anchor):
            i, lo = lo, lo - 1
            while lo >= 0 and not usable(lo):
                lo -= 1
        else:
            i, hi = hi, hi + 1
            while hi < size and not usable(hi):
                hi += 1
        estimates.append(k[i] + growth * (c[i] - p[i]))
    kept = sorted(x for x in estimates if math.isfinite(x) and x > 0.0)
    if not kept:
        return math.nan
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else 0.5 * (kept[mid - 1] + kept[mid])
