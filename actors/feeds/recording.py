"""Record what FEED carried to a JSONL file, and replay such a file into FEED.

One line per message: ``{"seq": <FEED seq>, "ts_ns": <stream time>, "subject": ...,
"payload": <text>}`` (or ``"payload_b64"`` when the payload is not UTF-8), so malformed
messages are kept byte for byte too. The subject is the one published: a partitioned FEED's
partition token (``subjects.FeedLayout``) is left out, so a recording replays into a FEED
with any partition count.

FEED drops its oldest messages when full (``discard: old``): a recorder that falls behind
by the whole stream, or a message deleted by hand, leaves a hole in the stream sequence.
The recording cannot contain those messages, so ``record`` reports each hole (a
``recording_gap`` log line at once, and the ranges in its result) rather than write a
recording that looks complete.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import structlog
from nats.aio.client import DEFAULT_MAX_RECONNECT_ATTEMPTS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from actors import subjects
from actors.feeds.connect import connect
from actors.feeds.sink import FeedSink
from actors.streams import feed_layout_of

__all__ = ["RecordResult", "RecordedMessage", "SequenceGaps", "read_recording", "record", "replay"]

log = structlog.get_logger(__name__)


class RecordedMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    seq: int
    ts_ns: int
    subject: str
    payload: str | None = None
    payload_b64: str | None = None

    def data(self) -> bytes:
        if self.payload_b64 is not None:
            return base64.b64decode(self.payload_b64, validate=True)
        if self.payload is None:
            raise ValueError("neither payload nor payload_b64")
        return self.payload.encode()


@dataclass(slots=True)
class SequenceGaps:
    """Holes in a stream read in sequence order: ``next`` is the sequence expected next."""

    next: int
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def see(self, seq: int) -> tuple[int, int] | None:
        """Note a read sequence; the hole before it (first, last), if there is one."""
        gap = (self.next, seq - 1) if seq > self.next else None
        if gap is not None:
            self.gaps.append(gap)
        self.next = max(self.next, seq + 1)
        return gap


@dataclass(frozen=True, slots=True)
class RecordResult:
    written: int
    gaps: tuple[tuple[int, int], ...]  # FEED sequences gone before the recorder read them

    @property
    def missed(self) -> int:
        return _count(self.gaps)


def _count(gaps: Iterable[tuple[int, int]]) -> int:
    """How many sequences these (first, last) ranges hold."""
    return sum(last - first + 1 for first, last in gaps)


def _log_gap(event: str, gap: tuple[int, int], reason: str) -> None:
    log.warning(event, first_seq=gap[0], last_seq=gap[1], missed=_count([gap]), reason=reason)


def read_recording(path: Path) -> Iterator[RecordedMessage]:
    decoder = msgspec.json.Decoder(RecordedMessage)
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = decoder.decode(line)
                rec.data()
            except (msgspec.DecodeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: not a recorded message: {exc}") from exc
            yield rec


async def record(
    nats_url: str, path: Path, *, follow: bool = False, stop: asyncio.Event | None = None
) -> RecordResult:
    """Write FEED (from its first message) to ``path``; with ``follow``, keep going until
    ``stop`` is set. Returns what was written and the FEED sequences it could not be."""
    nc = await connect(
        nats_url, name="deltastream-recorder", max_reconnect_attempts=DEFAULT_MAX_RECONNECT_ATTEMPTS
    )
    js = nc.jetstream()
    encoder = msgspec.json.Encoder()
    stop = stop or asyncio.Event()
    written = 0
    feed = await js.stream_info(subjects.FEED_STREAM)
    layout = feed_layout_of(feed.config)
    # FEED's first message now; anything before it was gone before the recording began.
    holes = SequenceGaps(next=max(feed.state.first_seq, 1))
    info = await js.add_consumer(
        subjects.FEED_STREAM,
        ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=30.0,
            mem_storage=True,
        ),
    )
    sub = await js.pull_subscribe_bind(consumer=info.name, stream=subjects.FEED_STREAM)
    try:
        with path.open("wb") as fh:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(500, timeout=1.0)
                except TimeoutError:
                    if follow:
                        continue
                    break
                for msg in msgs:
                    md = msg.metadata
                    if gap := holes.see(md.sequence.stream):
                        _log_gap("recording_gap", gap, "gone from FEED before it was read")
                    ts_ns = int(md.timestamp.timestamp() * 1e9) if md.timestamp else 0
                    try:
                        text: str | None = msg.data.decode()
                        b64 = None
                    except UnicodeDecodeError:
                        text, b64 = None, base64.b64encode(msg.data).decode()
                    rec = RecordedMessage(
                        seq=md.sequence.stream,
                        ts_ns=ts_ns,
                        subject=layout.canonical(msg.subject),
                        payload=text,
                        payload_b64=b64,
                    )
                    fh.write(encoder.encode(rec) + b"\n")
                    written += 1
    finally:
        await sub.unsubscribe()
        await nc.drain()
    result = RecordResult(written=written, gaps=tuple(holes.gaps))
    log.info("recording_written", path=str(path), messages=written, missed=result.missed)
    return result


async def replay(
    nats_url: str, path: Path, *, speed: float = 0.0, stop: asyncio.Event | None = None
) -> int:
    """Publish a recording into FEED. ``speed`` 1 = recorded pace, 10 = ten times faster,
    0 = as fast as JetStream acks. Returns the number of messages FEED acknowledged."""
    if speed < 0:
        raise ValueError("speed must be ≥ 0")
    nc = await connect(nats_url, name="deltastream-replay")
    sink = FeedSink(nc)
    stop = stop or asyncio.Event()
    sent = 0
    first_ts: int | None = None
    holes: SequenceGaps | None = None  # in the recorded FEED sequences
    started = time.monotonic()
    try:
        for rec in read_recording(path):
            if stop.is_set():
                break
            holes = holes or SequenceGaps(next=rec.seq)
            if gap := holes.see(rec.seq):
                _log_gap("replay_recording_gap", gap, "the recording lacks these FEED messages")
            if speed > 0:
                first_ts = rec.ts_ns if first_ts is None else first_ts
                due = started + (rec.ts_ns - first_ts) / 1e9 / speed
                delay = due - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                        break
                    except TimeoutError:
                        pass
            await sink.publish(rec.subject, rec.data())
            sent += 1
        await sink.flush()
    finally:
        await nc.drain()
    log.info(
        "replay_finished",
        path=str(path),
        sent=sent,
        acked=sink.published,
        failed=sink.failed,
        missing_in_recording=_count(holes.gaps) if holes else 0,
    )
    return sink.published
