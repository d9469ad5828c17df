"""Queued updates for one chain coalesce into one recompute and one publish."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import msgspec
import nats

from actors import subjects
from actors.chain_actor import ChainActor
from actors.chain_book import ChainBook
from actors.commands import ApplyChain, GetSummary
from actors.futures import ask
from actors.host import ActorHost
from actors.messages import decode_chain_feed
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.publisher import Publisher
from actors.streams import ensure_streams
from tests.conftest import WAIT_S, test_settings, wait_handled, wait_summary
from tests.feeding import market, publish, session


class _Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


class GatedChainActor(ChainActor):
    """Holds its thread on a ``_Gate`` message until the test releases it."""

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Gate):
            message.entered.set()
            message.release.wait(WAIT_S)
            return None
        return super().on_receive(message)


async def test_n_updates_queued_behind_a_busy_actor_publish_one_summary_reflecting_all(
    nats_server: NatsServer,
) -> None:
    m = market(("NIFTY",), weekly=0, monthly=1, rows_per_batch=4)
    messages = [x for x in session(m, steps=25) if ".underlying." not in x.subject]
    expiry = messages[0].payload["expiry"]
    nc = await nats.connect(nats_server.url)
    got: list[dict[str, Any]] = []
    received = asyncio.Event()

    async def on_summary(msg: Any) -> None:
        got.append(msgspec.json.decode(msg.data))
        received.set()

    await nc.subscribe(subjects.analytics_summary("NIFTY", expiry), cb=on_summary)
    publisher = Publisher(nc, asyncio.get_running_loop())
    ref = GatedChainActor.start(
        ChainBook(DEFAULT_PRODUCTS["NIFTY"], m.chains["NIFTY"][0].expiry),
        publisher=publisher,
        product_ref=None,
        publish_floor=0,
        chain_interval_ns=10**12,
        surface_interval_ns=10**12,
    )
    try:
        gate = _Gate()
        ref.tell(gate)
        assert await asyncio.to_thread(gate.entered.wait, WAIT_S)
        replies = [
            ask(
                ref,
                ApplyChain(
                    feed=decode_chain_feed(msgspec.json.encode(x.payload)),
                    stream_seq=i,
                    replace=".chain." in x.subject,
                ),
            )
            for i, x in enumerate(messages, 1)
        ]
        gate.release.set()
        assert all(await asyncio.gather(*replies))
        await asyncio.wait_for(received.wait(), WAIT_S)
        await nc.flush()
        # a second summary would have been published right behind the first one
        assert (
            await ask(
                ref,
                ApplyChain(
                    feed=decode_chain_feed(msgspec.json.encode(messages[-1].payload)),
                    stream_seq=len(messages),
                    replace=False,
                ),
            )
            is False
        )
        await publisher.drained()
        await nc.flush()
    finally:
        ref.stop()
        await nc.close()
    assert len(got) == 1
    assert got[0]["seq"] == len(messages)
    assert got[0]["stream_seq"] == len(messages)


async def test_a_burst_through_the_pipeline_publishes_at_most_one_summary_per_update(
    nats_server: NatsServer,
) -> None:
    m = market(("NIFTY",), weekly=0, monthly=1, rows_per_batch=4)
    messages = session(m, steps=60)
    expiry = m.chains["NIFTY"][0].expiry.isoformat()
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream(), test_settings(nats_server.url))
    await publish(nats_server.url, messages)  # the whole burst waits in FEED
    host = ActorHost(test_settings(nats_server.url), DEFAULT_PRODUCTS)
    await host.start()
    try:
        await wait_handled(host, len(messages))
        last = await wait_summary(nc, "NIFTY", expiry, len(messages))
        info = await nc.jetstream().stream_info(
            subjects.ANALYTICS_STREAM, subjects_filter=subjects.analytics_summary("NIFTY", expiry)
        )
    finally:
        await host.stop()
        await nc.close()
    updates = len(messages) - 1  # every message but the first tick touches the chain
    published = info.state.subjects[subjects.analytics_summary("NIFTY", expiry)]
    assert published <= updates
    assert last["seq"] == updates and last["stream_seq"] == len(messages)


async def test_a_recompute_with_updates_queued_behind_it_waits_for_them(
    nats_server: NatsServer,
) -> None:
    m = market(("NIFTY",), weekly=0, monthly=1, rows_per_batch=4)
    messages = [x for x in session(m, steps=3) if ".underlying." not in x.subject]
    expiry = messages[0].payload["expiry"]
    nc = await nats.connect(nats_server.url)
    got: list[dict[str, Any]] = []
    received = asyncio.Event()

    async def on_summary(msg: Any) -> None:
        got.append(msgspec.json.decode(msg.data))
        received.set()

    def apply(i: int) -> asyncio.Future[Any]:
        feed = decode_chain_feed(msgspec.json.encode(messages[i - 1].payload))
        return ask(ref, ApplyChain(feed=feed, stream_seq=i, replace=i == 1))

    await nc.subscribe(subjects.analytics_summary("NIFTY", expiry), cb=on_summary)
    publisher = Publisher(nc, asyncio.get_running_loop())
    ref = GatedChainActor.start(
        ChainBook(DEFAULT_PRODUCTS["NIFTY"], m.chains["NIFTY"][0].expiry),
        publisher=publisher,
        product_ref=None,
        publish_floor=0,
        chain_interval_ns=10**12,
        surface_interval_ns=10**12,
    )
    try:
        # The inbox becomes [gate, update 1, gate 2]; update 1 queues its Recompute behind
        # gate 2, and while the actor waits there the rest arrive behind the Recompute.
        first, second = _Gate(), _Gate()
        ref.tell(first)
        assert await asyncio.to_thread(first.entered.wait, WAIT_S)
        replies = [apply(1)]
        ref.tell(second)
        first.release.set()
        assert await asyncio.to_thread(second.entered.wait, WAIT_S)
        replies += [apply(i) for i in range(2, len(messages) + 1)]
        second.release.set()
        assert all(await asyncio.gather(*replies))
        await asyncio.wait_for(received.wait(), WAIT_S)
        await ask(ref, GetSummary())  # anything still queued has run
        await publisher.drained()
        await nc.flush()
    finally:
        ref.stop()
        await nc.close()
    assert [s["stream_seq"] for s in got] == [len(messages)]
