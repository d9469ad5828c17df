"""A batch's commands reach each actor as one trip (``ApplyBatch``) and every message keeps
its own outcome; a chain that has applied nothing is neither snapshotted nor restored."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, ClassVar

import msgspec
import nats

from actors import subjects
from actors.chain_actor import ChainActor
from actors.chain_book import ChainBook
from actors.commands import ApplyBatch
from actors.futures import BridgedActor, ask
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.streams import ensure_streams
from tests.actors.reference import replay
from tests.conftest import WAIT_S, test_settings, wait_handled, wait_summary
from tests.feeding import market, publish, session


class _Doubler(BridgedActor):
    """Doubles a number, refuses a negative one; a tuple is a batch of them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, tuple):
            return self.each(message)
        if message == "seen":
            return list(self.seen)
        if message < 0:
            raise ValueError(f"negative: {message}")
        self.seen.append(message)
        return message * 2


async def test_each_item_of_a_trip_gets_its_own_outcome_and_a_failure_stops_nothing() -> None:
    ref = _Doubler.start()
    try:
        outcomes = await ask(ref, (1, -2, 3))
        assert outcomes[0] == 2 and outcomes[2] == 6
        assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "negative: -2"
        assert await ask(ref, "seen") == [1, 3]  # the item after the failure was handled
        assert ref.is_alive()
    finally:
        ref.stop()


class CountingChainActor(ChainActor):
    """Records how many commands each trip carried (every instance, one list)."""

    trips: ClassVar[list[int]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ApplyBatch):
            with self.lock:
                self.trips.append(len(message.items))
        return super().on_receive(message)


async def test_a_backlog_reaches_its_chain_in_trips_and_ends_on_the_reference_state(
    nats_server: NatsServer,
) -> None:
    m = market(("NIFTY",), weekly=0, monthly=1, rows_per_batch=4)
    messages = session(m, steps=60)
    expiry = m.chains["NIFTY"][0].expiry
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream(), test_settings(nats_server.url))
    await publish(nats_server.url, messages)  # the whole backlog waits in FEED
    CountingChainActor.trips.clear()
    host = ActorHost(
        test_settings(nats_server.url, fetch_batch=16),
        DEFAULT_PRODUCTS,
        chain_actor=CountingChainActor,
    )
    await host.start()
    try:
        await wait_handled(host, len(messages))
        last = await wait_summary(nc, "NIFTY", expiry.isoformat(), len(messages))
        reply = await nc.request(
            subjects.service_subject("chain"),
            msgspec.json.encode({"product": "NIFTY", "expiry": expiry.isoformat()}),
            timeout=WAIT_S,
        )
        got = msgspec.json.decode(reply.data)
    finally:
        await host.stop()
        await nc.close()
    updates = len(messages) - 1  # every message but the first tick touches the chain
    # Every update went to the chain exactly once, and trips carried several at a time
    # (a tick and the quotes behind it, or a fetched batch's share): with one ask per
    # message every trip would carry one.
    assert sum(CountingChainActor.trips) == updates
    assert max(CountingChainActor.trips) > 1
    assert len(CountingChainActor.trips) < updates
    assert last["seq"] == updates and last["stream_seq"] == len(messages)
    ref = replay(messages, "NIFTY", expiry.isoformat())
    assert got["strikes"] == ref.strikes()
    for right, side in (("C", "calls"), ("P", "puts")):
        assert got[side]["oi"] == [v or 0 for v in ref.column(right, "oi")]
        assert got[side]["volume"] == [v or 0 for v in ref.column(right, "volume")]


async def test_a_chain_that_applied_nothing_is_neither_snapshotted_nor_restored(
    nats_server: NatsServer,
) -> None:
    spec = DEFAULT_PRODUCTS["NIFTY"]
    expiry = dt.date.today() + dt.timedelta(days=30)
    untouched = dt.date.today() + dt.timedelta(days=60)
    host = ActorHost(test_settings(nats_server.url), DEFAULT_PRODUCTS)
    await host.start()
    try:
        assert host.supervisor is not None and host.store is not None
        # Started, its first message not yet handed to it: what a batch's first sight of a
        # chain looks like while the batch is still being validated.
        await host.supervisor.chain(spec, expiry)
        await host.checkpoint()
        assert await host.store.load_chain(spec.name, expiry) is None
        # An empty snapshot in KV (as an older version could write) is not restored either.
        assert await host.store.save_chain(ChainBook(spec, untouched).to_snapshot())
    finally:
        await host.stop()
    again = ActorHost(test_settings(nats_server.url), DEFAULT_PRODUCTS)
    await again.start()
    try:
        assert again.supervisor is not None
        assert again.supervisor.chains == {}
    finally:
        await again.stop()
