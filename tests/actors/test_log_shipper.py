"""Log shipping to the LOGS stream: bounded, never blocking, drop-oldest while NATS is away,
and everything kept is delivered in order once NATS is back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from actors import subjects
from actors.log_shipper import LogShipper
from actors.metrics import LOG_EVENTS_DROPPED, LOG_REGISTRY
from actors.natsserver import NatsServer
from actors.settings import Settings
from actors.streams import ensure_logs_stream, logs_config
from tests.conftest import WAIT_S


def _event(i: int) -> bytes:
    return msgspec.json.encode({"event": "tick", "level": "info", "i": i})


async def _stored(url: str, count: int, subject: str = subjects.LOGS_WILDCARD) -> list[Any]:
    """The first ``count`` events stored in LOGS on ``subject``, waited for."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(subject, stream=subjects.LOGS_STREAM, ordered_consumer=True)
        out = []
        async with asyncio.timeout(WAIT_S):
            while len(out) < count:
                msg = await sub.next_msg(timeout=WAIT_S)
                out.append((msg.subject, json.loads(msg.data)))
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def test_events_offered_while_nats_is_down_arrive_once_it_is_up(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "js").start()
    server.stop()  # the port is known now; nothing listens on it
    shipper = LogShipper(capacity=50)
    await shipper.start(Settings(nats_url=server.url))
    dropped_before = LOG_EVENTS_DROPPED._value.get()
    try:
        for i in range(200):  # returns at once although nothing can be sent
            shipper.offer("feed", _event(i))
        assert shipper.buffered == 50 and shipper.dropped == 150
        assert LOG_EVENTS_DROPPED._value.get() - dropped_before == 150
        server.start()
        try:
            await asyncio.wait_for(shipper.stream_ready.wait(), WAIT_S)
            stored = await _stored(server.url, 50)
            assert [e["i"] for _, e in stored] == list(range(150, 200))  # the newest, in order
            assert {s for s, _ in stored} == {"deltastream.logs.feed"}
            assert shipper.buffered == 0 and shipper.published == 50
        finally:
            await shipper.close()
            server.stop()
    finally:
        await shipper.close()


async def test_shipping_resumes_after_the_server_restarts(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "js").start()
    shipper = LogShipper(capacity=1000)
    try:
        await shipper.start(Settings(nats_url=server.url))
        await asyncio.wait_for(shipper.stream_ready.wait(), WAIT_S)
        shipper.offer("edge", _event(1))
        assert [e["i"] for _, e in await _stored(server.url, 1)] == [1]
        server.stop()
        await asyncio.wait_for(shipper.disconnected.wait(), WAIT_S)
        shipper.offer("edge", _event(2))  # buffered while the server is away
        assert shipper.buffered == 1
        server.start()
        await asyncio.wait_for(shipper.stream_ready.wait(), WAIT_S)
        shipper.offer("edge", _event(3))
        assert [e["i"] for _, e in await _stored(server.url, 3)] == [1, 2, 3]
    finally:
        await shipper.close()
        server.stop()


async def test_close_returns_when_the_connect_swallowed_its_cancellation(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11's ``wait_for`` (inside nats-py's connect) can swallow a cancellation that
    arrives as its inner wait completes: the connect then finishes after all. ``close`` must
    return anyway and close that late connection (it used to wait for the task forever,
    which hung ``deltastream feed replay`` at exit)."""
    real_connect = nats.connect
    connecting = asyncio.Event()
    made: list[Any] = []

    async def swallowing_connect(*args: Any, **kwargs: Any) -> Any:
        connecting.set()
        try:
            await asyncio.Event().wait()  # a connect under way: close() cancels it here...
        except asyncio.CancelledError:
            pass  # ...and, as wait_for may, the cancellation is lost
        made.append(await real_connect(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(nats, "connect", swallowing_connect)
    shipper = LogShipper(capacity=10)
    await shipper.start(Settings(nats_url=nats_server.url))
    await asyncio.wait_for(connecting.wait(), WAIT_S)
    await asyncio.wait_for(shipper.close(timeout_s=1.0), WAIT_S)
    assert len(made) == 1 and made[0].is_closed


async def test_the_logs_stream_is_bounded_as_the_settings_say(nats_server: NatsServer) -> None:
    settings = Settings(nats_url=nats_server.url, logs_max_age_s=3600, logs_max_bytes=8 * 2**20)
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        # Idempotent, also when several processes create it at the same moment.
        await asyncio.gather(*(ensure_logs_stream(js, settings) for _ in range(4)))
        await ensure_logs_stream(js, settings)
        info = await js.stream_info(subjects.LOGS_STREAM)
    finally:
        await nc.close()
    config = info.config
    assert config.subjects == ["deltastream.logs.*"]
    assert config.max_age == 3600 and config.max_bytes == 8 * 2**20
    assert config.discard == logs_config(settings).discard == "old"
    assert config.num_replicas == 1


def test_the_drop_counter_is_exported_in_the_log_registry() -> None:
    names = {m.name for m in LOG_REGISTRY.collect()}
    assert {
        "deltastream_log_events_dropped", "deltastream_log_events_published",
        "deltastream_log_events_buffered",
    } <= names  # fmt: skip


@pytest.mark.parametrize("capacity", [1, 3])
def test_the_buffer_never_holds_more_than_its_capacity(capacity: int) -> None:
    shipper = LogShipper(capacity=capacity)
    for i in range(10):
        shipper.offer("actors", _event(i))
    assert shipper.buffered == capacity and shipper.dropped == 10 - capacity
    assert [json.loads(p)["i"] for _, p in shipper._buffer] == list(range(10 - capacity, 10))
