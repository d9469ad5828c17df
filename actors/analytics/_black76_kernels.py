"""Black-76 kernels (numba): the normalised Black function, the implied-vol solver, greeks.

Private to ``black76``, which validates shapes and dtypes and owns the policy constants. The
array kernels take 1-D inputs that each hold either one element (broadcast to all) or one per
output element, and write into a preallocated output one element at a time, so a bad element
yields NaN without touching its neighbours.

Notation (Jäckel, "Let's Be Rational", 2015): x = ln(F/K), s = σ√T, h = x/s, t = s/2, and the
normalised call b(x, s) = e^(x/2)·Φ(h + t) − e^(−x/2)·Φ(h − t), which is the undiscounted call
price divided by √(FK). Put-call symmetry makes every option's time value, divided by √(FK),
equal to b(−|x|, s): the out-of-the-money call on the "mirrored" strike. Everything below works
on that OTM quantity, whose supremum is b_max = e^(−|x|/2).

With E = (h² + t²)/2, u = −(h + t)/√2 and v = (t − h)/√2 (so v ≥ 0 when x ≤ 0):

- below the inflection point s_c = √(2|x|) (where u ≥ 0):
  b = ½·e^(−E)·[erfcx(u) − erfcx(v)]             (no underflow, no cancellation of tails)
- above it (u < 0):
  b_max − b = ½·e^(−E)·[erfcx(−u) + erfcx(v)]    (the distance to the bound, a sum of tails)

and ∂b/∂s = e^(−E)/√(2π), so b/(∂b/∂s) = √(π/2)·[erfcx(u) − erfcx(v)]: the Newton ratio never
under- or overflows. The solver picks its objective by region, so that it is smooth and nearly
linear in s (Jäckel's idea): ln b(s) − ln β below s_c, ln(b_max − β) − ln(b_max − b(s)) above.
From an asymptotic initial guess it takes third-order Householder steps, safeguarded by a
bracket that every evaluation narrows, until a step is below ``_STEP_TOL_REL``·s.

Prices (``normalised_otm``) need b itself to full relative precision, which the erfcx
difference loses when t is small; there a Taylor series in t is used instead, and above s_c
the interval probability Φ(h + t) − Φ(h − t) replaces b_max − (b_max − b).

Every function is compiled with ``error_model="numpy"``: a division by zero (e.g. F·F
underflowing for a forward of 1e-300) gives inf or NaN as in numpy, never a
``ZeroDivisionError`` out of a kernel (numba's default, Python's semantics).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from actors.analytics._normal import (
    erfcx,
    erfcx_precise,
    exp_neg_half_sq,
    norm_cdf,
    norm_quantile_lower,
)

_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2 = 1.0 / _SQRT_2
_VELTKAMP_SPLITTER = 134217729.0  # 2**27 + 1
_SQRT_3 = math.sqrt(3.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
# b ≈ (2π|x|/(3√3))·Φ(−|x|/(√3·s))³ as s → 0: the lower-wing asymptote used for the first guess.
_LOWER_MAP_SCALE = 3.0 * _SQRT_3 / (2.0 * math.pi)
# A Householder(3) step shrinks a relative error e to O(e⁴): a step below 1e-5·s leaves an
# error of order 1e-20·s once taken, so the solver takes it and stops (measured against 50-digit
# mpmath: |Δs| stays at a few ulp; 1e-3 would already leave ~3e-13).
_STEP_TOL_REL = 1e-5
_ITER_MAX = 64
# The small-t series of b is used for t < 0.1 and |x| = 2|h|t < 0.5, where (h·t)^14/15! < 1e-20.
_SERIES_T_MAX = 0.1
_SERIES_ABS_X_MAX = 0.5
_BRACKET_SLACK_REL = 1e-10
# A bracket this narrow (relative) is the answer, whatever the steps do.
_BRACKET_TOL_REL = 1e-15

_NAN = math.nan

# Eager signatures: the array kernels compile (or load from cache) at import, not on first
# call. Inputs are typed read-only 1-D of any stride, which every 1-D float64 array converts to.
_IN = types.Array(types.float64, 1, "A", readonly=True)
_FLAGS = types.Array(types.boolean, 1, "A", readonly=True)
_OUT = types.float64[::1]
_OUT_ROWS = types.float64[:, ::1]
_PRICE_SIG = types.void(_IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT)
_IV_SIG = types.void(_IN, _IN, _IN, _IN, _IN, _FLAGS, types.float64, types.float64, _OUT)
_GREEKS_SIG = types.void(
    _IN, _IN, _IN, _IN, _IN, _FLAGS, types.float64, types.float64, types.float64, _OUT_ROWS
)


@njit(cache=True, error_model="numpy")
def _small_t_series(h: float, t: float) -> float:
    """b for small t and |h|·t (see ``normalised_otm``), by its Taylor series in t at fixed h.

    With f(t) = e^(ht)·Φ(h + t), b = f(t) − f(−t) and f' = h·f + φ(h)·e^(−t²/2), so
    f^(j)(0) = φ(h)·g_j with g_1 = 1 + h·Φ(h)/φ(h) and g_(j+2) = h²·g_j + (−1)^((j+1)/2)·j!!.
    Rounding in the higher g_j grows like h^(j−1), but their terms carry (h·t)^(j−1)/j!, so
    with |h|·t < ¼ every term is accurate relative to the first.
    """
    a1 = 1.0 + h * _SQRT_HALF_PI * erfcx_precise(-h * _INV_SQRT_2)
    hh = h * h
    tt = t * t
    a3 = hh * a1 - 1.0
    a5 = hh * a3 + 3.0
    a7 = hh * a5 - 15.0
    a9 = hh * a7 + 105.0
    a11 = hh * a9 - 945.0
    a13 = hh * a11 + 10395.0
    # Σ g_j·t^(j−1)/j! over odd j ≤ 13, by Horner in t².
    series = a13 / 6227020800.0
    series = a11 / 39916800.0 + tt * series
    series = a9 / 362880.0 + tt * series
    series = a7 / 5040.0 + tt * series
    series = a5 / 120.0 + tt * series
    series = a3 / 6.0 + tt * series
    series = a1 + tt * series
    return 2.0 * t * series * exp_neg_half_sq(h) / _SQRT_2PI


@njit(cache=True, error_model="numpy")
def normalised_otm(x: float, s: float) -> float:
    """b(x, s) for x ≤ 0, s ≥ 0: the OTM normalised call (time value / √(FK), undiscounted).

    Three cancellation-free forms: the small-t series where s and |x| are both small, the
    erfcx difference elsewhere below s_c, and above s_c the interval probability
    Φ(h + t) − Φ(h − t) (a sum of two erf of positive arguments) less a small correction.
    """
    if s == 0.0:
        return 0.0
    h = x / s
    t = 0.5 * s
    if h + t <= 0.0:
        if t < _SERIES_T_MAX and -x < _SERIES_ABS_X_MAX:
            return _small_t_series(h, t)
        u = -(h + t) * _INV_SQRT_2
        v = (t - h) * _INV_SQRT_2
        return 0.5 * math.exp(-0.5 * (h * h + t * t)) * (erfcx_precise(u) - erfcx_precise(v))
    interval = 0.5 * (math.erf((h + t) * _INV_SQRT_2) + math.erf((t - h) * _INV_SQRT_2))
    return math.exp(0.5 * x) * interval - 2.0 * math.sinh(-0.5 * x) * norm_cdf(h - t)


@njit(cache=True, error_model="numpy")
def _lower_guess(beta: float, a: float, s_c: float, s_tangent: float) -> float:
    p = (_LOWER_MAP_SCALE * beta / a) ** (1.0 / 3.0)
    s = s_c
    if p < 0.5:
        s = -a / (_SQRT_3 * norm_quantile_lower(p))
    if 0.0 < s_tangent < s:
        s = s_tangent
    return s


@njit(cache=True, error_model="numpy")
def _upper_guess(eta: float, a: float, s_tangent: float) -> float:
    q = 0.5 * eta
    s = -2.0 * norm_quantile_lower(q) if q < 0.5 else 0.0
    if s > 0.0:
        # b_max − b ≈ 2·Φ(−s/2)·e^(−x²/(2s²)) for large s: correct the guess once for the factor.
        q *= math.exp(0.5 * a * a / (s * s))
        if q < 0.5:
            s = -2.0 * norm_quantile_lower(q)
    return max(s, s_tangent)


@njit(cache=True, error_model="numpy")
def implied_s(beta: float, eta: float, x: float) -> tuple[float, int]:
    """Solve b(x, s) = beta for s, given x ≤ 0, 0 < beta and eta = b_max − beta > 0.

    ``eta`` is passed separately because near the upper bound it is known more precisely than
    e^(x/2) − beta. Returns (s, evaluations of b taken); s is NaN if the solver failed.
    """
    a = -x
    s_c = math.sqrt(2.0 * a)
    e_c = math.exp(-0.5 * a)
    b_c = 0.5 * e_c * (1.0 - erfcx(math.sqrt(a)))
    db_c = e_c / _SQRT_2PI
    lower = beta < b_c
    lo = 0.0
    hi = math.inf
    # The tangent at the inflection point bounds the root: b is convex below s_c, concave above.
    # The bracket gets a little slack so that rounding in b_c cannot exclude the root.
    s_tangent = s_c + (beta - b_c) / db_c
    if lower:
        s = _lower_guess(beta, a, s_c, s_tangent)
        if s_tangent > 0.0:
            hi = s_tangent * (1.0 + _BRACKET_SLACK_REL)
        ln_target = math.log(beta)
    else:
        s = _upper_guess(eta, a, s_tangent)
        lo = s_tangent * (1.0 - _BRACKET_SLACK_REL)
        ln_target = math.log(eta)
    for n in range(1, _ITER_MAX + 1):
        inv_s = 1.0 / s
        h = x * inv_s
        t = 0.5 * s
        hh = h * h
        tt = t * t
        u = -(h + t) * _INV_SQRT_2
        v = (t - h) * _INV_SQRT_2
        if lower:
            d = erfcx(u) - erfcx(v)
            g = -0.5 * (hh + tt) + math.log(0.5 * d) - ln_target
        else:
            d = erfcx(-u) + erfcx(v)
            g = ln_target + 0.5 * (hh + tt) - math.log(0.5 * d)
        if g > 0.0:
            hi = s
        elif g < 0.0:
            lo = s
        elif g == 0.0:
            return s, n
        elif s > s_c:  # NaN: out of the objective's domain, on the side of s_c we are on
            hi = s
        else:
            lo = s
        # r = g' = (∂b/∂s)/b below s_c, (∂b/∂s)/(b_max − b) above; B2, B3 = b''/b', b'''/b'.
        r = 1.0 / (_SQRT_HALF_PI * d)
        b2 = (hh - tt) * inv_s
        b3 = b2 * b2 - 3.0 * hh * inv_s * inv_s - 0.25
        if lower:
            h2 = b2 - r
            h3 = b3 - 3.0 * b2 * r + 2.0 * r * r
        else:
            h2 = b2 + r
            h3 = b3 + 3.0 * b2 * r + 2.0 * r * r
        nu = -g * _SQRT_HALF_PI * d
        step = nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + h3 * nu / 6.0))
        if abs(step) <= _STEP_TOL_REL * s:
            return s + step, n
        s_new = s + step
        if not lo < s_new < hi:
            s_new = 0.5 * (lo + hi) if hi < math.inf else 2.0 * s
        s = s_new
        if hi - lo <= _BRACKET_TOL_REL * lo:
            return 0.5 * (lo + hi), n
    return _NAN, _ITER_MAX


@njit(cache=True, error_model="numpy")
def _valid_inputs(forward: float, strike: float, t_years: float, rate: float) -> bool:
    return (
        0.0 < forward < math.inf
        and 0.0 < strike < math.inf
        and 0.0 < t_years < math.inf
        and abs(rate) < math.inf
    )


@njit(cache=True, error_model="numpy")
def _two_sum(a: float, b: float) -> tuple[float, float]:
    """(a + b rounded, its exact rounding error)  (Knuth's TwoSum)."""
    total = a + b
    b_part = total - a
    return total, (a - (total - b_part)) + (b - b_part)


@njit(cache=True, error_model="numpy")
def _two_product(a: float, b: float) -> tuple[float, float]:
    """(a·b rounded, its exact rounding error), by Veltkamp splitting (Dekker's TwoProduct)."""
    product = a * b
    c = _VELTKAMP_SPLITTER * a
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = _VELTKAMP_SPLITTER * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    return product, ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


@njit(cache=True, error_model="numpy")
def _steps(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray, f: np.ndarray
) -> tuple[int, int, int, int, int, int]:
    """Index step per input: 0 for a length-1 input (broadcast), 1 for a full-length one."""
    return (
        int(a.size > 1),
        int(b.size > 1),
        int(c.size > 1),
        int(d.size > 1),
        int(e.size > 1),
        int(f.size > 1),
    )


@njit(cache=True, error_model="numpy")
def _undiscounted_price(forward: float, strike: float, s: float, is_call: bool) -> float:
    x = math.log(forward / strike)
    time_value = math.sqrt(forward) * math.sqrt(strike) * normalised_otm(-abs(x), s)
    intrinsic = forward - strike if is_call else strike - forward
    return max(intrinsic, 0.0) + time_value


@njit(_PRICE_SIG, cache=True, error_model="numpy", nogil=True)
def price_kernel(
    forward: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    rate: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    out: np.ndarray,
) -> None:
    jf, jk, jt, jr, jv, jc = _steps(forward, strike, t_years, rate, vol, is_call)
    for i in range(out.size):
        f, k, t = forward[i * jf], strike[i * jk], t_years[i * jt]
        r, sigma = rate[i * jr], vol[i * jv]
        if _valid_inputs(f, k, t, r) and 0.0 < sigma < math.inf:
            s = sigma * math.sqrt(t)
            out[i] = math.exp(-r * t) * _undiscounted_price(f, k, s, is_call[i * jc])
        else:
            out[i] = _NAN


@njit(_IV_SIG, cache=True, error_model="numpy", nogil=True)
def implied_vol_kernel(
    price: np.ndarray,
    forward: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    rate: np.ndarray,
    is_call: np.ndarray,
    min_time_value_rel: float,
    max_vol: float,
    out: np.ndarray,
) -> None:
    jp, jf, jk, jt, jr, jc = _steps(price, forward, strike, t_years, rate, is_call)
    for i in range(out.size):
        out[i] = _NAN
        v, f, k = price[i * jp], forward[i * jf], strike[i * jk]
        t, r = t_years[i * jt], rate[i * jr]
        if not (_valid_inputs(f, k, t, r) and 0.0 <= v < math.inf):
            continue
        # Deep in the money the time value is a small difference of large numbers, and one ulp
        # of the price can be worth 1e-9 of σ: undiscount and subtract in double-double.
        discount = math.exp(-r * t)
        p = v / discount
        prod, prod_err = _two_product(p, discount)
        p_lo = ((v - prod) - prod_err) / discount
        call = is_call[i * jc]
        intrinsic, intrinsic_lo = _two_sum(f, -k) if call else _two_sum(k, -f)
        if intrinsic <= 0.0:
            intrinsic = intrinsic_lo = 0.0
        time_value = (p - intrinsic) + (p_lo - intrinsic_lo)
        room = ((f if call else k) - p) - p_lo  # distance to the no-arbitrage upper bound
        floor = min_time_value_rel * f
        if not (time_value >= floor and room >= floor):
            continue
        sqrt_fk = math.sqrt(f) * math.sqrt(k)
        s, _ = implied_s(time_value / sqrt_fk, room / sqrt_fk, -abs(math.log(f / k)))
        sigma = s / math.sqrt(t)
        if sigma <= max_vol:
            out[i] = sigma


@njit(_GREEKS_SIG, cache=True, error_model="numpy", nogil=True)
def greeks_kernel(
    forward: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    rate: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    days_per_year: float,
    vol_points_per_unit: float,
    percent_per_unit: float,
    out: np.ndarray,
) -> None:
    """Write delta, gamma, vega, theta, rho (the public units) into rows 0..4 of ``out``."""
    jf, jk, jt, jr, jv, jc = _steps(forward, strike, t_years, rate, vol, is_call)
    for i in range(out.shape[1]):
        f, k, t = forward[i * jf], strike[i * jk], t_years[i * jt]
        r, sigma = rate[i * jr], vol[i * jv]
        if not (_valid_inputs(f, k, t, r) and 0.0 < sigma < math.inf):
            for j in range(5):
                out[j, i] = _NAN
            continue
        call = is_call[i * jc]
        sqrt_t = math.sqrt(t)
        s = sigma * sqrt_t
        d1 = math.log(f / k) / s + 0.5 * s
        discount = math.exp(-r * t)
        # F·φ(d1)·e^(−rT): the common factor of gamma, vega and the decay part of theta.
        f_pdf = discount * f * exp_neg_half_sq(d1) / _SQRT_2PI
        value = discount * _undiscounted_price(f, k, s, call)
        out[0, i] = discount * norm_cdf(d1) if call else -discount * norm_cdf(-d1)
        out[1, i] = f_pdf / (f * f * s)
        out[2, i] = f_pdf * sqrt_t / vol_points_per_unit
        out[3, i] = (r * value - 0.5 * f_pdf * sigma / sqrt_t) / days_per_year
        out[4, i] = -t * value / percent_per_unit
