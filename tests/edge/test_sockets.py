"""Socket.IO: rooms, snapshots on subscribe, live fan-out, bad payloads, room cap and
per-client conflation for a client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
import wsproto

from actors import subjects
from actors.feeds.market import FeedMessage
from edge import fanout
from edge.sockets import SocketHub
from edge.websocket import FRAMES_EXTENSION
from tests.edge.conftest import Edge, EdgeFactory, metric
from tests.edge.sio import EVENT_TIMEOUT_S, RawEngineIO, recorder
from tests.feeding import START_NS, STEP_NS, SteppedMarket, market, session

NEAR, MID, MONTHLY = "2026-12-01", "2026-12-08", "2026-12-29"


MESSAGES_IN = "deltastream_edge_nats_messages_in_total"
MESSAGES_OUT = "deltastream_edge_socket_messages_out_total"


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
        # Unsubscribing is idempotent: a room left already, or of a chain that no longer
        # exists (retired), answers ok as well; subscribing to the latter is refused.
        gone = "chain:NIFTY:2026-11-19"
        for room in (f"chain:NIFTY:{NEAR}", gone):
            ack = await rec.client.call("unsubscribe", {"room": room}, timeout=10)
            assert ack == {"ok": True, "rooms": [room]}
        refused = await rec.client.call("subscribe", {"room": gone}, timeout=10)
        assert refused["error"] == "unknown_expiry"


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


# A stalled client's outbox holds at most one frame per key: chain_summary and chain_update
# of each of NIFTY's three expiries.
CHAIN_KEYS = [
    (event, f"chain:NIFTY:{expiry}")
    for event in ("chain_summary", "chain_update")
    for expiry in (NEAR, MID, MONTHLY)
]
STALL_STEPS = 100  # N market steps once the client's transport paused; then 3 N more
STEPS_PER_BATCH = 5
MAX_STEPS_TO_PAUSE = 3000
MIN_STALLED_SUMMARIES = 100  # published while the client read nothing (~270 on a quiet host)
WS_HEADER_MAX_BYTES = 10  # a server's websocket frame header (RFC 6455 §5.2), at most


class _Held:
    """What an edge holds for one websocket client: its transport's write buffer (frames
    written, not yet taken by the kernel) and its outbox (frames waiting to be written)."""

    def __init__(self, hub: SocketHub, sid: str) -> None:
        self.outbox = hub.clients[sid].delivery.outbox
        scope = hub.sio.get_environ(sid)["asgi.scope"]
        self.sink = scope["extensions"][FRAMES_EXTENSION]["sink"]
        self.transport = self.sink._protocol.transport  # the sink does not expose its size
        self.high_water_bytes = self.transport.get_write_buffer_limits()[1]
        self.peak_bytes = 0
        self.peak_frames = 0
        self.largest_frame_bytes = 0

    def sample(self) -> None:
        frames = [f for f in map(self.outbox.peek, CHAIN_KEYS) if f is not None]
        sizes = [len(f.wire) for f in frames]
        self.largest_frame_bytes = max(self.largest_frame_bytes, *sizes, 0)
        self.peak_frames = max(self.peak_frames, len(self.outbox))
        self.peak_bytes = max(self.peak_bytes, self.transport.get_write_buffer_size() + sum(sizes))


async def _next_summary(raw: RawEngineIO) -> tuple[str, int, int]:
    """(expiry, seq, wire bytes) of the next chain_summary."""
    while True:
        text = await raw.recv()
        if text.startswith('42["chain_summary",'):
            data = json.loads(text[2:])[1]
            return data["expiry"], data["seq"], len(text.encode()) + WS_HEADER_MAX_BYTES


@BOTH_LOOPS
async def test_a_stalled_client_is_conflated_to_the_latest_summary(
    edge_factory: EdgeFactory, edge_apps: list[Any]
) -> None:
    edge = await edge_factory()
    steps = SteppedMarket(market(rows_per_batch=20))
    await edge.feed_messages(steps.open())
    raw = RawEngineIO(edge.port)
    await raw.connect()
    try:
        (app,) = edge_apps
        hub: SocketHub = app.other_asgi_app.state.edge.hub  # set by the app's lifespan
        (sid,) = hub.clients
        held = _Held(hub, sid)
        # A client that reads everything, in the same room: when it has the last summary of
        # each expiry, the edge has offered those to the stalled client too (same loop pass).
        async with recorder(edge.url) as witness:
            # All three expiries: more bytes per market step fill the buffers sooner.
            await raw.emit("subscribe", {"room": "chain:NIFTY"})
            read: list[tuple[str, int, int]] = []  # chain_summary frames the client read
            while not read or read[-1][0] != NEAR:
                read.append(await _next_summary(raw))
            assert (await witness.client.call("subscribe", "chain:NIFTY", timeout=10))["ok"]
            # From here the client reads nothing: its socket buffer fills, then the edge's
            # kernel send buffer (fixed by edge.server.SOCKET_SEND_BUFFER_BYTES), then its
            # transport's buffer past the high-water mark; the transport pauses.
            while held.sink.writable:
                assert steps.done < MAX_STEPS_TO_PAUSE, "the client's transport never paused"
                await edge.feed_messages(steps.step(STEPS_PER_BATCH))
            in_before = await metric(edge, MESSAGES_IN, '{kind="summary"}')
            # (a) N steps, then 3 N more: what the edge holds for the client must not grow
            # with what is published. A frame is written to the transport only while its
            # buffer is below the high-water mark, so the buffer stays under that mark plus
            # the frame that crossed it; the rest waits in the outbox, one frame per key.
            # (The kernel's share is fixed by the socket's send buffer size.)
            peaks = []
            for n in (STALL_STEPS, 3 * STALL_STEPS):
                held.peak_bytes = held.peak_frames = 0
                for _ in range(n // STEPS_PER_BATCH):
                    await edge.feed_messages(steps.step(STEPS_PER_BATCH))
                    held.sample()
                peaks.append((held.peak_frames, held.peak_bytes))
            largest = max(held.largest_frame_bytes, *(size for *_, size in read))
            bound = held.high_water_bytes + (len(CHAIN_KEYS) + 1) * largest
            (frames_n, bytes_n), (frames_4n, bytes_4n) = peaks
            assert frames_n <= len(CHAIN_KEYS) and frames_4n <= len(CHAIN_KEYS)
            assert bytes_n <= bound and bytes_4n <= bound, (peaks, bound)
            assert bytes_4n <= bytes_n + largest, peaks  # 3 N more steps: no more held
            finals = {
                body["expiry"]: body["seq"]
                for body in (await edge.feed_messages(steps.step(1), until_stored=True)).values()
            }
            stalled = await metric(edge, MESSAGES_IN, '{kind="summary"}') - in_before
            assert stalled >= MIN_STALLED_SUMMARIES
            witnessed = 0
            waiting = dict(finals)
            async with asyncio.timeout(EVENT_TIMEOUT_S):
                while waiting:
                    event, data = await witness.events.get()
                    if event == "chain_summary":
                        witnessed += 1
                        if waiting.get(data["expiry"]) == data["seq"]:
                            del waiting[data["expiry"]]
            # (b) Every chain_summary the edge wrote to the stalled client's transport was
            # counted in messages_out when it was written, and only the witness shares the
            # counter. So ``written`` is exact, and ``written - len(read)`` frames were on
            # their way (kernel buffers, transport buffer, the client's own reader) when the
            # client stalled or before its transport paused. Everything it reads beyond
            # those comes from its outbox: the latest summary of each expiry, nothing older.
            written = await metric(edge, MESSAGES_OUT, '{event="chain_summary"}') - witnessed
            on_the_way = int(written) - len(read)
            assert on_the_way >= 0
            after = [await _next_summary(raw) for _ in range(on_the_way + len(finals))]
            written_after = await metric(edge, MESSAGES_OUT, '{event="chain_summary"}')
            witnessed += sum(1 for event, _ in witness.drain() if event == "chain_summary")
    finally:
        await raw.close()
    latest = [(expiry, seq) for expiry, seq, _ in after[on_the_way:]]
    assert sorted(latest) == sorted(finals.items())  # only the latest, once per expiry
    assert written_after - witnessed == len(read) + len(after)  # and nothing else was written
    for expiry in finals:
        seqs = [seq for e, seq, _ in read + after if e == expiry]
        assert seqs == sorted(set(seqs))  # never stale, never repeated


REQUESTS_UNREAD = 4000  # get_products a client sends while it reads nothing
STALL_POLL_S = 0.01


@pytest.fixture
async def fed_edge_apps(edge_factory: EdgeFactory, edge_apps: list[Any]) -> tuple[Edge, list[Any]]:
    edge = await edge_factory()
    await edge.feed(steps=1)
    return edge, edge_apps


@BOTH_LOOPS
async def test_a_client_that_sends_requests_without_reading_is_held_back_not_buffered(
    fed_edge_apps: tuple[Edge, list[Any]],
) -> None:
    # Every request makes an answer, and answers are never conflated: an edge that read on
    # would buffer an answer per request for a client that never reads them. Instead an
    # answer waits while the client's transport is above its high-water mark, and the
    # client's next requests wait behind it (in uvicorn's queue, then in the client's own
    # socket); all of them are answered once it reads.
    edge, apps = fed_edge_apps
    raw = RawEngineIO(edge.port)
    await raw.connect()
    try:
        (app,) = apps
        hub: SocketHub = app.other_asgi_app.state.edge.hub
        (sid,) = hub.clients
        held = _Held(hub, sid)
        protocol = held.sink._protocol
        eio_queue = hub.sio.eio.sockets[hub.clients[sid].eio_sid].queue
        request = '42["get_products",{}]'
        for _ in range(REQUESTS_UNREAD):  # into the client's own buffer; no drain
            raw._send(wsproto.events.Message(data=request))
        # The stall: the transport is above its high-water mark, the answer to the request
        # in hand waits for it, and uvicorn reads nothing more meanwhile. Nothing changes
        # until the client reads; the test can only see it by looking, so it polls, with a
        # ceiling.
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while held.sink.writable or protocol.transport.is_reading():
                await asyncio.sleep(STALL_POLL_S)  # see above (noqa: sleep-ok)
        answered = await metric(edge, MESSAGES_OUT, '{event="products"}')
        held_answers = await metric(edge, "deltastream_edge_socket_answers_held")
        buffered_bytes = protocol.transport.get_write_buffer_size()
        queued_packets = eio_queue.qsize()
        # Held, not just slow: the edge's loop went round many times to answer /metrics
        # once more, and not one more request of the client was answered meanwhile.
        assert await metric(edge, MESSAGES_OUT, '{event="products"}') == answered
        # The client reads again: every request is answered, none lost.
        largest = got = 0
        while got < REQUESTS_UNREAD:
            text = await raw.recv()
            if text.startswith('42["products",'):
                got += 1
                largest = max(largest, len(text.encode()) + WS_HEADER_MAX_BYTES)
        assert await metric(edge, MESSAGES_OUT, '{event="products"}') == REQUESTS_UNREAD
        # While stalled: held back part way, with at most the transport's high-water mark
        # (and what crossed it: an answer and its acknowledgement) written, and no pile of
        # acknowledgements in python-engineio's queue behind it.
        assert 0 < answered < REQUESTS_UNREAD
        assert held_answers == 1  # the answer in hand, on the edge's /metrics
        assert await metric(edge, "deltastream_edge_socket_answers_held") == 0
        assert buffered_bytes <= held.high_water_bytes + 2 * largest, (buffered_bytes, largest)
        assert queued_packets <= 2
    finally:
        await raw.close()
