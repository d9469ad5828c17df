"""History pages of one analytics subject read from the ANALYTICS stream (read-only).

The stream keeps ``analytics_history_per_subject`` messages per subject (2000 by default) for
at most ``analytics_max_age_s``. JetStream cannot read backwards, so an ephemeral, ack-less
pull consumer filtered on the subject reads forward and a bounded heap keeps the newest
``limit + 1`` matches. With ``from`` the read starts by time (``opt_start_time``) rather than
at the subject's first message: a message's ``ts`` (the feed's clock) is earlier than the
time the stream stored it, give or take ``CLOCK_SKEW_S`` between the feed's and the server's
clocks, so nothing at or after ``from`` was stored before ``from − CLOCK_SKEW_S``.
The consumer is deleted afterwards (and expires by itself if this edge dies mid-read).
"""

from __future__ import annotations

import heapq

import msgspec
import nats.errors
import nats.js.errors

from actors import subjects
from actors.archive.pages import HistoryItem, HistoryPage, HistoryRange
from actors.streams import last_on_subject, read_range
from edge.errors import Unavailable, UpstreamTimeout

__all__ = ["CLOCK_SKEW_S", "AnalyticsHistory"]

CLOCK_SKEW_S = 300


class _Stamp(msgspec.Struct):
    ts: int


_stamp = msgspec.json.Decoder(_Stamp)


class AnalyticsHistory:
    def __init__(self, js: object) -> None:
        self._js = js

    async def page(self, r: HistoryRange) -> HistoryPage:
        start_ns = None
        if r.from_ns is not None and r.from_ns > CLOCK_SKEW_S * 10**9:
            start_ns = r.from_ns - CLOCK_SKEW_S * 10**9
        kept: list[tuple[int, int, bytes]] = []  # a min-heap of the newest limit + 1
        try:
            async for msg in read_range(
                self._js,  # type: ignore[arg-type]
                stream=subjects.ANALYTICS_STREAM,
                filter_subjects=[r.subject],
                start_time_ns=start_ns,
            ):
                try:
                    ts = _stamp.decode(msg.data).ts
                except msgspec.DecodeError:
                    continue  # not a message this reader can place in time
                seq = msg.metadata.sequence.stream
                if not r.admits(ts, seq):
                    continue
                entry = (ts, seq, bytes(msg.data))
                if len(kept) <= r.limit:
                    heapq.heappush(kept, entry)
                else:
                    heapq.heappushpop(kept, entry)
        except nats.errors.TimeoutError as exc:
            raise UpstreamTimeout("reading analytics history timed out") from exc
        except nats.js.errors.NotFoundError as exc:
            raise Unavailable("the ANALYTICS stream does not exist") from exc
        except nats.errors.Error as exc:
            raise Unavailable(f"JetStream is not reachable ({type(exc).__name__})") from exc
        newest_first = [HistoryItem(ts, seq, data) for ts, seq, data in sorted(kept, reverse=True)]
        return HistoryPage.of(newest_first, r.limit)

    async def last(self, subject: str) -> bytes | None:
        """The newest payload on ``subject`` (a direct get), or None."""
        try:
            return await last_on_subject(self._js, subjects.ANALYTICS_STREAM, subject)  # type: ignore[arg-type]
        except nats.errors.TimeoutError as exc:
            raise UpstreamTimeout("reading the analytics stream timed out") from exc
        except (nats.errors.ConnectionClosedError, nats.errors.NoRespondersError) as exc:
            raise Unavailable("JetStream is not reachable") from exc
