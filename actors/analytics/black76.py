"""Black-76 on the forward: prices, implied volatility and greeks over numpy arrays.

Units (all float64; every argument broadcasts against the others, numpy-style):

- ``forward`` F, ``strike`` K, ``price`` V: money, in the same currency unit (e.g. INR per unit
  of the underlying). ``price`` is the *discounted* premium paid today.
- ``t_years`` T: ACT/365 year fraction to expiry. ``rate`` r: continuously compounded, per year
  (0.065 for 6.5 %). ``vol`` σ: annualised, as a fraction (0.15 for 15 %).
- ``is_call``: bool (True = call, False = put); integer 0/1 is accepted too.

The model: call = e^(−rT)·[F·Φ(d1) − K·Φ(d2)], put = e^(−rT)·[K·Φ(−d2) − F·Φ(−d1)], with
d1,2 = ln(F/K)/(σ√T) ± σ√T/2.

Bad input never raises per element: a NaN, ±inf, zero or negative forward, strike, time or vol
(or a non-finite rate; any finite rate, including 0 and negative, is fine) gives NaN in that
element. Arrays that do not broadcast raise ``ValueError``; empty arrays give empty results;
scalars give 0-d arrays.

Worked example (F = 100, K = 110, T = 0.5 y, r = 5 %, σ = 20 %)::

    >>> from actors.analytics import black76
    >>> v = black76.price(100.0, strike=110.0, t_years=0.5, rate=0.05, vol=0.2, is_call=True)
    >>> round(float(v), 6)
    2.156651
    >>> round(float(black76.implied_vol(v, forward=100.0, strike=110.0, t_years=0.5,
    ...                                 rate=0.05, is_call=True)), 12)
    0.2
    >>> g = black76.greeks(100.0, strike=110.0, t_years=0.5, rate=0.05, vol=0.2, is_call=True)
    >>> round(float(g.delta), 6), round(float(g.vega), 6)  # per unit F, per vol point
    (0.266432, 0.229361)

The kernels are compiled by numba ahead of use, when this module is first imported (a few
seconds on a fresh checkout; later imports load the on-disk cache in ``__pycache__``), so the
first call is as fast as any other. They release the GIL, so actors on different threads price
in parallel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from actors.analytics import _black76_kernels as _k

__all__ = [
    "DAYS_PER_YEAR",
    "IV_MAX_VOL",
    "MIN_TIME_VALUE_REL",
    "PERCENT_PER_UNIT",
    "VOL_POINTS_PER_UNIT",
    "Greeks",
    "greeks",
    "implied_vol",
    "price",
]

DAYS_PER_YEAR = 365.0
"""Calendar days per year: ACT/365, the convention of ``t_years`` and of ``Greeks.theta``."""

VOL_POINTS_PER_UNIT = 100.0
"""Vol points in one unit of σ: ``Greeks.vega`` is ∂V/∂σ divided by this (per 1 vol point)."""

PERCENT_PER_UNIT = 100.0
"""Percent in one unit of r: ``Greeks.rho`` is ∂V/∂r divided by this (per 1 % of rate)."""

MIN_TIME_VALUE_REL = 1e-8
"""Smallest undiscounted time value, as a fraction of the forward, that ``implied_vol`` solves.

Below it a price says (almost) nothing about σ: one ulp of the price moves σ by more than the
solver's accuracy, and quotes there are tick noise. NaN is the honest answer. The same floor
applies to the distance below the upper bound (F for calls, K for puts), where a price within
rounding of the bound is equally uninformative (it would need σ√T > 11).
"""

IV_MAX_VOL = 20.0
"""Largest implied vol (annualised fraction, i.e. 2000 %) that ``implied_vol`` reports.

