"""One partition's view of time per product, and which of its chains that time has settled.

A product's clock is the latest feed ``ts`` seen for it (restored chains bring theirs): time
comes from the feed, never the wall clock, so a replay of an old day behaves as the day did.
A chain whose expiry instant the clock has reached is *expired*: ticks no longer re-price it
and it stops being the product's default expiry. ``retire_after_ns`` later it is *due to
retire*: the supervisor saves its last state and stops its actor (``Supervisor.retire``).
"""

from __future__ import annotations

__all__ = ["ExpiryClock"]

ChainKey = tuple[str, str]  # (product, ISO expiry), as the supervisor keys its chains

_NEVER = 2**63


class ExpiryClock:
    def __init__(self, *, retire_after_ns: int) -> None:
        self.retire_after_ns = retire_after_ns
        self.clock: dict[str, int] = {}
        self._expires_ns: dict[ChainKey, int] = {}
        # Cheap per-batch test: nothing can be due before the earliest retirement instant
        # of a registered chain is reached by the latest clock of any product.
        self._latest_ns = 0
        self._next_retire_ns = _NEVER

    def advance(self, product: str, ts_ns: int) -> None:
        if ts_ns > self.clock.get(product, 0):
            self.clock[product] = ts_ns
            self._latest_ns = max(self._latest_ns, ts_ns)

    def add(self, key: ChainKey, expires_ns: int) -> None:
        self._expires_ns[key] = expires_ns
        self._next_retire_ns = min(self._next_retire_ns, expires_ns + self.retire_after_ns)

    def remove(self, key: ChainKey) -> None:
        self._expires_ns.pop(key, None)
        self._next_retire_ns = min(
            (e + self.retire_after_ns for e in self._expires_ns.values()), default=_NEVER
        )

    def live_at(self, key: ChainKey, ts_ns: int) -> bool:
        """Whether the chain has not expired at ``ts_ns`` (an unknown one counts as live)."""
        return self._expires_ns.get(key, ts_ns + 1) > ts_ns

    def live(self, key: ChainKey) -> bool:
        """Whether the chain has not expired at its product's clock."""
        return self.live_at(key, self.clock.get(key[0], 0))

    def retired(self, product: str, expires_ns: int) -> bool:
        """Whether an expiry of ``product`` has been settled for ``retire_after_ns``."""
        return expires_ns + self.retire_after_ns <= self.clock.get(product, 0)

    def due(self) -> list[ChainKey]:
        """The registered chains that have retired at their product's clock."""
        if self._latest_ns < self._next_retire_ns:
            return []
        return [key for key, expires in self._expires_ns.items() if self.retired(key[0], expires)]
