"""The python-socketio server of the edge, refusing binary packets.

python-socketio keeps a binary event's attachments until every one it announced (up to ten
digits' worth) has arrived, so one client could make the edge buffer without bound.
deltastream's events are small JSON: ``JsonOnlyServer`` answers a binary EVENT or ACK with an
``error`` event (and an acknowledgement when the sender waits for one) before python-socketio
sees it, and drops its attachments as they come; it answers an event named like one of
Socket.IO's own (``RESERVED_EVENTS``) the same way. ``edge.sockets`` runs everything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec
import socketio
from socketio import packet

from edge.errors import InvalidPayload

__all__ = ["RESERVED_EVENTS", "JsonOnlyServer"]

# Names Socket.IO keeps for its own events. python-socketio dispatches a client's EVENT by
# name, so a client sending ``connect`` or ``disconnect`` as an event would run the server's
# own connect or disconnect handler with arguments of its choosing.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

# The head of a binary EVENT (5) or ACK (6) packet: attachment count, namespace, ack id, event.
_BINARY_HEAD = re.compile(
    r'[56]\d{1,10}-(?:/[^,]{0,80},)?(?P<id>\d{0,20})(?:\["(?P<event>[^"]{0,40})")?'
)
_BINARY_HEAD_CHARS = 200

_encoder = msgspec.json.Encoder()


class JsonOnlyServer(socketio.AsyncServer):
    """The Socket.IO server, with binary packets refused before python-socketio sees them;
    ``on_binary`` is called once per refused packet (a metric)."""

    def __init__(self, *, on_binary: Callable[[], object], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_binary = on_binary

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        if isinstance(data, bytes):
            return  # an attachment
        if data[:1] in ("5", "6"):
            await self._refuse_binary(eio_sid, data[:_BINARY_HEAD_CHARS])
            return
        await super()._handle_eio_message(eio_sid, data)

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: Any
    ) -> None:
        name = data[0] if data else None
        if isinstance(name, str) and name in RESERVED_EVENTS:
            body = {
                "error": "unknown_event",
                "detail": f"{name!r} is a name Socket.IO keeps for itself",
                "event": name,
            }
            await self._send(eio_sid, packet.EVENT, namespace, ["error", body])
            if id is not None:  # the sender waits for an acknowledgement
                await self._send(eio_sid, packet.ACK, namespace, [body], id=id)
            return
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)

    async def _send(
        self, eio_sid: str, kind: int, namespace: str, data: list[Any], id: Any = None
    ) -> None:
        pkt = self.packet_class(kind, namespace=namespace, data=data, id=id)
        await self.eio.send(eio_sid, pkt.encode())

    async def _refuse_binary(self, eio_sid: str, head: str) -> None:
        self._on_binary()
        m = _BINARY_HEAD.match(head)
        body = {
            "error": InvalidPayload.code,
            "detail": "binary payloads are not accepted: send JSON",
            "event": (m["event"] if m else None) or "",
        }
        body_json = _encoder.encode(body).decode()
        await self.eio.send(eio_sid, f'2["error",{body_json}]')
        if m and m["id"] and head[0] == "5":  # the sender waits for an acknowledgement
            await self.eio.send(eio_sid, f"3{m['id']}[{body_json}]")
