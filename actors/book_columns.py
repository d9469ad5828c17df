"""A message's rows written into a ``ChainBook``'s ``[side, row]`` arrays one field at a time:
one list and one numpy write per field rather than a Python write per cell.

``None`` clears a field; an absent one (UNSET) is kept by a quotes batch and cleared by a chain
snapshot. OI and volume go through ``column`` alone: ``_book_kernels`` writes those cells.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from msgspec import UNSET

__all__ = ["column", "write"]


def column(
    values: list[Any], cells: np.ndarray, dtype: type[np.generic], *, replace: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One field of a message's rows as (cells, values) to write. ``None`` clears the field
    (NaN for prices, 0 for counts); an absent field (UNSET) keeps its value in a quotes batch
    and clears it in a chain snapshot."""
    try:
        # The common case, every row carrying the field: numpy reads None as NaN for floats
        # and refuses UNSET (and None for integers), which takes the general path below.
        return cells, np.array(values, dtype=dtype)
    except TypeError:
        pass
    empty = math.nan if dtype is np.float64 else 0
    if replace:
        return cells, np.array(
            [empty if v is None or v is UNSET else v for v in values], dtype=dtype
        )
    keep = [i for i, v in enumerate(values) if v is not UNSET]
    return cells[keep], np.array(
        [empty if values[i] is None else values[i] for i in keep], dtype=dtype
    )


def write(target: np.ndarray, cells: np.ndarray, values: list[Any], *, replace: bool) -> None:
    """``column`` of ``values`` written into ``target`` at its flat ``cells``."""
    at, new = column(values, cells, target.dtype.type, replace=replace)
    target.reshape(-1)[at] = new
