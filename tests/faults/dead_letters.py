"""Read the DLQ while a test runs: every dead letter by the FEED sequence it came from."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tests.conftest import WAIT_S


@dataclass(frozen=True, slots=True)
class DeadLetter:
    subject: str
    reason: str
    detail: str
    original_subject: str
    stream_seq: int
    data: bytes


class DeadLetterLog:
    """A core subscription on ``deltastream.dlq.>``; ``wait(seq)`` returns that letter."""

    def __init__(self, nc: Any) -> None:
        self._nc = nc
        self._sub: Any = None
        self.by_seq: dict[int, DeadLetter] = {}
        self._changed = asyncio.Condition()

    async def start(self) -> DeadLetterLog:
        self._sub = await self._nc.subscribe("deltastream.dlq.>", cb=self._on_msg)
        await self._nc.flush()
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_msg(self, msg: Any) -> None:
        h = msg.headers or {}
        letter = DeadLetter(
            subject=msg.subject,
            reason=h.get("Deltastream-Reason", ""),
            detail=h.get("Deltastream-Detail", ""),
            original_subject=h.get("Deltastream-Subject", ""),
            stream_seq=int(h.get("Deltastream-Stream-Seq", "0")),
            data=bytes(msg.data),
        )
        async with self._changed:
            self.by_seq[letter.stream_seq] = letter
            self._changed.notify_all()

    async def wait(self, seq: int, timeout_s: float = WAIT_S) -> DeadLetter:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: seq in self.by_seq), timeout_s)
        return self.by_seq[seq]

    async def wait_count(self, n: int, timeout_s: float = WAIT_S) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.by_seq) >= n), timeout_s)
