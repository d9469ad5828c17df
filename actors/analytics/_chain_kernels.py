"""Compiled loops behind ``chain.mid_price`` and ``chain.payout_curve`` (numba).

Private to ``chain``, which validates shapes and dtypes. Both run on every chain recompute,
where numpy's per-call overhead on arrays of a hundred strikes cost more than the arithmetic
(about 13 and 40 µs; each kernel is a few µs). They do the same floating-point operations in
the same order as the numpy expressions they replace (``tests/actors/analytics/
test_chain_kernels.py`` checks equality to the bit): sequential sums as ``np.cumsum`` does
them, no fused multiply-add (numba's default without ``fastmath``). Like the ``chain_scan``
kernel they keep the GIL: releasing it for microseconds costs more than it saves.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

_VEC = types.Array(types.float64, 1, "C", readonly=True)
_OUT = types.float64[::1]


@njit(types.void(_VEC, _VEC, _OUT), cache=True)
def mid_kernel(bid: np.ndarray, ask: np.ndarray, out: np.ndarray) -> None:
    """(bid + ask) / 2 as 0.5·bid + 0.5·ask where both are finite, bid > 0 and bid ≤ ask;
    NaN elsewhere."""
    for i in range(bid.size):
        b, a = bid[i], ask[i]
        if math.isfinite(b) and math.isfinite(a) and b > 0.0 and b <= a:
            out[i] = 0.5 * b + 0.5 * a
        else:
            out[i] = math.nan


@njit(types.void(_VEC, _VEC, _VEC, _OUT), cache=True)
def payout_kernel(k: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray, out: np.ndarray) -> None:
    """Max-pain payout at each strike of an ascending grid (see ``chain.payout_curve``):
    the call leg summed up from the bottom, the put leg down from the top. OI is taken as
    given (the caller cleans it; a curve of OI *changes* has negative entries)."""
    n = k.size
    if n == 0:
        return
    out[0] = 0.0  # no call below the lowest strike; every other row is set by the call leg
    if n == 1:
        return
    # Each running sum starts at its first term, as np.cumsum's does: 0.0 + (-0.0) would
    # be +0.0 where cumsum keeps -0.0 (an OI change of -0.0).
    below = call_oi[0]  # Σ call OI of the rows under j
    leg = (k[1] - k[0]) * below
    out[1] = leg
    for j in range(2, n):
        below += call_oi[j - 1]
        leg += (k[j] - k[j - 1]) * below
        out[j] = leg
    above = put_oi[n - 1]  # Σ put OI of the rows over j
    leg = (k[n - 1] - k[n - 2]) * above
    out[n - 2] += leg
    for j in range(n - 3, -1, -1):
        above += put_oi[j + 1]
        leg += (k[j + 1] - k[j]) * above
        out[j] += leg
