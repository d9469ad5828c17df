"""Chain actor scheduling (when its rate-limited views may go out) and a settled chain."""

from __future__ import annotations

import datetime as dt
import itertools

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from actors.chain_actor import ChainActor, _next_slot, _phase
from actors.chain_book import ChainBook
from actors.commands import ApplyChain, ApplySpot, GetSummary
from actors.messages import ChainFeed, QuoteRow
from actors.products import DEFAULT_PRODUCTS
from tests.feeding import START_NS


@given(
    now_ns=st.integers(0, 2**62),
    interval_ns=st.integers(1, 10**12),
    phase=st.floats(0.0, 1.0, exclude_max=True),
)
def test_the_next_slot_is_within_one_interval_and_at_the_chains_phase(
    now_ns: int, interval_ns: int, phase: float
) -> None:
    slot = _next_slot(now_ns, interval_ns, phase)
    assert now_ns < slot <= now_ns + interval_ns
    assert (slot - int(phase * interval_ns)) % interval_ns == 0


def test_consecutive_weekly_expiries_publish_at_phases_far_apart() -> None:
    first = dt.date(2026, 12, 1)
    phases = [_phase("NIFTY", first + dt.timedelta(weeks=w)) for w in range(5)]
    gaps = [abs(a - b) for a, b in itertools.combinations(phases, 2)]
    assert min(min(g, 1.0 - g) for g in gaps) > 0.1  # five chains, five different flush ticks


class _Published:
    """Stands in for the Publisher: what the actor publishes, by subject."""

    def __init__(self) -> None:
        self.subjects: list[str] = []

    def publish(self, subject: str, payload: bytes, headers: object = None) -> None:
        self.subjects.append(subject)


def test_a_tick_at_or_after_the_expiry_instant_leaves_the_chain_as_it_was() -> None:
    # The ingress sends settled chains no ticks; a replay after a restart still does, and
    # the actor ignores them the same way, so both paths end on the same state.
    spec = DEFAULT_PRODUCTS["NIFTY"]
    expiry = dt.date(2026, 11, 26)
    expires = spec.expires_ns(expiry)
    rows = [QuoteRow(strike=26000.0, right=r, bid=100.0, ask=101.0, oi=10) for r in "CP"]
    feed = ChainFeed(ts=START_NS, product="NIFTY", expiry=expiry, quotes=rows, spot=26000.0)
    published = _Published()
    ref = ChainActor.start(
        ChainBook(spec, expiry),
        publisher=published,  # type: ignore[arg-type]
        product_ref=None,
        publish_floor=0,
        chain_interval_ns=10**12,
        surface_interval_ns=10**12,
    )
    try:
        assert ref.ask(ApplyChain(feed=feed, stream_seq=1, replace=True)) is True
        before = msgspec.json.decode(ref.ask(GetSummary()))
        assert ref.ask(ApplySpot(price=26500.0, ts_ns=expires, stream_seq=2)) is False
        assert ref.ask(ApplySpot(price=26600.0, ts_ns=expires + 10**9, stream_seq=3)) is False
        after = msgspec.json.decode(ref.ask(GetSummary()))
        assert (after["ts"], after["spot"], after["stream_seq"]) == (START_NS, 26000.0, 1)
        assert after == before
        assert ref.ask(ApplySpot(price=26100.0, ts_ns=expires - 10**9, stream_seq=4)) is True
        assert msgspec.json.decode(ref.ask(GetSummary()))["spot"] == 26100.0
    finally:
        ref.stop()
