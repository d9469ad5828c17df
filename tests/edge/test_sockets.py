"""Socket.IO: rooms, snapshots on subscribe, live fan-out, bad payloads, room cap and
per-client conflation for a client that stops reading."""

from __future__ import annotations

import contextlib
import re

import pytest

from actors import subjects
from actors.feeds.market import FeedMessage
from edge import fanout
from tests.edge.conftest import Edge
from tests.edge.sio import RawEngineIO, recorder
from tests.feeding import START_NS, STEP_NS, market, session

NEAR, MID, MONTHLY = "2026-12-01", "2026-12-08", "2026-12-29"


async def metric(edge: Edge, name: str) -> float:
    async with edge.client() as c:
        text = (await c.get("/metrics")).text
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def test_subscribe_sends_the_snapshot_then_live_updates(fed_edge: Edge) -> None:
    room = f"chain:NIFTY:{MID}"
    async with recorder(fed_edge.url) as rec:
        ack = await rec.client.call("subscribe", {"room": room}, timeout=10)
        assert ack == {"ok": True, "rooms": [room]}
        assert (await rec.next("subscribed")) == {"rooms": [room]}
        snap = await rec.next("chain_summary")
        chain = await rec.next("chain_update")
        assert snap["expiry"] == MID and chain["expiry"] == MID and len(chain["strikes"]) == 41
        m = market()
        msgs = list(m.open())
        await fed_edge.feed_messages(msgs + list(m.step(START_NS + 99 * STEP_NS)))
        live = await rec.next("chain_summary", where=lambda d: d["seq"] > snap["seq"])
        assert live["product"] == "NIFTY" and live["expiry"] == MID


async def test_product_shorthand_joins_product_and_chain_rooms(fed_edge: Edge) -> None:
    async with recorder(fed_edge.url) as rec:
        ack = await rec.client.call("subscribe", {"product": "nifty"}, timeout=10)
        assert ack["rooms"] == ["chain:NIFTY", "product:NIFTY"]
        tick = await rec.next("underlying_update")
        assert tick["product"] == "NIFTY"
        seen = {(await rec.next("chain_summary"))["expiry"] for _ in range(3)}
        assert seen == {NEAR, MID, MONTHLY}


async def test_general_room_gets_every_underlying_and_get_products_answers(
    fed_edge: Edge,
) -> None:
    async with recorder(fed_edge.url) as rec:
        await rec.client.call("subscribe", "general", timeout=10)
        assert (await rec.next("underlying_update"))["product"] == "NIFTY"
        products = await rec.client.call("get_products", timeout=10)
        assert products["products"][0]["expiries"] == [NEAR, MID, MONTHLY]
        assert (await rec.next("products"))["products"][0]["product"] == "NIFTY"


async def test_unsubscribed_rooms_get_nothing_more(fed_edge: Edge) -> None:
    async with recorder(fed_edge.url) as rec:
        await rec.client.call("subscribe", {"room": f"chain:NIFTY:{NEAR}"}, timeout=10)
        await rec.client.call("subscribe", {"room": f"chain:NIFTY:{MONTHLY}"}, timeout=10)
        await rec.next("chain_summary", where=lambda d: d["expiry"] == MONTHLY)
        ack = await rec.client.call("unsubscribe", {"room": f"chain:NIFTY:{NEAR}"}, timeout=10)
        assert ack == {"ok": True, "rooms": [f"chain:NIFTY:{NEAR}"]}
        rec.drain()
        m = market()
        await fed_edge.feed_messages([*m.open(), *m.step(START_NS + 99 * STEP_NS)])
        # The step publishes NEAR before MONTHLY; only MONTHLY may arrive.
        await rec.next("chain_update", "chain_summary", where=lambda d: d["expiry"] == MONTHLY)
        got = rec.drain()
        assert all(d.get("expiry") != NEAR for e, d in got if e.startswith("chain"))


BOTH_LOOPS = pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])


@BOTH_LOOPS
async def test_websocket_and_upgraded_clients_both_get_snapshot_and_live_updates(
    fed_edge: Edge,
) -> None:
    # A websocket client's frames are written straight to its transport; one that upgraded
    # from long-polling goes through python-engineio's queue (as a polling client does; a
    # polling-only AsyncClient takes 30 s to disconnect, so it is not used here).
    room = f"chain:NIFTY:{MID}"
    transports = [["websocket"], ["polling", "websocket"]]
    async with contextlib.AsyncExitStack() as stack:
        recs = [
            await stack.enter_async_context(recorder(fed_edge.url, transports=t))
            for t in transports
        ]
        snaps = []
        for rec in recs:
            assert (await rec.client.call("subscribe", room, timeout=10))["ok"]
            assert (await rec.next("subscribed")) == {"rooms": [room]}
            snaps.append(await rec.next("chain_summary"))
        assert await metric(fed_edge, "deltastream_edge_socket_clients") == 2
        assert await metric(fed_edge, "deltastream_edge_socket_clients_direct") == 1
        m = market()
        await fed_edge.feed_messages([*m.open(), *m.step(START_NS + 99 * STEP_NS)])
        for rec, snap in zip(recs, snaps, strict=True):
            live = await rec.next("chain_summary", where=lambda d, s=snap: d["seq"] > s["seq"])
            assert live["expiry"] == MID


