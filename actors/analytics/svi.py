"""Raw SVI smiles: fit, evaluate, and check for butterfly arbitrage.

Gatheral's raw SVI gives total implied variance ``w = σ_imp²·T`` against log-moneyness
``k = ln(K/F)``::

    w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²))

with ``b ≥ 0``, ``|ρ| < 1``, ``σ > 0`` and ``a + b·σ·√(1 − ρ²) ≥ 0`` (the minimum of ``w``,
so total variance is never negative). :func:`fit` also keeps both wing slopes
``b·(1 ± ρ) ≤ 2``, Lee's moment bound: a steeper wing is an arbitrage at extreme strikes.

Fitting is quasi-explicit (Zeliade, 2009) and then polished. For fixed ``(m, σ)`` the model
is linear in ``(a, b·ρ·σ, b·σ)``, so a grid over ``(m, σ)`` solves one 3×3 weighted
least-squares problem per node and keeps the best feasible node. That start is polished by
bounded Levenberg-Marquardt least squares in the parameters ``(v, s_L, s_R, m, σ)``, where
``v = a + b·σ·√(1 − ρ²)`` is the minimum total variance and ``s_L = b·(1 − ρ)``,
``s_R = b·(1 + ρ)`` the wing slopes; every constraint above is then a simple bound. Both
steps are numba kernels that release the GIL (``_svi_kernels``): a 100-strike smile fits
in ~0.2–0.5 ms, so a fit on an actor thread never stalls the others.

Units: ``k`` dimensionless, ``w`` in years × vol² (decimal vol, 0.2 = 20 %), ``t_years``
ACT/365, ``a`` and ``b`` in total-variance units, ``m`` and ``σ`` in log-moneyness units.

Example:

>>> import numpy as np
>>> true = SviParams(a=0.01, b=0.1, rho=-0.4, m=0.02, sigma=0.15)
>>> k = np.linspace(-0.4, 0.4, 41)
>>> result = fit(k, total_variance(true, k), t_years=0.5)
>>> result.ok, round(result.params.rho, 6), round(result.params.sigma, 6)
(True, -0.4, 0.15)
>>> butterfly_arbitrage(result.params, np.linspace(-2.0, 2.0, 201))
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from actors.analytics import _svi_kernels

__all__ = [
    "DENSITY_TOL",
    "LEE_SLOPE_MAX",
    "MIN_POINTS",
    "SviFit",
    "SviParams",
    "butterfly_arbitrage",
    "density",
    "fit",
    "implied_vol",
    "total_variance",
]

FloatArray = npt.NDArray[np.float64]

LEE_SLOPE_MAX = 2.0
"""Largest wing slope dw/dk of total variance (Lee's moment formula), dimensionless."""
MIN_POINTS = 5
"""Fewest distinct strikes a fit accepts: raw SVI has five parameters."""
DENSITY_TOL = 1e-10
"""Gatheral's g(k) (dimensionless) below −DENSITY_TOL counts as butterfly arbitrage."""

_M_GRID_POINTS = 15
_SIGMA_GRID_POINTS = 12
_M_GRID_PAD_REL = 0.5  # grid for m spans the data range padded by this fraction of it
_M_BOUND_PAD_REL = 1.0  # the polish may move m this fraction of the range beyond the data
_SIGMA_MIN_REL = 1e-3  # σ bounds as fractions of the data's log-moneyness range
_SIGMA_GRID_MIN_REL = 1e-2
_SIGMA_MAX_REL = 10.0
_SIGMA_GRID_MAX_REL = 2.0
_SLOPE_MIN_REL = 1e-10  # wing-slope floor relative to LEE_SLOPE_MAX, keeps |ρ| < 1 strictly
_RIDGE_REL = 1e-12  # Tikhonov term on the 3×3 normal equations, relative to their trace
_POLISH_FTOL = 1e-10  # relative fall of the cost below which a well-predicted step stops
_POLISH_XTOL = 1e-10  # relative step length below which the polish stops
# On the scaled problem (max w = 1, weights summing to 1), so noiseless data is fitted to
# rounding (RMSE ~1e-15 of the largest total variance).
_POLISH_GTOL = 1e-16
_POLISH_MAX_EVALS = 200  # ~5 µs each for 100 strikes; noisy fits converge well before


@dataclass(frozen=True, slots=True)
class SviParams:
    """Raw SVI parameters (see the module docstring); NaN everywhere after a failed fit."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float


@dataclass(frozen=True, slots=True)
class SviFit:
    """Result of :func:`fit`.

    ``rmse_total_variance`` is the weighted RMS residual in total variance;
    ``rmse_vol`` the weighted RMS residual in implied vol (decimal), NaN unless
    ``t_years > 0`` was given; ``n_points`` how many points were usable. ``ok`` is True when
    the fit converged to finite parameters inside the constraints; otherwise the
    parameters and errors are NaN.
    """

    params: SviParams
    rmse_total_variance: float
    rmse_vol: float
    n_points: int
    ok: bool


_NAN_PARAMS = SviParams(a=math.nan, b=math.nan, rho=math.nan, m=math.nan, sigma=math.nan)


def total_variance(params: SviParams, k: npt.ArrayLike) -> FloatArray:
    """Total implied variance ``w(k)`` (years × vol²) at log-moneyness ``k``.

    >>> total_variance(SviParams(a=0.04, b=0.0, rho=0.0, m=0.0, sigma=0.1), [0.0, 1.0]).tolist()
    [0.04, 0.04]
    """
    x = np.asarray(k, dtype=np.float64) - params.m
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(
            params.a + params.b * (params.rho * x + np.hypot(x, params.sigma)), dtype=np.float64
        )


def implied_vol(params: SviParams, k: npt.ArrayLike, t_years: float) -> FloatArray:
    """Implied vol (decimal, annual) ``√(w(k)/T)``; NaN where ``w < 0`` or unless ``T > 0``.

    >>> implied_vol(SviParams(a=0.04, b=0.0, rho=0.0, m=0.0, sigma=0.1), [0.0], 1.0).tolist()
    [0.2]
    """
    w = total_variance(params, k)
    t = float(t_years)
    if not (math.isfinite(t) and t > 0.0):
        return np.full(w.shape, np.nan)
    with np.errstate(invalid="ignore"):
        return np.where(w >= 0.0, np.sqrt(np.maximum(w, 0.0) / t), np.nan)


def density(params: SviParams, k: npt.ArrayLike) -> FloatArray:
    """Gatheral's ``g(k)``: the risk-neutral density up to a positive factor (dimensionless).

    ``g = (1 − k·w′/(2w))² − (w′²/4)·(1/w + 1/4) + w″/2``; the smile is free of butterfly
    arbitrage where ``g ≥ 0``. NaN where ``w ≤ 0`` (no density there) or params are NaN.

    >>> float(density(SviParams(a=0.04, b=0.0, rho=0.0, m=0.0, sigma=0.1), [0.0])[0])
    1.0
    """
    kk = np.asarray(k, dtype=np.float64)
    x = kk - params.m
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        root = np.hypot(x, params.sigma)
        w = params.a + params.b * (params.rho * x + root)
        w1 = params.b * (params.rho + x / root)
        w2 = params.b * params.sigma**2 / root**3
        g = (1.0 - kk * w1 / (2.0 * w)) ** 2 - 0.25 * w1**2 * (1.0 / w + 0.25) + 0.5 * w2
        return np.where(w > 0.0, g, np.nan)


def butterfly_arbitrage(params: SviParams, k_grid: npt.ArrayLike) -> bool:
    """True when the smile has butterfly arbitrage somewhere on ``k_grid``.

    Arbitrage means ``g(k) < −DENSITY_TOL`` (see :func:`density`) or ``w(k) ≤ 0`` at a grid
    point. Parameters that are not all finite (a failed fit) give False: there is no smile
    to judge, and :attr:`SviFit.ok` already says so. Use a grid that covers the wings you
    quote (e.g. ``np.linspace(-1.5, 1.5, 301)``).

    >>> bad = SviParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
    >>> butterfly_arbitrage(bad, np.linspace(-1.5, 1.5, 301))
    True
    """
    values = (params.a, params.b, params.rho, params.m, params.sigma)
    if not all(math.isfinite(v) for v in values):
        return False
    grid = np.asarray(k_grid, dtype=np.float64)
    grid = grid[np.isfinite(grid)]
    if grid.size == 0:
        return False
    g = density(params, grid)
    return bool(np.any(~np.isfinite(g) | (g < -DENSITY_TOL)))


def fit(
    k: npt.ArrayLike,
    w: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    t_years: float | None = None,
) -> SviFit:
    """Weighted least-squares raw-SVI fit of total variance ``w`` against log-moneyness ``k``.

    Points with a non-finite ``k`` or ``w``, a negative ``w``, or a weight that is not finite
    and positive are left out. Fewer than ``MIN_POINTS`` distinct usable strikes, all-zero
    variance, or a non-converging fit give ``ok=False`` and NaN parameters: it never raises
    on bad data. ``weights`` (default all 1) multiply the squared residuals, e.g. vega or
    1/spread². ``t_years`` (ACT/365) only converts the error to vol units.

    Raises ``ValueError`` when ``k``, ``w`` and ``weights`` are not 1-D arrays of one shape.

    >>> fit([0.0, 0.1], [0.04, 0.05]).ok
    False
    """
    kk = np.asarray(k, dtype=np.float64)
    ww = np.asarray(w, dtype=np.float64)
    wt = np.ones_like(kk) if weights is None else np.asarray(weights, dtype=np.float64)
    if kk.ndim != 1 or ww.shape != kk.shape or wt.shape != kk.shape:
        raise ValueError(
            f"k {kk.shape}, w {ww.shape} and weights {wt.shape} must be 1-D of one shape"
        )
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(kk) & np.isfinite(ww) & (ww >= 0.0) & np.isfinite(wt) & (wt > 0.0)
    kk, ww, wt = kk[usable], ww[usable], wt[usable]
    n = int(kk.size)
    scale = float(ww.max()) if n else 0.0
    if np.unique(kk).size < MIN_POINTS or not (math.isfinite(scale) and scale > 0.0):
        return _failed(n)
    wt = wt / wt.max()  # in (0, 1], so the sum below cannot overflow
    wt = wt / wt.sum()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        params = _fit_scaled(kk, ww / scale, wt, slope_max=LEE_SLOPE_MAX / scale)
    if params is None:
        return _failed(n)
    v, s_left, s_right, m, sigma = params
    b = 0.5 * (s_left + s_right)
    rho = (s_right - s_left) / (s_right + s_left)
    result = SviParams(
        a=(v - sigma * math.sqrt(s_left * s_right)) * scale,
        b=b * scale,
        rho=rho,
        m=m,
        sigma=sigma,
    )
    if not all(math.isfinite(x) for x in (result.a, result.b, result.rho, result.m, sigma)):
        return _failed(n)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        fitted = np.maximum(total_variance(result, kk), 0.0) / scale  # in scaled units
        rmse_w = float(np.sqrt(wt @ (fitted - ww / scale) ** 2)) * scale
        rmse_vol = math.nan
        t = math.nan if t_years is None else float(t_years)
        if math.isfinite(t) and t > 0.0:
            root_gap = np.sqrt(fitted) - np.sqrt(ww / scale)
            rmse_vol = float(np.sqrt(wt @ root_gap**2)) * math.sqrt(scale / t)
    return SviFit(params=result, rmse_total_variance=rmse_w, rmse_vol=rmse_vol, n_points=n, ok=True)


def _failed(n: int) -> SviFit:
    return SviFit(
        params=_NAN_PARAMS, rmse_total_variance=math.nan, rmse_vol=math.nan, n_points=n, ok=False
    )


def _fit_scaled(
    k: FloatArray, w: FloatArray, wt: FloatArray, *, slope_max: float
) -> tuple[float, float, float, float, float] | None:
    """Fit on ``w`` scaled to max 1; returns ``(v, s_L, s_R, m, σ)`` or None."""
    k_lo, k_hi = float(k.min()), float(k.max())
    span = k_hi - k_lo
    slope_min = _SLOPE_MIN_REL * slope_max
    lower = np.array(
        [0.0, slope_min, slope_min, k_lo - _M_BOUND_PAD_REL * span, _SIGMA_MIN_REL * span]
    )
    upper = np.array(
        [1.0, slope_max, slope_max, k_hi + _M_BOUND_PAD_REL * span, _SIGMA_MAX_REL * span]
    )
    # Quasi-explicit start: for each (m, σ) node, y = (k − m)/σ and w ≈ α + δ·y + γ·√(y² + 1)
    # with α = a, δ = b·ρ·σ, γ = b·σ is a 3×3 weighted linear least-squares problem; its
    # solution is projected onto the constraints (γ ≥ 0, |δ| ≤ γ, wing slopes within
    # bounds, α re-solved then raised to the minimum-variance bound), so every node yields
    # a feasible candidate, and the cheapest one starts the polish.
    start = np.empty(5)
    found = _svi_kernels.grid_start(
        k,
        w,
        wt,
        slope_max,
        k_lo - _M_GRID_PAD_REL * span,
        k_hi + _M_GRID_PAD_REL * span,
        _M_GRID_POINTS,
        _SIGMA_GRID_MIN_REL * span,
        _SIGMA_GRID_MAX_REL * span,
        _SIGMA_GRID_POINTS,
        _RIDGE_REL,
        start,
    )
    if not found:
        return None
    best = np.clip(start, lower, upper)
    _svi_kernels.polish(
        k,
        w,
        np.sqrt(wt),
        lower,
        upper,
        _POLISH_FTOL,
        _POLISH_XTOL,
        _POLISH_GTOL,
        _POLISH_MAX_EVALS,
        best,
    )
    if not np.all(np.isfinite(best)):
        return None
    v, s_left, s_right, m, sigma = (float(x) for x in best)
    return v, s_left, s_right, m, sigma
