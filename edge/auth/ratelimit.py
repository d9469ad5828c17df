"""Sliding-window rate limits kept in this edge's memory (per replica).

Each key (an account or a client address) remembers the times of its recent attempts; the
number of keys is capped, oldest first out, so a flood of random names cannot grow memory
without bound. Several replicas each enforce the limit on their own;
``edge.auth.shared_limit`` makes a limit global through Redis and falls back to this one.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Sequence

__all__ = ["SlidingWindowLimiter"]

DEFAULT_MAX_KEYS = 100_000


class SlidingWindowLimiter:
    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._hits: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def retry_after_s(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None when it is under its limit."""
        hits = self._recent(key)
        if hits is None or len(hits) < self.limit:
            return None
        return max(1, math.ceil(hits[0] + self.window_s - self._clock()))

    def acquire(self, keys: Sequence[str]) -> int | None:
        """Count one attempt against every key unless one of them is at its limit; then
        answer the seconds to wait (and count nothing)."""
        waits = [w for key in keys if (w := self.retry_after_s(key))]
        if waits:
            return max(waits)
        for key in keys:
            self.hit(key)
        return None

    def hit(self, key: str) -> None:
        hits = self._recent(key)
        if hits is None:
            hits = collections.deque()
            self._hits[key] = hits
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        self._hits.move_to_end(key)
        hits.append(self._clock())

    def _recent(self, key: str) -> collections.deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        horizon = self._clock() - self.window_s
        while hits and hits[0] <= horizon:
            hits.popleft()
        return hits
