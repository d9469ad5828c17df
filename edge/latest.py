"""The latest analytics message per subject, as the bridge received it, for snapshot reads.

A chain actor answers the ``summary`` snapshot request with the very bytes it last published
on ``deltastream.analytics.summary.<P>.<E>``, and a product actor answers ``underlying`` with
its last ``deltastream.analytics.underlying.<P>`` message. The edge's bridge receives every
one of those messages anyway, so a snapshot read can be served from here without a NATS
round trip to the actors, as long as the message is recent: an entry older than
``max_age_s`` is not used (the caller asks the actors, which also say 404/503 when the
chain is gone or down). Entries are bounded (the oldest subject is dropped first), since any
NATS publisher could invent subjects.
"""

from __future__ import annotations

import time

__all__ = ["DEFAULT_MAX_SUBJECTS", "LatestMessages"]

DEFAULT_MAX_SUBJECTS = 10_000


class LatestMessages:
    def __init__(self, *, max_age_s: float, max_subjects: int = DEFAULT_MAX_SUBJECTS) -> None:
        self.max_age_s = max_age_s
        self.max_subjects = max_subjects
        self._entries: dict[str, tuple[float, bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, subject: str, data: bytes) -> None:
        if self.max_age_s <= 0:
            return
        entries = self._entries
        if subject in entries:
            del entries[subject]  # re-insert: dict order stays oldest-updated first
        elif len(entries) >= self.max_subjects:
            del entries[next(iter(entries))]
        entries[subject] = (time.monotonic(), data)

    def get(self, subject: str) -> bytes | None:
        """The latest message on ``subject`` if it arrived within ``max_age_s``."""
        entry = self._entries.get(subject)
        if entry is None or time.monotonic() - entry[0] > self.max_age_s:
            return None
        return entry[1]
