"""Expiry dates of the synthetic market: NSE-style weekly and monthly Tuesday expiries.

Exchange holidays are not modelled: an expiry on a holiday would move to the previous
trading day on the real exchange.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["EXPIRY_WEEKDAY", "last_weekday_of_month", "upcoming_expiries"]

EXPIRY_WEEKDAY = 1  # Tuesday (Monday = 0)


def last_weekday_of_month(year: int, month: int, weekday: int = EXPIRY_WEEKDAY) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    day = nxt - dt.timedelta(days=1)
    return day - dt.timedelta(days=(day.weekday() - weekday) % 7)


def upcoming_expiries(
    today: dt.date, *, weekly: int, monthly: int, weekday: int = EXPIRY_WEEKDAY
) -> list[dt.date]:
    """The next ``weekly`` weekly expiries (today's included) and the next ``monthly``
    month-end expiries, merged and sorted without duplicates."""
    out: set[dt.date] = set()
    first = today + dt.timedelta(days=(weekday - today.weekday()) % 7)
    out.update(first + dt.timedelta(weeks=i) for i in range(weekly))
    year, month = today.year, today.month
    while len([d for d in out if d == last_weekday_of_month(d.year, d.month, weekday)]) < monthly:
        expiry = last_weekday_of_month(year, month, weekday)
        if expiry >= today:
            out.add(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(out)
