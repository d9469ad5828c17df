"""Black-76 against oracles: QuantLib where it is exact enough, 50-digit mpmath where it decides.

QuantLib's normal CDF loses ~1e-5 relative precision far out of the money (DESIGN.md §4), so
each QuantLib comparison is "agree to 1e-9 relative, or else be closer than QuantLib to the
mpmath reference". Property tests live in ``test_black76_properties.py``.

One limit is the input, not the solver: deep in the money, with the time value near the
``MIN_TIME_VALUE_REL`` floor and a day or two to expiry, one ulp of the *price* is worth up to
~1.4e-9 of σ (K/F = 2, T = 1 day; see ``vol_resolution``). No algorithm that reads a float64
price can do better there, so σ-tolerances are max(1e-9, two ulps' worth of σ).
"""

from __future__ import annotations

import dataclasses
import doctest
import itertools
import math
import types

import mpmath
import numpy as np
import pytest
import QuantLib as ql
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from actors.analytics import black76

MP_DIGITS = 50
IV_TOL_VOL = 1e-9
GREEK_TOL_REL = 1e-9
PRICE_TOL_REL = 1e-13  # against the 50-digit reference, where the price is not tiny

MONEYNESS = (0.5, 0.6, 0.75, 0.9, 1.0, 1.1, 1.3, 1.6, 2.0)  # K/F
T_YEARS = (1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 3.0)
VOLS = (0.01, 0.05, 0.15, 0.3, 0.6, 1.0, 2.0, 3.0)
FORWARD = 24_000.0
RATE = 0.065


# --- the 50-digit reference -------------------------------------------------------------


def mp_price(f: float, k: float, t: float, r: float, vol: float, is_call: bool) -> mpmath.mpf:
    """Discounted Black-76 in mpmath, straight from the textbook formula (≥ 50 digits; more
    when a caller such as mpmath.diff has raised the working precision)."""
    with mpmath.workdps(max(MP_DIGITS, mpmath.mp.dps)):
        f, k, t, r, vol = (mpmath.mpf(v) for v in (f, k, t, r, vol))
        sd = vol * mpmath.sqrt(t)
        d1 = mpmath.log(f / k) / sd + sd / 2
        d2 = d1 - sd
        if is_call:
            undiscounted = f * mpmath.ncdf(d1) - k * mpmath.ncdf(d2)
        else:
            undiscounted = k * mpmath.ncdf(-d2) - f * mpmath.ncdf(-d1)
        return mpmath.exp(-r * t) * undiscounted


def mp_implied_vol(v: float, f: float, k: float, t: float, r: float, is_call: bool, near: float):
    """σ with mp_price(σ) equal to the float64 price v exactly, searched around ``near``."""
    with mpmath.workdps(MP_DIGITS):
        target = mpmath.mpf(v)
        return mpmath.findroot(
            lambda s: mp_price(f, k, t, r, s, is_call) - target,
            (mpmath.mpf(near) * 0.999, mpmath.mpf(near) * 1.001),
            solver="anderson",
        )


def mp_greeks(f: float, k: float, t: float, r: float, vol: float, is_call: bool) -> dict:
    """Greeks in the public units: analytic delta/gamma/vega, theta and rho by mpmath.diff
    of the reference price (F, K, σ fixed for theta; F, K, T, σ fixed for rho)."""
    with mpmath.workdps(MP_DIGITS):
        fm, km, tm, rm, vm = (mpmath.mpf(v) for v in (f, k, t, r, vol))
        sd = vm * mpmath.sqrt(tm)
        d1 = mpmath.log(fm / km) / sd + sd / 2
        disc = mpmath.exp(-rm * tm)
        delta = disc * (mpmath.ncdf(d1) if is_call else -mpmath.ncdf(-d1))
        pdf = mpmath.npdf(d1)
        return {
            "delta": delta,
            "gamma": disc * pdf / (fm * sd),
            "vega": disc * fm * pdf * mpmath.sqrt(tm) / 100,
            "theta": -mpmath.diff(lambda tt: mp_price(f, k, tt, r, vol, is_call), tm) / 365,
            "rho": mpmath.diff(lambda rr: mp_price(f, k, t, rr, vol, is_call), rm) / 100,
        }


