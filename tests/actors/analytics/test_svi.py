"""Raw SVI: parameter recovery, noisy fits, constraints, bad data, butterfly arbitrage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import ndtr

from actors.analytics import svi
from actors.analytics.svi import SviParams

K_GRID = np.linspace(-0.5, 0.5, 41)
WIDE_GRID = np.linspace(-3.0, 3.0, 601)
# Gatheral & Jacquier (2014), after Vogt: a smile with butterfly arbitrage near k ≈ 0.7.
VOGT = SviParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
TYPICAL = SviParams(a=0.01, b=0.1, rho=-0.4, m=0.02, sigma=0.15)


@st.composite
def svi_params(draw: st.DrawFn) -> SviParams:
    """Well-identified smiles on K_GRID: the vertex and both wings are inside the data."""
    b = draw(st.floats(0.02, 0.5))
    rho = draw(st.floats(-0.9, 0.9))
    m = draw(st.floats(-0.2, 0.2))
    sigma = draw(st.floats(0.02, 0.4))
    min_variance = draw(st.floats(1e-3, 0.1))
    return SviParams(
        a=min_variance - b * sigma * math.sqrt(1.0 - rho * rho), b=b, rho=rho, m=m, sigma=sigma
    )


def assert_inside_the_constraints(p: SviParams) -> None:
    assert p.b >= 0.0
    assert abs(p.rho) < 1.0
    assert p.sigma > 0.0
    assert p.a + p.b * p.sigma * math.sqrt(1.0 - p.rho * p.rho) >= -1e-12 * max(1.0, abs(p.a))
    assert p.b * (1.0 + abs(p.rho)) <= svi.LEE_SLOPE_MAX * (1.0 + 1e-12)


def test_all_names_exactly_the_public_definitions() -> None:
    public = {
        name
        for name, value in vars(svi).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == svi.__name__
    }
    assert len(set(svi.__all__)) == len(svi.__all__)
    assert public <= set(svi.__all__)
    assert all(hasattr(svi, name) for name in svi.__all__)


@settings(max_examples=40, deadline=None)
@given(params=svi_params(), n=st.integers(8, 100))
def test_fit_recovers_known_parameters_from_noiseless_data(params: SviParams, n: int) -> None:
    k = np.linspace(-0.5, 0.5, n)
    result = svi.fit(k, svi.total_variance(params, k), t_years=0.25)
    assert result.ok and result.n_points == n
    got = result.params
    for name in ("a", "b", "rho", "m", "sigma"):
        assert getattr(got, name) == pytest.approx(getattr(params, name), abs=1e-5), name
    assert result.rmse_total_variance < 1e-9
    assert result.rmse_vol < 1e-7


@settings(max_examples=30, deadline=None)
@given(params=svi_params(), seed=st.integers(0, 2**32 - 1), noise=st.floats(0.001, 0.03))
def test_fit_of_noisy_data_is_as_good_as_the_truth(
    params: SviParams, seed: int, noise: float
) -> None:
    k = np.linspace(-0.5, 0.5, 100)
    truth = svi.total_variance(params, k)
    rng = np.random.default_rng(seed)
    noisy = truth * (1.0 + noise * rng.standard_normal(k.size))
    result = svi.fit(k, noisy)
    assert result.ok
    assert_inside_the_constraints(result.params)
    # Least squares must do at least (about) as well as the generating parameters do.
    truth_rmse = float(np.sqrt(np.mean((truth - noisy) ** 2)))
    assert result.rmse_total_variance <= truth_rmse * 1.001
    fitted = svi.total_variance(result.params, k)
    assert np.sqrt(np.mean((fitted - truth) ** 2)) < 2.0 * truth_rmse


@settings(max_examples=40, deadline=None)
@given(w=arrays(np.float64, 30, elements=st.floats(0.0, 1.0)))
def test_fit_of_arbitrary_data_stays_inside_the_constraints(w: np.ndarray) -> None:
    result = svi.fit(np.linspace(-0.4, 0.4, 30), w)
    if result.ok:
        assert_inside_the_constraints(result.params)
    else:
        assert math.isnan(result.params.a) and math.isnan(result.rmse_total_variance)


@settings(max_examples=40, deadline=None)
@given(
    w=arrays(
        np.float64,
        30,
        elements=st.floats(allow_nan=True, allow_infinity=True) | st.floats(0.0, 1.0),
    ),
    k=arrays(np.float64, 30, elements=st.floats(allow_nan=True, allow_infinity=True)),
)
def test_fit_never_raises_on_bad_numbers(w: np.ndarray, k: np.ndarray) -> None:
    result = svi.fit(k, w, t_years=0.1)
    assert isinstance(result.ok, bool)
    if not result.ok:
        assert math.isnan(result.params.b)


@pytest.mark.parametrize(
    ("k", "w"),
    [
        (np.linspace(-0.2, 0.2, 4), np.full(4, 0.04)),  # too few points
        (np.full(10, 0.1), np.full(10, 0.04)),  # one distinct strike
        (np.linspace(-0.2, 0.2, 10), np.zeros(10)),  # zero variance everywhere
        (np.linspace(-0.2, 0.2, 10), np.full(10, -0.04)),  # negative variance
        (np.linspace(-0.2, 0.2, 10), np.full(10, np.nan)),
        (np.array([]), np.array([])),
    ],
)
def test_fit_fails_softly_with_nan_parameters(k: np.ndarray, w: np.ndarray) -> None:
    result = svi.fit(k, w, t_years=0.1)
    assert not result.ok
    assert all(math.isnan(getattr(result.params, f)) for f in ("a", "b", "rho", "m", "sigma"))
    assert math.isnan(result.rmse_total_variance) and math.isnan(result.rmse_vol)


def test_zero_weights_drop_an_outlier() -> None:
    w = svi.total_variance(TYPICAL, K_GRID)
    w[20] *= 3.0
    weights = np.ones(K_GRID.size)
    weights[20] = 0.0
    result = svi.fit(K_GRID, w, weights=weights)
    assert result.ok and result.n_points == K_GRID.size - 1
    assert result.params.rho == pytest.approx(TYPICAL.rho, abs=1e-6)


def test_rmse_in_vol_needs_a_positive_time() -> None:
    w = svi.total_variance(TYPICAL, K_GRID)
    assert math.isnan(svi.fit(K_GRID, w).rmse_vol)
    assert math.isnan(svi.fit(K_GRID, w, t_years=0.0).rmse_vol)
    assert math.isfinite(svi.fit(K_GRID, w, t_years=0.5).rmse_vol)


def test_mismatched_shapes_raise_value_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        svi.fit(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        svi.fit(np.zeros(5), np.zeros(5), weights=np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        svi.fit(np.zeros((5, 2)), np.zeros((5, 2)))


@settings(max_examples=50, deadline=None)
@given(params=svi_params(), t_years=st.floats(1e-3, 3.0))
def test_implied_vol_is_the_root_of_total_variance_over_time(
    params: SviParams, t_years: float
) -> None:
    vol = svi.implied_vol(params, K_GRID, t_years)
    np.testing.assert_allclose(vol**2 * t_years, svi.total_variance(params, K_GRID), rtol=1e-12)


@pytest.mark.parametrize("t_years", [0.0, -1.0, math.nan, math.inf])
def test_implied_vol_is_nan_unless_time_is_positive(t_years: float) -> None:
    assert np.isnan(svi.implied_vol(TYPICAL, K_GRID, t_years)).all()


@settings(max_examples=30, deadline=None)
@given(params=svi_params())
def test_density_is_the_second_strike_derivative_of_call_prices(params: SviParams) -> None:
    # Undiscounted Black calls on F = 1: ∂²C/∂K² = p(k)/K with p(k) = g/√(2πw)·e^(−d₂²/2).
    def call(strike: np.ndarray) -> np.ndarray:
        root_w = np.sqrt(svi.total_variance(params, np.log(strike)))
        d1 = -np.log(strike) / root_w + 0.5 * root_w
        return np.asarray(ndtr(d1) - strike * ndtr(d1 - root_w), dtype=np.float64)

    strikes = np.exp(np.linspace(-0.4, 0.4, 9))

    def second_difference(step: float) -> np.ndarray:
        return (call(strikes + step) - 2.0 * call(strikes) + call(strikes - step)) / step**2

    # Richardson: the plain difference's O(step²) error is too large where a small sigma
    # bends the smile sharply near m (sigma 0.02 missed by 0.2 % at step 1e-4).
    second = (4.0 * second_difference(5e-5) - second_difference(1e-4)) / 3.0
    k = np.log(strikes)
    w = svi.total_variance(params, k)
    d2 = -k / np.sqrt(w) - 0.5 * np.sqrt(w)
    density = svi.density(params, k) / np.sqrt(2.0 * np.pi * w) * np.exp(-0.5 * d2 * d2)
    np.testing.assert_allclose(second, density / strikes, rtol=1e-3, atol=1e-5)


def test_vogts_smile_has_butterfly_arbitrage() -> None:
    assert svi.butterfly_arbitrage(VOGT, WIDE_GRID)
    assert svi.density(VOGT, np.array([0.7]))[0] < 0.0


def test_a_typical_equity_smile_has_no_butterfly_arbitrage() -> None:
    assert not svi.butterfly_arbitrage(TYPICAL, WIDE_GRID)


def test_a_wing_steeper_than_lees_bound_is_butterfly_arbitrage() -> None:
    steep = SviParams(a=0.01, b=1.5, rho=0.5, m=0.0, sigma=0.1)  # right wing slope 2.25
    assert svi.butterfly_arbitrage(steep, np.linspace(-20.0, 20.0, 401))


def test_negative_total_variance_on_the_grid_is_butterfly_arbitrage() -> None:
    below_zero = SviParams(a=-0.05, b=0.1, rho=0.0, m=0.0, sigma=0.1)
    assert svi.butterfly_arbitrage(below_zero, K_GRID)


def test_butterfly_check_of_a_failed_fit_or_empty_grid_is_false() -> None:
    failed = svi.fit(np.zeros(2), np.zeros(2)).params
    assert not svi.butterfly_arbitrage(failed, K_GRID)
    assert not svi.butterfly_arbitrage(VOGT, np.array([np.nan]))
