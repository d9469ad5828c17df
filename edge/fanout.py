"""Large frames to many clients, a slice at a time, so small frames are not held behind them.

Writing a frame to 1,000 websocket clients is 1,000 ``send`` calls. For a full enriched chain
(~35 KB) that held an edge's event loop for ~40 ms on the bench machine (bench/RESULTS.md),
and every ``chain_summary`` arriving meanwhile waited. ``SocketHub.publish`` still writes small
frames to all members in one pass, but gives a large frame to many clients to a
``SlicedFanout``: it offers the frame to ``SLICE_CLIENTS`` clients at a time and yields to the
event loop between slices, where frames that arrived meanwhile go out.

There is one ``SlicedFanout`` per (event, own room) at a time, which keeps each client's
frames of that key in order: a newer frame replaces the one being spread. Clients not reached
yet then get only the newer frame, clients already reached get it after them, and clients
that joined the room since are included (their snapshot was dropped as older than this
frame, see ``SocketHub._offer``). Whoever left meanwhile is skipped by ``deliver``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from edge.frames import Frame

__all__ = ["LARGE_FRAME_BYTES", "SLICE_CLIENTS", "SlicedFanout"]

SLICE_CLIENTS = 64
LARGE_FRAME_BYTES = 16 * 1024


class SlicedFanout:
    def __init__(
        self,
        frame: Frame,
        members: Iterable[str],
        *,
        deliver: Callable[[list[str], Frame], None],
        done: Callable[[], None],
        name: str,
    ) -> None:
        """``deliver(sids, frame)`` offers ``frame`` to those clients that are still members;
        ``done()`` is called once every member got the latest frame (or on cancellation)."""
        self.frame = frame
        self._todo = list(members)
        self._next = 0
        self._deliver = deliver
        self._done = done
        self.task = asyncio.create_task(self._run(), name=name)

    def replace(self, frame: Frame, members: Iterable[str]) -> None:
        """Spread ``frame`` instead: first to the clients not reached yet, then to the rest of
        ``members`` (the room's members now)."""
        waiting = self._todo[self._next :]
        pending = set(waiting)
        self._todo = waiting + [sid for sid in members if sid not in pending]
        self._next = 0
        self.frame = frame

    async def _run(self) -> None:
        try:
            while self._next < len(self._todo):
                end = self._next + SLICE_CLIENTS
                self._deliver(self._todo[self._next : end], self.frame)
                self._next = end
                await asyncio.sleep(0)  # let frames that arrived meanwhile go first
        finally:
            self._done()
