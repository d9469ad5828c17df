"""Edges scale out with no shared socket state: each subscribes to ANALYTICS itself, so the
clients of two edges get the same summaries in the same order, and one edge going away does
not touch the other's clients."""

from __future__ import annotations

import asyncio
from typing import Any

from actors import subjects
from tests.edge.conftest import EdgeFactory
from tests.edge.sio import EVENT_TIMEOUT_S, Recorder, recorder
from tests.feeding import SteppedMarket, market
from tests.final_state import summaries_in_stream

MID = "2026-12-08"
ROOM = f"chain:NIFTY:{MID}"
SUMMARY_SUBJECT = subjects.analytics_summary("NIFTY", MID)
LIVE_STEPS = 30


async def _subscribe(rec: Recorder) -> dict[str, Any]:
    """Join ``ROOM``; the snapshot summary."""
    assert (await rec.client.call("subscribe", {"room": ROOM}, timeout=10))["ok"]
    assert (await rec.next("subscribed")) == {"rooms": [ROOM]}
    snapshot: dict[str, Any] = await rec.next("chain_summary")
    return snapshot


async def _summaries_until(rec: Recorder, last: dict[str, Any]) -> list[tuple[int, int]]:
    """(seq, stream_seq) of each chain_summary up to and including ``last``."""
    got: list[tuple[int, int]] = []
    try:
        while not got or got[-1][0] < last["seq"]:
            data = await rec.next("chain_summary")
            got.append((data["seq"], data["stream_seq"]))
    except TimeoutError as exc:
        raise AssertionError(f"no summary {last['seq']} after {got}") from exc
    return got


async def test_clients_of_two_edges_get_the_same_summaries_in_the_same_order(
    edge_factory: EdgeFactory, analytics_nc: Any
) -> None:
    a, b = await edge_factory(), await edge_factory()
    m = SteppedMarket(market())
    first = (await a.feed_messages(m.open() + m.step(2), until_stored=True))[SUMMARY_SUBJECT]
    async with recorder(a.url) as on_a, recorder(b.url) as on_b:
        snapshots = [await _subscribe(on_a), await _subscribe(on_b)]
        # One step per feed: the chain publishes a summary for (nearly) each.
        for _ in range(LIVE_STEPS - 1):
            await a.feed_messages(m.step(1))
        last = (await a.feed_messages(m.step(1), until_stored=True))[SUMMARY_SUBJECT]
        got = [await _summaries_until(on_a, last), await _summaries_until(on_b, last)]
    for snapshot, summaries in zip(snapshots, got, strict=True):
        assert snapshot["expiry"] == MID and snapshot["seq"] <= first["seq"]
        seqs = [snapshot["seq"], *(seq for seq, _ in summaries)]
        assert seqs == sorted(set(seqs))  # the snapshot, then only newer summaries
    # An edge may not have had ``first`` yet when it answered the snapshot (it was stored,
    # not necessarily delivered): compare what the live steps caused.
    live_a, live_b = ([s for s in g if s[1] > first["stream_seq"]] for g in got)
    stored = (await summaries_in_stream(analytics_nc))[SUMMARY_SUBJECT]
    published = [s for s in stored if s > first["stream_seq"]]
    assert len(published) >= LIVE_STEPS // 2  # many live summaries, not one conflated
    assert live_a == live_b  # the same summaries in the same order from two edges
    assert [stream_seq for _, stream_seq in live_a] == published  # and every one of them


async def test_a_client_of_one_edge_keeps_its_updates_when_another_edge_stops(
    edge_factory: EdgeFactory,
) -> None:
    a, b = await edge_factory(), await edge_factory()
    m = SteppedMarket(market())
    await b.feed_messages(m.open(), until_stored=True)
    async with recorder(a.url) as on_a, recorder(b.url) as on_b:
        gone = asyncio.Event()
        on_a.client.on("disconnect", lambda *_: gone.set())
        await _subscribe(on_a)
        await _subscribe(on_b)
        before = (await b.feed_messages(m.step(3), until_stored=True))[SUMMARY_SUBJECT]
        for rec in (on_a, on_b):
            await rec.next("chain_summary", where=lambda d: d["seq"] == before["seq"])
        await a.stop()  # edge A stops; its client is disconnected
        await asyncio.wait_for(gone.wait(), EVENT_TIMEOUT_S)
        on_b.drain()
        after = (await b.feed_messages(m.step(3), until_stored=True))[SUMMARY_SUBJECT]
        live = await on_b.next("chain_summary", where=lambda d: d["seq"] >= after["seq"])
        assert live["seq"] == after["seq"] and live["expiry"] == MID
        assert on_b.client.connected and not on_a.client.connected