def vol_resolution(v: float, f: float, k: float, t: float, r: float, vol: float) -> float:
    """How far σ moves for one ulp of the float64 price v: the input's own resolution."""
    sd = vol * math.sqrt(t)
    d1 = math.log(f / k) / sd + sd / 2
    vega = math.exp(-r * t) * f * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * math.sqrt(t)
    return float(np.spacing(v)) / vega


def time_value_rel(v: float, f: float, k: float, t: float, r: float, is_call: bool) -> float:
    intrinsic = max(f - k if is_call else k - f, 0.0)
    return (v * math.exp(r * t) - intrinsic) / f


def ql_calculator(f: float, k: float, t: float, r: float, vol: float, is_call: bool):
    option_type = ql.Option.Call if is_call else ql.Option.Put
    payoff = ql.PlainVanillaPayoff(option_type, k)
    return ql.BlackCalculator(payoff, f, vol * math.sqrt(t), math.exp(-r * t))


GRID = [
    (FORWARD * m, t, vol, is_call)
    for m, t, vol, is_call in itertools.product(MONEYNESS, T_YEARS, VOLS, (True, False))
]


@pytest.fixture(scope="module")
def grid_prices() -> list[float]:
    return [float(mp_price(FORWARD, k, t, RATE, vol, c)) for k, t, vol, c in GRID]


# --- oracles ------------------------------------------------------------------------------


def test_prices_match_mpmath_and_quantlib_on_the_grid(grid_prices: list[float]) -> None:
    strike, t, vol, call = (np.array(col) for col in zip(*GRID, strict=True))
    ours = black76.price(FORWARD, strike=strike, t_years=t, rate=RATE, vol=vol, is_call=call)
    for i, (k, tt, s, c) in enumerate(GRID):
        exact = grid_prices[i]
        # Absolute floor: a few ulp of the forward, the precision F and K themselves carry.
        tol = PRICE_TOL_REL * exact + 4e-16 * FORWARD
        assert abs(ours[i] - exact) <= tol, (k, tt, s, c, ours[i], exact)
        quantlib = ql_calculator(FORWARD, k, tt, RATE, s, c).value()
        assert abs(ours[i] - quantlib) <= GREEK_TOL_REL * exact + 4e-16 * FORWARD or abs(
            quantlib - exact
        ) > abs(ours[i] - exact), (k, tt, s, c, ours[i], quantlib, exact)


def test_implied_vol_matches_quantlib_and_mpmath_on_the_grid(grid_prices: list[float]) -> None:
    strike, t, _, call = (np.array(col) for col in zip(*GRID, strict=True))
    prices = np.array(grid_prices)
    ours = black76.implied_vol(
        prices, forward=FORWARD, strike=strike, t_years=t, rate=RATE, is_call=call
    )
    solved = 0
    for i, (k, tt, s, c) in enumerate(GRID):
        v = grid_prices[i]
        if time_value_rel(v, FORWARD, k, tt, RATE, c) < black76.MIN_TIME_VALUE_REL:
            assert np.isnan(ours[i]), (k, tt, s, c, ours[i])
            continue
        solved += 1
        tol = max(IV_TOL_VOL, 2.0 * vol_resolution(v, FORWARD, k, tt, RATE, s))
        assert abs(ours[i] - s) <= tol, (k, tt, s, c, ours[i] - s, tol)
        sd = ql.blackFormulaImpliedStdDev(
            ql.Option.Call if c else ql.Option.Put,
            k,
            FORWARD,
            v,
            math.exp(-RATE * tt),
            0.0,
            s * math.sqrt(tt),
            1e-14,
            1000,
        )
        quantlib = sd / math.sqrt(tt)
        if abs(ours[i] - quantlib) > tol:
            exact = mp_implied_vol(v, FORWARD, k, tt, RATE, c, near=s)
            assert abs(ours[i] - exact) < abs(quantlib - exact), (k, tt, s, c, ours[i], quantlib)
    assert solved > len(GRID) // 2  # the grid really exercises the solver


