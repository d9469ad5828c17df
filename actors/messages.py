"""Wire schemas: every message on a deltastream subject, as frozen msgspec Structs.

Feed messages (what any publisher sends) are decoded once, strictly, with the decoders
below; a payload that fails them is a bad input and goes to the DLQ with msgspec's reason.
Analytics messages are what the actors publish. JSON on the wire so ``nats sub`` can read
it; NaN floats are encoded as ``null`` (JSON has no NaN), hence ``float | None`` fields.

Schema evolution: new fields get defaults; a field is never retyped.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

__all__ = [
    "MAX_EPOCH_NS",
    "MIN_EPOCH_NS",
    "BuildUpCounts",
    "ChainFeed",
    "ChainSide",
    "DeadLetter",
    "EnrichedChain",
    "MaxPainCurve",
    "OhlcBar",
    "QuoteRow",
    "SmileSlice",
    "Summary",
    "Surface",
    "UnderlyingFeed",
    "UnderlyingTick",
    "decode_chain_feed",
    "decode_underlying_feed",
    "encode",
]

# Bounds that no real option market reaches; they keep overflow and inf out of the maths.
MAX_PRICE = 1e9
MAX_COUNT = 10**15
MAX_ROWS_PER_MESSAGE = 10_000

Price = Annotated[float, Meta(ge=0, le=MAX_PRICE)]
PositivePrice = Annotated[float, Meta(gt=0, le=MAX_PRICE)]
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
# From 2000-01-01: an earlier ts is nearly always seconds or milliseconds sent where
# nanoseconds belong (read as 1970), which would price every option decades from expiry.
MIN_EPOCH_NS = 946_684_800 * 10**9
# Up to 2200-01-01: later instants overflow the exchange calendar (datetime's year 9999).
MAX_EPOCH_NS = 7_258_118_400 * 10**9
EpochNs = Annotated[int, Meta(ge=MIN_EPOCH_NS, le=MAX_EPOCH_NS)]
ProductName = Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]


class _Frozen(Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    pass


# ---------------------------------------------------------------- feed (in)


class UnderlyingFeed(_Frozen):
    ts: EpochNs
    product: ProductName
    price: PositivePrice


class QuoteRow(_Frozen):
    """One option's quote. In a ``quotes`` batch an absent field keeps its value and
    ``null`` clears it (a one-sided market); in a ``chain`` snapshot absent means empty."""

    strike: PositivePrice
    right: Literal["C", "P"]
    bid: Price | UnsetType | None = UNSET
    ask: Price | UnsetType | None = UNSET
    ltp: Price | UnsetType | None = UNSET
    oi: Count | UnsetType | None = UNSET
    volume: Count | UnsetType | None = UNSET


class ChainFeed(_Frozen):
    """Both ``feed.chain`` (replaces the chain) and ``feed.quotes`` (changed rows only)."""

    ts: EpochNs
    product: ProductName
    expiry: dt.date
    quotes: Annotated[list[QuoteRow], Meta(max_length=MAX_ROWS_PER_MESSAGE)]
    spot: PositivePrice | None = None


_underlying_decoder = msgspec.json.Decoder(UnderlyingFeed)
_chain_decoder = msgspec.json.Decoder(ChainFeed)


def decode_underlying_feed(data: bytes) -> UnderlyingFeed:
    return _underlying_decoder.decode(data)


def decode_chain_feed(data: bytes) -> ChainFeed:
    return _chain_decoder.decode(data)


# ---------------------------------------------------------------- analytics (out)


class UnderlyingTick(_Frozen):
    ts: int
    product: str
    price: float
    change: float | None = None
    change_pct: float | None = None
    day_open: float | None = None
    day_high: float | None = None
    day_low: float | None = None
    seq: int = 0
    published_ns: int = 0


class BuildUpCounts(_Frozen):
    long_buildup: int = 0
    short_buildup: int = 0
    short_covering: int = 0
    long_unwinding: int = 0
    neutral: int = 0


class Summary(_Frozen):
    """Chain summary, published on every applied update (after coalescing)."""

    product: str
    expiry: str
    ts: int
    seq: int
    stream_seq: int
    spot: float | None
    forward: float | None
    forward_source: str
    t_years: float | None
    rate: float
    pcr_oi: float | None
    pcr_volume: float | None
    max_pain: float | None
    max_pain_distance: float | None
    atm_strike: float | None
    atm_iv: float | None
    straddle: float | None
    expected_move: float | None
    expected_move_straddle: float | None
    call_oi: int
    put_oi: int
    call_oi_change: int
    put_oi_change: int
    call_volume: int
    put_volume: int
    buildup: BuildUpCounts
    call_buildup: str
    put_buildup: str
    n_strikes: int
    published_ns: int = 0


class ChainSide(_Frozen):
    """One side (calls or puts) of an enriched chain, column-wise, aligned with ``strikes``."""

    bid: list[float | None]
    ask: list[float | None]
    ltp: list[float | None]
    mid: list[float | None]
    iv: list[float | None]
    delta: list[float | None]
    gamma: list[float | None]
    vega: list[float | None]
    theta: list[float | None]
    rho: list[float | None]
    oi: list[int]
    oi_change: list[int]
    volume: list[int]
    buildup: list[str]


class EnrichedChain(_Frozen):
    product: str
    expiry: str
    ts: int
    seq: int
    stream_seq: int
    spot: float | None
    forward: float | None
    forward_source: str
    t_years: float | None
    rate: float
    atm_strike: float | None
    max_pain: float | None
    strikes: list[float]
    calls: ChainSide
    puts: ChainSide
    published_ns: int = 0


class MaxPainCurve(_Frozen):
    """Max pain of one chain with the payout curve it minimises (payout in price × OI units)."""

    product: str
    expiry: str
    strike: float | None
    spot: float | None
    distance: float | None
    strikes: list[float]
    payout: list[float]


class SmileSlice(_Frozen):
    expiry: str
    t_years: float | None
    forward: float | None
    strikes: list[float]
    log_moneyness: list[float | None]
    iv: list[float | None]
    atm_iv: float | None
    rr25: float | None
    bf25: float | None
    svi: dict[str, float | None] | None = None
    svi_rmse_vol: float | None = None
    svi_butterfly_arbitrage: bool | None = None


class Surface(_Frozen):
    product: str
    ts: int
    expiries: list[SmileSlice]
    term_structure: list[dict[str, float | str | bool | None]]
    calendar_arbitrage: bool = False
    pcr_oi: float | None = None
    pcr_volume: float | None = None
    published_ns: int = 0


class OhlcBar(_Frozen):
    product: str
    interval: str
    start_ns: int
    end_ns: int
    open: float
    high: float
    low: float
    close: float
    ticks: int


class DeadLetter(_Frozen):
    """Body of a DLQ entry: the original payload travels verbatim, the reason in headers too."""

    reason: str
    detail: str
    subject: str
    stream_seq: int | None
    payload: str


_encoder = msgspec.json.Encoder()


def encode(message: Struct) -> bytes:
    return _encoder.encode(message)
