"""Run the synthetic market against NATS: ``deltastream feed synthetic``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from actors.feeds.connect import connect
from actors.feeds.market import SyntheticMarket
from actors.feeds.sink import FeedSink
from actors.products import ProductSpec

__all__ = ["run_synthetic"]

log = structlog.get_logger(__name__)


async def run_synthetic(
    nats_url: str,
    specs: Sequence[ProductSpec],
    *,
    seed: int = 7,
    steps_per_s: float = 4.0,
    rows_per_batch: int = 20,
    steps: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Publish an opening snapshot of every chain, then ``steps_per_s`` market steps a
    second (each: one tick per product and one quotes batch per chain) until ``stop`` is
    set or ``steps`` have run. Returns the number of messages published."""
    nc = await connect(nats_url, name="deltastream-feed", reconnect_time_wait=0.5)
    sink = FeedSink(nc)
    stop = stop or asyncio.Event()
    market = SyntheticMarket(
        specs, seed=seed, start_ns=time.time_ns(), rows_per_batch=rows_per_batch
    )
    count = 0
    try:
        for msg in market.open():
            await sink.publish(msg.subject, msg.payload)
            count += 1
        period_s = 1.0 / steps_per_s
        step = 0
        next_at = time.monotonic()
        while not stop.is_set() and (steps is None or step < steps):
            for msg in market.step(time.time_ns()):
                await sink.publish(msg.subject, msg.payload)
                count += 1
            step += 1
            next_at += period_s
            delay = next_at - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
            else:
                next_at = time.monotonic()  # running behind: do not try to catch up in a burst
        await sink.flush()
    finally:
        await nc.drain()
    log.info("synthetic_feed_stopped", messages=count, failed=sink.failed)
    return count
