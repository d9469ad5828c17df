"""The synthetic market: seeded, NSE-shaped (expiries, strikes, spreads) and always valid."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.analytics import expiry
from actors.feeds.market import FeedMessage, SyntheticMarket
from actors.products import DEFAULT_PRODUCTS
from actors.validation import validate
from tests.feeding import START_NS, STEP_NS

SPECS = list(DEFAULT_PRODUCTS.values())
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
NS_PER_S = 10**9
MIN_EXPIRIES = 4
MIN_STRIKES = 100


def _ist_ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=IST).timestamp()) * NS_PER_S  # type: ignore[misc]


def _session(seed: int, steps: int, start_ns: int = START_NS, **kw: int) -> list[FeedMessage]:
    m = SyntheticMarket(SPECS, seed=seed, start_ns=start_ns, **kw)
    out = list(m.open())
    for i in range(1, steps + 1):
        out.extend(m.step(start_ns + i * STEP_NS))
    return out


def _wire(messages: Iterable[FeedMessage]) -> list[tuple[str, bytes]]:
    return [(m.subject, msgspec.json.encode(m.payload)) for m in messages]


def _expiries_by_product(messages: Iterable[FeedMessage]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for m in messages:
        if "expiry" in m.payload:
            out[m.payload["product"]].add(m.payload["expiry"])
    return dict(out)


def _expiry_ns(product: str, day: str) -> int:
    spec = DEFAULT_PRODUCTS[product]
    return expiry.expiry_instant_ns(
        dt.date.fromisoformat(day), expiry_time=spec.expiry_time, tz=spec.tz
    )


def test_the_same_seed_gives_the_same_messages() -> None:
    assert _wire(_session(seed=42, steps=5)) == _wire(_session(seed=42, steps=5))


def test_a_different_seed_gives_different_messages() -> None:
    assert _wire(_session(seed=42, steps=5)) != _wire(_session(seed=43, steps=5))


def test_every_default_product_has_at_least_four_expiries() -> None:
    found = _expiries_by_product(SyntheticMarket(SPECS, seed=1, start_ns=START_NS).open())
    assert {p: len(e) >= MIN_EXPIRIES for p, e in found.items()} == {
        p: True for p in DEFAULT_PRODUCTS
    }


def test_nifty_lists_weeklies_and_month_ends_while_the_others_list_month_ends_only() -> None:
    found = _expiries_by_product(SyntheticMarket(SPECS, seed=1, start_ns=START_NS).open())

    def month_end(day: str) -> bool:
        d = dt.date.fromisoformat(day)
        return (d + dt.timedelta(weeks=1)).month != d.month

    kinds = {p: {month_end(d) for d in days} for p, days in found.items()}
    assert kinds == {"NIFTY": {True, False}, "BANKNIFTY": {True}, "FINNIFTY": {True}}


@pytest.mark.parametrize("start", [(2026, 11, 24, 16, 0), (2026, 11, 25, 1, 0)])
def test_every_default_product_keeps_four_expiries_after_a_month_end_expired_that_day(
    start: tuple[int, ...],
) -> None:
    found = _expiries_by_product(SyntheticMarket(SPECS, seed=1, start_ns=_ist_ns(*start)).open())
    assert {p: len(found.get(p, ())) >= MIN_EXPIRIES for p in DEFAULT_PRODUCTS} == {
        p: True for p in DEFAULT_PRODUCTS
    }


def test_every_chain_snapshot_has_at_least_a_hundred_strikes() -> None:
    snapshots = list(SyntheticMarket(SPECS, seed=1, start_ns=START_NS).open())
    counts = {
        (m.payload["product"], m.payload["expiry"]): len({q["strike"] for q in m.payload["quotes"]})
        for m in snapshots
        if ".chain." in m.subject
    }
    assert counts and min(counts.values()) >= MIN_STRIKES


def test_every_message_passes_feed_validation() -> None:
    for subject, data in _wire(_session(seed=3, steps=20)):
        validate(
            subject,
            data,
            products=DEFAULT_PRODUCTS,
            restrict_products=True,
            max_payload_bytes=512 * 1024,
        )


def test_every_quote_has_its_bid_at_or_below_its_ask() -> None:
    crossed = [
        (m.payload["expiry"], q["strike"], q["right"])
        for m in _session(seed=4, steps=20)
        for q in m.payload.get("quotes", ())
        if q["bid"] is not None and q["bid"] > q["ask"]
    ]
    assert crossed == []


def test_relative_spreads_widen_away_from_the_money() -> None:
    narrower_outside: list[tuple[str, str, str]] = []
    for m in SyntheticMarket(SPECS, seed=5, start_ns=START_NS).open():
        p = m.payload
        if "quotes" not in p:
            continue
        for right in ("C", "P"):
            rows = sorted(
                (
                    abs(math.log(q["strike"] / p["spot"])),
                    (q["ask"] - q["bid"]) / (0.5 * (q["ask"] + q["bid"])),
                )
                for q in p["quotes"]
                if q["right"] == right and q["bid"] is not None
            )
            half = len(rows) // 2
            inner = np.mean([spread for _, spread in rows[:half]])
            outer = np.mean([spread for _, spread in rows[half:]])
            if not outer > inner:
                narrower_outside.append((p["product"], p["expiry"], right))
    assert narrower_outside == []


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 365 * 24 * 4),  # quarter hours into the year
    st.integers(1, 40),  # steps
    st.integers(1, 6 * 3600),  # seconds per step
)
def test_no_message_is_for_an_expiry_already_past_at_its_timestamp(
    quarter_hours: int, steps: int, step_s: int
) -> None:
    start = _ist_ns(2026, 1, 1, 0, 0) + quarter_hours * 15 * 60 * NS_PER_S
    m = SyntheticMarket(
        SPECS, seed=quarter_hours, start_ns=start, weekly=2, monthly=1, strikes_each_side=3
    )
    messages = list(m.open())
    for i in range(1, steps + 1):
        messages.extend(m.step(start + i * step_s * NS_PER_S))
    late = [
        (msg.payload["product"], msg.payload["expiry"], msg.payload["ts"])
        for msg in messages
        if "expiry" in msg.payload
        and msg.payload["ts"] >= _expiry_ns(msg.payload["product"], msg.payload["expiry"])
    ]
    assert late == []


def test_stepping_past_an_expiry_stops_its_quotes_but_not_the_others() -> None:
    start = _ist_ns(2026, 11, 24, 15, 0)  # NIFTY weekly + monthly expire at 15:30 today
    m = SyntheticMarket(SPECS[:1], seed=9, start_ns=start, strikes_each_side=3)
    before = _expiries_by_product(m.open())["NIFTY"]
    after = _expiries_by_product(m.step(_ist_ns(2026, 11, 24, 15, 30)))["NIFTY"]
    assert (before - after, after < before) == ({"2026-11-24"}, True)
