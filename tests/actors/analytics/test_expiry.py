"""Time to expiry: exact ACT/365 in the exchange's zone, across DST changes."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.analytics import expiry
from actors.analytics.expiry import (
    NS_PER_DAY,
    NS_PER_YEAR,
    expiry_instant_ns,
    session_date,
    t_years,
)


class Venue(TypedDict):
    expiry_time: dt.time
    tz: str


NSE: Venue = {"expiry_time": dt.time(15, 30), "tz": "Asia/Kolkata"}
CME: Venue = {"expiry_time": dt.time(15, 0), "tz": "America/Chicago"}
NS_PER_HOUR = NS_PER_DAY // 24


def utc_ns(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Epoch ns of a UTC wall time, computed independently of the module under test."""
    seconds = int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp())
    return seconds * 1_000_000_000


def test_all_names_exactly_the_public_definitions() -> None:
    public = {
        name
        for name, value in vars(expiry).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == expiry.__name__
    }
    assert len(set(expiry.__all__)) == len(expiry.__all__)
    assert public <= set(expiry.__all__)
    assert all(hasattr(expiry, name) for name in expiry.__all__)


def test_nse_expiry_is_15_30_india_time_which_is_10_00_utc() -> None:
    assert expiry_instant_ns(dt.date(2026, 11, 26), **NSE) == utc_ns(2026, 11, 26, 10, 0)


def test_chicago_expiry_is_utc_minus_six_in_winter_and_minus_five_in_summer() -> None:
    assert expiry_instant_ns(dt.date(2026, 12, 18), **CME) == utc_ns(2026, 12, 18, 21, 0)
    assert expiry_instant_ns(dt.date(2026, 6, 19), **CME) == utc_ns(2026, 6, 19, 20, 0)


def test_one_day_before_an_nse_expiry_is_exactly_one_365th_of_a_year() -> None:
    expiry_date = dt.date(2026, 11, 26)
    now = expiry_instant_ns(expiry_date, **NSE) - NS_PER_DAY
    assert t_years(now, expiry=expiry_date, **NSE) == 1.0 / 365.0


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)),
    days=st.integers(0, 3 * 365),
)
def test_kolkata_has_no_dst_so_whole_days_give_days_over_365(start: dt.date, days: int) -> None:
    expiry_date = start + dt.timedelta(days=days)
    now = expiry_instant_ns(start, **NSE)
    assert t_years(now, expiry=expiry_date, **NSE) == days / 365


@settings(max_examples=200, deadline=None)
@given(remaining_ns=st.integers(-10 * NS_PER_YEAR, 10 * NS_PER_YEAR))
def test_t_years_is_the_exact_ns_difference_over_an_act365_year(remaining_ns: int) -> None:
    expiry_date = dt.date(2027, 3, 25)
    now = expiry_instant_ns(expiry_date, **NSE) - remaining_ns
    assert t_years(now, expiry=expiry_date, **NSE) == remaining_ns / NS_PER_YEAR


def test_fall_back_in_chicago_adds_an_hour() -> None:
    # DST ends Sun 2026-11-01: Fri 15:00 CDT (20:00 UTC) → Mon 15:00 CST (21:00 UTC) is 73 h.
    now = utc_ns(2026, 10, 30, 20, 0)
    years = t_years(now, expiry=dt.date(2026, 11, 2), **CME)
    assert years == (3 * 24 + 1) * NS_PER_HOUR / NS_PER_YEAR


def test_spring_forward_in_chicago_removes_an_hour() -> None:
    # DST starts Sun 2026-03-08: Fri 15:00 CST (21:00 UTC) → Mon 15:00 CDT (20:00 UTC) is 71 h.
    now = utc_ns(2026, 3, 6, 21, 0)
    years = t_years(now, expiry=dt.date(2026, 3, 9), **CME)
    assert years == (3 * 24 - 1) * NS_PER_HOUR / NS_PER_YEAR


def test_at_and_after_expiry_the_time_is_zero_then_negative() -> None:
    expiry_date = dt.date(2026, 11, 26)
    at = expiry_instant_ns(expiry_date, **NSE)
    assert t_years(at, expiry=expiry_date, **NSE) == 0.0
    assert t_years(at + 1, expiry=expiry_date, **NSE) < 0.0


def test_numpy_integer_timestamps_are_accepted() -> None:
    expiry_date = dt.date(2026, 11, 26)
    now = np.int64(expiry_instant_ns(expiry_date, **NSE) - NS_PER_DAY)
    assert t_years(now, expiry=expiry_date, **NSE) == 1.0 / 365.0


def test_a_float_timestamp_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        t_years(1.7e18, expiry=dt.date(2026, 11, 26), **NSE)  # type: ignore[arg-type]


@pytest.mark.parametrize("tz", ["Asia/Nowhere", "", "../etc/passwd"])
def test_an_unknown_zone_is_a_value_error(tz: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        expiry_instant_ns(dt.date(2026, 11, 26), expiry_time=dt.time(15, 30), tz=tz)


def test_an_aware_expiry_time_is_a_value_error() -> None:
    aware = dt.time(15, 30, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="naive"):
        expiry_instant_ns(dt.date(2026, 11, 26), expiry_time=aware, tz="Asia/Kolkata")


def test_a_datetime_expiry_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="date"):
        expiry_instant_ns(dt.datetime(2026, 11, 26, 9), expiry_time=dt.time(15, 30), tz="UTC")


def test_an_ambiguous_wall_time_means_its_first_occurrence() -> None:
    # 01:30 happens twice in Chicago on 2026-11-01; the first is CDT (06:30 UTC).
    at = expiry_instant_ns(dt.date(2026, 11, 1), expiry_time=dt.time(1, 30), tz="America/Chicago")
    assert at == utc_ns(2026, 11, 1, 6, 30)


def test_the_session_date_is_the_local_date_in_the_exchange_zone() -> None:
    # 18:29:59.999999999 UTC is 23:59:59.999999999 IST; one ns later it is the next day.
    before_midnight = utc_ns(2026, 11, 25, 18, 30) - 1
    assert session_date(before_midnight, tz="Asia/Kolkata") == dt.date(2026, 11, 25)
    assert session_date(before_midnight + 1, tz="Asia/Kolkata") == dt.date(2026, 11, 26)
    assert session_date(before_midnight, tz="America/Chicago") == dt.date(2026, 11, 25)


@settings(max_examples=200, deadline=None)
@given(day=st.dates(dt.date(1971, 1, 1), dt.date(2200, 12, 31)))
def test_an_expiry_instant_falls_on_its_own_session_date(day: dt.date) -> None:
    for venue in (NSE, CME):
        at = expiry_instant_ns(day, **venue)
        assert session_date(at, tz=venue["tz"]) == day


def test_session_date_rejects_an_unknown_zone_and_a_float_timestamp() -> None:
    with pytest.raises(ValueError, match="time zone"):
        session_date(0, tz="Mars/Olympus")
    with pytest.raises(TypeError):
        session_date(1.5e18, tz="UTC")  # type: ignore[arg-type]
