"""A chain's max-pain payout curve (payout to holders if settled at each strike), brought up
to date after OI changes: moved by the rows whose OI changed where that is exact (a
whole-number strike grid) and cheaper, else rebuilt from the OI.
"""

from __future__ import annotations

import numpy as np

from actors.analytics import chain

__all__ = ["updated_payout"]

CALL, PUT = 0, 1
# From this many rows with changed OI on, the payout curve is rebuilt (O(n)) rather than
# updated by the changed rows (O(n) per row).
_PAYOUT_REBUILD_MIN_ROWS = 16


def updated_payout(
    payout: np.ndarray,
    strikes: np.ndarray,
    *,
    oi: np.ndarray,
    oi_delta: np.ndarray,
    rebuild: bool,
) -> np.ndarray:
    """The curve ``payout`` after the OI changes ``oi_delta`` (``[side, row]``; ``oi`` is the
    OI after them); ``rebuild`` when it must come from ``oi`` alone (stale, or inexact)."""
    touched = np.flatnonzero(oi_delta.any(axis=0))
    if rebuild or touched.size >= _PAYOUT_REBUILD_MIN_ROWS:
        # On a whole-number grid the curve is exact either way, so rebuilding it
        # equals updating it; past a few rows the rebuild is the cheaper one.
        # The book's strikes are ascending and its OI validated non-negative counts.
        return chain.payout_curve_checked(
            strikes,
            call_oi=oi[CALL].astype(float),
            put_oi=oi[PUT].astype(float),
        )
    return payout + chain.payout_curve_delta(
        strikes,
        index=touched,
        d_call_oi=oi_delta[CALL, touched].astype(float),
        d_put_oi=oi_delta[PUT, touched].astype(float),
    )
