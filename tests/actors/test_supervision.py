"""Supervision: a poison message is dead-lettered and its chain rebuilt from snapshot +
replay; an actor that dies in a tell handler is restarted; too many restarts escalate."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import msgspec
import nats
import pytest

from actors import subjects
from actors.chain_actor import ChainActor
from actors.commands import ApplyChain, Recompute
from actors.feeds.market import FeedMessage
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.streams import ensure_streams
from tests.actors.reference import replay
from tests.conftest import WAIT_S, feed_last_seq, test_settings, wait_handled, wait_summary
from tests.feeding import market, publish, session

POISON_VOLUME = 999_999_999


class FragileChainActor(ChainActor):
    """Raises on any row whose volume is POISON_VOLUME, and once in a Recompute when asked."""

    crash_next_recompute = threading.Event()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ApplyChain) and any(
            q.volume == POISON_VOLUME for q in message.feed.quotes
        ):
            raise RuntimeError("poison row")
        if isinstance(message, Recompute) and self.crash_next_recompute.is_set():
            self.crash_next_recompute.clear()
            raise RuntimeError("crash in a tell handler")
        return super().on_receive(message)


def _poison(m: FeedMessage) -> FeedMessage:
    payload = dict(m.payload)
    payload["quotes"] = [dict(payload["quotes"][0], volume=POISON_VOLUME)]
    return FeedMessage(m.subject, payload)


async def _start(url: str, **overrides: Any) -> ActorHost:
    host = ActorHost(
        test_settings(url, **overrides), DEFAULT_PRODUCTS, chain_actor=FragileChainActor
    )
    await host.start()
    return host


async def _service(url: str, endpoint: str, body: dict[str, Any]) -> Any:
    nc = await nats.connect(url)
    try:
        reply = await nc.request(
            subjects.service_subject(endpoint), msgspec.json.encode(body), timeout=10
        )
        return msgspec.json.decode(reply.data)
    finally:
        await nc.close()


async def test_a_poison_message_is_dead_lettered_and_only_its_chain_is_rebuilt(
    nats_server: NatsServer,
) -> None:
    m = market(("NIFTY",), weekly=1, monthly=1, rows_per_batch=4)
    messages = session(m, steps=30)
    victim, bystander = (c.expiry.isoformat() for c in m.chains["NIFTY"])
    at = next(
        i
        for i, x in enumerate(messages)
        if i > 40 and x.payload.get("expiry") == victim and ".quotes." in x.subject
    )
    fed = [*messages[:at], _poison(messages[at]), *messages[at:]]
    host = await _start(nats_server.url)
    try:
        await publish(nats_server.url, fed[:at])
        await wait_handled(host, at)
        assert host.supervisor is not None
        bystander_ref = host.supervisor.chains[("NIFTY", bystander)]
        await publish(nats_server.url, fed[at:])
        await wait_handled(host, await feed_last_seq(nats_server.url))

        assert host.supervisor.restart_count == 1
        assert host.supervisor.chains[("NIFTY", bystander)] is bystander_ref  # untouched
        assert host.ingress is not None and host.ingress.rejected["actor_failed"] == 1
        health = await _service(nats_server.url, "health", {})
        assert health["healthy"] is True and health["restarts"] == 1

        # the rebuilt chain equals one that never saw the poison message
        ref = replay(messages, "NIFTY", victim)
        got = await _service(nats_server.url, "chain", {"product": "NIFTY", "expiry": victim})
        assert got["strikes"] == ref.strikes()
        assert got["calls"]["volume"] == [v or 0 for v in ref.column("C", "volume")]
        assert got["puts"]["oi"] == [v or 0 for v in ref.column("P", "oi")]
    finally:
        await host.stop()


async def test_an_actor_that_dies_in_a_tell_handler_is_restarted_from_its_snapshot(
    nats_server: NatsServer,
) -> None:
    m = market(("NIFTY",), weekly=1, monthly=0, rows_per_batch=4)
    messages = session(m, steps=20)
    expiry = m.chains["NIFTY"][0].expiry.isoformat()
    host = await _start(nats_server.url)
    try:
        await publish(nats_server.url, messages[:10])
        await wait_handled(host, 10)
        await host.checkpoint()
        assert host.supervisor is not None
        before = host.supervisor.chains[("NIFTY", expiry)]
        FragileChainActor.crash_next_recompute.set()
        await publish(nats_server.url, messages[10:])
        await wait_handled(host, len(messages))
        nc = await nats.connect(nats_server.url)
        try:
            final = await wait_summary(nc, "NIFTY", expiry, len(messages))
        finally:
            await nc.close()
        ref = replay(messages, "NIFTY", expiry)
        got = await _service(nats_server.url, "chain", {"product": "NIFTY", "expiry": expiry})
        assert host.supervisor.restart_count == 1
        assert host.supervisor.chains[("NIFTY", expiry)] is not before
        assert final["stream_seq"] == len(messages)
        assert got["calls"]["oi"] == [v or 0 for v in ref.column("C", "oi")]
    finally:
        FragileChainActor.crash_next_recompute.clear()
        await host.stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("dlq", ["present", "missing_at_first"])
async def test_too_many_restarts_escalate_and_the_chains_messages_reach_the_dlq(
    nats_server: NatsServer, dlq: str
) -> None:
    m = market(("NIFTY",), weekly=1, monthly=1, rows_per_batch=4)
    messages = session(m, steps=4)
    victim, healthy = (c.expiry.isoformat() for c in m.chains["NIFTY"])
    quotes = [x for x in messages if x.payload.get("expiry") == victim and ".quotes." in x.subject]
    host = await _start(nats_server.url, restart_max=2, max_deliver=2, ack_wait_s=1.0)
    nc = await nats.connect(nats_server.url)
    try:
        max_delivered: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

        async def on_dead(msg: Any) -> None:  # every attempt, stored or not (core delivery)
            headers = dict(msg.headers or {})
            if headers.get("Deltastream-Reason") == "max_deliveries" and not max_delivered.done():
                max_delivered.set_result(headers)

        await nc.subscribe("deltastream.dlq.>", cb=on_dead)
        await nc.flush()
        await publish(nats_server.url, messages)
        await wait_handled(host, len(messages))
        # three poison messages, one at a time: two restarts are allowed, the third escalates
        for i in range(1, 4):
            await publish(nats_server.url, [_poison(quotes[0])])
            await wait_handled(host, len(messages) + i)
        health = await _service(nats_server.url, "health", {})
        assert health["healthy"] is False
        assert health["chains_down"] == [f"NIFTY/{victim}"]
        assert "restarts" in health["escalation"]

        # the down chain's next message is retried, then dead-lettered after max_deliver
        js = nc.jetstream()
        if dlq == "missing_at_first":  # FEED will not deliver it again: the DLQ copy must land
            await js.delete_stream(subjects.DLQ_STREAM)
        await publish(nats_server.url, [quotes[1]])
        last = await feed_last_seq(nats_server.url)
        headers = await asyncio.wait_for(max_delivered, WAIT_S)
        assert headers["Deltastream-Subject"] == subjects.feed_quotes("NIFTY", victim)
        if dlq == "missing_at_first":
            await ensure_streams(js, host.settings)  # as the next host start would
        stored = await js.subscribe(subjects.dlq(">"), ordered_consumer=True)
        letter = await stored.next_msg(timeout=WAIT_S)
        while dict(letter.headers or {})["Deltastream-Reason"] != "max_deliveries":
            letter = await stored.next_msg(timeout=WAIT_S)  # past the poison messages' letters
        assert msgspec.json.decode(letter.data) == quotes[1].payload  # byte for byte's content
        ingress = host.workers[0].ingress
        assert ingress is not None
        assert (ingress.dead_letter_retries > 0) is (dlq == "missing_at_first")
        # Dead-lettered counts as handled: the checkpoint's watermark moves past it, so a
        # restart does not replay from there.
        async with asyncio.timeout(WAIT_S), ingress.batch_done:
            await ingress.batch_done.wait_for(lambda: ingress.watermark >= last)
        assert ingress.redelivered >= 1  # it was delivered max_deliver = 2 times
        assert ingress.stats()["redelivered"] == ingress.redelivered

        # the healthy chain still serves
        summary = await _service(
            nats_server.url, "summary", {"product": "NIFTY", "expiry": healthy}
        )
        assert summary["expiry"] == healthy

        # a day after the victim's expiry (by the feed's clock) it retires, down or not
        victim_expires = DEFAULT_PRODUCTS["NIFTY"].expires_ns(dt.date.fromisoformat(victim))
        tick = {"ts": victim_expires + 86400 * 10**9, "product": "NIFTY", "price": 26000.0}
        seq = (await js.publish(subjects.feed_underlying("NIFTY"), msgspec.json.encode(tick))).seq
        await wait_handled(host, seq)
        health = await _service(nats_server.url, "health", {})
        assert health["chains_down"] == [] and health["chains_retired"] == 1
    finally:
        await nc.close()
        await host.stop()
