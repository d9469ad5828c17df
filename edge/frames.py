"""Socket.IO events encoded once for every receiver.

An analytics message goes to every member of a room unchanged, so its Socket.IO EVENT
packet (``2["chain_summary",{...}]``) and the websocket text frame that carries it as an
engine.io MESSAGE (``42[...]``) are built once per message, not once per client. A server's
websocket frames are not masked (RFC 6455 §5.1), so the same bytes are valid on every
connection.
"""

from __future__ import annotations

import struct

__all__ = ["Frame", "text_frame"]

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text)
_LEN_16 = 126
_LEN_64 = 127


def text_frame(data: bytes) -> bytes:
    """One unfragmented, unmasked websocket text frame around ``data`` (UTF-8)."""
    n = len(data)
    if n < _LEN_16:
        head = bytes((_FIN_TEXT, n))
    elif n < 1 << 16:
        head = struct.pack("!BBH", _FIN_TEXT, _LEN_16, n)
    else:
        head = struct.pack("!BBQ", _FIN_TEXT, _LEN_64, n)
    return head + data


class Frame:
    """One Socket.IO EVENT for the default namespace around an already-encoded JSON payload.

    ``packet`` is the Socket.IO packet (what python-engineio's ``send`` takes); ``wire`` is
    the complete websocket frame of the engine.io MESSAGE around it, built on first use.
    """

    __slots__ = ("_wire", "event", "packet")

    def __init__(self, event: str, payload_json: str) -> None:
        self.event = event
        self.packet = f'2["{event}",{payload_json}]'
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = text_frame(b"4" + self.packet.encode())
        return self._wire
