"""History pages of one analytics subject read from the ANALYTICS stream (read-only).

The stream keeps ``analytics_history_per_subject`` messages per subject (2000 by default) for
at most ``analytics_max_age_s``, interleaved with every other subject: the enriched chains
(tens of KiB each) sit in the same blocks as the summaries. JetStream cannot read backwards,
so reading a subject from its first message touches every block of the stream, and nats-server
then holds the whole stream in its block cache (`bench/soak.py` saw it grow by ~900 MiB).

Without ``from`` a page is therefore read from the tail: from just below the subject's newest
message (or below the cursor) back in windows that double in length, each read forward by an
ephemeral, ack-less pull consumer filtered on the subject, until the newest ``limit + 1``
admitted messages are in hand or the stream's start is reached. The first window is sized
from the subject's share of the stream (stream info with a subject filter), so a usual page
takes one read. This walk relies on what the actors publish: on one analytics subject ``ts``
does not decrease as the stream sequence grows (summaries and ticks carry the latest feed time
their actor applied). A read that finds ``ts`` going backwards (another publisher on the
subject) falls back to reading the whole subject (within the sequence bounds) for that page.

With ``from`` the read starts by time (``opt_start_time``): a message's ``ts`` (the feed's
clock) is earlier than the time the stream stored it, give or take ``CLOCK_SKEW_S`` between
the feed's and the server's clocks, so nothing at or after ``from`` was stored before
``from − CLOCK_SKEW_S``.

``from_seq`` and ``to_seq`` bound the reads themselves, not just the page: the tail walk starts
below ``to_seq`` (and below the cursor) and stops at ``from_seq``; a read with ``from`` starts
at ``from_seq`` when that comes after the time's start, and stops at ``to_seq``. Consumers are
deleted after each read (and expire by themselves if this edge dies mid-read).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import msgspec
import nats.errors
import nats.js.errors

from actors import subjects
from actors.archive.pages import HistoryItem, HistoryPage, HistoryRange
from actors.stream_reads import last_on_subject, read_range
from edge.errors import Unavailable, UpstreamTimeout

__all__ = ["CLOCK_SKEW_S", "AnalyticsHistory"]

CLOCK_SKEW_S = 300
_FIRST_WINDOW_SLACK = 1.5  # the subject's share of the stream is not exactly even
_MIN_WINDOW = 64


class _Stamp(msgspec.Struct):
    ts: int


_stamp = msgspec.json.Decoder(_Stamp)


class _NotMonotone(Exception):
    """A subject's ``ts`` went backwards: the tail walk cannot bound the page."""


class _Newest:
    """The newest ``limit + 1`` admitted messages seen so far, by (ts, seq)."""

    def __init__(self, r: HistoryRange) -> None:
        self.r = r
        self.heap: list[tuple[int, int, bytes]] = []

    def offer(self, ts: int, seq: int, data: bytes) -> None:
        if not self.r.admits(ts, seq):
            return
        entry = (ts, seq, data)
        if len(self.heap) <= self.r.limit:
            heapq.heappush(self.heap, entry)
        else:
            heapq.heappushpop(self.heap, entry)

    @property
    def full(self) -> bool:
        return len(self.heap) > self.r.limit

    def page(self) -> HistoryPage:
        newest_first = [HistoryItem(ts, seq, data) for ts, seq, data in sorted(self.heap)[::-1]]
        return HistoryPage.of(newest_first, self.r.limit)


