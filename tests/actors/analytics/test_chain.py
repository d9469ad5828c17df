"""Chain metrics: PCR, payout curve and max pain, ATM, straddle, expected move, OI build-up."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from actors.analytics import chain

MAX_STRIKES = 30
STRIKE_STEP = 50.0
MAX_OI = 100_000


@st.composite
def chains(draw: st.DrawFn, min_size: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer-valued strikes and OI, so O(n) and O(n²) payouts are both exact."""
    n = draw(st.integers(min_size, MAX_STRIKES))
    gaps = draw(arrays(np.int64, n, elements=st.integers(1, 20)))
    strikes = STRIKE_STEP * (100 + np.cumsum(gaps)).astype(np.float64)
    oi = st.integers(0, MAX_OI).map(float)
    call_oi = draw(arrays(np.float64, n, elements=oi))
    put_oi = draw(arrays(np.float64, n, elements=oi))
    return strikes, call_oi, put_oi


def brute_force_payout(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> np.ndarray:
    out = np.zeros(strikes.size)
    for j, settle in enumerate(strikes):
        for i, strike in enumerate(strikes):
            out[j] += call_oi[i] * max(0.0, settle - strike) + put_oi[i] * max(0.0, strike - settle)
    return out


def test_all_names_exactly_the_public_definitions() -> None:
    public = {
        name
        for name, value in vars(chain).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == chain.__name__
    }
    assert len(set(chain.__all__)) == len(chain.__all__)
    assert public <= set(chain.__all__)
    assert all(hasattr(chain, name) for name in chain.__all__)


# --------------------------------------------------------------------------- PCR


@settings(max_examples=200, deadline=None)
@given(
    put=st.floats(0.0, 1e12, allow_nan=False),
    call=st.floats(1e-6, 1e12, allow_nan=False),
)
def test_pcr_is_put_total_over_call_total(put: float, call: float) -> None:
    assert chain.pcr(put, call) == put / call


@pytest.mark.parametrize(
    ("put", "call"),
    [
        (5.0, 0.0),
        (math.nan, 1.0),
        (1.0, math.nan),
        (math.inf, 1.0),
        (1.0, math.inf),
        (-1.0, 2.0),
        (1.0, -2.0),
    ],
)
def test_pcr_is_nan_for_a_zero_or_bad_total(put: float, call: float) -> None:
    assert math.isnan(chain.pcr(put, call))


# --------------------------------------------------------------------------- payout, max pain


@settings(max_examples=150, deadline=None)
@given(data=chains())
def test_payout_curve_equals_the_quadratic_brute_force(data: tuple[np.ndarray, ...]) -> None:
    strikes, call_oi, put_oi = data
    curve = chain.payout_curve(strikes, call_oi=call_oi, put_oi=put_oi)
    np.testing.assert_array_equal(curve, brute_force_payout(strikes, call_oi, put_oi))


@settings(max_examples=100, deadline=None)
@given(data=chains())
def test_the_checked_payout_curve_equals_the_checking_one_on_clean_inputs(
    data: tuple[np.ndarray, ...],
) -> None:
    strikes, call_oi, put_oi = (np.asarray(a, dtype=float) for a in data)
    call_oi, put_oi = np.abs(np.nan_to_num(call_oi)), np.abs(np.nan_to_num(put_oi))
    np.testing.assert_array_equal(
        chain.payout_curve_checked(strikes, call_oi=call_oi, put_oi=put_oi),
        chain.payout_curve(strikes, call_oi=call_oi, put_oi=put_oi),
    )


@settings(max_examples=150, deadline=None)
@given(data=chains())
def test_max_pain_is_the_brute_force_minimum_with_ties_to_the_lowest_strike(
    data: tuple[np.ndarray, ...],
) -> None:
    strikes, call_oi, put_oi = data
    mp = chain.max_pain(strikes, call_oi=call_oi, put_oi=put_oi)
    if not (call_oi.any() or put_oi.any()):
        assert mp.index == -1 and math.isnan(mp.strike)
        return
    brute = brute_force_payout(strikes, call_oi, put_oi)
    expected = int(np.flatnonzero(brute == brute.min())[0])
    assert mp.index == expected
    assert mp.strike == strikes[expected]


@settings(max_examples=100, deadline=None)
@given(data=chains(), factor=st.floats(1e-3, 1e3))
def test_max_pain_is_unchanged_when_all_oi_is_scaled_by_a_positive_constant(
    data: tuple[np.ndarray, ...], factor: float
) -> None:
    strikes, call_oi, put_oi = data
    before = chain.max_pain(strikes, call_oi=call_oi, put_oi=put_oi)
    after = chain.max_pain(strikes, call_oi=factor * call_oi, put_oi=factor * put_oi)
    assert after.index == before.index


@settings(max_examples=150, deadline=None)
@given(data=chains(), touched=st.data())
def test_payout_curve_delta_applied_equals_a_recompute(
    data: tuple[np.ndarray, ...], touched: st.DataObject
) -> None:
    strikes, call_oi, put_oi = data
    n = strikes.size
    m = touched.draw(st.integers(0, 40), label="m")  # crosses the dense-path threshold
    index = touched.draw(arrays(np.int64, m, elements=st.integers(0, n - 1)), label="index")
    new_oi = st.integers(0, MAX_OI).map(float)
    new_call = call_oi.copy()
    new_put = put_oi.copy()
    new_call[index] = touched.draw(arrays(np.float64, m, elements=new_oi), label="call")
    new_put[index] = touched.draw(arrays(np.float64, m, elements=new_oi), label="put")
    # Each touched row's change counted once, however often it repeats in ``index``.
    rows = np.unique(index)
    delta = chain.payout_curve_delta(
        strikes,
        index=rows,
        d_call_oi=new_call[rows] - call_oi[rows],
        d_put_oi=new_put[rows] - put_oi[rows],
    )
    before = chain.payout_curve(strikes, call_oi=call_oi, put_oi=put_oi)
    after = chain.payout_curve(strikes, call_oi=new_call, put_oi=new_put)
    np.testing.assert_array_equal(before + delta, after)


@settings(max_examples=100, deadline=None)
@given(data=chains(), touched=st.data())
def test_payout_curve_delta_adds_up_repeated_rows(
    data: tuple[np.ndarray, ...], touched: st.DataObject
) -> None:
    strikes, _, _ = data
    n = strikes.size
    m = touched.draw(st.integers(0, 40), label="m")
    index = touched.draw(arrays(np.int64, m, elements=st.integers(0, n - 1)), label="index")
    change = st.integers(-MAX_OI, MAX_OI).map(float)
    d_call = touched.draw(arrays(np.float64, m, elements=change), label="d_call")
    d_put = touched.draw(arrays(np.float64, m, elements=change), label="d_put")
    dense_call = np.zeros(n)
    dense_put = np.zeros(n)
    np.add.at(dense_call, index, d_call)
    np.add.at(dense_put, index, d_put)
    delta = chain.payout_curve_delta(strikes, index=index, d_call_oi=d_call, d_put_oi=d_put)
    np.testing.assert_array_equal(delta, brute_force_payout(strikes, dense_call, dense_put))


@settings(max_examples=100, deadline=None)
@given(
    data=chains(),
    bad=arrays(np.float64, MAX_STRIKES, elements=st.sampled_from([np.nan, np.inf, -np.inf, -5.0])),
    where=arrays(np.bool_, MAX_STRIKES),
)
def test_nan_inf_and_negative_oi_count_as_zero(
    data: tuple[np.ndarray, ...], bad: np.ndarray, where: np.ndarray
) -> None:
    strikes, call_oi, put_oi = data
    n = strikes.size
    mask = where[:n]
    dirty_call = np.where(mask, bad[:n], call_oi)
    dirty_put = np.where(mask[::-1], bad[:n], put_oi)
    clean_call = np.where(mask, 0.0, call_oi)
    clean_put = np.where(mask[::-1], 0.0, put_oi)
    dirty = chain.max_pain(strikes, call_oi=dirty_call, put_oi=dirty_put)
    clean = chain.max_pain(strikes, call_oi=clean_call, put_oi=clean_put)
    assert dirty.index == clean.index
    np.testing.assert_array_equal(dirty.payout, clean.payout)


def test_max_pain_ties_go_to_the_lowest_strike() -> None:
    strikes = np.array([100.0, 110.0, 120.0, 130.0])
    mp = chain.max_pain(
        strikes, call_oi=np.array([0.0, 0.0, 0.0, 1.0]), put_oi=np.array([1.0, 0.0, 0.0, 0.0])
    )
    assert mp.payout.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert (mp.index, mp.strike) == (0, 100.0)


def test_max_pain_of_an_empty_chain_is_nan_at_index_minus_one() -> None:
    mp = chain.max_pain(np.array([]), call_oi=np.array([]), put_oi=np.array([]))
    assert mp.index == -1 and math.isnan(mp.strike) and mp.payout.size == 0


def test_max_pain_without_any_oi_is_nan_at_index_minus_one() -> None:
    strikes = np.array([100.0, 110.0])
    mp = chain.max_pain(strikes, call_oi=np.array([np.nan, 0.0]), put_oi=np.array([-3.0, 0.0]))
    assert mp.index == -1 and math.isnan(mp.strike)


def test_max_pain_payout_is_read_only() -> None:
    mp = chain.max_pain(np.array([1.0, 2.0]), call_oi=np.ones(2), put_oi=np.ones(2))
    with pytest.raises(ValueError, match="read-only"):
        mp.payout[0] = 1.0


def test_max_pain_from_payout_skips_nan_and_breaks_near_ties_low() -> None:
    strikes = np.array([1.0, 2.0, 3.0, 4.0])
    payout = np.array([np.nan, 5.0 * (1 + 1e-15), 5.0, 7.0])
    mp = chain.max_pain_from_payout(strikes, payout=payout)
    assert (mp.index, mp.strike) == (1, 2.0)
    none = chain.max_pain_from_payout(strikes, payout=np.full(4, np.nan))
    assert none.index == -1 and math.isnan(none.strike)


@pytest.mark.parametrize(
    "strikes",
    [np.array([2.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, np.nan]), np.ones((2, 2))],
)
def test_a_malformed_strike_grid_raises_value_error(strikes: np.ndarray) -> None:
    with pytest.raises(ValueError):
        chain.payout_curve(strikes, call_oi=np.ones(strikes.shape), put_oi=np.ones(strikes.shape))


def test_mismatched_shapes_raise_value_error() -> None:
    strikes = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="call_oi"):
        chain.max_pain(strikes, call_oi=np.ones(2), put_oi=np.ones(3))
    with pytest.raises(ValueError, match="d_put_oi"):
        chain.payout_curve_delta(
            strikes, index=np.array([0]), d_call_oi=np.ones(1), d_put_oi=np.ones(2)
        )
    with pytest.raises(ValueError, match="range"):
        chain.payout_curve_delta(
            strikes, index=np.array([3]), d_call_oi=np.ones(1), d_put_oi=np.ones(1)
        )
    with pytest.raises(ValueError, match="integers"):
        chain.payout_curve_delta(
            strikes, index=np.array([0.0]), d_call_oi=np.ones(1), d_put_oi=np.ones(1)
        )
    with pytest.raises(ValueError):
        chain.mid_price(np.ones(2), np.ones(3))


