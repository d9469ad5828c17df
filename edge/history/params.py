"""The history parameters of the REST routes: ``from``, ``to``, ``from_seq``, ``to_seq``,
``limit`` and ``cursor``.

``from`` and ``to`` are ISO-8601 instants with a UTC offset (``2026-11-25T10:00:00+05:30``,
``…Z``; a bare date is midnight UTC) or epoch milliseconds; the range is ``from ≤ ts < to``
on the messages' own clock (``ts``). ``from_seq`` and ``to_seq`` are ANALYTICS stream
sequences (each answered item's ``analytics_seq``), integers from 1 to 2⁵³ − 1; the range is
``from_seq ≤ sequence < to_seq``, and ``from_seq`` must be below ``to_seq`` when both are given.
Every bound is optional and they combine: an item is in both ranges. ``limit`` is 1–1000
(100). ``cursor`` is the opaque ``next_cursor`` of the previous page, to be sent with the same
bounds. Anything else answers 400 naming the parameter: ``bad_range`` for times, sequences and
limits, ``bad_cursor`` for a cursor this API did not issue.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass

import msgspec
from starlette.requests import Request

from actors.archive.pages import HistoryRange, Position
from edge.errors import BadCursor, BadRange

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_SEQ",
    "HistoryQuery",
    "decode_cursor",
    "encode_cursor",
    "history_query",
    "parse_instant",
]

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_EPOCH_MS = 7_258_118_400_000  # 2200-01-01, the feed's own upper bound for ts
# JavaScript clients read a seq exactly up to here; a million messages a second take 285 years.
MAX_SEQ = 2**53 - 1
# int() refuses over 4300 digits (ValueError): longer text is refused before it gets there.
_MAX_DIGITS = 32
_NS_PER_MS = 1_000_000
_CURSOR_VERSION = 1
_MAX_CURSOR_CHARS = 128
_PARAMS = ("from", "to", "from_seq", "to_seq", "limit", "cursor")
# In a query string an unencoded "+" arrives as a space: "…T10:00:00 05:30" meant "+05:30".
_SPACE_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    limit: int = DEFAULT_LIMIT
    from_ns: int | None = None
    to_ns: int | None = None
    before: Position | None = None
    from_seq: int | None = None
    to_seq: int | None = None

    @property
    def ranged(self) -> bool:
        """True when a range or a cursor was asked for (not just a limit)."""
        bounds = (self.from_ns, self.to_ns, self.before, self.from_seq, self.to_seq)
        return any(b is not None for b in bounds)

    def range(self, subject: str) -> HistoryRange:
        return HistoryRange(
            subject=subject,
            limit=self.limit,
            from_ns=self.from_ns,
            to_ns=self.to_ns,
            before=self.before,
            from_seq=self.from_seq,
            to_seq=self.to_seq,
        )


def parse_instant(name: str, text: str) -> int:
    """Epoch ns of an ISO-8601 instant or of epoch milliseconds; ``BadRange`` otherwise."""
    text = text.strip()
    if text.isascii() and text.isdigit():  # str.isdigit() also takes "³", which int() refuses
        if len(text) > _MAX_DIGITS or int(text) > MAX_EPOCH_MS:
            raise BadRange(f"query.{name}: {text[:40]} ms is after 2200-01-01")
        return int(text) * _NS_PER_MS
    if _DATE_ONLY.fullmatch(text):
        text += "T00:00:00+00:00"
    text = _SPACE_OFFSET.sub(r"\1+\2", text)
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadRange(
            f"query.{name}: {text[:40]!r} is neither ISO-8601 nor epoch milliseconds"
        ) from None
    if at.tzinfo is None:
        raise BadRange(f"query.{name}: {text[:40]!r} needs a UTC offset (Z or ±hh:mm)")
    ns = (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) * 1000
    if not 0 <= ns <= MAX_EPOCH_MS * _NS_PER_MS:
        raise BadRange(f"query.{name}: {text[:40]!r} is outside 1970-01-01 … 2200-01-01")
    return ns


def encode_cursor(position: Position) -> str:
    raw = msgspec.msgpack.encode((_CURSOR_VERSION, position.ts, position.seq))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(text: str) -> Position:
    bad = BadCursor("query.cursor: not a cursor this API issued (use next_cursor as it is)")
    if not text or len(text) > _MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        version, ts, seq = msgspec.msgpack.decode(raw, type=tuple[int, int, int])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise bad from None
    if version != _CURSOR_VERSION or ts < 0 or seq < 1:
        raise bad
    return Position(ts, seq)


def _count(name: str, text: str, maximum: int) -> int:
    """A positive integer of at most ``maximum``; ``BadRange`` naming ``name`` otherwise."""
    digits = text.strip()
    if (
        not (digits.isascii() and digits.isdigit())
        or len(digits) > _MAX_DIGITS
        or not 1 <= int(digits) <= maximum
    ):
        raise BadRange(f"query.{name}: {text[:20]!r} is not an integer from 1 to {maximum}")
    return int(digits)


def history_query(request: Request) -> HistoryQuery:
    given: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in _PARAMS:
            if name in given:
                raise BadRange(f"query.{name}: given more than once")
            given[name] = value
    from_ns = parse_instant("from", given["from"]) if "from" in given else None
    to_ns = parse_instant("to", given["to"]) if "to" in given else None
    if from_ns is not None and to_ns is not None and from_ns > to_ns:
        raise BadRange(f"query.from ({given['from']}) is after query.to ({given['to']})")
    from_seq = _count("from_seq", given["from_seq"], MAX_SEQ) if "from_seq" in given else None
    to_seq = _count("to_seq", given["to_seq"], MAX_SEQ) if "to_seq" in given else None
    if from_seq is not None and to_seq is not None and from_seq >= to_seq:
        raise BadRange(f"query.from_seq ({from_seq}) is not below query.to_seq ({to_seq})")
    return HistoryQuery(
        limit=_count("limit", given["limit"], MAX_LIMIT) if "limit" in given else DEFAULT_LIMIT,
        from_ns=from_ns,
        to_ns=to_ns,
        before=decode_cursor(given["cursor"]) if "cursor" in given else None,
        from_seq=from_seq,
        to_seq=to_seq,
    )