class AnalyticsHistory:
    def __init__(self, js: object) -> None:
        self._js = js
        # Stream messages read for the last page (a cost probe for tests and debugging).
        self.last_read = 0

    async def page(self, r: HistoryRange) -> HistoryPage:
        self.last_read = 0
        try:
            if r.from_ns is not None:
                return await self._forward_page(r)
            try:
                return await self._tail_page(r)
            except _NotMonotone:
                return await self._forward_page(r)
        except nats.errors.TimeoutError as exc:
            raise UpstreamTimeout("reading analytics history timed out") from exc
        except nats.js.errors.NotFoundError as exc:
            raise Unavailable("the ANALYTICS stream does not exist") from exc
        except nats.errors.Error as exc:
            raise Unavailable(f"JetStream is not reachable ({type(exc).__name__})") from exc

    async def _forward_page(self, r: HistoryRange) -> HistoryPage:
        """Read forward from ``from − CLOCK_SKEW_S`` or ``from_seq``, whichever comes later
        (else the subject's first message), up to ``to_seq``."""
        start_ns = None
        if r.from_ns is not None and r.from_ns > CLOCK_SKEW_S * 10**9:
            start_ns = r.from_ns - CLOCK_SKEW_S * 10**9
        newest = _Newest(r)
        await self._read(
            r.subject,
            newest.offer,
            first_seq=r.from_seq or 1,
            last_seq=None if r.to_seq is None else r.to_seq - 1,
            start_time_ns=start_ns,
        )
        return newest.page()

    async def _tail_page(self, r: HistoryRange) -> HistoryPage:
        """Walk back from the newest message (or the cursor, or ``to_seq``) in doubling
        windows, down to ``from_seq`` at most."""
        newest = _Newest(r)
        top = await self._newest_seq(r.subject)
        if top is None:
            return newest.page()
        if r.to_seq is not None:
            top = min(top, r.to_seq - 1)
        if r.before is not None:
            # ts never decreases along the subject, so everything before the cursor's
            # (ts, seq) lies below its sequence.
            top = min(top, r.before.seq - 1)
        if top < (r.from_seq or 1):
            return newest.page()
        window, stream_first = await self._first_window(r.subject, r.limit + 1)
        bottom = max(stream_first, r.from_seq or 1)
        oldest_ts_above: int | None = None  # ts of the first message of the window above
        while top >= bottom and not newest.full:
            first = max(bottom, top - window + 1)
            chunk: list[tuple[int, int, bytes]] = []

            def keep(
                ts: int, seq: int, data: bytes, chunk: list[tuple[int, int, bytes]] = chunk
            ) -> None:
                if chunk and ts < chunk[-1][0]:
                    raise _NotMonotone
                chunk.append((ts, seq, data))

            await self._read(r.subject, keep, first_seq=first, last_seq=top)
            if chunk and oldest_ts_above is not None and chunk[-1][0] > oldest_ts_above:
                raise _NotMonotone
            for ts, seq, data in chunk:
                newest.offer(ts, seq, data)
            if chunk:
                oldest_ts_above = chunk[0][0]
            top, window = first - 1, window * 2
        return newest.page()

    async def _read(
        self,
        subject: str,
        take: Callable[[int, int, bytes], None],
        *,
        first_seq: int = 1,
        last_seq: int | None = None,
        start_time_ns: int | None = None,
    ) -> None:
        bounds = {} if last_seq is None else {"last_seq": last_seq}
        async for msg in read_range(
            self._js,  # type: ignore[arg-type]
            stream=subjects.ANALYTICS_STREAM,
            filter_subjects=[subject],
            first_seq=first_seq,
            start_time_ns=start_time_ns,
            **bounds,  # type: ignore[arg-type]
        ):
            self.last_read += 1
            try:
                ts = _stamp.decode(msg.data).ts
            except msgspec.DecodeError:
                continue  # not a message this reader can place in time
            take(ts, msg.metadata.sequence.stream, bytes(msg.data))

    async def _newest_seq(self, subject: str) -> int | None:
        try:
            raw = await self._js.get_msg(  # type: ignore[attr-defined]
                subjects.ANALYTICS_STREAM, subject=subject, direct=True
            )
        except nats.js.errors.NotFoundError:
            return None
        return int(raw.seq)

    async def _first_window(self, subject: str, wanted: int) -> tuple[int, int]:
        """How many stream sequences likely hold ``wanted`` messages of ``subject``, and the
        stream's first sequence (nothing below it is left to read)."""
        info = await self._js.stream_info(  # type: ignore[attr-defined]
            subjects.ANALYTICS_STREAM, subjects_filter=subject
        )
        state = info.state
        on_subject = (state.subjects or {}).get(subject, 0)
        span = max(1, state.last_seq - state.first_seq + 1)
        first = max(1, state.first_seq)
        if on_subject == 0:
            return _MIN_WINDOW, first
        return max(_MIN_WINDOW, int(wanted * span / on_subject * _FIRST_WINDOW_SLACK)), first

    async def last(self, subject: str) -> bytes | None:
        """The newest payload on ``subject`` (a direct get), or None."""
        try:
            return await last_on_subject(self._js, subjects.ANALYTICS_STREAM, subject)  # type: ignore[arg-type]
        except nats.errors.TimeoutError as exc:
            raise UpstreamTimeout("reading the analytics stream timed out") from exc
        except (nats.errors.ConnectionClosedError, nats.errors.NoRespondersError) as exc:
            raise Unavailable("JetStream is not reachable") from exc
