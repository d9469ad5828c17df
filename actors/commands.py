"""Messages the actors exchange in-process (never on the wire).

Immutable by construction: pykka futures and inboxes do not copy values, so a message
must never be changed after it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from actors.messages import ChainFeed, SmileSlice, UnderlyingFeed

__all__ = [
    "ApplyBatch",
    "ApplyChain",
    "ApplySpot",
    "ApplyUnderlying",
    "ChainTotals",
    "Command",
    "Flush",
    "GetEnriched",
    "GetMaxPain",
    "GetOhlc",
    "GetSmile",
    "GetSnapshot",
    "GetSummary",
    "GetSurface",
    "GetUnderlying",
    "Recompute",
    "SetProduct",
    "SmileUpdate",
]


@dataclass(frozen=True, slots=True)
class ApplyChain:
    """A ``feed.chain`` (``replace=True``) or ``feed.quotes`` message for one chain."""

    feed: ChainFeed
    stream_seq: int
    replace: bool


@dataclass(frozen=True, slots=True)
class ApplySpot:
    price: float
    ts_ns: int
    stream_seq: int


@dataclass(frozen=True, slots=True)
class ApplyUnderlying:
    feed: UnderlyingFeed
    stream_seq: int


@dataclass(frozen=True, slots=True)
class ApplyBatch:
    """Several of the Apply messages above for one actor, in stream order, in one trip
    through its inbox: each inbox trip wakes the actor's thread and each reply wakes the
    event loop. The reply holds one outcome per item, what the item alone would have
    replied or the exception it raised (``BridgedActor.each``)."""

    items: tuple[ApplyChain | ApplySpot | ApplyUnderlying, ...]


@dataclass(frozen=True, slots=True)
class Recompute:
    """Sent by a chain actor to itself: every update queued before it coalesces into one."""


@dataclass(frozen=True, slots=True)
class Flush:
    """Periodic: publish what is rate-limited (enriched chain, surface) if it changed."""

    now_ns: int


@dataclass(frozen=True, slots=True)
class GetSummary:
    pass


@dataclass(frozen=True, slots=True)
class GetEnriched:
    pass


@dataclass(frozen=True, slots=True)
class GetMaxPain:
    pass


@dataclass(frozen=True, slots=True)
class GetSnapshot:
    pass


@dataclass(frozen=True, slots=True)
class GetSmile:
    pass


@dataclass(frozen=True, slots=True)
class GetSurface:
    pass


@dataclass(frozen=True, slots=True)
class GetUnderlying:
    pass


@dataclass(frozen=True, slots=True)
class GetOhlc:
    interval: str
    limit: int


@dataclass(frozen=True, slots=True)
class SetProduct:
    """Supervisor → chain: the product actor was restarted; here is its new ref."""

    ref: Any


@dataclass(frozen=True, slots=True)
class SmileUpdate:
    """Chain → product: the chain's latest smile, for the product's surface."""

    smile: SmileSlice


@dataclass(frozen=True, slots=True)
class ChainTotals:
    """Chain → product: OI and volume totals, for the product-wide PCR."""

    expiry: str
    call_oi: int
    put_oi: int
    call_volume: int
    put_volume: int
    kind: Literal["totals"] = "totals"


Command = (
    ApplyBatch
    | ApplyChain
    | ApplySpot
    | ApplyUnderlying
    | Recompute
    | Flush
    | GetSummary
    | GetEnriched
    | GetSnapshot
    | GetSmile
    | GetSurface
    | GetUnderlying
    | GetOhlc
    | SetProduct
    | SmileUpdate
    | ChainTotals
)
