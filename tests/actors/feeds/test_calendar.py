"""Expiry calendar: last Tuesday of each month, and the upcoming weekly/monthly list."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.feeds.calendar import EXPIRY_WEEKDAY, last_weekday_of_month, upcoming_expiries

TUESDAY = 1


def _brute_last_weekday(year: int, month: int, weekday: int) -> dt.date:
    days = calendar.monthrange(year, month)[1]
    return max(
        dt.date(year, month, d)
        for d in range(1, days + 1)
        if dt.date(year, month, d).weekday() == weekday
    )


def test_expiries_fall_on_tuesdays() -> None:
    assert EXPIRY_WEEKDAY == TUESDAY


def test_the_last_tuesdays_of_2026_and_january_2027() -> None:
    got = [last_weekday_of_month(y, m) for y, m in [(2026, m) for m in range(1, 13)] + [(2027, 1)]]
    assert [d.isoformat() for d in got] == [
        "2026-01-27",
        "2026-02-24",
        "2026-03-31",
        "2026-04-28",
        "2026-05-26",
        "2026-06-30",
        "2026-07-28",
        "2026-08-25",
        "2026-09-29",
        "2026-10-27",
        "2026-11-24",
        "2026-12-29",
        "2027-01-26",
    ]


@settings(max_examples=300, deadline=None)
@given(st.integers(1970, 2200), st.integers(1, 12), st.integers(0, 6))
def test_last_weekday_of_month_is_the_latest_such_day_in_that_month(
    year: int, month: int, weekday: int
) -> None:
    assert last_weekday_of_month(year, month, weekday) == _brute_last_weekday(year, month, weekday)


def test_the_weekly_list_includes_today_when_today_is_a_tuesday() -> None:
    today = dt.date(2026, 12, 1)  # a Tuesday
    assert upcoming_expiries(today, weekly=2, monthly=0) == [today, dt.date(2026, 12, 8)]


@pytest.mark.parametrize("today", [dt.date(2026, 12, 2), dt.date(2026, 12, 7)])
def test_the_weekly_list_starts_at_the_next_tuesday_otherwise(today: dt.date) -> None:
    assert upcoming_expiries(today, weekly=1, monthly=0) == [dt.date(2026, 12, 8)]


def test_month_ends_roll_over_from_december_to_january() -> None:
    assert upcoming_expiries(dt.date(2026, 12, 30), weekly=0, monthly=2) == [
        dt.date(2027, 1, 26),
        dt.date(2027, 2, 23),
    ]


def test_the_month_end_of_today_counts_when_today_is_that_tuesday() -> None:
    assert upcoming_expiries(dt.date(2026, 12, 29), weekly=0, monthly=1) == [dt.date(2026, 12, 29)]


def test_no_weeklies_and_no_month_ends_is_an_empty_list() -> None:
    assert upcoming_expiries(dt.date(2026, 12, 29), weekly=0, monthly=0) == []


@settings(max_examples=300, deadline=None)
@given(
    st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)),
    st.integers(0, 8),
    st.integers(0, 6),
)
def test_upcoming_expiries_are_the_next_weeklies_plus_the_next_month_ends(
    today: dt.date, weekly: int, monthly: int
) -> None:
    tuesdays = [today + dt.timedelta(days=d) for d in range(0, 7 * 60)]
    tuesdays = [d for d in tuesdays if d.weekday() == TUESDAY]
    month_ends = [d for d in tuesdays if d == _brute_last_weekday(d.year, d.month, TUESDAY)]
    expected = sorted(set(tuesdays[:weekly]) | set(month_ends[:monthly]))
    assert upcoming_expiries(today, weekly=weekly, monthly=monthly) == expected
