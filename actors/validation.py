"""Turn a raw feed message into a typed, checked one, or say exactly why not.

Schema checks are msgspec's (types, ranges, NaN/inf, negative values); the semantic checks
here need the subject and the product's spec. Every failure is a ``FeedRejected`` whose
``reason`` is a stable code and whose text names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from actors.errors import (
    CrossedQuote,
    DistantExpiry,
    DuplicateRow,
    ExpiredChain,
    FutureTimestamp,
    OffGridStrike,
    OversizedPayload,
    SchemaInvalid,
    SubjectMismatch,
    UnknownProduct,
)
from actors.messages import ChainFeed, UnderlyingFeed, decode_chain_feed, decode_underlying_feed
from actors.products import ProductSpec, fallback_spec
from actors.subjects import FeedSubject, parse_feed_subject

__all__ = ["MAX_EXPIRY_AHEAD_NS", "ValidFeed", "validate"]

# No listed option runs longer (index LEAPS reach about five years): a farther expiry is a
# typo or a hostile chain, and would sort last among a product's expiries for ever.
MAX_EXPIRY_AHEAD_NS = 10 * 366 * 86400 * 10**9


@dataclass(frozen=True, slots=True)
class ValidFeed:
    subject: FeedSubject
    spec: ProductSpec
    message: UnderlyingFeed | ChainFeed


def validate(
    subject: str,
    data: bytes,
    *,
    products: Mapping[str, ProductSpec],
    restrict_products: bool,
    max_payload_bytes: int,
    now_ns: int | None = None,
    max_ahead_ns: int = 0,
) -> ValidFeed:
    """With ``now_ns`` (this host's clock) and ``max_ahead_ns`` > 0, a ``ts`` further ahead
    of ``now_ns`` is refused: time comes from the feed, and one tick from the future would
    move its product's clock past every expiry. (A replay re-validates without it.)"""
    if len(data) > max_payload_bytes:
        raise OversizedPayload(f"payload of {len(data)} bytes exceeds {max_payload_bytes}")
    parsed = parse_feed_subject(subject)
    if parsed is None:
        raise SubjectMismatch(f"not a feed subject: {subject!r}")
    spec = products.get(parsed.product)
    if spec is None:
        if restrict_products:
            raise UnknownProduct(f"product {parsed.product!r} is not configured")
        spec = fallback_spec(parsed.product)
    try:
        message: UnderlyingFeed | ChainFeed = (
            decode_underlying_feed(data) if parsed.kind == "underlying" else decode_chain_feed(data)
        )
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise SchemaInvalid(str(exc)) from exc
    if now_ns is not None and max_ahead_ns > 0 and message.ts - now_ns > max_ahead_ns:
        raise FutureTimestamp(
            f"ts {message.ts} is {(message.ts - now_ns) / 1e9:,.0f} s ahead of this host's clock; "
            f"at most {max_ahead_ns / 1e9:g} s ahead is accepted (a producer's clock or time "
            "zone off?)"
        )
    if message.product != parsed.product:
        raise SubjectMismatch(
            f"payload product {message.product!r} differs from subject's {parsed.product!r}"
        )
    if isinstance(message, ChainFeed):
        _check_chain(message, parsed, spec)
    return ValidFeed(parsed, spec, message)


_ON_GRID_KEPT_MAX = 65536
# Strikes already found on the grid, per (product, strike step): what decides the answer.
# One set difference per message replaces a check per row (and hashing a whole ProductSpec
# per row would cost more than the check itself).
_on_grid_seen: dict[tuple[str, float], set[float]] = {}


def _all_on_grid(spec: ProductSpec, strikes: set[float]) -> bool:
    seen = _on_grid_seen.setdefault((spec.name, spec.strike_step), set())
    new = strikes - seen
    if not new:
        return True
    if not all(spec.on_grid(k) for k in new):
        return False
    if len(seen) + len(new) > _ON_GRID_KEPT_MAX:
        seen.clear()
    seen |= new
    return True


def _check_chain(feed: ChainFeed, parsed: FeedSubject, spec: ProductSpec) -> None:
    if feed.expiry.isoformat() != parsed.expiry:
        raise SubjectMismatch(
            f"payload expiry {feed.expiry.isoformat()} differs from subject's {parsed.expiry}"
        )
    expires_ns = spec.expires_ns(feed.expiry)
    if feed.ts >= expires_ns:
        raise ExpiredChain(f"expiry {feed.expiry.isoformat()} is past at ts {feed.ts}")
    if expires_ns - feed.ts > MAX_EXPIRY_AHEAD_NS:
        years = (expires_ns - feed.ts) / (365.25 * 86400e9)
        raise DistantExpiry(
            f"expiry {feed.expiry.isoformat()} is {years:.1f} years after ts {feed.ts}; "
            "at most 10 years ahead is accepted"
        )
    if not _rows_ok(feed, spec):
        _raise_first_bad_row(feed, spec)


def _rows_ok(feed: ChainFeed, spec: ProductSpec) -> bool:
    """Every row unique, on the grid and not crossed: one pass over the rows (this runs on
    every feed message, on the event loop); the caller names the first bad row when one
    is not."""
    keys: set[tuple[float, str]] = set()
    strikes: set[float] = set()
    for q in feed.quotes:
        bid, ask = q.bid, q.ask
        if bid.__class__ is float and ask.__class__ is float and bid > ask:
            return False
        keys.add((q.strike, q.right))
        strikes.add(q.strike)
    return len(keys) == len(feed.quotes) and _all_on_grid(spec, strikes)


def _raise_first_bad_row(feed: ChainFeed, spec: ProductSpec) -> None:
    seen: set[tuple[float, str]] = set()
    for i, q in enumerate(feed.quotes):
        key = (float(q.strike), q.right)
        if key in seen:
            raise DuplicateRow(f"quotes[{i}]: strike {q.strike} {q.right} appears twice")
        seen.add(key)
        if not spec.on_grid(q.strike):
            raise OffGridStrike(
                f"quotes[{i}]: strike {q.strike} is not a multiple of {spec.strike_step}"
            )
        if isinstance(q.bid, float) and isinstance(q.ask, float) and q.bid > q.ask:
            raise CrossedQuote(f"quotes[{i}]: bid {q.bid} above ask {q.ask}")
