"""A full FEED drops its oldest messages and keeps taking the live feed; what that costs an
ingress that is behind, or a partition restarted from an old checkpoint, is reported."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.js.api import DiscardPolicy
from prometheus_client import REGISTRY

from actors import subjects
from actors.feed_watch import FeedWatch
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.settings import Settings
from actors.streams import ensure_ingress_consumer, ensure_streams, feed_config
from tests.conftest import feed_last_seq, test_settings, wait_handled
from tests.feeding import START_NS, STEP_NS, market, publish, session

FEED_BYTES = 64 * 1024  # a few hundred messages of the test market


def _missed(partition: int) -> float:
    value = REGISTRY.get_sample_value(
        "deltastream_feed_missed_total", {"partition": str(partition)}
    )
    return value or 0.0


async def _feed_state(nc: Any) -> Any:
    return (await nc.jetstream().stream_info(subjects.FEED_STREAM)).state


@pytest.fixture
async def small_feed(nats_server: NatsServer) -> AsyncIterator[tuple[Settings, Any]]:
    """Settings with a FEED of ``FEED_BYTES``, and a connection (no streams made yet)."""
    nc = await nats.connect(nats_server.url)
    try:
        yield test_settings(nats_server.url, feed_max_bytes=FEED_BYTES), nc
    finally:
        await nc.close()


async def test_a_full_feed_drops_its_oldest_messages_and_keeps_taking_the_feed(
    small_feed: tuple[Settings, Any],
) -> None:
    settings, nc = small_feed
    js = nc.jetstream()
    # A FEED made by an earlier version (discard new) is switched over at start-up.
    await js.add_stream(dataclasses.replace(feed_config(settings), discard=DiscardPolicy.NEW))
    await ensure_streams(js, settings)
    info = await js.stream_info(subjects.FEED_STREAM)
    assert info.config.discard == DiscardPolicy.OLD
    messages = session(market(), steps=80)
    await publish(settings.nats_url, messages)  # asserts that every publish was stored
    state = await _feed_state(nc)
    assert state.last_seq == len(messages)
    assert state.first_seq > 1 and state.bytes <= FEED_BYTES


async def test_lag_and_messages_dropped_before_the_ingress_read_them_are_reported(
    small_feed: tuple[Settings, Any],
) -> None:
    settings, nc = small_feed
    js = nc.jetstream()
    await ensure_streams(js, settings)
    durable = await ensure_ingress_consumer(js, settings, start_seq=1)
    watch = FeedWatch(js, durable=durable, partition=0, partitions=1)
    m = market()
    opening = list(m.open())
    await publish(settings.nats_url, opening)
    await watch.check()
    state = await _feed_state(nc)
    assert watch.lag_messages == len(opening) == state.messages
    assert watch.lag_share == state.bytes / FEED_BYTES < 0.5
    assert not watch.gaps and watch.warnings() == []

    before = _missed(0)
    later = [x for i in range(1, 81) for x in m.step(START_NS + i * STEP_NS)]
    await publish(settings.nats_url, later)  # nobody reads: FEED drops the opening
    state = await _feed_state(nc)
    assert state.first_seq > 1
    await watch.check()
    assert list(watch.gaps) == [(1, state.first_seq - 1)]
    assert _missed(0) - before == state.first_seq - 1
    assert watch.lag_share > 0.9  # everything FEED holds is unread
    text = " | ".join(watch.warnings())
    assert f"FEED dropped messages 1-{state.first_seq - 1}" in text
    assert "behind" in text
    await watch.check()  # the same gap is reported once
    assert len(watch.gaps) == 1 and _missed(0) - before == state.first_seq - 1
    # With several partitions the range may be other partitions' messages: lag only.
    shared = FeedWatch(js, durable=durable, partition=0, partitions=2)
    await shared.check_start(1)
    await shared.check()
    assert not shared.gaps and shared.lag_share > 0.9


async def test_a_restart_from_a_checkpoint_older_than_feed_says_what_it_missed(
    small_feed: tuple[Settings, Any],
) -> None:
    settings, nc = small_feed
    url = settings.nats_url
    await ensure_streams(nc.jetstream(), settings)
    m = market()
    await publish(url, session(m, steps=5))
    host = ActorHost(settings, DEFAULT_PRODUCTS)
    await host.start()
    try:
        await wait_handled(host, await feed_last_seq(url))
        assert host.health()["warnings"] == []
    finally:
        await host.stop()  # a graceful stop writes the checkpoint
    checkpoint = await feed_last_seq(url)

    # The host is down while the feed runs on: FEED fills and drops what follows the
    # checkpoint, so the next start cannot replay it.
    await publish(url, [x for i in range(6, 120) for x in m.step(START_NS + i * STEP_NS)])
    first = (await _feed_state(nc)).first_seq
    assert first > checkpoint + 1

    host = ActorHost(settings, DEFAULT_PRODUCTS)
    await host.start()
    try:
        health = host.health()
        assert health["feed"]["gaps"] == [[checkpoint + 1, first - 1]]
        assert any(
            f"FEED dropped messages {checkpoint + 1}-{first - 1}" in w for w in health["warnings"]
        )
        assert health["healthy"] is True  # it runs on with what FEED still has
        await publish(url, list(m.step(START_NS + 120 * STEP_NS)))
        await wait_handled(host, await feed_last_seq(url))
    finally:
        await host.stop()
