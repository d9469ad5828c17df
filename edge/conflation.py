"""Per-client conflation: the latest pending payload per (event, room), sent one at a time.

python-engineio's per-client queue is unbounded: a client that reads slower than the market
moves would make the edge buffer every update for it. Instead each client has an ``Outbox``
holding at most one packet per key (event, room), where room is the message's own room
(``chain:<P>:<E>`` for chain events, ``product:<P>`` for underlying and surface): a newer
payload replaces a pending one in place. A pump task hands one packet at a time to
engine.io and waits until the transport has taken it (the engine.io queue is joined; its
websocket writer only polls again once the previous frame was written, and uvicorn's
websocket ``send`` waits while the TCP buffer is above its high-water mark). So per client
the edge holds at most: the frame being written, one queued packet, and one per key here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Outbox", "OutboxKey", "pump"]

OutboxKey = tuple[str, str]  # (event, room)


class Outbox:
    def __init__(self) -> None:
        self._pending: dict[OutboxKey, str] = {}
        self._versions: dict[OutboxKey, int] = {}
        self.ready = asyncio.Event()
        self.replaced = 0

    def __len__(self) -> int:
        return len(self._pending)

    def version(self, key: OutboxKey) -> int:
        return self._versions.get(key, 0)

    def put(self, key: OutboxKey, packet: str) -> bool:
        """Queue ``packet`` under ``key``; True when it replaced an unsent one."""
        replaced = key in self._pending
        self._pending[key] = packet
        self._versions[key] = self._versions.get(key, 0) + 1
        if replaced:
            self.replaced += 1
        self.ready.set()
        return replaced

    def put_if_unchanged(self, key: OutboxKey, packet: str, version: int) -> bool:
        """Queue a snapshot fetched when ``key`` was at ``version``, unless a live message
        arrived meanwhile (it is newer than the snapshot, so the snapshot is dropped)."""
        if self.version(key) != version:
            return False
        self.put(key, packet)
        return True

    def peek(self, key: OutboxKey) -> str | None:
        return self._pending.get(key)

    def pop(self) -> tuple[OutboxKey, str] | None:
        if not self._pending:
            self.ready.clear()
            return None
        key = next(iter(self._pending))
        return key, self._pending.pop(key)

    def forget_room(self, room: str) -> None:
        for key in [k for k in self._versions if k[1] == room]:
            self._versions.pop(key, None)
            self._pending.pop(key, None)


async def pump(
    outbox: Outbox,
    send: Callable[[str], Awaitable[bool]],
    on_sent: Callable[[str], None],
) -> None:
    """Send the outbox's packets, oldest key first, one at a time, until ``send`` says the
    client is gone (returns False). ``send`` returns once the transport took the packet."""
    while True:
        await outbox.ready.wait()
        item = outbox.pop()
        if item is None:
            continue
        (event, _room), packet = item
        if not await send(packet):
            return
        on_sent(event)
