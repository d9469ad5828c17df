"""The implied-volatility surface: one smile per expiry and the ATM term structure.

A smile keeps the out-of-the-money side of each strike (puts below the forward, calls at and
above it), since OTM quotes are the liquid, informative ones. Conventions:

- log-moneyness ``k = ln(K/F)`` on the expiry's forward ``F``;
- ATM IV is the smile linearly interpolated (in vol, against ``k``) at ``k = 0``;
- deltas for the 25-delta quotes are *forward* (undiscounted) Black-76 deltas with each
  strike's own vol: ``N(d1)`` for a call, ``N(d1) − 1`` for a put,
  ``d1 = (−k + σ²T/2)/(σ√T)``. Discounting would shift every delta by ``e^(−rT)`` and make
  "25Δ" depend on the rate; the FX/vol-surface convention is undiscounted;
- ``σ25C`` and ``σ25P`` are interpolated linearly in delta between the nearest smile points
  bracketing ±0.25, walking out from the ATM point, so strikes outside the quoted range are
  never extrapolated (NaN instead);
- risk reversal ``RR25 = σ25C − σ25P`` (negative when puts are bid, the usual equity skew);
  butterfly ``BF25 = (σ25C + σ25P)/2 − σ_ATM`` (the smile strangle: positive for a smile
  that curves up on both sides).

Units: strikes and forward in price units, vols decimal per year (0.2 = 20 %), ``t_years``
ACT/365, total variance in years × vol².

Example (a flat 20 % smile has no skew and no curvature):

>>> import numpy as np
>>> strikes = np.linspace(80.0, 120.0, 41)
>>> flat = np.full(41, 0.2)
>>> s = smile(strikes, call_iv=flat, put_iv=flat, forward=100.0, t_years=0.25, fit_svi=False)
>>> round(s.atm_iv, 12), round(s.rr25, 12), round(s.bf25, 12)
(0.2, 0.0, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from actors.analytics.svi import SviFit
from actors.analytics.svi import fit as _fit_svi

__all__ = [
    "CALENDAR_TOL_TOTAL_VARIANCE",
    "WING_DELTA",
    "Smile",
    "TermStructure",
    "atm_vol",
    "smile",
    "term_structure",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WING_DELTA = 0.25
"""|Forward delta| of the risk-reversal and butterfly wings (25-delta)."""
CALENDAR_TOL_TOTAL_VARIANCE = 1e-12
"""A later expiry's ATM total variance (years × vol²) this far below an earlier one's is flagged."""


@dataclass(frozen=True, slots=True)
class Smile:
    """One expiry's smile (see the module docstring for conventions).

    Per-strike arrays (read-only, one entry per input strike): ``strikes``,
    ``log_moneyness``, ``otm_iv`` (NaN where the OTM side has no usable IV), ``otm_is_call``,
    ``delta`` (forward delta of the OTM option; NaN where ``otm_iv`` is). Scalars are NaN
    when they cannot be read off the data. ``svi`` is the raw-SVI fit of the OTM total
    variance, or None when it was not requested.
    """

    forward: float
    t_years: float
    strikes: FloatArray
    log_moneyness: FloatArray
    otm_iv: FloatArray
    otm_is_call: BoolArray
    delta: FloatArray
    atm_iv: float
    atm_total_variance: float
    call25_iv: float
    put25_iv: float
    rr25: float
    bf25: float
    svi: SviFit | None


_Array = TypeVar("_Array", bound=npt.NDArray[Any])


def _frozen(arr: _Array) -> _Array:
    arr.setflags(write=False)
    return arr


def smile(
    strikes: npt.ArrayLike,
    *,
    call_iv: npt.ArrayLike,
    put_iv: npt.ArrayLike,
    forward: float,
    t_years: float,
    fit_svi: bool = True,
) -> Smile:
    """Build one expiry's :class:`Smile` from per-strike call and put IVs.

    ``strikes`` finite and strictly ascending (``ValueError`` otherwise, or on mismatched
    shapes); ``call_iv``/``put_iv`` decimal vols, NaN where missing (a non-finite or
    non-positive IV counts as missing). ``forward`` > 0 and ``t_years`` > 0, else every
    derived value is NaN. With ``fit_svi`` the OTM total variances are fitted with
    :func:`actors.analytics.svi.fit` (about 0.3 ms for 100 strikes).

    >>> k = np.array([90.0, 100.0, 110.0])
    >>> s = smile(k, call_iv=np.array([0.3, 0.2, 0.22]), put_iv=np.array([0.25, 0.21, 0.4]),
    ...           forward=100.0, t_years=0.5, fit_svi=False)
    >>> s.otm_iv.tolist(), s.atm_iv
    ([0.25, 0.2, 0.22], 0.2)
    """
    k_strike = np.asarray(strikes, dtype=np.float64)
    if k_strike.ndim != 1:
        raise ValueError(f"strikes must be one-dimensional, got shape {k_strike.shape}")
    if not np.all(np.isfinite(k_strike)) or not np.all(k_strike[1:] > k_strike[:-1]):
        raise ValueError("strikes must be finite and strictly ascending")
    c_iv = np.asarray(call_iv, dtype=np.float64)
    p_iv = np.asarray(put_iv, dtype=np.float64)
    if c_iv.shape != k_strike.shape or p_iv.shape != k_strike.shape:
        raise ValueError(
            f"strikes {k_strike.shape}, call_iv {c_iv.shape} and put_iv {p_iv.shape} "
            "must have one shape"
        )
    fwd, t = float(forward), float(t_years)
    n = k_strike.size
    if not (math.isfinite(fwd) and fwd > 0.0 and math.isfinite(t) and t > 0.0):
        nan_arr = np.full(n, np.nan)
        return Smile(
            forward=fwd,
            t_years=t,
            strikes=_frozen(k_strike.copy()),
            log_moneyness=_frozen(nan_arr.copy()),
            otm_iv=_frozen(nan_arr.copy()),
            otm_is_call=_frozen(np.zeros(n, dtype=np.bool_)),
            delta=_frozen(nan_arr.copy()),
            atm_iv=math.nan,
            atm_total_variance=math.nan,
            call25_iv=math.nan,
            put25_iv=math.nan,
            rr25=math.nan,
            bf25=math.nan,
            svi=_fit_svi(nan_arr, nan_arr) if fit_svi else None,
        )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = np.log(k_strike / fwd)
        is_call = k >= 0.0
        raw = np.where(is_call, c_iv, p_iv)
        iv = np.where(np.isfinite(raw) & (raw > 0.0), raw, np.nan)
        sqrt_t = math.sqrt(t)
        d1 = (-k + 0.5 * iv * iv * t) / (iv * sqrt_t)
        delta = np.where(is_call, ndtr(d1), -ndtr(-d1))  # N(d1) − 1 without cancellation
        atm_iv = _atm_iv(k, iv)
        atm_delta_call = float(ndtr(0.5 * atm_iv * sqrt_t)) if math.isfinite(atm_iv) else math.nan
        have = np.isfinite(iv) & np.isfinite(delta)
        calls_out = np.flatnonzero(have & is_call)  # ascending strike: walking out
        puts_out = np.flatnonzero(have & ~is_call)[::-1]  # descending strike: walking out
        call25 = _wing_vol(
            np.concatenate(([atm_delta_call], delta[calls_out])),
            np.concatenate(([atm_iv], iv[calls_out])),
            target=WING_DELTA,
        )
        put25 = _wing_vol(
            np.concatenate(([atm_delta_call - 1.0], delta[puts_out])),
            np.concatenate(([atm_iv], iv[puts_out])),
            target=-WING_DELTA,
        )
        fitted = None
        if fit_svi:
            fitted = _fit_svi(k, iv * iv * t, t_years=t)
    return Smile(
        forward=fwd,
        t_years=t,
        strikes=_frozen(k_strike.copy()),
        log_moneyness=_frozen(k),
        otm_iv=_frozen(iv),
        otm_is_call=_frozen(is_call),
        delta=_frozen(np.where(np.isfinite(iv), delta, np.nan)),
        atm_iv=atm_iv,
        atm_total_variance=atm_iv * atm_iv * t,
        call25_iv=call25,
        put25_iv=put25,
        rr25=call25 - put25,
        bf25=0.5 * (call25 + put25) - atm_iv,
        svi=fitted,
    )


def atm_vol(
    strikes: npt.ArrayLike, *, call_iv: npt.ArrayLike, put_iv: npt.ArrayLike, forward: float
) -> float:
    """ATM IV alone, exactly as :func:`smile` computes it (the OTM smile linear in k at
    k = 0), without the deltas, wings or fit: for a summary on every update.

    >>> atm_vol(np.array([90.0, 110.0]), call_iv=np.array([0.3, 0.2]),
    ...         put_iv=np.array([0.25, 0.4]), forward=100.0) == 0.25 + (0.2 - 0.25) * (
    ...     -math.log(0.9) / (math.log(1.1) - math.log(0.9)))
    True
    """
    fwd = float(forward)
    if not (math.isfinite(fwd) and fwd > 0.0):
        return math.nan
    k_strike = np.asarray(strikes, dtype=np.float64)
    # As in smile(): a forward tiny next to a strike overflows k to inf (a NaN ATM IV).
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = np.log(k_strike / fwd)
        raw = np.where(
            k >= 0.0, np.asarray(call_iv, dtype=np.float64), np.asarray(put_iv, dtype=np.float64)
        )
        iv = np.where(np.isfinite(raw) & (raw > 0.0), raw, np.nan)
        return _atm_iv(k, iv)


def _atm_iv(k: FloatArray, iv: FloatArray) -> float:
    """Vol at k = 0, linear in k between the nearest usable points on either side."""
    finite = np.isfinite(iv)
    at_money = finite & (k == 0.0)
    if at_money.any():
        return float(iv[np.argmax(at_money)])
    below = np.flatnonzero(finite & (k < 0.0))
    above = np.flatnonzero(finite & (k > 0.0))
    if below.size == 0 or above.size == 0:
        return math.nan
    lo, hi = below[-1], above[0]
    weight = -k[lo] / (k[hi] - k[lo])
    return float(iv[lo] + weight * (iv[hi] - iv[lo]))


def _wing_vol(delta: FloatArray, vol: FloatArray, *, target: float) -> float:
    """Vol at ``target`` delta, linear in delta on the first segment (from the start) that
    brackets it; NaN when none does. Nodes are in walking order, ATM first."""
    ok = np.isfinite(delta) & np.isfinite(vol)
    delta, vol = delta[ok], vol[ok]
    if delta.size < 2:
        return math.nan
    gap = delta - target
    brackets = (gap[:-1] * gap[1:] <= 0.0) & (delta[:-1] != delta[1:])
    if not brackets.any():
        return math.nan
    i = int(np.argmax(brackets))
    weight = (target - delta[i]) / (delta[i + 1] - delta[i])
    return float(vol[i] + weight * (vol[i + 1] - vol[i]))


@dataclass(frozen=True, slots=True)
class TermStructure:
    """ATM vol across expiries, in the input order (arrays read-only).

    ``total_variance = atm_iv²·T`` (NaN where either is missing or ``T ≤ 0``).
    ``calendar_arbitrage[i]`` is True when some earlier expiry (smaller T) has an ATM total
    variance more than ``CALENDAR_TOL_TOTAL_VARIANCE`` above expiry ``i``'s: total variance
    at the money must not decrease with T.
    """

    t_years: FloatArray
    atm_iv: FloatArray
    total_variance: FloatArray
    calendar_arbitrage: BoolArray


def term_structure(t_years: npt.ArrayLike, *, atm_iv: npt.ArrayLike) -> TermStructure:
    """ATM term structure and calendar-arbitrage flags for one product's expiries.

    ``t_years`` (ACT/365, any order) and ``atm_iv`` (decimal) are 1-D of one shape
    (``ValueError`` otherwise), one entry per expiry, e.g. from each :class:`Smile`.
    Missing or non-positive values give NaN total variance and are never flagged.

    >>> ts = term_structure(np.array([0.1, 0.2, 0.3]), atm_iv=np.array([0.2, 0.2, 0.1]))
    >>> ts.calendar_arbitrage.tolist()
    [False, False, True]
    """
    t = np.asarray(t_years, dtype=np.float64)
    vol = np.asarray(atm_iv, dtype=np.float64)
    if t.ndim != 1 or vol.shape != t.shape:
        raise ValueError(f"t_years {t.shape} and atm_iv {vol.shape} must be 1-D of one shape")
    with np.errstate(invalid="ignore", over="ignore"):
        usable = np.isfinite(t) & (t > 0.0) & np.isfinite(vol) & (vol > 0.0)
        total = np.where(usable, vol * vol * t, np.nan)
        earlier = t[None, :] < t[:, None]  # [i, j]: expiry j is before expiry i
        higher = total[None, :] > total[:, None] + CALENDAR_TOL_TOTAL_VARIANCE
        flags = np.any(earlier & higher, axis=1) & usable
    return TermStructure(
        t_years=_frozen(t.copy()),
        atm_iv=_frozen(vol.copy()),
        total_variance=_frozen(total),
        calendar_arbitrage=_frozen(flags),
    )
