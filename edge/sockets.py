"""The Socket.IO server: rooms, subscribe/unsubscribe, snapshots on subscribe, fan-out.

Rooms (names and payloads parsed in ``edge.rooms``)::

    general                 underlying_update of every product
    product:<P>             underlying_update, surface_update of P
    chain:<P>               chain_summary, chain_update of every expiry of P
    chain:<P>:<EXPIRY>      chain_summary, chain_update of one expiry

Events in: ``subscribe`` / ``unsubscribe`` with ``{"room": "<room>"}`` or the shorthand
``{"product": P, "expiry"?: E}`` (= ``product:P`` plus ``chain:P`` or ``chain:P:E``);
``get_products``. Events out: the four above, ``products``, ``subscribed``,
``unsubscribed`` and ``error`` ``{"error": code, "detail": reason}``. Handlers also answer
through the Socket.IO acknowledgement when the client asks for one.

Fan-out does not go through ``AsyncServer.emit``: the bridge's NATS payload is already JSON,
so the Socket.IO packet and its websocket frame are built once around the raw bytes
(``edge.frames``) and offered to each member's delivery (``edge.conflation``) in one loop, or
for a large frame to many clients in slices (``edge.fanout``). A client that connected over a
websocket gets the frame written straight to its transport (``edge.websocket``); a
long-polling client (or one that upgraded from polling) through python-engineio's queue.
Replies to a client's own events (``subscribed``, ``error``, ...) take the same path, so they
stay in order with its data. Room membership is kept here, not in the manager. Binary packets
are refused by the server itself (``edge.socket_server``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import socketio
import structlog

from edge import fanout
from edge.auth.tokens import TokenIssuer
from edge.conflation import DirectDelivery, Offer, OutboxKey, QueuedDelivery
from edge.errors import (
    BadRequest,
    EdgeError,
    InvalidPayload,
    Unavailable,
    UnknownExpiry,
    UnknownProduct,
)
from edge.frames import Frame
from edge.metrics import EdgeMetrics
from edge.rooms import Room, expand_request
from edge.snapshots import PRODUCTS_MAX_AGE_S, SnapshotClient
from edge.socket_server import JsonOnlyServer
from edge.websocket import FRAMES_EXTENSION, FrameSink

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_ROOMS_PER_CLIENT",
    "SocketHub",
]

log = structlog.get_logger(__name__)

MAX_ROOMS_PER_CLIENT = 64
MAX_EVENT_BYTES = 2048
# Engine.IO closes a connection whose single packet exceeds this (a transport-level guard;
# event payloads above MAX_EVENT_BYTES get an ``error`` event and the connection stays up).
MAX_PACKET_BYTES = 64 * 1024
NAMESPACE = "/"


@dataclass(eq=False)
class _Client:
    sid: str
    eio_sid: str
    username: str | None
    delivery: DirectDelivery | QueuedDelivery
    rooms: set[str] = field(default_factory=set)


_encoder = msgspec.json.Encoder()


class SocketHub:
    def __init__(self, *, metrics: EdgeMetrics, auth_required: bool) -> None:
        self.metrics = metrics
        self.auth_required = auth_required
        self._snapshots: SnapshotClient | None = None
        self.tokens: TokenIssuer | None = None
        self.sio = JsonOnlyServer(
            on_binary=metrics.binary_refused.inc,
            async_mode="asgi",
            cors_allowed_origins="*",
            max_http_buffer_size=MAX_PACKET_BYTES,
            # One event at a time per client, in order: a flood waits in that client's own
            # socket (uvicorn reads the next frame once this one was taken) instead of
            # becoming a task per event on the edge; subscribe/unsubscribe keep their order.
            async_handlers=False,
            logger=False,
            engineio_logger=False,
        )
        self.clients: dict[str, _Client] = {}
        self.rooms: dict[str, set[str]] = {}
        # How many live messages each (event, own room) had: a snapshot fetched before the
        # latest one is stale (every member of the room got the live message).
        self._versions: dict[OutboxKey, int] = {}
        self._out: dict[str, Any] = {}  # event → its messages_out counter child
        self._direct = 0  # clients on the direct websocket path
        self._spreads: dict[OutboxKey, fanout.SlicedFanout] = {}
        metrics.socket_pending.set_function(self.pending_total)
        metrics.socket_answers_held.set_function(
            lambda: sum(c.delivery.held for c in self.clients.values())
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("subscribe", self._on_subscribe)
        self.sio.on("unsubscribe", self._on_unsubscribe)
        self.sio.on("get_products", self._on_get_products)
        self.sio.on("*", self._on_unknown)

    def attach(self, snapshots: SnapshotClient, tokens: TokenIssuer) -> None:
        """Called by the app's lifespan once NATS is connected and the JWT key is known."""
        self._snapshots = snapshots
        self.tokens = tokens

    @property
    def snapshots(self) -> SnapshotClient:
        if self._snapshots is None:
            raise Unavailable("the edge is starting")
        return self._snapshots

    def pending_total(self) -> int:
        return sum(len(c.delivery.outbox) for c in self.clients.values())

    # ------------------------------------------------------------ fan-out

    def publish(self, event: str, rooms: tuple[str, ...], own_room: str, payload: str) -> int:
        """Offer one message to every client in any of ``rooms``; returns how many."""
        key: OutboxKey = (event, own_room)
        self._versions[key] = self._versions.get(key, 0) + 1
        groups = [self.rooms[room] for room in rooms if room in self.rooms]
        if not groups:
            return 0
        members = groups[0] if len(groups) == 1 else set().union(*groups)
        frame = Frame(event, payload)
        spreading = self._spreads.get(key)
        if spreading is not None:
            spreading.replace(frame, members)  # keeps this key's frames in order per client
        elif len(members) > fanout.SLICE_CLIENTS and len(payload) >= fanout.LARGE_FRAME_BYTES:
            self._spreads[key] = fanout.SlicedFanout(
                frame,
                members,
                deliver=lambda sids, f: self._offer_to(sids, key, rooms, f),
                done=lambda: self._spreads.pop(key, None),
                name=f"fanout-{event}-{own_room}",
            )
        else:
            self._offer_to(members, key, rooms, frame)
        return len(members)

    def _offer_to(
        self, sids: Iterable[str], key: OutboxKey, rooms: tuple[str, ...], frame: Frame
    ) -> None:
        """Offer ``frame`` to those of ``sids`` still connected and in one of ``rooms``."""
        clients = self.clients
        sent = conflated = 0
        for sid in sids:
            client = clients.get(sid)
            if client is None or client.rooms.isdisjoint(rooms):
                continue
            offer = client.delivery.offer(key, frame)
            if offer is Offer.SENT:
                sent += 1
            elif offer is Offer.REPLACED:
                conflated += 1
        if sent:
            self._sent(frame.event, sent)
        if conflated:
            self.metrics.messages_conflated.inc(conflated)

    def _sent(self, event: str, n: int) -> None:
        counter = self._out.get(event)
        if counter is None:
            counter = self._out[event] = self.metrics.messages_out.labels(event)
        counter.inc(n)

    async def _reply(self, client: _Client, event: str, body: Any) -> None:
        await client.delivery.send(Frame(event, _encoder.encode(body).decode()))

    # ------------------------------------------------------------ lifecycle

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        username: str | None = None
        if self.auth_required:
            token = auth.get("token") if isinstance(auth, dict) else None
            if not isinstance(token, str) or self.tokens is None:
                raise socketio.exceptions.ConnectionRefusedError(
                    "unauthorized",
                    {"error": "unauthorized", "detail": "auth payload needs {'token': <JWT>}"},
                )
            try:
                username = self.tokens.verify(token).username
            except EdgeError as exc:
                raise socketio.exceptions.ConnectionRefusedError(
                    exc.code, {"error": exc.code, "detail": exc.detail}
                ) from exc
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        sink = _frame_sink(environ)
        delivery: DirectDelivery | QueuedDelivery
        if sink is not None:
            delivery = DirectDelivery(sink, self._sent)
        else:
            delivery = QueuedDelivery(self.sio.eio, eio_sid, self._sent)
        self.clients[sid] = _Client(sid, eio_sid, username, delivery)
        self._direct += isinstance(delivery, DirectDelivery)
        self._count_clients()

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        client = self.clients.pop(sid, None)
        if client is None:
            return
        self._direct -= isinstance(client.delivery, DirectDelivery)
        await client.delivery.close()
        for room in client.rooms:
            self._leave(sid, room)
        self._count_clients()
        self.metrics.socket_rooms.set(len(self.rooms))

    def _count_clients(self) -> None:
        self.metrics.socket_clients.set(len(self.clients))
        self.metrics.socket_clients_direct.set(self._direct)

    async def close(self) -> None:
        spreads = [s.task for s in self._spreads.values()]
        for task in spreads:
            task.cancel()
        await asyncio.gather(*spreads, return_exceptions=True)
        await asyncio.gather(*(c.delivery.close() for c in self.clients.values()))

    # ------------------------------------------------------------ events

    async def _on_subscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._guard(sid, "subscribe", data, self._subscribe)

    async def _on_unsubscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._guard(sid, "unsubscribe", data, self._unsubscribe)

    async def _on_get_products(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._guard(sid, "get_products", data, self._get_products)

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        body = {"error": "unknown_event", "detail": f"unknown event {str(event)[:40]!r}"}
        client = self.clients.get(sid)
        if client is not None:
            await self._reply(client, "error", body)
        return body

    async def _guard(self, sid: str, event: str, data: Any, handler: Any) -> dict[str, Any]:
        client = self.clients.get(sid)
        if client is None:
            return {"error": "not_connected", "detail": "connect first"}
        try:
            if len(_encoder.encode(data)) > MAX_EVENT_BYTES:
                raise InvalidPayload(f"{event} payload is larger than {MAX_EVENT_BYTES} bytes")
            result: dict[str, Any] = await handler(client, data)
            return result
        except EdgeError as exc:
            body = {"error": exc.code, "detail": exc.detail}
        except (TypeError, msgspec.EncodeError):
            body = {"error": InvalidPayload.code, "detail": f"{event} payload is not JSON data"}
        await self._reply(client, "error", {**body, "event": event})
        return body

    async def _subscribe(self, client: _Client, data: Any) -> dict[str, Any]:
        rooms = [r for r in expand_request(data) if r.name not in client.rooms]
        if len(client.rooms) + len(rooms) > MAX_ROOMS_PER_CLIENT:
            raise BadRequest(f"at most {MAX_ROOMS_PER_CLIENT} rooms per connection")
        products = await self._products(rooms)
        for room in rooms:
            if room.product is None:
                continue
            if room.product not in products:
                raise UnknownProduct(f"unknown product {room.product!r}")
            if room.expiry is not None and room.expiry not in products[room.product]:
                raise UnknownExpiry(f"no live chain {room.product} {room.expiry}")
        # Again: this client's other subscribes may have joined rooms during the await.
        rooms = [r for r in rooms if r.name not in client.rooms]
        if len(client.rooms) + len(rooms) > MAX_ROOMS_PER_CLIENT:
            raise BadRequest(f"at most {MAX_ROOMS_PER_CLIENT} rooms per connection")
        for room in rooms:
            client.rooms.add(room.name)
            self.rooms.setdefault(room.name, set()).add(client.sid)
        self.metrics.socket_rooms.set(len(self.rooms))
        names = sorted(r.name for r in expand_request(data))
        await self._reply(client, "subscribed", {"rooms": names})
        for room in rooms:
            await self._snapshot(client, room, products)
        return {"ok": True, "rooms": names}

    async def _products(self, rooms: list[Room]) -> dict[str, list[str]]:
        """Live products and expiries, recent enough to check ``rooms`` against."""
        if not any(r.product for r in rooms):
            return {}
        products = await self.snapshots.product_map(max_age_s=PRODUCTS_MAX_AGE_S)
        if any(_unknown(products, r) for r in rooms):
            products = await self.snapshots.product_map()  # maybe new since: ask again
        return products

    async def _unsubscribe(self, client: _Client, data: Any) -> dict[str, Any]:
        names = sorted(r.name for r in expand_request(data))
        for name in names:
            if name in client.rooms:
                client.rooms.discard(name)
                self._leave(client.sid, name)
                client.delivery.outbox.forget_room(name)
        self.metrics.socket_rooms.set(len(self.rooms))
        await self._reply(client, "unsubscribed", {"rooms": names})
        return {"ok": True, "rooms": names}

    async def _get_products(self, client: _Client, data: Any) -> dict[str, Any]:
        raw = (await self.snapshots.products()).decode()
        await client.delivery.send(Frame("products", '{"products":' + raw + "}"))
        return {"products": msgspec.json.decode(raw)}

    def _leave(self, sid: str, room: str) -> None:
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]

    # ------------------------------------------------------------ snapshots

    async def _snapshot(self, client: _Client, room: Room, products: dict[str, list[str]]) -> None:
        """Queue the current state of ``room`` for one client, unless live data beat it."""
        if room.name == "general":
            products = products or await self.snapshots.product_map(max_age_s=PRODUCTS_MAX_AGE_S)
            for product in products:
                await self._offer(
                    client,
                    "underlying_update",
                    f"product:{product}",
                    self.snapshots.underlying(product),
                )
            return
        assert room.product is not None
        p = room.product
        if room.name.startswith("product:"):
            await self._offer(client, "underlying_update", room.name, self.snapshots.underlying(p))
            await self._offer(client, "surface_update", room.name, self.snapshots.surface(p))
            return
        expiries = [room.expiry] if room.expiry else products.get(p, [])
        for expiry in expiries:
            own = f"chain:{p}:{expiry}"
            await self._offer(client, "chain_summary", own, self.snapshots.summary(p, expiry))
            await self._offer(client, "chain_update", own, self.snapshots.chain(p, expiry))

    async def _offer(self, client: _Client, event: str, own_room: str, fetch: Any) -> None:
        key: OutboxKey = (event, own_room)
        version = self._versions.get(key, 0)
        try:
            raw: bytes = await fetch
        except EdgeError as exc:
            # No data yet (404) or a chain restarting: live updates will follow.
            log.debug("snapshot_skipped", room=own_room, event=event, error=exc.code)
            return
        # A live message that arrived meanwhile is newer than the snapshot: drop the snapshot.
        if client.sid in self.clients and self._versions.get(key, 0) == version:
            offer = client.delivery.offer(key, Frame(event, raw.decode()))
            if offer is Offer.SENT:
                self._sent(event, 1)


def _unknown(products: dict[str, list[str]], room: Room) -> bool:
    if room.product is None:
        return False
    expiries = products.get(room.product)
    return expiries is None or (room.expiry is not None and room.expiry not in expiries)


def _frame_sink(environ: dict[str, Any]) -> FrameSink | None:
    """The direct frame path of a client that connected over a websocket (edge.websocket)."""
    scope = environ.get("asgi.scope") or {}
    if scope.get("type") != "websocket":
        return None
    extension = (scope.get("extensions") or {}).get(FRAMES_EXTENSION)
    return extension["sink"] if extension else None