def test_payout_curve_delta_ignores_non_finite_changes() -> None:
    strikes = np.array([1.0, 2.0, 3.0])
    delta = chain.payout_curve_delta(
        strikes,
        index=np.array([0, 2]),
        d_call_oi=np.array([np.nan, 1.0]),
        d_put_oi=np.array([np.inf, 2.0]),
    )
    assert delta.tolist() == [4.0, 2.0, 0.0]


# --------------------------------------------------------------------------- ATM, straddle


@settings(max_examples=200, deadline=None)
@given(data=chains(), reference=st.floats(1.0, 1e6))
def test_atm_index_is_the_nearest_strike_with_ties_to_the_lower(
    data: tuple[np.ndarray, ...], reference: float
) -> None:
    strikes = data[0]
    distance = np.abs(strikes - reference)
    expected = int(np.flatnonzero(distance == distance.min())[0])
    assert chain.atm_index(strikes, reference) == expected


def test_atm_index_tie_goes_to_the_lower_strike() -> None:
    assert chain.atm_index(np.array([24000.0, 24050.0]), 24025.0) == 0


@pytest.mark.parametrize("reference", [math.nan, math.inf, -math.inf, 0.0, -100.0])
def test_atm_index_is_minus_one_for_a_bad_reference(reference: float) -> None:
    assert chain.atm_index(np.array([100.0, 110.0]), reference) == -1


