"""History pages: the question (one subject, a range of time and of stream sequence, a page
size, a position) and the answer, shared by the MongoDB archive and the ANALYTICS stream reader
so both answer alike.

Order is newest first by ``(ts, seq)``: ``ts`` is the message's own clock (the feed's epoch
ns), ``seq`` its ANALYTICS stream sequence, which breaks ties and is unique. A page holds at
most ``limit`` items; ``next`` is the position of its last item when older ones in the range
exist, and the next page is everything strictly before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["HistoryItem", "HistoryPage", "HistoryRange", "Position"]


class Position(NamedTuple):
    ts: int
    seq: int


@dataclass(frozen=True, slots=True)
class HistoryRange:
    """Messages on ``subject`` with ``from_ns ≤ ts < to_ns`` and ``from_seq ≤ seq < to_seq``
    (each bound optional) and ``(ts, seq) < before`` when ``before`` is set; the newest
    ``limit`` of them."""

    subject: str
    limit: int
    from_ns: int | None = None
    to_ns: int | None = None
    before: Position | None = None
    from_seq: int | None = None
    to_seq: int | None = None

    def admits(self, ts: int, seq: int) -> bool:
        if self.from_ns is not None and ts < self.from_ns:
            return False
        if self.to_ns is not None and ts >= self.to_ns:
            return False
        if self.from_seq is not None and seq < self.from_seq:
            return False
        if self.to_seq is not None and seq >= self.to_seq:
            return False
        return self.before is None or (ts, seq) < self.before


@dataclass(frozen=True, slots=True)
class HistoryItem:
    ts: int
    seq: int
    payload: bytes  # the analytics message's JSON


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[HistoryItem]  # newest first
    next: Position | None

    @classmethod
    def of(cls, newest_first: list[HistoryItem], limit: int) -> HistoryPage:
        """Cut ``limit + 1`` (or fewer) candidates, newest first, into a page."""
        if len(newest_first) <= limit:
            return cls(newest_first, None)
        last = newest_first[limit - 1]
        return cls(newest_first[:limit], Position(last.ts, last.seq))
