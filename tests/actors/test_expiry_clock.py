"""What a product's feed clock passing an expiry changes: a request without an expiry moves
on to the next live one (before, it stayed on the first expiry ever seen, since chains are
kept); ticks no longer re-price the settled chain, which keeps its last state before expiry;
the IV surface and the product-wide PCR leave it out (before, its last smile and OI counted
there for ever); and ``retire_after_s`` later its actor stops (before, every chain ever seen
ran for ever and counted against the live-chain cap)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import nats

from actors import subjects
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from tests.conftest import test_settings, wait_handled, wait_published
from tests.feeding import START_NS

NIFTY = DEFAULT_PRODUCTS["NIFTY"]
NEAR, NEXT = "2026-11-26", "2026-12-03"  # Thursdays after START_NS (2026-11-25 10:00 IST)


async def _publish(js: Any, subject: str, body: dict[str, Any]) -> int:
    return int((await js.publish(subject, msgspec.json.encode(body))).seq)


def _chain(expiry: str, ts: int) -> dict[str, Any]:
    rows = [
        {"strike": 26000.0, "right": r, "bid": 100.0, "ask": 101.0, "oi": 1000, "volume": 10}
        for r in ("C", "P")
    ]
    return {"ts": ts, "product": "NIFTY", "expiry": expiry, "spot": 26000.0, "quotes": rows}


async def _ask(nc: Any, endpoint: str, body: dict[str, Any]) -> Any:
    reply = await nc.request(subjects.service_subject(endpoint), msgspec.json.encode(body), 10)
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data)


async def _tick(js: Any, host: ActorHost, ts: int) -> None:
    body = {"ts": ts, "product": "NIFTY", "price": 26010.0}
    await wait_handled(host, await _publish(js, subjects.feed_underlying("NIFTY"), body))


async def _open(js: Any, host: ActorHost, *, near_put_oi: int = 1000) -> None:
    """NEAR's and NEXT's chains at START_NS, then a tick."""
    for expiry in (NEAR, NEXT):
        body = _chain(expiry, START_NS)
        if expiry == NEAR:
            body["quotes"][1]["oi"] = near_put_oi
        await _publish(js, subjects.feed_chain("NIFTY", expiry), body)
    await _tick(js, host, START_NS + 10**9)


async def _products(nc: Any) -> dict[str, Any]:
    products = await _ask(nc, "products", {})
    return next(p for p in products if p["product"] == "NIFTY")


async def test_the_default_expiry_moves_on_when_the_nearest_expires_by_the_feed_clock(
    analytics_nc: Any, actor_host: ActorHost
) -> None:
    nc = analytics_nc
    js = nc.jetstream()
    await _open(js, actor_host)
    first = await _products(nc)
    assert (first["expiries"], first["live_expiries"], first["nearest_expiry"]) == (
        [NEAR, NEXT],
        [NEAR, NEXT],
        NEAR,
    )
    assert (await _ask(nc, "summary", {"product": "NIFTY"}))["expiry"] == NEAR

    # the feed's clock passes NEAR's expiry instant (15:30 IST): NEXT is the default
    near_expires = NIFTY.expires_ns(dt.date.fromisoformat(NEAR))
    await _tick(js, actor_host, near_expires)
    moved = await _products(nc)
    assert (moved["expiries"], moved["live_expiries"], moved["nearest_expiry"]) == (
        [NEAR, NEXT],
        [NEXT],
        NEXT,
    )
    assert (await _ask(nc, "summary", {"product": "NIFTY"}))["expiry"] == NEXT
    # the settled chain answers by name with its last state before expiry: the tick at
    # its expiry instant re-priced only NEXT
    settled = await _ask(nc, "summary", {"product": "NIFTY", "expiry": NEAR})
    assert (settled["expiry"], settled["ts"]) == (NEAR, START_NS + 10**9)
    nxt = await _ask(nc, "summary", {"product": "NIFTY", "expiry": NEXT})
    assert nxt["ts"] == near_expires

    # every chain expired (NEAR retired by now, a day after its expiry): the latest one
    await _tick(js, actor_host, NIFTY.expires_ns(dt.date.fromisoformat(NEXT)))
    done = await _products(nc)
    assert (done["live_expiries"], done["nearest_expiry"]) == ([], NEXT)
    assert (await _ask(nc, "summary", {"product": "NIFTY"}))["expiry"] == NEXT


async def test_a_settled_expiry_leaves_the_surface_and_the_product_pcr(
    analytics_nc: Any, actor_host: ActorHost
) -> None:
    nc = analytics_nc
    js = nc.jetstream()
    # NEAR's puts: the product PCR shows whether NEAR counts
    await _open(js, actor_host, near_put_oi=9000)
    surface = subjects.analytics_surface("NIFTY")
    both = await wait_published(nc, surface, lambda b: len(b["expiries"]) == 2)
    assert both["pcr_oi"] == (9000 + 1000) / (1000 + 1000)

    await _tick(js, actor_host, NIFTY.expires_ns(dt.date.fromisoformat(NEAR)))
    after = await _ask(nc, "surface", {"product": "NIFTY"})
    assert [s["expiry"] for s in after["expiries"]] == [NEXT]
    assert [t["expiry"] for t in after["term_structure"]] == [NEXT]
    assert after["pcr_oi"] == 1.0  # NEXT alone: 1000 puts / 1000 calls
    published = await wait_published(nc, surface, lambda b: len(b["expiries"]) == 1)
    assert published["pcr_oi"] == 1.0


async def test_a_chain_settled_long_enough_is_retired_and_frees_its_place(
    nats_server: NatsServer,
) -> None:
    # retire_after_s 1 h; room for two chains: a third fits only once NEAR is retired
    settings = test_settings(nats_server.url, retire_after_s=3600.0, max_chains=2)
    later = "2026-12-10"
    host = ActorHost(settings, DEFAULT_PRODUCTS)
    await host.start()
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await _open(js, host)
        near_expires = NIFTY.expires_ns(dt.date.fromisoformat(NEAR))
        await _tick(js, host, near_expires + 3599 * 10**9)  # settled, not yet retired
        assert (await _products(nc))["expiries"] == [NEAR, NEXT]

        await _tick(js, host, near_expires + 3600 * 10**9)
        assert (await _products(nc))["expiries"] == [NEXT]
        assert host.health()["chains_retired"] == 1 and host.health()["chains"] == 1
        reply = await nc.request(
            subjects.service_subject("summary"),
            msgspec.json.encode({"product": "NIFTY", "expiry": NEAR}),
            timeout=10,
        )
        assert (reply.headers or {}).get("Nats-Service-Error-Code") == "404"
        ts = near_expires + 3601 * 10**9
        seq = await _publish(js, subjects.feed_chain("NIFTY", later), _chain(later, ts))
        await wait_handled(host, seq)
        assert (await _products(nc))["expiries"] == [NEXT, later]
    finally:
        await nc.close()
        await host.stop()

    # A restart restores the live chains only: NEAR's last state stays in KV, unused.
    again = ActorHost(settings, DEFAULT_PRODUCTS)
    await again.start()
    nc = await nats.connect(nats_server.url)
    try:
        assert (await _products(nc))["expiries"] == [NEXT, later]
        assert again.health()["chains"] == 2
    finally:
        await nc.close()
        await again.stop()
