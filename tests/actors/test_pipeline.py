"""Feed → FEED → ingress → actors → ANALYTICS and the snapshot service, end to end on a
real nats-server, checked against the pure analytics functions applied independently."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import msgspec
import nats
import numpy as np

from actors import subjects
from actors.analytics import black76, chain, expiry, forward
from actors.feeds.market import FeedMessage
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from tests.actors.reference import replay
from tests.conftest import feed_last_seq, wait_handled, wait_published, wait_summary
from tests.feeding import START_NS, market, publish, session
from tests.final_state import final_seq_per_chain, stored_count


async def _request(url: str, endpoint: str, body: dict[str, object]) -> Any:
    nc = await nats.connect(url)
    try:
        reply = await nc.request(
            subjects.service_subject(endpoint), msgspec.json.encode(body), timeout=10
        )
        assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
        return msgspec.json.decode(reply.data)
    finally:
        await nc.close()


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


async def test_analytics_on_nats_equal_the_pure_functions_on_the_same_feed(
    nats_server: NatsServer, actor_host: ActorHost
) -> None:
    m = market(("NIFTY",), weekly=1, monthly=1, rows_per_batch=6)
    messages = session(m, steps=40)
    await publish(nats_server.url, messages)
    await wait_handled(actor_host, await feed_last_seq(nats_server.url))

    spec = DEFAULT_PRODUCTS["NIFTY"]
    for c in m.chains["NIFTY"]:
        exp = c.expiry.isoformat()
        ref = replay(messages, "NIFTY", exp)
        got = await _request(nats_server.url, "chain", {"product": "NIFTY", "expiry": exp})
        summary = await _request(nats_server.url, "summary", {"product": "NIFTY", "expiry": exp})
        strikes = np.array(ref.strikes())
        assert got["strikes"] == ref.strikes()
        for side, right in (("calls", "C"), ("puts", "P")):
            for f in ("bid", "ask", "ltp", "oi", "volume"):
                expected = ref.column(right, f)
                if f in ("oi", "volume"):
                    expected = [v or 0 for v in expected]
                assert got[side][f] == expected, (side, f)
            first = [ref.first_oi.get((k, right), 0) for k in ref.strikes()]
            oi = [v or 0 for v in ref.column(right, "oi")]
            assert got[side]["oi_change"] == [a - b for a, b in zip(oi, first, strict=True)]

        # forward and time to expiry were fixed at the last underlying tick
        assert ref.pricing is not None
        ts, spot, mids = ref.pricing
        t = expiry.t_years(ts, expiry=c.expiry, expiry_time=spec.expiry_time, tz=spec.tz)
        fwd = forward.implied_forward(
            strikes,
            call_mid=np.array([mids.get((k, "C"), math.nan) for k in ref.strikes()]),
            put_mid=np.array([mids.get((k, "P"), math.nan) for k in ref.strikes()]),
            spot=_nan(spot),
            t_years=t,
            rate=spec.rate,
            dividend_yield=spec.dividend_yield,
        )
        assert got["t_years"] == t
        assert got["forward"] == fwd.forward and got["forward_source"] == fwd.source == "parity"

        now = ref.mids()
        for side, right in (("calls", "C"), ("puts", "P")):
            mid = np.array([now.get((k, right), math.nan) for k in ref.strikes()])
            iv = black76.implied_vol(
                mid,
                forward=fwd.forward,
                strike=strikes,
                t_years=t,
                rate=spec.rate,
                is_call=right == "C",
            )
            g = black76.greeks(
                fwd.forward, strike=strikes, t_years=t, rate=spec.rate, vol=iv, is_call=right == "C"
            )
            np.testing.assert_array_equal(np.array(got[side]["iv"], dtype=float), iv)
            np.testing.assert_array_equal(np.array(got[side]["delta"], dtype=float), g.delta)
            np.testing.assert_array_equal(np.array(got[side]["vega"], dtype=float), g.vega)
            assert np.isfinite(iv).sum() > 0.8 * iv.size

        call_oi = sum(v or 0 for v in ref.column("C", "oi"))
        put_oi = sum(v or 0 for v in ref.column("P", "oi"))
        assert summary["pcr_oi"] == put_oi / call_oi
        mp = chain.max_pain(
            strikes,
            call_oi=np.array([v or 0 for v in ref.column("C", "oi")], dtype=float),
            put_oi=np.array([v or 0 for v in ref.column("P", "oi")], dtype=float),
        )
        assert summary["max_pain"] == mp.strike
        assert summary["atm_strike"] == strikes[chain.atm_index(strikes, fwd.forward)]
        assert summary["stream_seq"] == max(
            i + 1
            for i, msg in enumerate(messages)
            if msg.payload["product"] == "NIFTY" and msg.payload.get("expiry") in (None, exp)
        )

    prices = [msg.payload["price"] for msg in messages if ".underlying." in msg.subject]
    tick = await _request(nats_server.url, "underlying", {"product": "NIFTY"})
    assert (tick["price"], tick["day_open"]) == (prices[-1], prices[0])
    assert (tick["day_high"], tick["day_low"]) == (max(prices), min(prices))


async def test_every_chain_publishes_its_summary_and_the_surface_covers_all_expiries(
    nats_server: NatsServer, actor_host: ActorHost
) -> None:
    m = market(("NIFTY", "BANKNIFTY"), weekly=2, monthly=1)
    await publish(nats_server.url, session(m, steps=5))
    await wait_handled(actor_host, await feed_last_seq(nats_server.url))
    nc = await nats.connect(nats_server.url)
    try:
        for product, chains in m.chains.items():
            for c in chains:
                body = await wait_summary(nc, product, c.expiry.isoformat(), 1)
                assert body["n_strikes"] == c.strikes.size
            n_expiries = len(chains)
            surface = await wait_published(
                nc,
                subjects.analytics_surface(product),
                lambda b: len(b["expiries"]) >= n_expiries,  # noqa: B023  (awaited here)
            )
            assert [s["expiry"] for s in surface["expiries"]] == [
                c.expiry.isoformat() for c in chains
            ]
            assert all(s["atm_iv"] and 0.05 < s["atm_iv"] < 0.5 for s in surface["expiries"])
            assert all(s["svi"] is not None for s in surface["expiries"])
            assert len(surface["term_structure"]) == len(chains)
    finally:
        await nc.close()
    products = await _request(nats_server.url, "products", {})
    listed = {p["product"]: p["expiries"] for p in products}
    assert listed == {p: [c.expiry.isoformat() for c in cs] for p, cs in m.chains.items()}
    assert all(dt.date.fromisoformat(e) for es in listed.values() for e in es)


async def test_analytics_keeps_only_the_latest_enriched_chain_and_surface_but_summary_history(
    nats_server: NatsServer, actor_host: ActorHost
) -> None:
    # Two rounds, each waited for on the stream, so each chain and the surface were
    # published at least twice; a subject that kept history would hold two messages.
    m = market(("NIFTY",), weekly=1, monthly=1)
    messages = session(m, steps=30)
    expiries = [c.expiry.isoformat() for c in m.chains["NIFTY"]]
    final = final_seq_per_chain(messages)
    surface = subjects.analytics_surface("NIFTY")
    nc = await nats.connect(nats_server.url)
    try:
        surface_ns = 0
        half = len(messages) // 2
        for part, upto in ((messages[:half], half), (messages[half:], len(messages))):
            await publish(nats_server.url, part)
            await wait_handled(actor_host, await feed_last_seq(nats_server.url))
            reached = final_seq_per_chain(messages[:upto])
            for exp in expiries:
                seq = reached[subjects.analytics_summary("NIFTY", exp)]
                await wait_published(
                    nc,
                    subjects.analytics_chain("NIFTY", exp),
                    lambda b: b["stream_seq"] >= seq,  # noqa: B023  (awaited here)
                )
                await wait_summary(nc, "NIFTY", exp, seq)
            newer = await wait_published(
                nc,
                surface,
                lambda b: (
                    b["published_ns"] > surface_ns  # noqa: B023  (awaited here)
                    and len(b["expiries"]) == len(expiries)
                ),
            )
            surface_ns = newer["published_ns"]

        js = nc.jetstream()
        for exp in expiries:
            chain_subject = subjects.analytics_chain("NIFTY", exp)
            summary_subject = subjects.analytics_summary("NIFTY", exp)
            assert await stored_count(js, chain_subject) == 1
            assert await stored_count(js, summary_subject) > 1
            kept = await js.get_msg(subjects.ANALYTICS_STREAM, subject=chain_subject, direct=True)
            assert msgspec.json.decode(kept.data)["stream_seq"] == final[summary_subject]
        assert await stored_count(js, surface) == 1
    finally:
        await nc.close()


async def test_bars_on_analytics_are_latest_only_and_the_service_keeps_their_history(
    nats_server: NatsServer, actor_host: ActorHost
) -> None:
    # Ticks every 20 s of feed time for 200 s: the 1m bars of minutes 0, 1 and 2 close.
    ticks = [
        FeedMessage(
            subjects.feed_underlying("NIFTY"),
            {"ts": START_NS + k * 20 * 10**9, "product": "NIFTY", "price": 24000.0 + k},
        )
        for k in range(11)
    ]
    await publish(nats_server.url, ticks)
    await wait_handled(actor_host, await feed_last_seq(nats_server.url))
    minute = 60 * 10**9
    nc = await nats.connect(nats_server.url)
    try:
        subject = subjects.analytics_ohlc("NIFTY", "1m")
        last = await wait_published(nc, subject, lambda b: b["start_ns"] == START_NS + 2 * minute)
        assert (last["open"], last["close"]) == (24006.0, 24008.0)
        assert await stored_count(nc.jetstream(), subject) == 1
    finally:
        await nc.close()
    bars = await _request(
        nats_server.url, "ohlc", {"product": "NIFTY", "interval": "1m", "limit": 10}
    )
    assert [b["start_ns"] for b in bars] == [START_NS + i * minute for i in range(3)]