def test_atm_index_is_minus_one_for_an_empty_chain() -> None:
    assert chain.atm_index(np.array([]), 100.0) == -1


def test_straddle_is_call_mid_plus_put_mid_at_the_atm_strike() -> None:
    s = chain.straddle(
        np.array([100.0, 110.0, 120.0]),
        call_mid=np.array([12.0, 5.0, 1.0]),
        put_mid=np.array([1.0, 4.0, 11.0]),
        reference=111.0,
    )
    assert (s.index, s.strike, s.call, s.put, s.price) == (1, 110.0, 5.0, 4.0, 9.0)


@pytest.mark.parametrize("missing", [math.nan, math.inf, 0.0, -1.0])
def test_straddle_is_nan_when_either_mid_is_missing(missing: float) -> None:
    s = chain.straddle(
        np.array([100.0]), call_mid=np.array([missing]), put_mid=np.array([4.0]), reference=100.0
    )
    assert s.index == 0 and math.isnan(s.call) and s.put == 4.0 and math.isnan(s.price)


def test_straddle_without_an_atm_strike_is_nan() -> None:
    s = chain.straddle(np.array([]), call_mid=np.array([]), put_mid=np.array([]), reference=1.0)
    assert s.index == -1 and math.isnan(s.strike) and math.isnan(s.price)