def test_greeks_match_quantlib_and_mpmath_on_the_grid() -> None:
    """delta, gamma, vega against BlackCalculator (deltaForward, gammaForward, vega(T)/100)
    with mpmath as the tie-breaker; theta and rho against mpmath only: BlackCalculator's
    theta and rho move the forward with the spot, ours hold F fixed, so they differ by design.
    """
    strike, t, vol, call = (np.array(col) for col in zip(*GRID, strict=True))
    ours = black76.greeks(FORWARD, strike=strike, t_years=t, rate=RATE, vol=vol, is_call=call)
    for i, (k, tt, s, c) in enumerate(GRID):
        exact = mp_greeks(FORWARD, k, tt, RATE, s, c)
        calc = ql_calculator(FORWARD, k, tt, RATE, s, c)
        quantlib = {
            "delta": calc.deltaForward(),
            "gamma": calc.gammaForward(),
            "vega": calc.vega(tt) / 100,
        }
        for name, ref in exact.items():
            mine = float(getattr(ours, name)[i])
            ref = float(ref)
            # Tiny greeks (|x| < 1e-12 of the forward's scale) only need to be tiny.
            floor = 1e-12 * (FORWARD if name in ("vega", "theta", "rho") else 1 / FORWARD)
            context = (name, k, tt, s, c, mine, ref)
            assert abs(mine - ref) <= GREEK_TOL_REL * abs(ref) + floor, context
            if name in quantlib:
                other = quantlib[name]
                assert abs(mine - other) <= GREEK_TOL_REL * abs(other) + floor or abs(
                    other - ref
                ) > abs(mine - ref), (name, k, tt, s, c, mine, other, ref)


def test_deep_otm_price_keeps_relative_precision() -> None:
    """Far OTM (Φ(d1) − Φ(d2) would cancel to nothing) the price is still right to ~1e-13."""
    k = np.array([1.5, 2.0, 2.5, 3.0]) * FORWARD  # premiums 1e-20 down to 1e-152
    v = black76.price(FORWARD, strike=k, t_years=7 / 365, rate=RATE, vol=0.3, is_call=True)
    for ki, vi in zip(k, v, strict=True):
        exact = float(mp_price(FORWARD, ki, 7 / 365, RATE, 0.3, True))
        assert 0.0 < exact < 1e-15
        assert abs(vi - exact) <= 1e-12 * exact


def test_docstring_examples_hold() -> None:
    failures, attempted = doctest.testmod(black76)
    assert failures == 0 and attempted >= 8


def test_worked_example_in_the_module_docstring() -> None:
    v = black76.price(100.0, strike=110.0, t_years=0.5, rate=0.05, vol=0.2, is_call=True)
    assert float(v) == pytest.approx(2.156650564601122, rel=1e-14)
    iv = black76.implied_vol(v, forward=100.0, strike=110.0, t_years=0.5, rate=0.05, is_call=True)
    assert float(iv) == pytest.approx(0.2, abs=1e-14)


# --- shapes, dtypes and bad input --------------------------------------------------------


def test_scalars_give_zero_dimensional_float64_arrays() -> None:
    v = black76.price(100.0, strike=100.0, t_years=1.0, rate=0.0, vol=0.2, is_call=True)
    assert isinstance(v, np.ndarray) and v.shape == () and v.dtype == np.float64


