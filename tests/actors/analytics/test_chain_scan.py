"""chain_scan: every aggregate equals the pure function it stands for, on arbitrary chains."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from actors.analytics import buildup, chain, chain_scan

MAX_STRIKES = 40
STEP = 50.0


@st.composite
def chains(draw: st.DrawFn) -> dict[str, object]:
    """Chains as a ChainBook holds them: integer OI, open marks that may be missing (−1),
    prices with NaN gaps, a payout curve with ties, a reference anywhere."""
    n = draw(st.integers(0, MAX_STRIKES))
    gaps = draw(arrays(np.int64, n, elements=st.integers(1, 4)))
    strikes = STEP * (400 + np.cumsum(gaps)).astype(np.float64)
    counts = st.integers(0, 50_000)
    oi = draw(arrays(np.int64, (2, n), elements=counts | st.just(0)))
    oi_open = draw(arrays(np.int64, (2, n), elements=counts | st.just(-1)))
    prices = st.integers(1, 400).map(lambda x: x * 0.5) | st.just(math.nan)
    ltp = draw(arrays(np.float64, (2, n), elements=prices))
    ltp_open = draw(arrays(np.float64, (2, n), elements=prices))
    # Few distinct payout levels, so ties (and ties within the tolerance) are common.
    level = st.sampled_from([1e6, 1e6 * (1 + 1e-13), 2e6, 3.5e6, math.nan])
    payout = draw(arrays(np.float64, n, elements=level))
    reference = draw(
        st.floats(STEP * 390, STEP * (410 + 4 * MAX_STRIKES)) | st.sampled_from([0.0, math.nan])
    )
    if n and draw(st.booleans()):  # exactly on a strike, or halfway between two
        i = draw(st.integers(0, n - 1))
        reference = float(strikes[i]) + draw(st.sampled_from([0.0, STEP / 2]))
    return {
        "strikes": strikes,
        "oi": oi,
        "oi_open": oi_open,
        "ltp": ltp,
        "ltp_open": ltp_open,
        "payout": payout,
        "reference": reference,
    }


@settings(max_examples=100, deadline=None)
@given(c=chains())
def test_every_aggregate_equals_its_pure_function(c: dict[str, object]) -> None:
    strikes = c["strikes"]
    oi, oi_open = c["oi"], c["oi_open"]
    ltp, ltp_open, payout = c["ltp"], c["ltp_open"], c["payout"]
    assert isinstance(strikes, np.ndarray) and isinstance(oi, np.ndarray)
    assert isinstance(oi_open, np.ndarray)
    assert isinstance(ltp, np.ndarray) and isinstance(ltp_open, np.ndarray)
    assert isinstance(payout, np.ndarray) and isinstance(c["reference"], float)
    got = chain_scan.scan(
        strikes,
        oi=oi,
        oi_open=oi_open,
        ltp=ltp,
        ltp_open=ltp_open,
        payout=payout,
        reference=c["reference"],
    )
    oi_change = np.where(oi_open < 0, 0, oi - oi_open)
    price_change = ltp - ltp_open
    codes = buildup.buildup(price_change, oi_change.astype(float))
    assert (got.call_oi_change, got.put_oi_change) == tuple(int(x) for x in oi_change.sum(1))
    assert got.buildup_counts == buildup.buildup_counts(codes)
    assert got.call_buildup == buildup.chain_buildup(price_change[0], oi_change[0])
    assert got.put_buildup == buildup.chain_buildup(price_change[1], oi_change[1])
    assert got.atm_index == chain.atm_index(strikes, c["reference"])
    expected_pain = -1
    if oi.any():
        expected_pain = chain.max_pain_from_payout(strikes, payout=payout).index
    assert got.max_pain_index == expected_pain


def test_mismatched_shapes_raise_value_error() -> None:
    ints = np.zeros((2, 3), dtype=np.int64)
    floats = np.zeros((2, 3))
    with pytest.raises(ValueError, match="oi_open"):
        chain_scan.scan(
            np.arange(3.0) + 1,
            oi=ints,
            oi_open=np.zeros((2, 2), dtype=np.int64),
            ltp=floats,
            ltp_open=floats,
            payout=np.zeros(3),
            reference=1.0,
        )
    with pytest.raises(ValueError, match="payout"):
        chain_scan.scan(
            np.arange(3.0) + 1,
            oi=ints,
            oi_open=ints,
            ltp=floats,
            ltp_open=floats,
            payout=np.zeros(4),
            reference=1.0,
        )
