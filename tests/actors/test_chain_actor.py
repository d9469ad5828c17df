"""Chain actor scheduling: when its rate-limited views may go out."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given
from hypothesis import strategies as st

from actors.chain_actor import _next_slot, _phase


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