def test_partial_broadcasting_matches_elementwise_evaluation() -> None:
    strikes = np.array([[90.0], [100.0], [110.0]])  # (3, 1)
    vols = np.array([[0.1, 0.2, 0.4, 0.8]])  # (1, 4)
    grid = black76.price(100.0, strike=strikes, t_years=0.25, rate=0.03, vol=vols, is_call=False)
    assert grid.shape == (3, 4)
    for i, j in itertools.product(range(3), range(4)):
        one = black76.price(
            100.0, strike=strikes[i, 0], t_years=0.25, rate=0.03, vol=vols[0, j], is_call=False
        )
        assert grid[i, j] == one
    g = black76.greeks(100.0, strike=strikes, t_years=0.25, rate=0.03, vol=vols, is_call=True)
    assert all(getattr(g, f.name).shape == (3, 4) for f in dataclasses.fields(g))


def test_non_contiguous_and_integer_inputs_are_accepted() -> None:
    strikes = np.arange(80, 121, dtype=np.int64)[::2]
    flags = np.ones(strikes.shape, dtype=np.int8)
    v = black76.price(100, strike=strikes, t_years=0.5, rate=0.0, vol=0.2, is_call=flags)
    expected = black76.price(
        100.0, strike=strikes.astype(float), t_years=0.5, rate=0.0, vol=0.2, is_call=True
    )
    np.testing.assert_array_equal(v, expected)


def test_empty_arrays_give_empty_results() -> None:
    empty = np.empty((0,))
    assert black76.price(
        empty, strike=100.0, t_years=1.0, rate=0.0, vol=0.2, is_call=True
    ).shape == (0,)
    assert black76.implied_vol(
        empty, forward=100.0, strike=empty, t_years=1.0, rate=0.0, is_call=np.empty(0, bool)
    ).shape == (0,)
    g = black76.greeks(100.0, strike=np.empty((2, 0)), t_years=1.0, rate=0.0, vol=0.2, is_call=True)
    assert g.delta.shape == (2, 0) and g.rho.shape == (2, 0)


def test_mismatched_shapes_raise_value_error_naming_the_arguments() -> None:
    with pytest.raises(ValueError, match=r"strike\(3,\).*vol\(4,\)"):
        black76.price(100.0, strike=np.ones(3), t_years=1.0, rate=0.0, vol=np.ones(4), is_call=True)
    with pytest.raises(ValueError, match="broadcast"):
        black76.implied_vol(
            np.ones(2), forward=100.0, strike=np.ones(3), t_years=1.0, rate=0.0, is_call=True
        )
    with pytest.raises(ValueError, match="broadcast"):
        black76.greeks(
            np.ones((2, 3)), strike=np.ones(2), t_years=1.0, rate=0.0, vol=0.2, is_call=True
        )


def test_is_call_must_be_boolean_or_integer() -> None:
    with pytest.raises(TypeError, match="is_call"):
        black76.price(100.0, strike=100.0, t_years=1.0, rate=0.0, vol=0.2, is_call=1.0)


BAD_VALUES = (math.nan, math.inf, -math.inf, 0.0, -1.0)


@pytest.mark.parametrize("name", ["forward", "strike", "t_years", "vol", "rate"])
def test_bad_pricing_inputs_give_nan_without_warnings(name: str) -> None:
    args = {"forward": 100.0, "strike": 105.0, "t_years": 0.5, "rate": 0.05, "vol": 0.25}
    bad = np.array(BAD_VALUES[:3] if name == "rate" else BAD_VALUES)  # any finite rate is valid
    args[name] = bad
    forward = args.pop("forward")
    v = black76.price(forward, **args, is_call=np.array([True]))
    assert np.isnan(v).all() and v.shape == bad.shape
    g = black76.greeks(forward, **args, is_call=False)
    for field in dataclasses.fields(g):
        assert np.isnan(getattr(g, field.name)).all()


@pytest.mark.parametrize("name", ["price", "forward", "strike", "t_years", "rate"])
def test_bad_implied_vol_inputs_give_nan_without_warnings(name: str) -> None:
    args = {"price": 3.0, "forward": 100.0, "strike": 105.0, "t_years": 0.5, "rate": 0.05}
    bad = np.array(BAD_VALUES[:3] if name == "rate" else BAD_VALUES)
    args[name] = bad
    iv = black76.implied_vol(args.pop("price"), **args, is_call=True)
    assert np.isnan(iv).all() and iv.shape == bad.shape


