"""The compiled mid and payout loops equal, to the bit, the numpy expressions they replaced."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from actors.analytics import chain

MAX_STRIKES = 60
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)
QUOTES = st.sampled_from([0.0, -1.0, 0.05, 101.5, 102.0, 1e308, math.nan, math.inf]) | ANY_FLOAT


def _numpy_mid(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isfinite(b) & np.isfinite(a) & (b > 0.0) & (b <= a)
        return np.where(ok, 0.5 * b + 0.5 * a, np.nan)


def _numpy_payout(k: np.ndarray, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    n = k.size
    curve = np.zeros(n, dtype=np.float64)
    if n < 2:
        return curve
    with np.errstate(over="ignore", invalid="ignore"):
        step = np.diff(k)
        calls_below = np.cumsum(c)[:-1]
        puts_above = np.cumsum(p[::-1])[::-1][1:]
        curve[1:] = np.cumsum(step * calls_below)
        curve[:-1] += np.cumsum((step * puts_above)[::-1])[::-1]
    return curve


def _same_bits(x: np.ndarray, y: np.ndarray) -> bool:
    """Equal as IEEE bit patterns, except that any NaN equals any NaN."""
    both_nan = np.isnan(x) & np.isnan(y)
    return x.shape == y.shape and bool(np.all(both_nan | (x.view(np.int64) == y.view(np.int64))))


@given(st.integers(0, 3).flatmap(lambda r: st.tuples(*[st.integers(0, 7)] * r)), st.data())
def test_mid_price_is_the_numpy_expression_to_the_bit(
    shape: tuple[int, ...], data: st.DataObject
) -> None:
    bid = data.draw(arrays(np.float64, shape, elements=QUOTES))
    ask = data.draw(arrays(np.float64, shape, elements=QUOTES))
    assert _same_bits(chain.mid_price(bid, ask), _numpy_mid(bid, ask))


def test_mid_price_of_a_strided_view_reads_the_viewed_elements() -> None:
    quotes = np.array([[10.0, 99.0, 12.0], [11.0, 99.0, 11.0]])
    assert chain.mid_price(quotes[0, ::2], quotes[1, ::2]).tolist()[0] == 10.5


@st.composite
def grids(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(0, MAX_STRIKES))
    gaps = draw(arrays(np.float64, n, elements=st.sampled_from([0.5, 1.0, 25.0, 50.0, 1e-3])))
    strikes = 100.0 + np.cumsum(gaps)
    oi = st.integers(0, 10**15).map(float) | st.sampled_from([0.0, 1e300]) | st.floats(0, 1e6)
    return (
        strikes,
        draw(arrays(np.float64, n, elements=oi)),
        draw(arrays(np.float64, n, elements=oi)),
    )


@given(grids())
def test_payout_curve_is_the_numpy_prefix_sums_to_the_bit(
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    strikes, call_oi, put_oi = grid
    got = chain.payout_curve(strikes, call_oi=call_oi, put_oi=put_oi)
    assert _same_bits(got, _numpy_payout(strikes, call_oi, put_oi))


@given(grids(), st.data())
def test_a_dense_payout_delta_keeps_negative_changes(
    grid: tuple[np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    strikes, _, _ = grid
    n = strikes.size
    assume(n >= chain._DENSE_DELTA_MIN_ROWS)  # enough rows touched for the prefix-sum path
    index = np.arange(n, dtype=np.intp)
    change = st.floats(-1e6, 1e6)
    d_call = data.draw(arrays(np.float64, n, elements=change))
    d_put = data.draw(arrays(np.float64, n, elements=change))
    got = chain.payout_curve_delta(strikes, index=index, d_call_oi=d_call, d_put_oi=d_put)
    # The dense path adds the changes into zeros (np.add.at), where a change of -0.0
    # becomes +0.0 before any sum: the reference sums what it sums.
    dense_call, dense_put = np.zeros(n) + d_call, np.zeros(n) + d_put
    assert _same_bits(got, _numpy_payout(strikes, dense_call, dense_put))


def test_the_payout_loops_keep_numpys_signed_zeros() -> None:
    # Found by hypothesis in CI: the loops' running sums began at 0.0, and 0.0 + (-0.0) is
    # +0.0 where np.cumsum starts from its first term and keeps -0.0.
    strikes = 100.0 + 0.5 * np.arange(1, 9)
    zeros, neg = np.zeros(8), np.full(8, -0.0)
    for c, p in ((neg, neg), (neg, zeros), (zeros, neg)):
        assert _same_bits(chain._payout_curve(strikes, c, p), _numpy_payout(strikes, c, p))
