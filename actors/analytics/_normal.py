"""Scalar normal-distribution functions for the Black-76 kernels (numba, no arrays).

numba's on-disk cache keys a function on its own file only: after editing this module, delete
``__pycache__/_black76_kernels.*.nb[ic]`` or the kernels keep the old code.

Everything here is compiled lazily (numba, ``cache=True``) as part of the callers in
``_black76_kernels``, and is accurate to a few ulp in the far tails, where the naive
formulas lose digits:

- ``exp_neg_half_sq(z)``: e^(−z²/2) with z² split exactly, so the rounding of z² (relative
  error up to z²·2⁻⁵³ once exponentiated) does not leak into tail probabilities.
- ``erfcx(z)``: the scaled complementary error function e^(z²)·erfc(z), any real z, from
  Chebyshev interpolants built at import (~30 ms) out of libm's erfc (≤ ~4.5 ulp);
  ``erfcx_precise(z)`` (z ≥ 0) is libm-based, 1–2 ulp and slower.
- ``norm_cdf(z)``: Φ(z), relatively accurate for z → −∞ (no 1 − Φ(−z) cancellation).
- ``norm_quantile_lower(p)``: a rough Φ⁻¹(p) for 0 < p ≤ ½, used only for initial guesses.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.polynomial import chebyshev

_VELTKAMP_SPLITTER = 134217729.0  # 2**27 + 1: splits a double into two 26-bit halves
_SQRT_PI = math.sqrt(math.pi)
_SQRT_2 = math.sqrt(2.0)
# erfcx on [0, 16) comes from a table of degree-7 interpolants on intervals of width 1/16;
# above, from its asymptotic series.
_ERFCX_TABLE_PER_UNIT = 16.0
_ERFCX_TABLE_END = 16.0
_ERFCX_TABLE_INTERVALS = 256
_ERFCX_TABLE_DEGREE = 7
# erfc(z) stays normal (not subnormal) below 26, so libm's erfc keeps full precision there.
_ERFCX_PRECISE_END = 26.0
# Below −26.7, e^(z²) overflows, so erfcx is +inf.
_ERFCX_NEGATIVE_OVERFLOW = 26.7
# Above 40, e^(−z²/2) < 1e-347 underflows to zero.
_EXP_SQ_ARG_MAX = 40.0

# Abramowitz & Stegun 26.2.23: rational approximation of the normal quantile, |error| < 4.5e-4.
_AS_C0 = 2.515517
_AS_C1 = 0.802853
_AS_C2 = 0.010328
_AS_D1 = 1.432788
_AS_D2 = 0.189269
_AS_D3 = 0.001308


@njit(cache=True, error_model="numpy")
def _exp_scaled_square(z: float, k: float) -> float:
    """e^(k·z²) for k = 1 or −½, with z² formed exactly as zh² + zl·(zh + z).

    zh has 26 significant bits, so k·zh² is exact; the remainder is below 1.1e-5 in magnitude
    wherever the result neither overflows nor underflows, so a cubic Taylor factor is exact.
    Callers keep |z| small enough (see ``_EXP_SQ_ARG_MAX``) for the split not to overflow.
    """
    c = _VELTKAMP_SPLITTER * z
    zh = c - (c - z)
    zl = z - zh
    y = k * zl * (zh + z)
    return math.exp(k * zh * zh) * (1.0 + y * (1.0 + y * (0.5 + y / 6.0)))


@njit(cache=True, error_model="numpy")
def exp_neg_half_sq(z: float) -> float:
    """e^(−z²/2), accurate to a couple of ulp even where z² is large."""
    a = abs(z)
    if a <= 1.0:
        return math.exp(-0.5 * z * z)
    if a < _EXP_SQ_ARG_MAX:
        return _exp_scaled_square(a, -0.5)
    return 0.0 if a > 0.0 else z  # underflow, or NaN


def _erfcx_by_libm(z: float) -> float:
    """erfcx(z) for 0 ≤ z < 26 from libm's erfc and an exact-square exp (1–2 ulp); table input."""
    c = _VELTKAMP_SPLITTER * z
    zh = c - (c - z)
    y = (z - zh) * (zh + z)
    return math.erfc(z) * math.exp(zh * zh) * (1.0 + y * (1.0 + y * (0.5 + y / 6.0)))


