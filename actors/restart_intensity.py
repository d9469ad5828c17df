"""OTP-style restart intensity: at most ``max_restarts`` restarts within any ``window_s``.

A supervisor asks before each restart. Past the limit something fails faster than restarts
mend it, so the supervisor stops restarting (escalates) instead of looping.
"""

from __future__ import annotations

import time
from collections import deque

__all__ = ["RestartIntensity"]


class RestartIntensity:
    """The restarts of the last ``window_s`` seconds (monotonic clock). Not thread-safe: one
    owner, on one thread (the supervisor's loop)."""

    def __init__(self, *, max_restarts: int, window_s: float) -> None:
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._restarts: deque[float] = deque()

    def allow(self) -> bool:
        """Record a restart now and return True; False, recording nothing, when
        ``max_restarts`` were recorded within the last ``window_s``."""
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self.window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return False
        self._restarts.append(now)
        return True

    def describe(self) -> str:
        """The limit in words, for an escalation's reason."""
        return f"more than {self.max_restarts} restarts in {self.window_s:g} s"
