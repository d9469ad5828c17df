"""The actors' publisher against a real JetStream: every message acknowledged, and the latest
message of each subject stored even when ANALYTICS could not take it when first sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats

from actors import subjects
from actors.natsserver import NatsServer
from actors.publisher import Publisher
from actors.streams import ensure_streams
from tests.conftest import WAIT_S, test_settings
from tests.final_state import stored_count


async def _stored(js: Any, subject: str) -> list[bytes]:
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy="all")
    count = await stored_count(js, subject)
    out = [(await sub.next_msg(timeout=WAIT_S)).data for _ in range(count)]
    await sub.unsubscribe()
    return out


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.01)  # counters of the publisher's own task (noqa: sleep-ok)


async def test_every_message_is_acknowledged_and_stored_in_order(analytics_nc: Any) -> None:
    js = analytics_nc.jetstream()
    publisher = Publisher(analytics_nc, asyncio.get_running_loop())
    a, b = subjects.analytics_summary("NIFTY", "2026-12-29"), subjects.analytics_underlying("X")
    for i in range(200):
        publisher.publish(a if i % 2 else b, f"{i}".encode())
    await asyncio.wait_for(publisher.drained(), WAIT_S)
    stats = publisher.stats()
    assert stats["published"] == 200 and stats["unacknowledged"] == 0, stats
    assert await _stored(js, a) == [f"{i}".encode() for i in range(1, 200, 2)]
    assert await _stored(js, b) == [f"{i}".encode() for i in range(0, 200, 2)]


async def test_the_latest_message_per_subject_lands_once_analytics_is_back(
    nats_server: NatsServer, analytics_nc: Any
) -> None:
    js = analytics_nc.jetstream()
    publisher = Publisher(analytics_nc, asyncio.get_running_loop(), ack_timeout_s=0.5)
    a = subjects.analytics_summary("NIFTY", "2026-12-29")
    b = subjects.analytics_summary("NIFTY", "2027-01-26")
    publisher.publish(a, b"a0")
    await asyncio.wait_for(publisher.drained(), WAIT_S)
    # No stream takes the analytics subjects: as while a cluster elects a new leader,
    # a plain publish would be dropped without a word.
    await js.delete_stream(subjects.ANALYTICS_STREAM)
    for i in range(1, 6):
        publisher.publish(a, f"a{i}".encode())
    for i in range(1, 4):
        publisher.publish(b, f"b{i}".encode())
    await _until(lambda: publisher.resyncs > 0)  # JetStream refused: resending
    await ensure_streams(js, test_settings(nats_server.url))
    await asyncio.wait_for(publisher.drained(), WAIT_S)
    stats = publisher.stats()
    assert stats["resent"] >= 1 and stats["failed"] == 0, stats
    # What was superseded before it could land is missing; the order holds and each
    # subject ends on its latest message, stored once.
    for subject, last in ((a, b"a5"), (b, b"b3")):
        stored = await _stored(js, subject)
        assert stored == sorted(set(stored)) and stored[-1] == last, stored


async def test_a_lost_partition_publishes_nothing_more(analytics_nc: Any) -> None:
    js = analytics_nc.jetstream()
    held = True
    publisher = Publisher(analytics_nc, asyncio.get_running_loop(), gate=lambda: held)
    a = subjects.analytics_summary("NIFTY", "2026-12-29")
    publisher.publish(a, b"1")
    await asyncio.wait_for(publisher.drained(), WAIT_S)
    held = False  # a lease renewal is overdue: messages wait
    publisher.publish(a, b"2")
    publisher.publish(a, b"3")
    await _until(lambda: publisher.stats()["queued"] == 2)
    publisher.discard()  # the lease is lost
    held = True
    assert publisher.stats()["dropped_on_loss"] == 2
    await analytics_nc.flush()
    assert await _stored(js, a) == [b"1"]


async def test_a_queue_that_cannot_drain_keeps_the_latest_message_per_subject(
    analytics_nc: Any,
) -> None:
    js = analytics_nc.jetstream()
    held = False  # nothing may be sent yet: the queue only grows
    publisher = Publisher(analytics_nc, asyncio.get_running_loop(), gate=lambda: held, max_queued=5)
    names = [subjects.analytics_summary("NIFTY", e) for e in ("2026-12-29", "2027-01-26")]
    names.append(subjects.analytics_underlying("NIFTY"))
    for i in range(1, 5):
        for name in names:
            publisher.publish(name, f"{i}".encode())
    assert publisher.stats()["queued"] <= 5
    assert publisher.superseded == 9
    held = True
    await asyncio.wait_for(publisher.drained(), WAIT_S)
    for name in names:
        assert await _stored(js, name) == [b"4"]


async def test_nats_down_with_acks_outstanding_then_back_stores_every_subject_in_order(
    tmp_path: Path,
) -> None:
    server = NatsServer(tmp_path / "js").start()
    try:
        nc = await nats.connect(server.url, reconnect_time_wait=0.2, max_reconnect_attempts=-1)
        js = nc.jetstream()
        await ensure_streams(js, test_settings(server.url))
        publisher = Publisher(nc, asyncio.get_running_loop(), ack_timeout_s=0.5, max_in_flight=10)
        names = [subjects.analytics_summary("NIFTY", e) for e in ("2026-12-29", "2027-01-26")]
        names.append(subjects.analytics_underlying("NIFTY"))
        await asyncio.to_thread(server.stop, kill=True)
        for i in range(1, 21):
            for name in names:
                publisher.publish(name, f"{i:02d}".encode())
        # Ten publishes wait for acks that cannot come; the eleventh stalls and a resync
        # starts, which decides what it owes (the latest per subject).
        await _until(lambda: publisher.superseded > 0)
        await asyncio.to_thread(server.start)  # same store, same port
        await asyncio.wait_for(publisher.drained(), WAIT_S)
        assert publisher.failed == 0, publisher.stats()
        for name in names:
            stored = await _stored(js, name)
            assert stored == sorted(set(stored)), f"{name}: out of order or twice: {stored}"
            assert stored[-1] == b"20", stored
        await nc.close()
    finally:
        server.stop()