A larger solution means the price sits at the no-arbitrage upper bound to within rounding, or
the quote is broken; either way it is reported as NaN rather than as a number.
"""


@dataclass(frozen=True, slots=True)
class Greeks:
    """Black-76 sensitivities of the discounted price V, each shaped like the broadcast inputs.

    - ``delta`` = ∂V/∂F (K, T, r, σ fixed): e^(−rT)·Φ(d1) for a call, −e^(−rT)·Φ(−d1) for a put.
    - ``gamma`` = ∂²V/∂F² (K, T, r, σ fixed), per unit of F squared.
    - ``vega`` = ∂V/∂σ / 100 (F, K, T, r fixed): money per 1 vol point.
    - ``theta`` = −∂V/∂T / 365 (F, K, r, σ fixed): money per calendar day that passes, i.e.
      the forward held where it is, not the spot. With r > 0 it can be positive deep in the
      money, where discounting outweighs the decay of time value.
    - ``rho`` = ∂V/∂r / 100 (F, K, T, σ fixed) = −T·V/100: money per 1 % of rate. The forward
      is an input and is held fixed, so only discounting moves; this is not the spot-model rho.
    """

    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray


def price(
    forward: ArrayLike,
    *,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> np.ndarray:
    """Discounted Black-76 premium e^(−rT)·[F·Φ(d1) − K·Φ(d2)] (call) or its put.

    Valid for F, K, T, σ in (0, ∞) and any finite r; elsewhere NaN. Accuracy: the time value
    is computed from the out-of-the-money side with scaled complementary error functions, so
    far-OTM premiums keep their relative precision (≤ ~1e-12 relative, ~1e-16·√(FK) absolute)
    instead of vanishing in Φ(d1) − Φ(d2) cancellation.

    >>> float(price(100.0, strike=100.0, t_years=1.0, rate=0.0, vol=0.2, is_call=False))
    7.965567455405796
    """
    shape, (f, k, t, r, sigma, call) = _broadcast(
        forward=forward, strike=strike, t_years=t_years, rate=rate, vol=vol, is_call=is_call
    )
    out = np.empty(math.prod(shape))
    _k.price_kernel(f, k, t, r, sigma, call, out)
    return out.reshape(shape)


def implied_vol(
    price: ArrayLike,
    *,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
) -> np.ndarray:
    """Black-76 implied volatility (annualised fraction) of a discounted premium.

    NaN, never an exception and never a clamped or guessed number, where there is no answer:
    a non-finite or negative price; F, K or T not in (0, ∞); a non-finite rate; a price below
    the discounted intrinsic value or at/above the upper bound (e^(−rT)·F for calls,
    e^(−rT)·K for puts); an undiscounted time value, or distance to that upper bound, below
    ``MIN_TIME_VALUE_REL``·F; or a solution above ``IV_MAX_VOL``.

    Method: the time value of either option, divided by e^(−rT)·√(FK), equals that of the
    out-of-the-money call b(−|x|, σ√T) with x = ln(F/K); it is solved for s = σ√T by
    third-order Householder steps on ln b (below the inflection point) or ln(b_max − b) (above),
    from an asymptotic first guess, typically with two evaluations of b. Accuracy: |Δ(σ√T)| of a few
    ulp against a 50-digit reference, i.e. "Let's Be Rational" level; the time value is
    evaluated without cancellation so deep-OTM quotes keep their information.

    >>> iv = implied_vol(7.965567455405796, forward=100.0, strike=100.0, t_years=1.0,
    ...                  rate=0.0, is_call=False)
    >>> abs(float(iv) - 0.2) < 1e-15
    True
    """
    shape, (v, f, k, t, r, call) = _broadcast(
        price=price, forward=forward, strike=strike, t_years=t_years, rate=rate, is_call=is_call
    )
    out = np.empty(math.prod(shape))
    _k.implied_vol_kernel(v, f, k, t, r, call, MIN_TIME_VALUE_REL, IV_MAX_VOL, out)
    return out.reshape(shape)


def greeks(
    forward: ArrayLike,
    *,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Delta, gamma, vega (per vol point), theta (per calendar day) and rho (per 1 %).

    See ``Greeks`` for exactly what each holds fixed. Elements with invalid inputs (as for
    ``price``) are NaN in every field.

    >>> g = greeks(100.0, strike=100.0, t_years=1.0, rate=0.0, vol=0.2, is_call=True)
    >>> round(float(g.delta), 6), round(float(g.theta), 6)
    (0.539828, -0.010875)
    """
    shape, (f, k, t, r, sigma, call) = _broadcast(
        forward=forward, strike=strike, t_years=t_years, rate=rate, vol=vol, is_call=is_call
    )
    out = np.empty((5, math.prod(shape)))
    _k.greeks_kernel(
        f, k, t, r, sigma, call, DAYS_PER_YEAR, VOL_POINTS_PER_UNIT, PERCENT_PER_UNIT, out
    )
    delta, gamma, vega, theta, rho = (row.reshape(shape) for row in out)
    return Greeks(delta=delta, gamma=gamma, vega=vega, theta=theta, rho=rho)


def _broadcast(**named: ArrayLike) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast the named arguments; return the shape and each argument flattened to 1-D.

    ``is_call`` becomes bool, everything else float64. An argument of one element stays one
    element long (the kernels broadcast it); only a partial broadcast, like (n, 1) against
    (1, m), is materialised. The common case, scalars beside arrays of one shape, copies nothing.
    """
    arrays = [
        _as_bool(value) if name == "is_call" else np.asarray(value, np.float64)
        for name, value in named.items()
    ]
    shapes = {a.shape for a in arrays if a.ndim}
    if len(shapes) <= 1:
        shape = shapes.pop() if shapes else ()
        return shape, [a.reshape(-1) for a in arrays]
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        given = ", ".join(f"{name}{a.shape}" for name, a in zip(named, arrays, strict=True))
        raise ValueError(f"black76: argument shapes do not broadcast together: {given}") from None
    flat = [a.reshape(-1) if a.size == 1 else np.broadcast_to(a, shape).reshape(-1) for a in arrays]
    return shape, flat


def _as_bool(value: ArrayLike) -> np.ndarray:
    flags = np.asarray(value)
    if flags.dtype == np.bool_:
        return flags
    if flags.dtype.kind in "iu":
        return flags != 0
    raise TypeError(f"black76: is_call must be bool (or integer 0/1), got dtype {flags.dtype}")
