"""The chain-summary aggregates that need every row, in one pass.

A summary is published on every applied update, so these aggregates are computed by one
numba kernel instead of a dozen numpy calls on small arrays. The OI and volume totals per
side are not among them: ``ChainBook`` keeps those as running sums, moved by the cells each
message writes. The kernel keeps the GIL: it runs for about a microsecond, and on a busy
actor host taking the GIL back after releasing it can cost milliseconds. Each result equals
the pure function it stands for (``tests/actors/analytics/test_chain_scan.py``):

- OI change per side since the session open: the sum of ``oi − oi_open`` over rows that have
  an open mark (``oi_open ≥ 0``; a negative mark means none yet, change 0);
- per-strike build-up counts: :func:`buildup.buildup_counts` of :func:`buildup.buildup`
  with price change ``ltp − ltp_open``;
- build-up per side: :func:`buildup.chain_buildup` (its sums are done in integers here, which
  is exact; the float sums of the pure function are exact too while totals stay below 2⁵³);
- the ATM row: :func:`chain.atm_index` of ``reference``;
- the max-pain row: :func:`chain.max_pain_from_payout`, or −1 when no row has OI.

Arrays are indexed ``[side, row]`` (side 0 calls, 1 puts) over strikes ascending; counts are
int64, prices float64 with NaN for missing.

>>> import numpy as np
>>> s = scan(np.array([100.0, 110.0]), oi=np.array([[5, 0], [0, 7]]),
...          oi_open=np.array([[4, -1], [-1, 9]]),
...          ltp=np.array([[2.0, 1.0], [1.0, 3.0]]), ltp_open=np.array([[1.0, 1.0], [1.0, 4.0]]),
...          payout=np.array([70.0, 50.0]), reference=104.0)
>>> s.call_oi_change, s.put_oi_change, s.atm_index, s.max_pain_index, s.call_buildup.label
(1, -2, 0, 1, 'long_buildup')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit, types

from actors.analytics.buildup import BuildUp
from actors.analytics.chain import PAYOUT_TIE_RTOL

__all__ = ["ChainScan", "scan"]

_CALL, _PUT = 0, 1
# Layout of the kernel's int64 output.
_OI_CHANGE = 0  # (call, put)
_COUNTS = 2  # five build-up classes, by BuildUp value
_SIDE_BUILDUP = 7  # (call, put) BuildUp values
_ATM = 9
_MAX_PAIN = 10
_OUT_SIZE = 11
_LABELS = tuple((b.value, b.label) for b in BuildUp)

_INTS = types.Array(types.int64, 2, "C", readonly=True)
_FLOATS = types.Array(types.float64, 2, "C", readonly=True)
_VEC = types.Array(types.float64, 1, "C", readonly=True)
_SIG = types.void(
    _VEC,
    _INTS,
    _INTS,
    _FLOATS,
    _FLOATS,
    _VEC,
    types.float64,
    types.float64,
    types.int64[::1],
)


@dataclass(frozen=True, slots=True)
class ChainScan:
    """The summary aggregates of one chain (see the module docstring). Row indices are −1
    when there is no such row."""

    call_oi_change: int
    put_oi_change: int
    buildup_counts: dict[str, int]
    call_buildup: BuildUp
    put_buildup: BuildUp
    atm_index: int
    max_pain_index: int


@njit(cache=True)
def _classify(price_sign: float, oi_change: float) -> int:
    if oi_change > 0.0:
        if price_sign > 0.0:
            return 1  # BuildUp.LONG_BUILDUP
        if price_sign < 0.0:
            return 2  # BuildUp.SHORT_BUILDUP
    elif oi_change < 0.0:
        if price_sign > 0.0:
            return 3  # BuildUp.SHORT_COVERING
        if price_sign < 0.0:
            return 4  # BuildUp.LONG_UNWINDING
    return 0


@njit(_SIG, cache=True)
def _scan_kernel(
    strikes: np.ndarray,
    oi: np.ndarray,
    oi_open: np.ndarray,
    ltp: np.ndarray,
    ltp_open: np.ndarray,
    payout: np.ndarray,
    reference: float,
    tie_rtol: float,
    out: np.ndarray,
) -> None:
    n = strikes.size
    out[:] = 0
    any_oi = False
    for side in range(2):
        change_total = vote = 0
        for i in range(n):
            q = oi[side, i]
            any_oi = any_oi or q != 0
            d_oi = q - oi_open[side, i] if oi_open[side, i] >= 0 else 0
            change_total += d_oi
            d_price = ltp[side, i] - ltp_open[side, i]
            sign = 0.0
            if math.isfinite(d_price):
                sign = 1.0 if d_price > 0.0 else (-1.0 if d_price < 0.0 else 0.0)
            out[_COUNTS + _classify(sign, float(d_oi))] += 1
            if sign > 0.0:
                vote += abs(d_oi)
            elif sign < 0.0:
                vote -= abs(d_oi)
        out[_OI_CHANGE + side] = change_total
        out[_SIDE_BUILDUP + side] = _classify(
            1.0 if vote > 0 else (-1.0 if vote < 0 else 0.0), float(change_total)
        )
    # ATM: the strike nearest the reference, ties to the lower (chain.atm_index).
    atm = -1
    if n > 0 and math.isfinite(reference) and reference > 0.0:
        hi = 0
        while hi < n and strikes[hi] < reference:
            hi += 1
        if hi == 0:
            atm = 0
        elif hi == n:
            atm = n - 1
        else:
            lo = hi - 1
            atm = lo if reference - strikes[lo] <= strikes[hi] - reference else hi
    out[_ATM] = atm
    # Max pain: the lowest strike within the tie tolerance of the least finite payout.
    pain = -1
    if any_oi:
        lowest = math.inf
        for i in range(n):
            if math.isfinite(payout[i]) and payout[i] < lowest:
                lowest = payout[i]
        if math.isfinite(lowest):
            limit = lowest + tie_rtol * abs(lowest)
            for i in range(n):
                if math.isfinite(payout[i]) and payout[i] <= limit:
                    pain = i
                    break
    out[_MAX_PAIN] = pain


def scan(
    strikes: npt.NDArray[np.float64],
    *,
    oi: npt.NDArray[np.int64],
    oi_open: npt.NDArray[np.int64],
    ltp: npt.NDArray[np.float64],
    ltp_open: npt.NDArray[np.float64],
    payout: npt.NDArray[np.float64],
    reference: float,
) -> ChainScan:
    """Summary aggregates of one chain (see the module docstring).

    ``strikes`` (n,) finite and strictly ascending, as the chain keeps them (not checked
    here: this runs on every update); ``oi``, ``oi_open`` int64 and ``ltp``, ``ltp_open``
    float64 of shape (2, n); ``payout`` (n,) the max-pain payout curve;
    ``reference`` the forward (or spot) for the ATM row. Raises ``ValueError`` on other
    shapes.
    """
    n = strikes.shape[0]
    for name, arr in (
        ("oi", oi),
        ("oi_open", oi_open),
        ("ltp", ltp),
        ("ltp_open", ltp_open),
    ):
        if arr.shape != (2, n):
            raise ValueError(f"{name} has shape {arr.shape}, expected {(2, n)}")
    if payout.shape != (n,):
        raise ValueError(f"payout has shape {payout.shape}, expected {(n,)}")
    out = np.empty(_OUT_SIZE, dtype=np.int64)
    _scan_kernel(
        np.ascontiguousarray(strikes, dtype=np.float64),
        np.ascontiguousarray(oi, dtype=np.int64),
        np.ascontiguousarray(oi_open, dtype=np.int64),
        np.ascontiguousarray(ltp, dtype=np.float64),
        np.ascontiguousarray(ltp_open, dtype=np.float64),
        np.ascontiguousarray(payout, dtype=np.float64),
        float(reference),
        PAYOUT_TIE_RTOL,
        out,
    )
    v = out.tolist()
    return ChainScan(
        call_oi_change=v[_OI_CHANGE + _CALL],
        put_oi_change=v[_OI_CHANGE + _PUT],
        buildup_counts={label: v[_COUNTS + code] for code, label in _LABELS},
        call_buildup=BuildUp(v[_SIDE_BUILDUP + _CALL]),
        put_buildup=BuildUp(v[_SIDE_BUILDUP + _PUT]),
        atm_index=v[_ATM],
        max_pain_index=v[_MAX_PAIN],
    )
