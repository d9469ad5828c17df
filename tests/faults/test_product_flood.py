"""10,000 distinct fake products: the live-chain cap (``DELTASTREAM_MAX_CHAINS``) bounds what
the actor host and the edge hold per key, everything past it is dead-lettered as
``too_many_chains``, and the real product keeps being served."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import msgspec
import nats
import pytest
from prometheus_client import REGISTRY

from actors import subjects
from actors.feeds.market import FeedMessage
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.settings import Settings
from edge.server import serve
from tests.conftest import WAIT_S, feed_last_seq, test_settings, wait_handled, wait_summary
from tests.edge.sio import recorder
from tests.feeding import START_NS, STEP_NS, market, publish, session

CAP = 200  # the default of DELTASTREAM_MAX_CHAINS
FAKE_TICKS = 7_000  # products that only ever send an underlying tick
FAKE_CHAINS = 3_000  # products that send a chain of their own
EXPIRY = "2026-12-29"


def _fake_tick(i: int) -> FeedMessage:
    name = f"FAKE{i:05d}"
    return FeedMessage(
        subjects.feed_underlying(name), {"ts": START_NS, "product": name, "price": 100.0 + i}
    )


def _fake_quotes(name: str) -> FeedMessage:
    body = {
        "ts": START_NS,
        "product": name,
        "expiry": EXPIRY,
        "quotes": [{"strike": 100.0, "right": "C", "bid": 1.0, "ask": 1.5, "oi": 10}],
    }
    return FeedMessage(subjects.feed_quotes(name, EXPIRY), body)


@dataclass
class System:
    settings: Settings
    host: ActorHost
    url: str


@pytest.fixture
async def system(nats_server: NatsServer) -> AsyncIterator[System]:
    settings = test_settings(nats_server.url, max_chains=CAP, http_port=0)
    assert Settings().max_chains == CAP
    host = ActorHost(settings, DEFAULT_PRODUCTS)
    await host.start()
    stop, ready, bound = asyncio.Event(), asyncio.Event(), []
    task = asyncio.create_task(serve(settings, stop=stop, ready=ready, bound=bound))
    try:
        await asyncio.wait_for(ready.wait(), WAIT_S)
        yield System(settings, host, f"http://127.0.0.1:{bound[0]}")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, WAIT_S)
        await host.stop()


def _label_sets(prefix: str) -> dict[str, int]:
    """Metric name → number of distinct label sets, for the process-wide registry."""
    counts: dict[str, int] = {}
    for family in REGISTRY.collect():
        if family.name.startswith(prefix):
            counts[family.name] = len({tuple(sorted(s.labels.items())) for s in family.samples})
    return counts


async def test_ten_thousand_fake_products_hit_the_cap_and_the_real_one_is_still_served(
    system: System, nats_server: NatsServer
) -> None:
    host, url = system.host, nats_server.url
    sup, ingress = host.supervisor, host.ingress
    assert sup is not None and ingress is not None
    m = market(("NIFTY",))
    real = session(m, steps=2)
    await publish(url, real)
    await wait_handled(host, len(real))
    threads_before = threading.active_count()
    metrics_before = _label_sets("deltastream_")

    # Ticks first: they fill the product cap; then chains of products never seen before
    # (refused at the product cap); then chains of the fake products that did start.
    flood = [_fake_tick(i) for i in range(FAKE_TICKS)]
    flood += [_fake_quotes(f"FAKEQ{i:05d}") for i in range(FAKE_CHAINS)]
    flood += [_fake_quotes(f"FAKE{i:05d}") for i in range(CAP + 50)]
    assert len({msg.payload["product"] for msg in flood}) == FAKE_TICKS + FAKE_CHAINS
    await publish(url, flood)
    await wait_handled(host, await feed_last_seq(url), timeout_s=300)

    n_products, n_chains = len(sup.product_refs), len(sup.chains)
    assert n_products == CAP and n_chains == CAP
    refused = len(flood) - (n_products - 1) - (n_chains - 3)
    assert ingress.rejected == {"too_many_chains": refused}, ingress.stats()
    # Nothing sat in the host long enough to be redelivered (the pull's back-pressure).
    assert ingress.redelivered == 0, ingress.stats()
    nc = await nats.connect(url)
    try:
        dlq = await nc.jetstream().stream_info(subjects.DLQ_STREAM)
        assert dlq.state.messages == refused
        last = await nc.jetstream().get_msg(subjects.DLQ_STREAM, subject="deltastream.dlq.>")
        assert (last.headers or {})["Deltastream-Reason"] == "too_many_chains"
        assert "cap of 200" in (last.headers or {})["Deltastream-Detail"]

        # Bounded: nothing the host or the edge keeps per key outgrew the cap.
        assert len(sup.chain_specs) <= CAP
        assert len(sup._locks) <= n_products + n_chains, len(sup._locks)
        assert not sup.poison and not sup.down and not sup.products_down
        assert threading.active_count() <= threads_before + (CAP - 1) + (CAP - 3) + 8
        metrics_after = _label_sets("deltastream_")
        for name, count in metrics_after.items():
            assert count <= max(metrics_before.get(name, 0), 1) + 12, (name, count)

        async with httpx.AsyncClient(base_url=system.url, timeout=WAIT_S) as http:
            for i in range(0, 10_000, 97):  # REST on fake names: 404, one route label
                r = await http.get(f"/api/data/chain/FAKEQ{i:05d}")
                assert r.status_code == 404, r.text
            products = (await http.get("/api/data/products")).json()["products"]
            assert len(products) == CAP
            metrics = (await http.get("/metrics")).text
        routes = {
            line.split('route="')[1].split('"')[0]
            for line in metrics.splitlines()
            if line.startswith("deltastream_edge_http_request_seconds_count")
        }
        assert routes <= {"/api/data/chain/{product}", "/api/data/products", "/metrics"}, routes

        async with recorder(system.url) as rec:  # rooms only for live products
            ack = await rec.client.call("subscribe", {"room": "product:FAKEQ00001"}, timeout=10)
            assert ack["error"] == "unknown_product"
            ack = await rec.client.call("subscribe", {"room": "chain:NIFTY"}, timeout=10)
            assert ack["ok"] is True

            # The real product is still served: a new market step reaches its analytics.
            step = list(m.step(START_NS + 3 * STEP_NS))
            await publish(url, step)
            last_seq = await feed_last_seq(url)
            await wait_handled(host, last_seq)
            expiry = step[-1].payload["expiry"]
            summary = await wait_summary(nc, "NIFTY", expiry, last_seq)
            live = await rec.next(
                "chain_summary",
                where=lambda d: d["expiry"] == expiry and d["stream_seq"] == last_seq,
            )
            assert live["seq"] == summary["seq"]
        health = host.health()
        assert health["healthy"] is True and health["restarts"] == 0
        reply = await nc.request(
            subjects.service_subject("summary"),
            msgspec.json.encode({"product": "NIFTY", "expiry": expiry}),
            timeout=WAIT_S,
        )
        assert msgspec.json.decode(reply.data)["stream_seq"] == last_seq
    finally:
        await nc.close()


def _strikes_message(kind: str, first: int, n: int, *, ts_offset: int = 0) -> FeedMessage:
    body = {
        "ts": START_NS + ts_offset,
        "product": "WIDE",
        "expiry": EXPIRY,
        "quotes": [
            {"strike": float(first + i), "right": "P", "bid": 1.0, "ask": 2.0} for i in range(n)
        ],
    }
    return FeedMessage(f"deltastream.feed.{kind}.WIDE.{EXPIRY}", body)


async def test_one_chain_cannot_grow_past_the_strike_cap(nats_server: NatsServer) -> None:
    cap = 500
    host = ActorHost(test_settings(nats_server.url, max_strikes=cap), DEFAULT_PRODUCTS)
    await host.start()
    nc = await nats.connect(nats_server.url)
    try:
        sup, ingress = host.supervisor, host.ingress
        assert sup is not None and ingress is not None
        messages = [
            _strikes_message("quotes", 1, 400),  # 400 strikes: fine
            _strikes_message("quotes", 401, 400),  # 800: refused, nothing applied
            _strikes_message("quotes", 201, 300, ts_offset=1),  # 100 new: 500, at the cap
            _strikes_message("quotes", 1, 10, ts_offset=2),  # known strikes only: fine
            _strikes_message("chain", 1, 501),  # a snapshot of 501: refused
            _strikes_message("quotes", 501, 1),  # one more: refused
        ]
        await publish(nats_server.url, messages)
        await wait_handled(host, len(messages))
        assert dict(ingress.rejected) == {"too_many_strikes": 3}, ingress.stats()
        key = ("WIDE", EXPIRY)
        reply = await nc.request(
            subjects.service_subject("chain"),
            msgspec.json.encode({"product": "WIDE", "expiry": EXPIRY}),
            timeout=WAIT_S,
        )
        chain = msgspec.json.decode(reply.data)
        assert chain["strikes"] == [float(k) for k in range(1, 501)]
        assert chain["stream_seq"] == 4
        letter = await nc.jetstream().get_msg(
            subjects.DLQ_STREAM, subject=f"deltastream.dlq.feed.quotes.WIDE.{EXPIRY}"
        )
        headers = letter.headers or {}
        assert headers["Deltastream-Reason"] == "too_many_strikes"
        assert "cap is 500" in headers["Deltastream-Detail"]

        # A rebuild replays FEED through the refused messages: they are refused again, and
        # that is no reason to give up on the chain.
        ok = await sup.restart_chain(
            key, through_seq=len(messages), poison=set(), failed_ref=sup.chains[key]
        )
        assert ok and sup.restart_count == 1 and key not in sup.down
        reply = await nc.request(
            subjects.service_subject("chain"),
            msgspec.json.encode({"product": "WIDE", "expiry": EXPIRY}),
            timeout=WAIT_S,
        )
        assert msgspec.json.decode(reply.data)["strikes"] == chain["strikes"]
    finally:
        await nc.close()
        await host.stop()
