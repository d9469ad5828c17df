"""One chain's state as persisted: the ``BookSnapshot`` its actor saves to KV, taken from a
``ChainBook`` and put back into a fresh one. Kept apart from the book as its published views
are (``chain_views``); ``restore`` is the book's own code and so writes its private state.

A snapshot holds inputs only: IV and greeks follow from them, so a restore recomputes them.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

import msgspec
import numpy as np

if TYPE_CHECKING:
    from actors.chain_book import ChainBook

__all__ = ["BookSnapshot", "restore", "to_snapshot"]


class BookSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a ``ChainBook`` needs to continue exactly where it was (inputs only:
    IV and greeks are recomputed on restore from the stored forward and time)."""

    product: str
    expiry: dt.date
    stream_seq: int
    applied: int
    as_of_ns: int
    session_date: dt.date | None
    spot: float | None
    spot_ts_ns: int
    forward: float | None
    forward_source: str
    t_years: float | None
    strikes: list[float]
    bid: list[list[float | None]]
    ask: list[list[float | None]]
    ltp: list[list[float | None]]
    ltp_open: list[list[float | None]]
    oi: list[list[int]]
    oi_open: list[list[int]]
    volume: list[list[int]]


def _nan_list(a: np.ndarray) -> list[list[float | None]]:
    return [[None if math.isnan(x) else x for x in row] for row in a.tolist()]


def _from_nan_list(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if x is None else x for x in row] for row in rows], dtype=float)


def to_snapshot(book: ChainBook) -> BookSnapshot:
    """The book's inputs as they are now (reading the forward fixes it if still pending)."""
    return BookSnapshot(
        product=book.product,
        expiry=book.expiry,
        stream_seq=book.stream_seq,
        applied=book.applied,
        as_of_ns=book.as_of_ns,
        session_date=book.session_date,
        spot=book.spot,
        spot_ts_ns=book.spot_ts_ns,
        forward=None if math.isnan(book.forward) else book.forward,
        forward_source=book.forward_source,
        t_years=None if math.isnan(book.t_years) else book.t_years,
        strikes=book.strikes.tolist(),
        bid=_nan_list(book.bid),
        ask=_nan_list(book.ask),
        ltp=_nan_list(book.ltp),
        ltp_open=_nan_list(book.ltp_open),
        oi=book.oi.tolist(),
        oi_open=book.oi_open.tolist(),
        volume=book.volume.tolist(),
    )


def restore(book: ChainBook, snap: BookSnapshot) -> None:
    """Put a new book (of the snapshot's expiry) where ``snap`` left off, recomputed."""
    book._alloc(np.array(snap.strikes, dtype=float))
    book.stream_seq, book.applied, book.as_of_ns = snap.stream_seq, snap.applied, snap.as_of_ns
    book.session_date, book.spot, book.spot_ts_ns = (
        snap.session_date,
        snap.spot,
        snap.spot_ts_ns,
    )
    book._forward = math.nan if snap.forward is None else snap.forward
    book._forward_source = snap.forward_source
    book._t_years = math.nan if snap.t_years is None else snap.t_years
    n = book.strikes.size
    if n:
        book.bid, book.ask = _from_nan_list(snap.bid), _from_nan_list(snap.ask)
        book.ltp, book.ltp_open = _from_nan_list(snap.ltp), _from_nan_list(snap.ltp_open)
        book.oi = np.array(snap.oi, dtype=np.int64)
        book.oi_open = np.array(snap.oi_open, dtype=np.int64)
        book.volume = np.array(snap.volume, dtype=np.int64)
        # Not in the snapshot (they follow from it): summed once, then kept running.
        book._oi_total = book.oi.sum(axis=1)
        book._volume_total = book.volume.sum(axis=1)
    book._full = True
    book.recompute()
