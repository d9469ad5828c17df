"""nats-server killed (SIGKILL) and restarted on the same port and store in the middle of a
live session: the synthetic feed, the actor host and the edge reconnect by themselves, the
ingress resumes, a Socket.IO client keeps its room without subscribing again, FEED holds
every message the feed sent exactly once, and the final analytics equal an uninterrupted
run over the same FEED.

The lease bucket is in memory, so the restarted server holds no lease: the host's renewal
finds its lease gone and takes the partition back with a new worker, whose ingress starts
from the last checkpoint. The test waits for that before it checks anything (it used to
wait on the stopped ingress when the lease was found gone late: a CI failure)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
from nats.js.api import AckPolicy, ConsumerConfig

from actors import subjects
from actors.feeds.market import FeedMessage
from actors.feeds.synthetic import run_synthetic
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from edge.server import serve
from tests.conftest import WAIT_S, test_settings, wait_handled
from tests.edge.sio import recorder
from tests.feeding import publish
from tests.final_state import strip_volatile

STEPS = 300
STEPS_PER_S = 200.0
KILL_AFTER_SEQ = 700  # of about 6 + 7 * STEPS feed messages


async def _feed_contents(url: str) -> list[FeedMessage]:
    """Every FEED message, in stream order (checking there is no gap)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.add_consumer(
            subjects.FEED_STREAM, ConsumerConfig(ack_policy=AckPolicy.NONE, mem_storage=True)
        )
        sub = await js.pull_subscribe_bind(consumer=info.name, stream=subjects.FEED_STREAM)
        out: list[FeedMessage] = []
        remaining = info.num_pending
        while remaining:
            batch = await sub.fetch(min(500, remaining), timeout=WAIT_S)
            remaining -= len(batch)
            for m in batch:
                assert m.metadata.sequence.stream == len(out) + 1
                out.append(FeedMessage(m.subject, msgspec.json.decode(m.data)))
        return out
    finally:
        await nc.close()


async def _final_state(url: str) -> dict[str, Any]:
    nc = await nats.connect(url)
    try:

        async def ask(endpoint: str, body: dict[str, Any]) -> Any:
            reply = await nc.request(
                subjects.service_subject(endpoint), msgspec.json.encode(body), timeout=WAIT_S
            )
            assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
            return strip_volatile(msgspec.json.decode(reply.data))

        products = await ask("products", {})
        out: dict[str, Any] = {"products": products}
        for p in products:
            name = p["product"]
            for e in p["expiries"]:
                for endpoint in ("summary", "chain", "max_pain"):
                    out[f"{endpoint} {name} {e}"] = await ask(
                        endpoint, {"product": name, "expiry": e}
                    )
            out[f"underlying {name}"] = await ask("underlying", {"product": name})
            out[f"ohlc {name}"] = await ask("ohlc", {"product": name, "interval": "1m"})
        return out
    finally:
        await nc.close()


async def test_nats_killed_and_restarted_mid_stream_loses_nothing(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "js").start()
    # ack_wait: an ack lost with the server comes back as a redelivery this much later.
    settings = test_settings(server.url, http_port=0, ack_wait_s=2.0)
    host = ActorHost(settings, DEFAULT_PRODUCTS)
    stop_edge, ready, bound = asyncio.Event(), asyncio.Event(), []
    edge: asyncio.Task[None] | None = None
    feed: asyncio.Task[int] | None = None
    try:
        await host.start()
        edge = asyncio.create_task(serve(settings, stop=stop_edge, ready=ready, bound=bound))
        await asyncio.wait_for(ready.wait(), WAIT_S)
        edge_url = f"http://127.0.0.1:{bound[0]}"
        feed = asyncio.create_task(
            run_synthetic(
                server.url,
                [DEFAULT_PRODUCTS["NIFTY"]],
                seed=5,
                steps_per_s=STEPS_PER_S,
                rows_per_batch=8,
                steps=STEPS,
            )
        )
        async with recorder(edge_url) as rec:
            # The room is joined once the first chains exist, and never again.
            await wait_handled(host, 10)
            ack = await rec.client.call("subscribe", {"room": "chain:NIFTY"}, timeout=10)
            assert ack["ok"] is True
            await wait_handled(host, KILL_AFTER_SEQ)

            server.stop(kill=True)
            await asyncio.to_thread(server.start)  # same store, same port
            restarted_at = host.ingress.handled_seq if host.ingress else 0
            # The lease is found gone and the partition taken back (see the docstring).
            leases = host.leases
            assert leases is not None
            async with host.partitions_changed:
                await asyncio.wait_for(
                    host.partitions_changed.wait_for(
                        lambda: leases.lost >= 1 and 0 in host.workers
                    ),
                    WAIT_S,
                )

            try:
                sent = await asyncio.wait_for(feed, WAIT_S * 4)
            except TimeoutError:
                raise AssertionError("the feed did not finish after the restart") from None
            # Everything the feed sent is in FEED, once.
            contents = await _feed_contents(server.url)
            assert len(contents) == sent, (len(contents), sent)
            keys = {(m.subject, m.payload["ts"]) for m in contents}
            assert len(keys) == sent, "a message was stored twice"
            try:
                await wait_handled(host, sent, timeout_s=WAIT_S * 2)
            except TimeoutError:
                stats = host.ingress.stats() if host.ingress else None
                raise AssertionError(f"the ingress did not resume: {stats}") from None

            # The client still has its room: live summaries from after the restart arrive.
            after = await rec.next(
                "chain_summary", where=lambda d: d["stream_seq"] > restarted_at + 20
            )
            assert after["product"] == "NIFTY"
            got = await _final_state(server.url)
            async with httpx.AsyncClient(base_url=edge_url, timeout=WAIT_S) as http:
                health = await http.get("/health")
            assert health.status_code == 200, health.text
            assert host.health()["nats_connected"] is True
            assert host.supervisor is not None and host.supervisor.restart_count == 0
    finally:
        if feed is not None and not feed.done():
            feed.cancel()
            with contextlib.suppress(BaseException):
                await feed
        stop_edge.set()
        if edge is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(edge, WAIT_S)
        await host.stop()
        server.stop()

    # The uninterrupted run over the same FEED.
    with NatsServer(tmp_path / "ref") as ref:
        ref_host = ActorHost(test_settings(ref.url), DEFAULT_PRODUCTS)
        await ref_host.start()
        try:
            await publish(ref.url, contents)
            await wait_handled(ref_host, len(contents))
            expected = await _final_state(ref.url)
        finally:
            await ref_host.stop()
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
