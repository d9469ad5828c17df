"""How close one partition's ingress is to losing FEED messages it has not read, and whether
it already lost some.

FEED is bounded by age and bytes and, when full, drops its oldest messages (discard old):
a live feed is never refused. Normally those were applied long ago — recovery needs FEED
only after the last checkpoint, seconds back. Two things can still cost messages: an
ingress that falls behind by most of FEED's capacity, and a partition restarted from a
checkpoint older than FEED's first message. Both are reported here (a warning in the host's
health, which the edge's /health shows as degraded, a log line, metrics), never silently.

Gaps are found with one partition (the default), where every FEED sequence is a message of
its consumer. With several, sequences interleave: a range below FEED's first message may
hold only other partitions' messages (a quiet product's partition would be warned about
every time FEED wraps), so there only the lag is watched.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import structlog

from actors import subjects
from actors.metrics import FEED_LAG_MESSAGES, FEED_LAG_SHARE, FEED_MISSED

__all__ = ["LAG_WARN_SHARE", "FeedWatch"]

log = structlog.get_logger(__name__)

# Behind by this share of FEED's byte limit: warn while there is still room to catch up.
LAG_WARN_SHARE = 0.5
_GAPS_KEPT = 10


class FeedWatch:
    def __init__(self, js: Any, *, durable: str, partition: int, partitions: int) -> None:
        self._js = js
        self._durable = durable
        self.partition = partition
        self._exact = partitions == 1
        self.lag_messages = 0
        self.lag_share = 0.0
        self.gaps: deque[tuple[int, int]] = deque(maxlen=_GAPS_KEPT)
        self._checked_to = 0  # gaps at or below this sequence were reported already
        self._label = str(partition)

    def warnings(self) -> list[str]:
        out = []
        if self.lag_share >= LAG_WARN_SHARE:
            out.append(
                f"partition {self.partition}'s ingress is {self.lag_messages} messages "
                f"({self.lag_share:.0%} of FEED's byte limit) behind; FEED drops its oldest "
                "messages when full"
            )
        for first, last in self.gaps:
            out.append(
                f"FEED dropped messages {first}-{last} before partition {self.partition} "
                "applied them (age or byte limit); its chains miss those updates"
            )
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "lag_messages": self.lag_messages,
            "lag_share": round(self.lag_share, 4),
            "gaps": [list(g) for g in self.gaps],
        }

    async def check_start(self, start_seq: int) -> None:
        """At partition start: is everything from the checkpoint on still in FEED?"""
        info = await self._js.stream_info(subjects.FEED_STREAM)
        self._note_gap(start_seq, int(info.state.first_seq) - 1)

    async def check(self) -> None:
        """Lag of this partition's consumer, and messages FEED dropped before it read them."""
        stream = await self._js.stream_info(subjects.FEED_STREAM)
        consumer = await self._js.consumer_info(subjects.FEED_STREAM, self._durable)
        state = stream.state
        pending = int(consumer.num_pending or 0)
        max_bytes = stream.config.max_bytes or 0
        per_msg = state.bytes / state.messages if state.messages else 0.0
        self.lag_messages = pending
        self.lag_share = pending * per_msg / max_bytes if max_bytes > 0 else 0.0
        FEED_LAG_MESSAGES.labels(self._label).set(pending)
        FEED_LAG_SHARE.labels(self._label).set(self.lag_share)
        if self.lag_share >= LAG_WARN_SHARE:
            log.warning(
                "feed_ingress_lagging",
                partition=self.partition,
                pending=pending,
                share=round(self.lag_share, 3),
            )
        delivered = int(consumer.delivered.stream_seq or 0) if consumer.delivered else 0
        # Nothing delivered beyond `delivered` yet FEED starts above it: what lay between
        # was dropped before this consumer read it.
        self._note_gap(delivered + 1, int(state.first_seq) - 1)

    def _note_gap(self, first: int, last: int) -> None:
        first = max(first, self._checked_to + 1)
        if last < first or not self._exact:
            return
        self._checked_to = last
        self.gaps.append((first, last))
        FEED_MISSED.labels(self._label).inc(last - first + 1)
        log.error(
            "feed_gap",
            partition=self.partition,
            first_seq=first,
            last_seq=last,
        )
