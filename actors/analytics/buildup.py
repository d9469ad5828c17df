"""OI build-up: how price and open interest moved together, per strike and per chain side.

price ↑ OI ↑ long build-up, price ↓ OI ↑ short build-up, price ↑ OI ↓ short covering,
price ↓ OI ↓ long unwinding; a zero or non-finite change on either side is neutral.
Changes are measured from the session open (the caller's choice of reference).

>>> import numpy as np
>>> [BuildUp(c).label for c in buildup(np.array([1.0, -1.0]), np.array([5.0, 5.0])).tolist()]
['long_buildup', 'short_buildup']
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

__all__ = ["BuildUp", "buildup", "buildup_counts", "chain_buildup"]

FloatArray = npt.NDArray[np.float64]


class BuildUp(enum.IntEnum):
    """OI build-up class of one strike (or a whole chain side); the value is the wire code."""

    NEUTRAL = 0
    LONG_BUILDUP = 1  # price ↑, OI ↑
    SHORT_BUILDUP = 2  # price ↓, OI ↑
    SHORT_COVERING = 3  # price ↑, OI ↓
    LONG_UNWINDING = 4  # price ↓, OI ↓

    @property
    def label(self) -> str:
        """Lower-case wire label, e.g. ``"long_buildup"``."""
        return self.name.lower()


def buildup(price_change: npt.ArrayLike, oi_change: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Per-strike OI build-up codes (:class:`BuildUp` values) as an int8 array.

    price↑ OI↑ long build-up, price↓ OI↑ short build-up, price↑ OI↓ short covering,
    price↓ OI↓ long unwinding; a zero or non-finite change on either side is NEUTRAL.
    Changes are usually against the session open (price: LTP or mid; OI: contracts).

    >>> price_change = np.array([1.0, -1.0, 1.0, -1.0, 0.0])
    >>> buildup(price_change, np.array([5.0, 5.0, -5.0, -5.0, 5.0])).tolist()
    [1, 2, 3, 4, 0]
    """
    dp = np.asarray(price_change, dtype=np.float64)
    doi = np.asarray(oi_change, dtype=np.float64)
    if dp.shape != doi.shape:
        raise ValueError(f"price_change has shape {dp.shape}, oi_change has shape {doi.shape}")
    dp = np.where(np.isfinite(dp), dp, 0.0)
    doi = np.where(np.isfinite(doi), doi, 0.0)
    return _classify(np.sign(dp), doi)


def _classify(price_sign: FloatArray, oi_change: FloatArray) -> npt.NDArray[np.int8]:
    up, down = price_sign > 0.0, price_sign < 0.0
    more, less = oi_change > 0.0, oi_change < 0.0
    codes = np.full(price_sign.shape, BuildUp.NEUTRAL, dtype=np.int8)
    codes[up & more] = BuildUp.LONG_BUILDUP
    codes[down & more] = BuildUp.SHORT_BUILDUP
    codes[up & less] = BuildUp.SHORT_COVERING
    codes[down & less] = BuildUp.LONG_UNWINDING
    return codes


def buildup_counts(codes: npt.ArrayLike) -> dict[str, int]:
    """How many strikes fall in each class, keyed by label, every label present.

    Raises ``ValueError`` for a code that is not a :class:`BuildUp` value.

    >>> buildup_counts(np.array([1, 1, 0], dtype=np.int8))["long_buildup"]
    2
    """
    arr = np.asarray(codes)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"codes must be integers, got dtype {arr.dtype}")
    flat = arr.astype(np.int64, copy=False).ravel()
    n_classes = len(BuildUp)
    if flat.size and (flat.min() < 0 or flat.max() >= n_classes):
        raise ValueError("codes must be BuildUp values 0..4")
    counts = np.bincount(flat, minlength=n_classes)
    return {b.label: int(counts[b.value]) for b in BuildUp}


def chain_buildup(price_change: npt.ArrayLike, oi_change: npt.ArrayLike) -> BuildUp:
    """One build-up class for a set of strikes (one side of a chain: calls or puts).

    Rule: the chain's OI direction is the sign of the net OI change ``Σ ΔOI_i``; its price
    direction is the sign of ``Σ sign(Δprice_i)·|ΔOI_i|``, i.e. each strike votes for its
    price direction with the size of its OI change, so strikes where positions actually
    moved decide and a quiet far strike whose price drifted does not. The two signs are
    then classified like one strike. Rows with a non-finite change count as no change.
    Pass calls and puts separately: a rising call and a rising put mean opposite things.

    >>> chain_buildup(np.array([2.0, -1.0]), np.array([100.0, 10.0])).label
    'long_buildup'
    """
    dp = np.asarray(price_change, dtype=np.float64)
    doi = np.asarray(oi_change, dtype=np.float64)
    if dp.shape != doi.shape:
        raise ValueError(f"price_change has shape {dp.shape}, oi_change has shape {doi.shape}")
    dp = np.where(np.isfinite(dp), dp, 0.0)
    doi = np.where(np.isfinite(doi), doi, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):  # huge OI sums may overflow to ±inf/NaN
        price_vote = float(np.sum(np.sign(dp) * np.abs(doi)))
        net_oi = float(np.sum(doi))
    return BuildUp(int(_classify(np.array([np.sign(price_vote)]), np.array([net_oi]))[0]))