def test_mid_price_needs_a_two_sided_uncrossed_quote() -> None:
    bid = np.array([10.0, 0.0, 12.0, np.nan, 5.0, -1.0])
    ask = np.array([11.0, 1.0, 11.0, 6.0, np.inf, 1.0])
    mid = chain.mid_price(bid, ask)
    assert mid[0] == 10.5
    assert np.isnan(mid[1:]).all()


# --------------------------------------------------------------------------- expected move


def black76_atm_straddle(forward: float, vol: float, t_years: float, rate: float) -> float:
    """Closed-form discounted straddle at K = F: 2·e^(−rT)·F·(2N(σ√T/2) − 1)."""
    half = 0.5 * vol * math.sqrt(t_years)
    return 2.0 * math.exp(-rate * t_years) * forward * math.erf(half / math.sqrt(2.0))


@settings(max_examples=100, deadline=None)
@given(
    forward=st.floats(10.0, 1e5),
    vol=st.floats(0.05, 0.8),
    t_years=st.floats(1.0 / 365.0, 0.25),
    rate=st.floats(-0.02, 0.12),
)
def test_straddle_move_is_about_sqrt_two_over_pi_of_the_sigma_move(
    forward: float, vol: float, t_years: float, rate: float
) -> None:
    price = black76_atm_straddle(forward, vol, t_years, rate)
    em = chain.expected_move(
        straddle_price=price, forward=forward, atm_vol=vol, t_years=t_years, rate=rate
    )
    assert em.sigma_move == pytest.approx(forward * vol * math.sqrt(t_years), rel=1e-12)
    # E|F_T − F| / (F·σ√T) → √(2/π) as σ√T → 0; here σ√T ≤ 0.4.
    assert em.straddle_move / em.sigma_move == pytest.approx(math.sqrt(2.0 / math.pi), rel=0.01)


def test_expected_move_compounds_the_straddle_to_expiry() -> None:
    em = chain.expected_move(
        straddle_price=100.0, forward=1000.0, atm_vol=0.2, t_years=0.5, rate=0.1
    )
    assert em.straddle_move == pytest.approx(100.0 * math.exp(0.05), rel=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "straddle_nan", "sigma_nan"),
    [
        ({"t_years": 0.0}, True, True),
        ({"t_years": -0.1}, True, True),
        ({"t_years": math.nan}, True, True),
        ({"straddle_price": math.nan}, True, False),
        ({"rate": math.inf}, True, False),
        ({"atm_vol": math.nan}, False, True),
        ({"forward": -1.0}, False, True),
    ],
)
def test_expected_move_is_nan_for_missing_inputs(
    kwargs: dict[str, float], straddle_nan: bool, sigma_nan: bool
) -> None:
    args = {"straddle_price": 10.0, "forward": 100.0, "atm_vol": 0.2, "t_years": 0.1, "rate": 0.0}
    em = chain.expected_move(**(args | kwargs))
    assert math.isnan(em.straddle_move) is straddle_nan
    assert math.isnan(em.sigma_move) is sigma_nan