async def test_frames_spread_in_slices_arrive_in_order_and_end_with_the_latest(
    fed_edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every frame to more than two clients goes out two clients at a time, so frames of the
    # next market steps arrive while earlier ones are still being spread.
    monkeypatch.setattr(fanout, "SLICE_CLIENTS", 2)
    monkeypatch.setattr(fanout, "LARGE_FRAME_BYTES", 1)
    room = f"chain:NIFTY:{MID}"
    async with contextlib.AsyncExitStack() as stack:
        recs = [await stack.enter_async_context(recorder(fed_edge.url)) for _ in range(5)]
        firsts = []
        for rec in recs:
            assert (await rec.client.call("subscribe", room, timeout=10))["ok"]
            firsts.append((await rec.next("chain_summary"))["seq"])
        m = market()
        finals = await fed_edge.feed_messages(session(m, 12), until_stored=True)
        last = finals[subjects.analytics_summary("NIFTY", MID)]["seq"]
        assert last > max(firsts)
        for rec, first in zip(recs, firsts, strict=True):
            seqs = [first]
            while seqs[-1] < last:
                seqs.append((await rec.next("chain_summary"))["seq"])
            assert seqs == sorted(set(seqs)) and seqs[-1] == last


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("subscribe", 42, "invalid_payload"),
        ("subscribe", [1, 2], "invalid_payload"),
        ("subscribe", {"room": 5}, "invalid_payload"),
        ("subscribe", {"room": "chain:NIFTY:tomorrow"}, "invalid_payload"),
        ("subscribe", {"room": "general\n"}, "invalid_payload"),
        ("subscribe", {"room": "general", "product": "NIFTY"}, "invalid_payload"),
        ("subscribe", {"product": "bad name!"}, "invalid_payload"),
        ("subscribe", {"colour": "red"}, "invalid_payload"),
        ("subscribe", {}, "invalid_payload"),
        ("subscribe", None, "invalid_payload"),
        ("subscribe", {"room": "x" * 5000}, "invalid_payload"),
        ("subscribe", {"product": "NOPE"}, "unknown_product"),
        ("subscribe", {"product": "NIFTY", "expiry": "2030-01-01"}, "unknown_expiry"),
        ("unsubscribe", {"room": "nowhere"}, "invalid_payload"),
        ("teleport", {"room": "general"}, "unknown_event"),
    ],
)
async def test_bad_payloads_get_an_error_event_and_the_connection_stays(
    fed_edge: Edge, event: str, payload: object, code: str
) -> None:
    async with recorder(fed_edge.url) as rec:
        await rec.client.emit(event, payload)
        error = await rec.next("error")
        assert error["error"] == code and error["detail"]
        ack = await rec.client.call("subscribe", {"room": "general"}, timeout=10)
        assert ack["ok"] is True and rec.client.connected


async def test_rooms_per_client_are_capped(edge: Edge) -> None:
    ticks = [
        FeedMessage(subjects.feed_underlying(f"Q{i:02d}"),
                    {"ts": START_NS, "product": f"Q{i:02d}", "price": 100.0 + i})
        for i in range(64)
    ]  # fmt: skip
    await edge.feed_messages(ticks)
    async with recorder(edge.url) as rec:
        assert (await rec.client.call("subscribe", "general", timeout=10))["ok"]
        for i in range(63):
            ack = await rec.client.call("subscribe", f"product:Q{i:02d}", timeout=10)
            assert ack["ok"], ack
        over = await rec.client.call("subscribe", "product:Q63", timeout=10)
        assert over["error"] == "bad_request" and "64 rooms" in over["detail"]
        assert (await rec.client.call("unsubscribe", "general", timeout=10))["ok"]
        assert (await rec.client.call("subscribe", "product:Q63", timeout=10))["ok"]


@BOTH_LOOPS
async def test_a_stalled_client_is_conflated_to_the_latest_summary(edge: Edge) -> None:
    m = market(rows_per_batch=20)
    await edge.feed_messages(list(m.open()))
    raw = RawEngineIO(edge.port)
    await raw.connect()
    try:
        # All three expiries: more bytes per market step fill the buffers sooner.
        await raw.emit("subscribe", {"room": "chain:NIFTY"})
        first = await raw.next_event("chain_summary")
        while first["expiry"] != NEAR:
            first = await raw.next_event("chain_summary")
        # From here the client reads nothing: its socket buffer fills, then uvicorn's
        # transport buffer, then the edge must conflate instead of queueing.
        published, step = 0, 0
        while await metric(edge, "deltastream_edge_socket_messages_conflated_total") < 30:
            assert step < 3000, "the edge never had to conflate"
            batch = []
            for _ in range(10):
                step += 1
                batch.extend(m.step(START_NS + step * STEP_NS))
            await edge.feed_messages(batch)
            published += 10
            pending = await metric(edge, "deltastream_edge_socket_pending")
            assert pending <= 6  # per expiry one chain_summary and one chain_update, no backlog
        async with edge.client() as c:
            last_seq = (await c.get(f"/api/analytics/summary/NIFTY?expiry={NEAR}")).json()["seq"]
        seqs = [first["seq"]]
        while seqs[-1] < last_seq:
            summary = await raw.next_event("chain_summary")
            if summary["expiry"] == NEAR:
                seqs.append(summary["seq"])
        assert seqs == sorted(set(seqs))  # never stale, never repeated
        assert seqs[-1] == last_seq  # the latest arrives
        assert len(seqs) < published / 2  # and most of the intermediate ones were dropped
    finally:
        await raw.close()
