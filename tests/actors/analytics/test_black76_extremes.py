"""The Black-76 kernels take any float and never raise: a forward of 1e-300 (whose square
underflows to zero) or of 1e300 gives NaN or inf where the maths breaks down, not a
ZeroDivisionError (numba's default error model raises one, Python's semantics)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.analytics import black76

_any_positive = st.floats(min_value=5e-324, max_value=1e308, allow_nan=False)
_anything = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=400, deadline=None)
@given(_any_positive, _any_positive, _any_positive, _anything, _anything, st.booleans())
def test_price_implied_vol_and_greeks_never_raise_on_any_float(
    forward: float, strike: float, t_years: float, vol: float, price: float, is_call: bool
) -> None:
    black76.price(forward, strike=strike, t_years=t_years, rate=0.065, vol=vol, is_call=is_call)
    iv = black76.implied_vol(
        price, forward=forward, strike=strike, t_years=t_years, rate=0.065, is_call=is_call
    )
    assert np.isnan(iv) or 0.0 < float(iv) < np.inf
    black76.greeks(forward, strike=strike, t_years=t_years, rate=0.065, vol=vol, is_call=is_call)


def test_a_forward_whose_square_underflows_gives_nan_or_inf_not_an_exception() -> None:
    g = black76.greeks(1e-300, strike=50_000.0, t_years=0.1, rate=0.065, vol=0.2, is_call=True)
    assert not np.isfinite(g.gamma) or g.gamma >= 0.0
    iv = black76.implied_vol(
        1e-300, forward=8e-300, strike=50_000.0, t_years=0.1, rate=0.065, is_call=False
    )
    assert np.isnan(iv)
