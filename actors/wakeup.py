"""A wake-up one coroutine sleeps on, with a time-out, at the cost of one future.

``asyncio.wait_for(event.wait(), t)`` (Python 3.11) wraps the wait in a task and resumes
the sleeper two loop turns after ``set``; on the path of every feed and analytics message
those turns are latency, and under load each turn also runs whatever else is ready.
"""

from __future__ import annotations

import asyncio

__all__ = ["Wakeup"]


class Wakeup:
    """``set`` (on the loop's thread) wakes the sleeper, or the next ``wait`` if none sleeps."""

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self, timeout_s: float | None) -> bool:
        """True when woken (and the flag is cleared), False after ``timeout_s``."""
        if self._set:
            self._set = False
            return True
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if timeout_s is None else loop.call_later(timeout_s, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        woken = self._set
        self._set = False
        return woken


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
