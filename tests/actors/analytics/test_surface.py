"""Smile and term structure: OTM selection, ATM interpolation, 25Δ RR/BF signs, calendar flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import ndtri

from actors.analytics import surface, svi
from actors.analytics.surface import smile, term_structure

FORWARD = 24_000.0
STRIKES = np.arange(18_000.0, 30_001.0, 100.0)
K = np.log(STRIKES / FORWARD)

market = {
    "forward": st.floats(21_000.0, 27_000.0),
    "t_years": st.floats(2.0 / 365.0, 1.0),
    "atm_vol": st.floats(0.08, 0.5),
}


def test_all_names_exactly_the_public_definitions() -> None:
    public = {
        name
        for name, value in vars(surface).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == surface.__name__
    }
    assert len(set(surface.__all__)) == len(surface.__all__)
    assert public <= set(surface.__all__)
    assert all(hasattr(surface, name) for name in surface.__all__)


@settings(max_examples=100, deadline=None)
@given(
    call_iv=arrays(np.float64, STRIKES.size, elements=st.floats(0.05, 1.0)),
    put_iv=arrays(np.float64, STRIKES.size, elements=st.floats(0.05, 1.0)),
    forward=st.floats(17_000.0, 31_000.0),
)
def test_otm_iv_takes_puts_below_the_forward_and_calls_at_or_above(
    call_iv: np.ndarray, put_iv: np.ndarray, forward: float
) -> None:
    s = smile(STRIKES, call_iv=call_iv, put_iv=put_iv, forward=forward, t_years=0.1, fit_svi=False)
    calls = STRIKES >= forward
    np.testing.assert_array_equal(s.otm_is_call, calls)
    np.testing.assert_array_equal(s.otm_iv, np.where(calls, call_iv, put_iv))
    np.testing.assert_allclose(s.log_moneyness, np.log(STRIKES / forward), rtol=1e-15, atol=1e-15)
    assert np.all(s.delta[calls] > 0.0) and np.all(s.delta[~calls] < 0.0)


@settings(max_examples=100, deadline=None)
@given(**market)
def test_a_flat_smile_has_no_risk_reversal_or_butterfly(
    forward: float, t_years: float, atm_vol: float
) -> None:
    flat = np.full(STRIKES.size, atm_vol)
    s = smile(STRIKES, call_iv=flat, put_iv=flat, forward=forward, t_years=t_years, fit_svi=False)
    assert s.atm_iv == pytest.approx(atm_vol, rel=1e-14)
    assert s.atm_total_variance == pytest.approx(atm_vol**2 * t_years, rel=1e-13)
    if math.isfinite(s.rr25):  # NaN when the grid does not reach 25Δ (high vol, long T)
        assert s.call25_iv == pytest.approx(atm_vol, rel=1e-14)
        assert s.rr25 == pytest.approx(0.0, abs=1e-14)
        assert s.bf25 == pytest.approx(0.0, abs=1e-14)


@settings(max_examples=100, deadline=None)
@given(**market, slope=st.floats(-1.0, 1.0))
def test_atm_iv_of_a_smile_linear_in_log_moneyness_is_its_intercept(
    forward: float, t_years: float, atm_vol: float, slope: float
) -> None:
    k = np.log(STRIKES / forward)
    iv = np.maximum(atm_vol + slope * atm_vol * k, 0.01)
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=forward, t_years=t_years, fit_svi=False)
    assert s.atm_iv == pytest.approx(atm_vol, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(**market, skew=st.floats(0.1, 2.0))
def test_puts_richer_than_calls_give_a_negative_risk_reversal(
    forward: float, t_years: float, atm_vol: float, skew: float
) -> None:
    k = np.log(STRIKES / forward)
    iv = np.clip(atm_vol * (1.0 - skew * k), 0.5 * atm_vol, 2.0 * atm_vol)  # falls with strike
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=forward, t_years=t_years, fit_svi=False)
    if math.isfinite(s.rr25):
        assert s.call25_iv < s.atm_iv < s.put25_iv
        assert s.rr25 < 0.0


@settings(max_examples=100, deadline=None)
@given(**market, skew=st.floats(0.1, 2.0))
def test_calls_richer_than_puts_give_a_positive_risk_reversal(
    forward: float, t_years: float, atm_vol: float, skew: float
) -> None:
    k = np.log(STRIKES / forward)
    iv = np.clip(atm_vol * (1.0 + skew * k), 0.5 * atm_vol, 2.0 * atm_vol)  # rises with strike
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=forward, t_years=t_years, fit_svi=False)
    if math.isfinite(s.rr25):
        assert s.rr25 > 0.0


@settings(max_examples=100, deadline=None)
@given(**market, curvature=st.floats(0.1, 3.0))
def test_wings_above_the_money_give_a_positive_butterfly(
    forward: float, t_years: float, atm_vol: float, curvature: float
) -> None:
    k = np.log(STRIKES / forward)
    iv = atm_vol * (1.0 + curvature * np.abs(k))  # a V around the forward
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=forward, t_years=t_years, fit_svi=False)
    if math.isfinite(s.bf25):
        assert s.bf25 > 0.0


def test_an_equity_skew_has_negative_rr_and_positive_bf_and_its_svi_is_recovered() -> None:
    t_years = 0.1
    truth = svi.SviParams(a=0.0005, b=0.02, rho=-0.7, m=0.01, sigma=0.05)
    iv = svi.implied_vol(truth, K, t_years)
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=FORWARD, t_years=t_years)
    assert s.rr25 < -0.02
    assert s.bf25 > 0.0
    assert s.rr25 == s.call25_iv - s.put25_iv
    assert s.bf25 == 0.5 * (s.call25_iv + s.put25_iv) - s.atm_iv
    assert s.atm_iv == pytest.approx(float(svi.implied_vol(truth, [0.0], t_years)[0]), rel=1e-4)
    assert s.svi is not None and s.svi.ok
    assert s.svi.params.rho == pytest.approx(truth.rho, abs=1e-6)
    assert s.svi.rmse_vol < 1e-9


def test_25_delta_vols_sit_at_forward_delta_of_a_quarter() -> None:
    # With a flat vol the 25Δ call strike is known: d1 = N⁻¹(0.25).
    vol, t_years = 0.2, 0.25
    d1 = ndtri(0.25)
    call_k = -d1 * vol * math.sqrt(t_years) + 0.5 * vol * vol * t_years
    strikes = FORWARD * np.exp(np.array([-0.2, -0.05, 0.0, call_k - 0.01, call_k + 0.01, 0.2]))
    iv = np.array([0.3, 0.25, vol, vol, vol + 0.02, 0.3])
    s = smile(strikes, call_iv=iv, put_iv=iv, forward=FORWARD, t_years=t_years, fit_svi=False)
    # The 25Δ call lies between the two strikes that bracket call_k.
    assert vol < s.call25_iv < vol + 0.02


def test_wings_outside_the_quoted_range_are_nan_not_extrapolated() -> None:
    near = np.array([23_900.0, 24_000.0, 24_100.0])
    iv = np.full(3, 0.15)
    s = smile(near, call_iv=iv, put_iv=iv, forward=FORWARD, t_years=0.1, fit_svi=False)
    assert s.atm_iv == 0.15
    assert math.isnan(s.call25_iv) and math.isnan(s.put25_iv)
    assert math.isnan(s.rr25) and math.isnan(s.bf25)


def test_atm_iv_needs_usable_points_on_both_sides_of_the_forward() -> None:
    forward = FORWARD + 50.0
    iv = np.where(STRIKES < forward, np.nan, 0.2)
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=forward, t_years=0.1, fit_svi=False)
    assert math.isnan(s.atm_iv) and math.isnan(s.bf25)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0, -0.2])
def test_a_bad_iv_counts_as_missing(bad: float) -> None:
    iv = np.full(STRIKES.size, 0.2)
    iv[10] = bad
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=FORWARD, t_years=0.1, fit_svi=False)
    assert math.isnan(s.otm_iv[10]) and math.isnan(s.delta[10])
    assert s.atm_iv == 0.2


@pytest.mark.parametrize(
    ("forward", "t_years"),
    [(math.nan, 0.1), (-1.0, 0.1), (FORWARD, 0.0), (FORWARD, -0.1), (FORWARD, math.inf)],
)
def test_without_a_forward_or_time_everything_derived_is_nan(
    forward: float, t_years: float
) -> None:
    iv = np.full(STRIKES.size, 0.2)
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=forward, t_years=t_years)
    assert np.isnan(s.log_moneyness).all() and np.isnan(s.otm_iv).all()
    assert math.isnan(s.atm_iv) and math.isnan(s.rr25) and math.isnan(s.bf25)
    assert s.svi is not None and not s.svi.ok


def test_smile_arrays_are_read_only_and_svi_is_optional() -> None:
    iv = np.full(STRIKES.size, 0.2)
    s = smile(STRIKES, call_iv=iv, put_iv=iv, forward=FORWARD, t_years=0.1, fit_svi=False)
    assert s.svi is None
    with pytest.raises(ValueError, match="read-only"):
        s.otm_iv[0] = 1.0


def test_malformed_inputs_raise_value_error() -> None:
    iv = np.full(3, 0.2)
    with pytest.raises(ValueError, match="ascending"):
        smile(np.array([3.0, 2.0, 1.0]), call_iv=iv, put_iv=iv, forward=2.0, t_years=0.1)
    with pytest.raises(ValueError, match="shape"):
        smile(np.array([1.0, 2.0, 3.0]), call_iv=iv[:2], put_iv=iv, forward=2.0, t_years=0.1)
    with pytest.raises(ValueError, match="shape"):
        term_structure(np.ones(3), atm_iv=np.ones(2))


# --------------------------------------------------------------------------- term structure


@settings(max_examples=100, deadline=None)
@given(
    t_years=arrays(np.float64, st.integers(1, 12), elements=st.floats(1e-3, 3.0), unique=True),
    data=st.data(),
)
def test_non_decreasing_total_variance_is_never_flagged(
    t_years: np.ndarray, data: st.DataObject
) -> None:
    n = t_years.size
    increments = data.draw(arrays(np.float64, n, elements=st.floats(0.0, 0.05)))
    total = np.cumsum(increments)[np.argsort(np.argsort(t_years))] + 1e-4
    ts = term_structure(t_years, atm_iv=np.sqrt(total / t_years))
    assert not ts.calendar_arbitrage.any()
    np.testing.assert_allclose(ts.total_variance, total, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    t_years=arrays(np.float64, st.integers(1, 12), elements=st.floats(1e-3, 3.0)),
    atm_iv=st.data(),
)
def test_a_flag_marks_exactly_the_expiries_with_less_variance_than_an_earlier_one(
    t_years: np.ndarray, atm_iv: st.DataObject
) -> None:
    vol = atm_iv.draw(arrays(np.float64, t_years.size, elements=st.floats(0.05, 1.0)))
    ts = term_structure(t_years, atm_iv=vol)
    total = vol * vol * t_years
    for i in range(t_years.size):
        earlier_higher = (t_years < t_years[i]) & (total > total[i] + 1e-12)
        assert ts.calendar_arbitrage[i] == earlier_higher.any()


def test_a_dip_in_atm_total_variance_is_flagged_on_the_later_expiry() -> None:
    ts = term_structure(np.array([0.5, 0.1, 0.25]), atm_iv=np.array([0.1, 0.2, 0.2]))
    # Total variances 0.005, 0.004, 0.01: the 0.5y expiry sits below the 0.25y one.
    assert ts.calendar_arbitrage.tolist() == [True, False, False]


def test_missing_expiries_are_nan_and_never_flagged() -> None:
    ts = term_structure(np.array([0.1, 0.2, 0.3, -0.1]), atm_iv=np.array([0.3, np.nan, 0.1, 0.2]))
    assert np.isnan(ts.total_variance[[1, 3]]).all()
    assert ts.calendar_arbitrage.tolist() == [False, False, True, False]


def test_a_black76_priced_chain_round_trips_through_forward_iv_and_smile() -> None:
    black76 = pytest.importorskip("actors.analytics.black76")
    from actors.analytics.forward import implied_forward

    t_years, rate = 0.08, 0.065
    truth = svi.SviParams(a=0.0004, b=0.025, rho=-0.6, m=0.005, sigma=0.06)
    vol = svi.implied_vol(truth, K, t_years)
    quote = {"strike": STRIKES, "t_years": t_years, "rate": rate, "vol": vol}
    call = black76.price(FORWARD, **quote, is_call=True)
    put = black76.price(FORWARD, **quote, is_call=False)
    spot = FORWARD * math.exp(-rate * t_years) * 1.001  # a slightly stale spot
    est = implied_forward(
        STRIKES,
        call_mid=call,
        put_mid=put,
        spot=spot,
        t_years=t_years,
        rate=rate,
        dividend_yield=0.0,
    )
    assert est.source == "parity"
    assert est.forward == pytest.approx(FORWARD, rel=1e-12)
    where = {"forward": est.forward, "strike": STRIKES, "t_years": t_years, "rate": rate}
    call_iv = black76.implied_vol(call, **where, is_call=True)
    put_iv = black76.implied_vol(put, **where, is_call=False)
    s = smile(STRIKES, call_iv=call_iv, put_iv=put_iv, forward=est.forward, t_years=t_years)
    assert s.svi is not None and s.svi.ok
    assert s.svi.params.rho == pytest.approx(truth.rho, abs=1e-6)
    assert s.svi.rmse_vol < 1e-8
    # Forward delta is Black-76's discounted delta with the discount factor taken out.
    greeks = black76.greeks(est.forward, **(quote | {"vol": s.otm_iv}), is_call=s.otm_is_call)
    usable = np.isfinite(s.delta)
    np.testing.assert_allclose(
        s.delta[usable], greeks.delta[usable] * math.exp(rate * t_years), rtol=1e-9, atol=1e-14
    )


@settings(max_examples=60, deadline=None)
@given(
    ivs=arrays(np.float64, 12, elements=st.floats(0.01, 2.0)),
    holes=arrays(np.bool_, 12),
    forward=st.floats(85.0, 125.0),
)
def test_atm_vol_alone_equals_the_smiles_atm_iv(
    ivs: np.ndarray, holes: np.ndarray, forward: float
) -> None:
    strikes = np.linspace(80.0, 130.0, 12)
    call_iv = np.where(holes, np.nan, ivs)
    put_iv = ivs[::-1].copy()
    full = surface.smile(
        strikes, call_iv=call_iv, put_iv=put_iv, forward=forward, t_years=0.2, fit_svi=False
    )
    alone = surface.atm_vol(strikes, call_iv=call_iv, put_iv=put_iv, forward=forward)
    assert (math.isnan(alone) and math.isnan(full.atm_iv)) or alone == full.atm_iv