def test_zero_and_negative_rates_are_valid() -> None:
    for rate in (0.0, -0.01):
        v = black76.price(100.0, strike=100.0, t_years=1.0, rate=rate, vol=0.2, is_call=True)
        iv = black76.implied_vol(
            v, forward=100.0, strike=100.0, t_years=1.0, rate=rate, is_call=True
        )
        assert float(iv) == pytest.approx(0.2, abs=1e-14)


def test_implied_vol_is_nan_where_the_price_says_nothing_about_vol() -> None:
    f, k, t, r = 100.0, 100.0, 0.5, 0.05
    disc = math.exp(-r * t)
    just_below_floor = 0.5 * black76.MIN_TIME_VALUE_REL * f * disc
    prices = np.array([0.0, just_below_floor, disc * f, disc * f * 1.5])
    iv = black76.implied_vol(prices, forward=f, strike=k, t_years=t, rate=r, is_call=True)
    assert np.isnan(iv).all()


def test_implied_vol_above_the_cap_is_nan() -> None:
    v = black76.price(
        100.0, strike=100.0, t_years=1 / 365, rate=0.0, vol=1.5 * black76.IV_MAX_VOL, is_call=True
    )
    assert np.isfinite(v)
    iv = black76.implied_vol(
        v, forward=100.0, strike=100.0, t_years=1 / 365, rate=0.0, is_call=True
    )
    assert np.isnan(iv)


def test_greeks_is_a_frozen_slotted_dataclass() -> None:
    g = black76.greeks(100.0, strike=100.0, t_years=1.0, rate=0.0, vol=0.2, is_call=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.delta = np.zeros(())  # type: ignore[misc]
    assert not hasattr(g, "__dict__")


def test_all_is_sorted_and_names_exactly_the_public_api() -> None:
    """Sorted the way ruff/isort sort ``__all__``: CONSTANTS, then Classes, then functions."""

    def kind_then_name(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert black76.__all__ == sorted(black76.__all__, key=kind_then_name)
    public = {
        name
        for name, obj in vars(black76).items()
        if not name.startswith("_")
        and not isinstance(obj, types.ModuleType)
        and getattr(obj, "__module__", black76.__name__) == black76.__name__  # not imported
    }
    assert set(black76.__all__) == public


@settings(max_examples=150, deadline=None)
@given(
    moneyness=st.floats(0.5, 2.0),
    t_days=st.floats(1.0, 3 * 365.0),
    vol=st.floats(0.01, 3.0),
    is_call=st.booleans(),
)
def test_implied_vol_agrees_with_quantlib_on_generated_options(
    moneyness: float, t_days: float, vol: float, is_call: bool
) -> None:
    k, t = FORWARD * moneyness, t_days / 365.0
    v = float(black76.price(FORWARD, strike=k, t_years=t, rate=RATE, vol=vol, is_call=is_call))
    assume(time_value_rel(v, FORWARD, k, t, RATE, is_call) >= black76.MIN_TIME_VALUE_REL)
    ours = float(
        black76.implied_vol(v, forward=FORWARD, strike=k, t_years=t, rate=RATE, is_call=is_call)
    )
    tol = max(IV_TOL_VOL, 2.0 * vol_resolution(v, FORWARD, k, t, RATE, vol))
    assert abs(ours - vol) <= tol
    sd = ql.blackFormulaImpliedStdDev(
        ql.Option.Call if is_call else ql.Option.Put,
        k,
        FORWARD,
        v,
        math.exp(-RATE * t),
        0.0,
        vol * math.sqrt(t),
        1e-14,
        1000,
    )
    quantlib = sd / math.sqrt(t)
    if abs(ours - quantlib) > tol:  # QuantLib's CDF is the less precise one; mpmath decides
        exact = mp_implied_vol(v, FORWARD, k, t, RATE, is_call, near=vol)
        assert abs(ours - exact) < abs(quantlib - exact)
