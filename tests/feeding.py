"""Feed a deterministic synthetic market into a test's NATS server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import nats

from actors.feeds.market import FeedMessage, SyntheticMarket
from actors.feeds.sink import FeedSink
from actors.products import DEFAULT_PRODUCTS, ProductSpec

# 2026-11-25 10:00 Asia/Kolkata: a fixed market clock keeps every run identical.
START_NS = int(dt.datetime(2026, 11, 25, 4, 30, tzinfo=dt.UTC).timestamp()) * 10**9
STEP_NS = 250_000_000


def market(
    products: Sequence[str] = ("NIFTY",),
    *,
    seed: int = 11,
    weekly: int = 2,
    monthly: int = 1,
    strikes_each_side: int = 20,
    rows_per_batch: int = 8,
) -> SyntheticMarket:
    specs: list[ProductSpec] = [DEFAULT_PRODUCTS[p] for p in products]
    return SyntheticMarket(
        specs,
        seed=seed,
        start_ns=START_NS,
        rows_per_batch=rows_per_batch,
        weekly=weekly,
        monthly=monthly,
        strikes_each_side=strikes_each_side,
    )


class SteppedMarket:
    """One seeded market stepped on across several feeds: ``open()`` once, then ``step(n)``
    gives the next ``n`` steps' messages (``done`` counts the steps so far)."""

    def __init__(self, m: SyntheticMarket) -> None:
        self.market = m
        self.done = 0

    def open(self) -> list[FeedMessage]:
        return list(self.market.open())

    def step(self, n: int) -> list[FeedMessage]:
        out = []
        for _ in range(n):
            self.done += 1
            out.extend(self.market.step(START_NS + self.done * STEP_NS))
        return out


def session(m: SyntheticMarket, steps: int) -> list[FeedMessage]:
    """The opening snapshots, then ``steps`` market steps, as one list of messages."""
    out = list(m.open())
    for i in range(1, steps + 1):
        out.extend(m.step(START_NS + i * STEP_NS))
    return out


async def publish(nats_url: str, messages: Sequence[FeedMessage]) -> None:
    nc = await nats.connect(nats_url)
    try:
        sink = FeedSink(nc)
        for msg in messages:
            await sink.publish(msg.subject, msg.payload)
        await sink.flush()
        assert sink.failed == 0
    finally:
        await nc.close()
