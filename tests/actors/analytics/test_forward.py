"""Implied forward: put-call parity near the money, carry fallback, robustness to bad rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from actors.analytics import forward
from actors.analytics.forward import carry_forward, implied_forward

N_STRIKES = 21


def parity_prices(
    strikes: np.ndarray, *, fwd: float, time_value: np.ndarray, t_years: float, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Model-free prices: discounted intrinsic value plus a common time value per strike."""
    discount = math.exp(-rate * t_years)
    call = discount * (np.maximum(fwd - strikes, 0.0) + time_value)
    put = discount * (np.maximum(strikes - fwd, 0.0) + time_value)
    return call, put


market = {
    "fwd": st.floats(50.0, 50_000.0),
    "t_years": st.floats(1.0 / 365.0, 2.0),
    "rate": st.floats(-0.01, 0.15),
    "time_value": arrays(np.float64, N_STRIKES, elements=st.floats(1e-3, 1.0)),
}


def strike_grid(fwd: float) -> np.ndarray:
    step = 10.0 ** math.floor(math.log10(fwd / 50.0))
    centre = step * round(fwd / step)
    return centre + step * np.arange(-(N_STRIKES // 2), N_STRIKES // 2 + 1, dtype=np.float64)


def test_all_names_exactly_the_public_definitions() -> None:
    public = {
        name
        for name, value in vars(forward).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == forward.__name__
    }
    assert len(set(forward.__all__)) == len(forward.__all__)
    assert public <= set(forward.__all__)
    assert all(hasattr(forward, name) for name in forward.__all__)


@settings(max_examples=200, deadline=None)
@given(**market, dividend_yield=st.floats(0.0, 0.05))
def test_parity_forward_recovers_the_true_forward(
    fwd: float, t_years: float, rate: float, time_value: np.ndarray, dividend_yield: float
) -> None:
    strikes = strike_grid(fwd)
    tv = time_value * fwd * 0.01
    call, put = parity_prices(strikes, fwd=fwd, time_value=tv, t_years=t_years, rate=rate)
    # The spot is deliberately off: it only ranks strikes, parity sets the level.
    spot = fwd * 1.003 * math.exp(-(rate - dividend_yield) * t_years)
    est = implied_forward(
        strikes,
        call_mid=call,
        put_mid=put,
        spot=spot,
        t_years=t_years,
        rate=rate,
        dividend_yield=dividend_yield,
    )
    assert est.source == "parity"
    assert est.forward == pytest.approx(fwd, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(**market)
def test_parity_forward_needs_no_spot(
    fwd: float, t_years: float, rate: float, time_value: np.ndarray
) -> None:
    strikes = strike_grid(fwd)
    call, put = parity_prices(
        strikes, fwd=fwd, time_value=time_value * fwd * 0.01, t_years=t_years, rate=rate
    )
    est = implied_forward(
        strikes,
        call_mid=call,
        put_mid=put,
        spot=math.nan,
        t_years=t_years,
        rate=rate,
        dividend_yield=0.0,
    )
    assert est.source == "parity"
    assert est.forward == pytest.approx(fwd, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    **market, holes=arrays(np.bool_, N_STRIKES), junk=st.sampled_from([np.nan, np.inf, 0.0, -3.0])
)
def test_rows_without_two_sided_mids_are_skipped(
    fwd: float,
    t_years: float,
    rate: float,
    time_value: np.ndarray,
    holes: np.ndarray,
    junk: float,
) -> None:
    strikes = strike_grid(fwd)
    call, put = parity_prices(
        strikes, fwd=fwd, time_value=time_value * fwd * 0.01, t_years=t_years, rate=rate
    )
    call = np.where(holes, junk, call)
    est = implied_forward(
        strikes,
        call_mid=call,
        put_mid=put,
        spot=fwd,
        t_years=t_years,
        rate=rate,
        dividend_yield=rate,
    )
    if holes.all():
        assert est.source == "carry"
        assert est.forward == pytest.approx(fwd, rel=1e-12)
    else:
        assert est.source == "parity"
        assert est.forward == pytest.approx(fwd, rel=1e-12)


def test_one_stale_quote_near_the_money_is_outvoted_by_the_median() -> None:
    strikes = np.array([90.0, 95.0, 100.0, 105.0, 110.0])
    call, put = parity_prices(
        strikes, fwd=101.0, time_value=np.full(5, 2.0), t_years=0.25, rate=0.0
    )
    call[2] += 3.0  # stale call at the money
    est = implied_forward(
        strikes, call_mid=call, put_mid=put, spot=101.0, t_years=0.25, rate=0.0, dividend_yield=0.0
    )
    assert est == forward.ForwardEstimate(forward=101.0, source="parity")


def test_only_the_strikes_nearest_the_carry_forward_are_used() -> None:
    strikes = np.array([50.0, 100.0, 105.0, 110.0, 200.0])
    call, put = parity_prices(strikes, fwd=104.0, time_value=np.full(5, 1.0), t_years=0.5, rate=0.0)
    call[[0, 4]] = [100.0, 100.0]  # nonsense far from the money
    est = implied_forward(
        strikes,
        call_mid=call,
        put_mid=put,
        spot=104.0,
        t_years=0.5,
        rate=0.0,
        dividend_yield=0.0,
        n_strikes=3,
    )
    assert est.forward == pytest.approx(104.0, rel=1e-14)


def test_strikes_may_come_in_any_order() -> None:
    strikes = np.array([110.0, 90.0, 100.0])
    call, put = parity_prices(strikes, fwd=99.0, time_value=np.ones(3), t_years=0.1, rate=0.05)
    est = implied_forward(
        strikes, call_mid=call, put_mid=put, spot=99.0, t_years=0.1, rate=0.05, dividend_yield=0.05
    )
    assert est.forward == pytest.approx(99.0, rel=1e-13)


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 14),
    spot=st.floats(90.0, 110.0) | st.just(math.nan),
    rate=st.floats(-0.02, 0.2),
)
def test_ascending_strikes_give_bit_for_bit_the_forward_of_any_other_order(
    data: st.DataObject, n: int, spot: float, rate: float
) -> None:
    # Ascending strikes take a walk in plain Python; any other order the masked numpy path.
    tie = n > 1 and data.draw(st.booleans(), label="tie")
    gaps = data.draw(arrays(np.int64, n, elements=st.integers(1, 1 if tie else 3)), label="gaps")
    strikes = 90.0 + 2.5 * np.cumsum(gaps).astype(np.float64)
    good = st.floats(0.01, 30.0)
    mids = good | good | good | st.sampled_from([math.nan, 0.0, -1.0, math.inf])
    call = data.draw(arrays(np.float64, n, elements=mids), label="call")
    put = data.draw(arrays(np.float64, n, elements=mids), label="put")
    order = data.draw(st.permutations(range(n)), label="order")
    shuffled = np.array(order, dtype=np.intp)
    if n > 1 and np.all(np.diff(shuffled) > 0):
        shuffled = shuffled[::-1].copy()  # make sure the second call is not ascending too
    if tie:
        # The carry forward exactly halfway between two strikes of an even grid (r = q):
        # ties in distance at every step of the walk.
        i = data.draw(st.integers(0, n - 2), label="i")
        spot, rate = 0.5 * (strikes[i] + strikes[i + 1]), 0.01
    common = {"spot": spot, "t_years": 0.25, "rate": rate, "dividend_yield": 0.01}
    fast = implied_forward(strikes, call_mid=call, put_mid=put, **common)
    general = implied_forward(
        strikes[shuffled], call_mid=call[shuffled], put_mid=put[shuffled], **common
    )
    assert fast.source == general.source
    assert np.array(fast.forward).tobytes() == np.array(general.forward).tobytes()


@settings(max_examples=100, deadline=None)
@given(
    spot=st.floats(1.0, 1e5),
    t_years=st.floats(0.0, 3.0),
    rate=st.floats(-0.02, 0.2),
    dividend_yield=st.floats(0.0, 0.1),
)
def test_without_quotes_the_forward_is_spot_carried_at_r_minus_q(
    spot: float, t_years: float, rate: float, dividend_yield: float
) -> None:
    nan = np.full(3, np.nan)
    est = implied_forward(
        np.array([1.0, 2.0, 3.0]),
        call_mid=nan,
        put_mid=nan,
        spot=spot,
        t_years=t_years,
        rate=rate,
        dividend_yield=dividend_yield,
    )
    assert est.source == "carry"
    assert est.forward == pytest.approx(
        spot * math.exp((rate - dividend_yield) * t_years), rel=1e-14
    )


@pytest.mark.parametrize("spot", [math.nan, math.inf, 0.0, -10.0])
def test_without_quotes_or_spot_the_forward_is_nan_with_source_none(spot: float) -> None:
    est = implied_forward(
        np.array([]),
        call_mid=np.array([]),
        put_mid=np.array([]),
        spot=spot,
        t_years=0.1,
        rate=0.0,
        dividend_yield=0.0,
    )
    assert est.source == "none" and math.isnan(est.forward)


@pytest.mark.parametrize("field", ["t_years", "rate", "dividend_yield"])
def test_a_non_finite_carry_input_gives_a_nan_carry(field: str) -> None:
    args = {"spot": 100.0, "t_years": 0.5, "rate": 0.05, "dividend_yield": 0.0}
    assert math.isnan(carry_forward(**(args | {field: math.nan})))


def test_a_non_finite_rate_gives_no_forward_at_all() -> None:
    est = implied_forward(
        np.array([100.0]),
        call_mid=np.array([3.0]),
        put_mid=np.array([2.0]),
        spot=100.0,
        t_years=0.5,
        rate=math.nan,
        dividend_yield=0.0,
    )
    assert est.source == "none"


def test_a_non_positive_parity_estimate_is_dropped() -> None:
    # C − P far below −K gives F ≤ 0: impossible, so the carry forward is used instead.
    est = implied_forward(
        np.array([10.0]),
        call_mid=np.array([0.5]),
        put_mid=np.array([50.0]),
        spot=12.0,
        t_years=0.5,
        rate=0.0,
        dividend_yield=0.0,
    )
    assert est == forward.ForwardEstimate(forward=12.0, source="carry")


def test_mismatched_shapes_and_bad_n_strikes_raise_value_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        implied_forward(
            np.ones(3),
            call_mid=np.ones(2),
            put_mid=np.ones(3),
            spot=1.0,
            t_years=0.1,
            rate=0.0,
            dividend_yield=0.0,
        )
    with pytest.raises(ValueError, match="one-dimensional"):
        implied_forward(
            np.ones((2, 2)),
            call_mid=np.ones((2, 2)),
            put_mid=np.ones((2, 2)),
            spot=1.0,
            t_years=0.1,
            rate=0.0,
            dividend_yield=0.0,
        )
    with pytest.raises(ValueError, match="n_strikes"):
        implied_forward(
            np.ones(3),
            call_mid=np.ones(3),
            put_mid=np.ones(3),
            spot=1.0,
            t_years=0.1,
            rate=0.0,
            dividend_yield=0.0,
            n_strikes=0,
        )


@settings(max_examples=50, deadline=None)
@given(
    fwd=st.floats(50.0, 50_000.0),
    t_years=st.floats(1.0 / 365.0, 2.0),
    rate=st.floats(-0.01, 0.15),
    vol=st.floats(0.05, 0.8),
)
def test_parity_forward_recovers_the_forward_from_black76_prices(
    fwd: float, t_years: float, rate: float, vol: float
) -> None:
    black76 = pytest.importorskip("actors.analytics.black76")
    strikes = strike_grid(fwd)
    call = black76.price(fwd, strike=strikes, t_years=t_years, rate=rate, vol=vol, is_call=True)
    put = black76.price(fwd, strike=strikes, t_years=t_years, rate=rate, vol=vol, is_call=False)
    est = implied_forward(
        strikes,
        call_mid=call,
        put_mid=put,
        spot=fwd,
        t_years=t_years,
        rate=rate,
        dividend_yield=rate,
    )
    assert est.source == "parity"
    assert est.forward == pytest.approx(fwd, rel=1e-10)
