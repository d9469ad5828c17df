"""Hostile Socket.IO clients: malformed and oversized packets, deep nesting, binary events,
subscribe floods, thousands of rooms, bad tokens. Each gets an error (or is refused, or its
own connection closed); the server stays up, other clients keep their live updates, and
rooms and pending payloads stay bounded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
import socketio.exceptions

from actors import subjects
from actors.feeds.market import FeedMessage
from edge.sockets import MAX_ROOMS_PER_CLIENT
from tests.edge.conftest import Edge, EdgeFactory, metric
from tests.edge.sio import RawEngineIO, Recorder, recorder
from tests.feeding import START_NS, STEP_NS, market, session

MID = "2026-12-08"
ROOM = f"chain:NIFTY:{MID}"
SECRET = "k" * 48
PASSWORD = "Tr1cky-Horse-Battery"


class Market:
    """Market steps continuing the fed_edge fixture's seeded session (4 steps)."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.market = market()
        session(self.market, 4)
        self.index = 4

    async def step(self) -> None:
        self.index += 1
        await self.edge.feed_messages(list(self.market.step(START_NS + self.index * STEP_NS)))


async def _still_live(edge: Edge, steps: Market, rec: Recorder, token: str = "") -> None:
    """The bystander gets the next market step's summary of its room."""
    rec.drain()
    await steps.step()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with edge.client(headers=headers) as c:
        seq = (await c.get(f"/api/analytics/summary/NIFTY?expiry={MID}")).json()["seq"]
    await rec.next("chain_summary", where=lambda d: d["expiry"] == MID and d["seq"] >= seq)


async def _answered(raw: RawEngineIO, ack_id: int) -> Any:
    """The acknowledgement ``43<ack_id>[...]`` of an event sent with that id."""
    prefix = f"43{ack_id}["
    while True:
        text = await raw.recv()
        if text.startswith(prefix):
            return json.loads(text[len(prefix) - 1 :])[0]


async def _all_answered(raw: RawEngineIO, n: int) -> dict[int, Any]:
    """The acknowledgements of events sent with ids 0..n-1, in whatever order they come."""
    answers: dict[int, Any] = {}
    async with asyncio.timeout(120):
        while len(answers) < n:
            text = await raw.recv()
            if m := re.match(r"43(\d+)\[", text):
                answers[int(m.group(1))] = json.loads(text[m.end() - 1 :])[0]
    return answers


@pytest.fixture
async def bystander(fed_edge: Edge) -> AsyncIterator[Recorder]:
    async with recorder(fed_edge.url) as rec:
        assert (await rec.client.call("subscribe", {"room": ROOM}, timeout=10))["ok"]
        yield rec


async def test_malformed_packets_leave_the_connection_and_the_server_up(
    fed_edge: Edge, bystander: Recorder
) -> None:
    deep = "[" * 20_000 + "]" * 20_000  # past json's recursion limit, under 64 KiB
    shallow = "[" * 500 + "]" * 500  # decodes: a wrong payload, under 2 KiB
    garbage = [
        "42garbage",
        "42[",
        '42["subscribe"',
        "42[]",
        "42{}",
        '42[5,{"room":"general"}]',
        '42[null,"general"]',
        '42[{"a":1},"general"]',
        '42["subscribe",' + deep + "]",
        '42["subscribe",' + shallow + "]",
        '42["subscribe",{"room":"' + "x" * 50_000 + '"}]',  # above 2 KiB: error event
        '42/admin,["subscribe","general"]',  # a namespace nobody joined
        "4",
        "49",
        "4x",
        "7",
        "9" * 30,
    ]
    raw = RawEngineIO(fed_edge.port)
    await raw.connect()
    steps = Market(fed_edge)
    try:
        for i, text in enumerate(garbage):
            await raw.send_text(text)
            # The connection still answers: a valid subscribe after each bad packet.
            await raw.send_text(f'42{i}["subscribe",{{"room":"general"}}]')
            ack = await _answered(raw, i)
            assert ack["ok"] is True, (text[:40], ack)
    finally:
        await raw.close()
    # Not even an engine.io packet: that connection is closed, nothing else is.
    for text in ("", "\x00\xff"):
        raw = RawEngineIO(fed_edge.port)
        await raw.connect()
        try:
            await raw.send_text(text)
            await raw.send_text('421["subscribe",{"room":"general"}]')
            with pytest.raises(ConnectionError):
                await _answered(raw, 1)
        finally:
            await raw.close()
    await _still_live(fed_edge, steps, bystander)
    async with fed_edge.client() as c:
        assert (await c.get("/health/live")).status_code == 200