def _erfcx_table() -> np.ndarray:
    """Power-basis coefficients, in t ∈ [−1, 1], of Chebyshev interpolants of erfcx on each
    interval [k/16, (k+1)/16) of [0, 16): ~4 ulp, about 5x faster than erfc·e^(z²).

    The interval width is a power of two, so t = 2·(16·z − k) − 1 is exact.
    """
    table = np.zeros((_ERFCX_TABLE_INTERVALS, _ERFCX_TABLE_DEGREE + 1))
    for k in range(_ERFCX_TABLE_INTERVALS):
        left = k / _ERFCX_TABLE_PER_UNIT

        def on_interval(t: np.ndarray, left: float = left) -> np.ndarray:
            z = left + (np.asarray(t) + 1.0) / (2.0 * _ERFCX_TABLE_PER_UNIT)
            return np.array([_erfcx_by_libm(float(zi)) for zi in np.atleast_1d(z)])

        power = chebyshev.cheb2poly(chebyshev.chebinterpolate(on_interval, _ERFCX_TABLE_DEGREE))
        table[k, : power.size] = power
    return table


_ERFCX_TABLE = _erfcx_table()


@njit(cache=True, error_model="numpy")
def _erfcx_nonneg(z: float) -> float:
    if z < _ERFCX_TABLE_END:
        k = int(z * _ERFCX_TABLE_PER_UNIT)
        t = 2.0 * (z * _ERFCX_TABLE_PER_UNIT - k) - 1.0
        c = _ERFCX_TABLE[k]
        return c[0] + t * (
            c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * (c[5] + t * (c[6] + t * c[7])))))
        )
    # Asymptotic series 1/(z√π)·Σ (−1)^k (2k−1)!!/(2z²)^k; from z = 16 the first omitted term
    # (k = 10) is below 1e-18. Also maps +inf to 0 and NaN to NaN.
    w = 0.5 / (z * z)
    series = -34459425.0
    for coefficient in (2027025.0, -135135.0, 10395.0, -945.0, 105.0, -15.0, 3.0, -1.0, 1.0):
        series = coefficient + w * series
    return series / (z * _SQRT_PI)


@njit(cache=True, error_model="numpy")
def erfcx_precise(z: float) -> float:
    """erfcx(z) for z ≥ 0 to 1–2 ulp (libm erfc times an exact-square exp), ~5x slower than
    ``erfcx``; for prices, where b is a difference of two erfcx values that amplifies errors."""
    if z < _ERFCX_PRECISE_END:
        return math.erfc(z) * _exp_scaled_square(z, 1.0)
    return _erfcx_nonneg(z)


@njit(cache=True, error_model="numpy")
def erfcx(z: float) -> float:
    """Scaled complementary error function e^(z²)·erfc(z) for any real z (NaN → NaN)."""
    if z >= 0.0:
        return _erfcx_nonneg(z)  # +inf gives 0
    if z > -_ERFCX_NEGATIVE_OVERFLOW:
        return 2.0 * _exp_scaled_square(z, 1.0) - _erfcx_nonneg(-z)
    return math.inf if z < 0.0 else z  # overflow, or NaN


@njit(cache=True, error_model="numpy")
def norm_cdf(z: float) -> float:
    """Φ(z), relatively accurate in the lower tail and to an ulp of 1 in the upper one."""
    tail = 0.5 * _erfcx_nonneg(abs(z) / _SQRT_2) * exp_neg_half_sq(z)
    return tail if z < 0.0 else 1.0 - tail


@njit(cache=True, error_model="numpy")
def norm_quantile_lower(p: float) -> float:
    """Approximate Φ⁻¹(p) for 0 < p ≤ ½ (absolute error < 4.5e-4); only for initial guesses."""
    t = math.sqrt(-2.0 * math.log(p))
    num = _AS_C0 + t * (_AS_C1 + t * _AS_C2)
    den = 1.0 + t * (_AS_D1 + t * (_AS_D2 + t * _AS_D3))
    return num / den - t
