"""Time to expiry: ACT/365 year fractions from an epoch-ns clock reading to an exchange expiry.

An option expires on its expiry date at the product's expiry time in the exchange's IANA
time zone (NSE: 15:30 Asia/Kolkata). The year fraction is the exact elapsed wall time divided
by 365 days of 86 400 s (ACT/365 Fixed on instants, so a DST change shortens or lengthens the
remaining time by an hour, exactly as the clock does). Time is always passed in: nothing here
reads a clock.

Units: timestamps in integer nanoseconds since the Unix epoch (UTC), results in years.
A result ≤ 0 means the option has expired; callers treat it so.

Example (one calendar day before an NSE expiry):

>>> from datetime import date, time
>>> ts_ns = expiry_instant_ns(date(2026, 11, 26), expiry_time=time(15, 30), tz="Asia/Kolkata")
>>> t_years(ts_ns - NS_PER_DAY, expiry=date(2026, 11, 26), expiry_time=time(15, 30),
...         tz="Asia/Kolkata") == 1 / DAYS_PER_YEAR
True
"""

from __future__ import annotations

import datetime as dt
import operator
from typing import SupportsIndex
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DAYS_PER_YEAR",
    "NS_PER_DAY",
    "NS_PER_YEAR",
    "expiry_instant_ns",
    "session_date",
    "t_years",
]

DAYS_PER_YEAR = 365
"""ACT/365 Fixed: days in the denominator year."""
_NS_PER_SECOND = 1_000_000_000
_NS_PER_MICROSECOND = 1_000
_SECONDS_PER_DAY = 86_400
NS_PER_DAY = _SECONDS_PER_DAY * _NS_PER_SECOND
"""Nanoseconds in a day of 86 400 SI seconds."""
NS_PER_YEAR = DAYS_PER_YEAR * NS_PER_DAY
"""Nanoseconds in an ACT/365 year."""

_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {tz!r}") from exc


def expiry_instant_ns(expiry: dt.date, *, expiry_time: dt.time, tz: str) -> int:
    """The expiry instant in integer nanoseconds since the Unix epoch.

    ``expiry`` is the local expiry date and ``expiry_time`` the naive local wall-clock time
    in the IANA zone ``tz`` (e.g. ``"Asia/Kolkata"``, ``"America/Chicago"``). A wall time
    that occurs twice (DST fall-back) means its first occurrence; one that does not exist
    (spring-forward gap) is read with the offset in force before the gap (PEP 495, fold=0).
    Exact integer arithmetic: no float rounding.

    Raises ``ValueError`` for an unknown zone or a time that carries its own tzinfo.

    >>> expiry_instant_ns(dt.date(2026, 11, 26), expiry_time=dt.time(15, 30), tz="Asia/Kolkata")
    1795687200000000000
    """
    if expiry_time.tzinfo is not None:
        raise ValueError("expiry_time must be a naive wall-clock time; pass the zone as tz")
    if isinstance(expiry, dt.datetime):
        raise ValueError("expiry must be a date, not a datetime")
    local = dt.datetime.combine(expiry, expiry_time.replace(fold=0), tzinfo=_zone(tz))
    elapsed = local.astimezone(dt.UTC) - _EPOCH_UTC
    seconds = elapsed.days * _SECONDS_PER_DAY + elapsed.seconds
    return seconds * _NS_PER_SECOND + elapsed.microseconds * _NS_PER_MICROSECOND


def t_years(now_ts_ns: SupportsIndex, *, expiry: dt.date, expiry_time: dt.time, tz: str) -> float:
    """Years (ACT/365 Fixed) from ``now_ts_ns`` to the expiry instant; ≤ 0 once expired.

    ``now_ts_ns`` is an integer epoch timestamp in ns (a Python or numpy integer; a float
    raises ``TypeError`` because it cannot carry ns precision). The division of the exact
    integer ns difference by ``NS_PER_YEAR`` is correctly rounded.

    >>> t_years(0, expiry=dt.date(1971, 1, 1), expiry_time=dt.time(0, 0), tz="UTC")
    1.0
    """
    now_ns = operator.index(now_ts_ns)
    remaining_ns = expiry_instant_ns(expiry, expiry_time=expiry_time, tz=tz) - now_ns
    return remaining_ns / NS_PER_YEAR


def session_date(now_ts_ns: SupportsIndex, *, tz: str) -> dt.date:
    """The exchange's calendar date at ``now_ts_ns`` (epoch ns) in the IANA zone ``tz``.

    Tells trading days apart (e.g. to reset session-open marks). Exact: the instant is
    floored to the microsecond, which cannot move it across midnight. Raises ``ValueError``
    for an unknown zone, ``TypeError`` for a non-integer timestamp.

    >>> session_date(1_795_687_200_000_000_000, tz="Asia/Kolkata")  # 10:00 UTC = 15:30 IST
    datetime.date(2026, 11, 26)
    >>> session_date(1_795_687_200_000_000_000, tz="Pacific/Kiritimati")  # UTC+14
    datetime.date(2026, 11, 27)
    """
    micros = operator.index(now_ts_ns) // _NS_PER_MICROSECOND
    instant = _EPOCH_UTC + dt.timedelta(microseconds=micros)
    return instant.astimezone(_zone(tz)).date()