async def test_events_named_like_socket_io_s_own_are_refused_not_run(
    fed_edge: Edge, bystander: Recorder
) -> None:
    # python-socketio dispatches a client's event by name: "connect" sent as an event ran the
    # edge's connect handler with the client's arguments (a traceback, or a second client
    # record with a counter never decremented), "disconnect" dropped the client's rooms.
    steps = Market(fed_edge)
    clients = await metric(fed_edge, "deltastream_edge_socket_clients")
    direct = await metric(fed_edge, "deltastream_edge_socket_clients_direct")
    raw = RawEngineIO(fed_edge.port)
    await raw.connect()
    try:

        async def call(ack_id: int, event: str, data: Any) -> Any:
            await raw.send_text(f"42{ack_id}" + json.dumps([event, data]))
            return await _answered(raw, ack_id)

        assert (await call(0, "subscribe", {"room": "general"}))["ok"] is True
        hostile = [
            ("connect", {}),
            ("connect", [1]),
            ("connect", "str"),
            ("connect", {"asgi.scope": {"type": "websocket", "extensions": {}}}),
            ("disconnect", {}),
            ("disconnecting", None),
            ("connect_error", {}),
        ]
        for i, (event, data) in enumerate(hostile, start=1):
            ack = await call(i, event, data)
            assert (ack["error"], ack["event"]) == ("unknown_event", event), ack
        # Still the same one client, still subscribed: a request is answered as before.
        again = await call(len(hostile) + 1, "subscribe", {"room": "general"})
        assert again["ok"] is True, again
        assert await metric(fed_edge, "deltastream_edge_socket_clients") == clients + 1
        assert await metric(fed_edge, "deltastream_edge_socket_clients_direct") == direct + 1
    finally:
        await raw.close()
    await _still_live(fed_edge, steps, bystander)


async def test_an_oversized_event_gets_an_error_a_packet_above_64_kib_closes_its_connection(
    fed_edge: Edge, bystander: Recorder
) -> None:
    steps = Market(fed_edge)
    async with recorder(fed_edge.url) as rec:
        big = {"room": "general", "x": "y" * 10_000}
        reply = await rec.client.call("subscribe", big, timeout=10)
        assert reply["error"] == "invalid_payload" and "2048 bytes" in reply["detail"]
        error = await rec.next("error")
        assert error["event"] == "subscribe"
        assert rec.client.connected
    raw = RawEngineIO(fed_edge.port)
    await raw.connect()
    try:
        await raw.send_text('42["subscribe",{"room":"' + "x" * 70_000 + '"}]')
        with pytest.raises(ConnectionError):
            while True:
                await raw.recv()
    finally:
        await raw.close()
    await _still_live(fed_edge, steps, bystander)


async def test_binary_events_are_refused_and_their_attachments_never_buffered(
    fed_edge: Edge, bystander: Recorder
) -> None:
    steps = Market(fed_edge)
    async with recorder(fed_edge.url) as rec:
        reply = await rec.client.call("subscribe", b"\x00\x01general", timeout=10)
        assert reply["error"] == "invalid_payload" and "binary" in reply["detail"]
        error = await rec.next("error")
        assert error == {**reply, "event": "subscribe"}
        assert (await rec.client.call("subscribe", "general", timeout=10))["ok"]

    # A binary event that announces a billion attachments, then keeps sending them:
    # python-socketio would hold every attachment until the last one came.
    raw = RawEngineIO(fed_edge.port)
    await raw.connect()
    try:
        await raw.send_text('451000000000-["subscribe",{"_placeholder":true,"num":0}]')
        chunk = b"z" * 60_000
        for _ in range(300):
            await raw.send_bytes(chunk)
        await raw.send_text('421["subscribe",{"room":"general"}]')
        ack = await _answered(raw, 1)
        assert ack["ok"] is True
    finally:
        await raw.close()
    assert await metric(fed_edge, "deltastream_edge_socket_binary_refused_total") >= 1
    await _still_live(fed_edge, steps, bystander)


async def test_floods_and_thousands_of_rooms_stay_bounded(
    fed_edge: Edge, bystander: Recorder
) -> None:
    steps = Market(fed_edge)
    rooms_before = await metric(fed_edge, "deltastream_edge_socket_rooms")
    raw = RawEngineIO(fed_edge.port)
    await raw.connect()
    try:
        sent = 0
        # Thousands of distinct rooms, never waiting for an answer...
        for i in range(2_000):
            await raw.send_text(f'42{sent}["subscribe",{{"room":"product:P{i:04d}"}}]')
            sent += 1
        for day in range(1, 29):
            room = f"chain:NIFTY:2027-02-{day:02d}"
            await raw.send_text(f'42{sent}["subscribe",{{"room":"{room}"}}]')
            sent += 1
        # ...the same room on and off, and a burst of product lists.
        for i in range(200):
            event = "subscribe" if i % 2 == 0 else "unsubscribe"
            await raw.send_text(f'42{sent}["{event}",{{"room":"{ROOM}"}}]')
            sent += 1
        for _ in range(100):
            await raw.send_text(f'42{sent}["get_products",{{}}]')
            sent += 1
        answers = await _all_answered(raw, sent)
        errors = [a["error"] for a in answers.values() if "error" in a]
        assert errors.count("unknown_product") == 2_000
        assert errors.count("unknown_expiry") == 28
        assert sum(1 for a in answers.values() if "products" in a) == 100
        # The edge holds rooms only for live products, and one pending payload per key.
        rooms = await metric(fed_edge, "deltastream_edge_socket_rooms")
        assert rooms <= rooms_before + 1
        assert await metric(fed_edge, "deltastream_edge_socket_pending") <= 8
        await _still_live(fed_edge, steps, bystander)
    finally:
        await raw.close()
    async with asyncio.timeout(30):
        while await metric(fed_edge, "deltastream_edge_socket_clients") > 1:
            await asyncio.sleep(0.05)  # the gauge is the only view (noqa: sleep-ok)
    assert await metric(fed_edge, "deltastream_edge_socket_rooms") == rooms_before


async def test_the_room_cap_holds_against_a_burst_of_subscribes(edge: Edge) -> None:
    ticks = [
        FeedMessage(
            subjects.feed_underlying(f"R{i:02d}"),
            {"ts": START_NS, "product": f"R{i:02d}", "price": 100.0 + i},
        )
        for i in range(MAX_ROOMS_PER_CLIENT + 16)
    ]
    await edge.feed_messages(ticks)
    raw = RawEngineIO(edge.port)
    await raw.connect()
    try:
        # All at once: each handler awaits the product list before it joins its room.
        for i in range(len(ticks)):
            await raw.send_text(f'42{i}["subscribe",{{"room":"product:R{i:02d}"}}]')
        answers = (await _all_answered(raw, len(ticks))).values()
        joined = [a for a in answers if a.get("ok")]
        refused = [a for a in answers if a.get("error") == "bad_request"]
        assert len(joined) == MAX_ROOMS_PER_CLIENT, len(joined)
        assert len(refused) == 16 and "64 rooms" in refused[0]["detail"]
        assert await metric(edge, "deltastream_edge_socket_rooms") == MAX_ROOMS_PER_CLIENT
    finally:
        await raw.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    if header.get("alg") == "none":
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


async def _refusal(url: str, auth: Any) -> dict[str, Any]:
    """Connect with ``auth``; the connect_error data the server sent (the client is refused)."""
    client = socketio.AsyncClient(reconnection=False)
    got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @client.on("connect_error")
    async def on_error(data: Any) -> None:
        if not got.done():
            got.set_result(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
    data = await asyncio.wait_for(got, 10)
    assert not client.connected
    return data["data"]  # type: ignore[no-any-return]  # {"message": code, "data": body}


async def test_without_or_with_bad_tokens_a_connection_is_refused_with_the_reason(
    edge_factory: EdgeFactory,
) -> None:
    edge = await edge_factory(auth_required=True, jwt_secret=SECRET)
    await edge.feed(steps=4)
    async with edge.client() as c:
        r = await c.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
        token = r.json()["token"]
    now = int(time.time())
    claims = {"iss": "deltastream", "sub": "alice", "iat": now, "exp": now + 600}
    good = _token({"alg": "HS256", "typ": "JWT"}, claims, SECRET.encode())
    head, body, sig = good.split(".")
    key, root = SECRET.encode(), {**claims, "sub": "root"}
    refused = {
        "no auth": None,
        "empty auth": {},
        "token not a string": {"token": 12345},
        "token a list": {"token": [token]},
        "garbage": {"token": "not-a-jwt"},
        "expired": {"token": _token({"alg": "HS256"}, {**claims, "exp": now - 10}, key)},
        "tampered claims": {"token": f"{head}.{_b64(json.dumps(root).encode())}.{sig}"},
        "tampered signature": {"token": f"{head}.{body}.{sig[::-1]}"},
        "alg none": {"token": _token({"alg": "none"}, claims, b"")},
        "other key": {"token": _token({"alg": "HS256"}, claims, b"x" * 48)},
        "huge": {"token": "a" * 5_000},
    }  # fmt: skip
    async with recorder(edge.url, auth={"token": token}) as member:
        assert (await member.client.call("subscribe", {"room": ROOM}, timeout=10))["ok"]
        for name, auth in refused.items():
            data = await _refusal(edge.url, auth)
            assert data["error"] in ("unauthorized", "invalid_token"), name
            assert data["detail"], name
        # The authorised client was never disturbed.
        steps = Market(edge)
        await _still_live(edge, steps, member, token)
    async with recorder(edge.url, auth={"token": good}) as rec:
        assert (await rec.client.call("subscribe", "general", timeout=10))["ok"]
