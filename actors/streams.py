"""JetStream set-up (streams, KV buckets, the ingress consumer) and range reads of FEED.

Everything is created or updated idempotently at start-up from ``Settings``; the values
are documented in ``subjects.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import nats.js
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from actors import subjects
from actors.settings import Settings

__all__ = [
    "ARCHIVE_SUBJECTS",
    "analytics_config",
    "archive_consumer_config",
    "dlq_config",
    "ensure_archive_consumer",
    "ensure_ingress_consumer",
    "ensure_logs_stream",
    "ensure_streams",
    "feed_config",
    "last_on_subject",
    "logs_config",
    "open_bucket",
    "read_range",
]

FEED_SUBJECTS = [f"{subjects.PREFIX}.feed.>"]
ANALYTICS_SUBJECTS = [f"{subjects.PREFIX}.analytics.>"]
DLQ_SUBJECTS = [f"{subjects.PREFIX}.dlq.>"]
LOGS_SUBJECTS = [subjects.LOGS_WILDCARD]
# One log event is a line of JSON; the shippers and POST /api/logs keep them far smaller.
_LOG_EVENT_MAX_BYTES = 64 * 1024
# What the archive keeps: ticks, summaries and (downsampled) enriched chains.
ARCHIVE_SUBJECTS = [
    subjects.analytics_underlying("*"),
    subjects.analytics_summary("*", "*"),
    subjects.analytics_chain("*", "*"),
]
_LAST_SEQ = 2**63 - 1
_DLQ_DEDUP_WINDOW_S = 3600.0
_ONE_MIB = 1024 * 1024


def feed_config(s: Settings) -> StreamConfig:
    # Discard-new with limits: when FEED is full, publishers get an error instead of the
    # stream silently dropping the oldest unconsumed messages.
    return StreamConfig(
        name=subjects.FEED_STREAM,
        description="Market feed ingress: source of truth for recovery",
        subjects=FEED_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=s.feed_max_age_s,
        max_bytes=s.feed_max_bytes,
        max_msg_size=_ONE_MIB,
        discard=DiscardPolicy.NEW,
        duplicate_window=s.feed_dedup_window_s,
        num_replicas=s.replicas,
    )


def analytics_config(s: Settings) -> StreamConfig:
    return StreamConfig(
        name=subjects.ANALYTICS_STREAM,
        description="Published analytics, recent history per subject",
        subjects=ANALYTICS_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_msgs_per_subject=s.analytics_history_per_subject,
        max_age=s.analytics_max_age_s,
        discard=DiscardPolicy.OLD,
        num_replicas=s.replicas,
        allow_direct=True,
    )


def dlq_config(s: Settings) -> StreamConfig:
    return StreamConfig(
        name=subjects.DLQ_STREAM,
        description="Dead letters: feed messages that could not be applied, with the reason",
        subjects=DLQ_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=s.dlq_max_age_s,
        duplicate_window=_DLQ_DEDUP_WINDOW_S,
        num_replicas=s.replicas,
    )


def logs_config(s: Settings) -> StreamConfig:
    # Discard-old: logs are for looking back a while, and a full stream must never refuse
    # (and so slow down) the processes that write to it.
    return StreamConfig(
        name=subjects.LOGS_STREAM,
        description="Structured log events of every deltastream process and of programs outside",
        subjects=LOGS_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=s.logs_max_age_s,
        max_bytes=s.logs_max_bytes,
        max_msg_size=_LOG_EVENT_MAX_BYTES,
        discard=DiscardPolicy.OLD,
        num_replicas=s.replicas,
    )


async def _upsert(js: nats.js.JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.update_stream(config)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)


async def ensure_streams(js: nats.js.JetStreamContext, settings: Settings) -> None:
    for config in (feed_config(settings), analytics_config(settings), dlq_config(settings)):
        await _upsert(js, config)


async def ensure_logs_stream(js: nats.js.JetStreamContext, settings: Settings) -> None:
    """Create or update LOGS. Every process that writes logs calls this, so two may race:
    the loser of a concurrent create finds the stream there and updates it instead."""
    config = logs_config(settings)
    try:
        await _upsert(js, config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)


async def open_bucket(js: nats.js.JetStreamContext, bucket: str, settings: Settings) -> KeyValue:
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=bucket, history=1, storage=StorageType.FILE, replicas=settings.replicas
            )
        )


async def ensure_ingress_consumer(
    js: nats.js.JetStreamContext,
    settings: Settings,
    *,
    start_seq: int,
    filter_subjects: list[str] | None = None,
    durable: str = subjects.INGRESS_CONSUMER,
) -> None:
    """(Re)create the durable ingress consumer so it delivers FEED from ``start_seq``.

    The position comes from the host's checkpoint, not from the consumer's ack floor: after
    a crash the actors' state is restored from snapshots at the checkpoint, so everything
    after it must be delivered again (actors skip what they already applied).
    """
    try:
        await js.delete_consumer(subjects.FEED_STREAM, durable)
    except nats.js.errors.NotFoundError:
        pass
    config = ConsumerConfig(
        durable_name=durable,
        description="actor host ingress",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
        max_ack_pending=settings.max_ack_pending,
        filter_subjects=filter_subjects or FEED_SUBJECTS,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq > 1 else DeliverPolicy.ALL,
        opt_start_seq=start_seq if start_seq > 1 else None,
        num_replicas=settings.replicas,
    )
    await js.add_consumer(subjects.FEED_STREAM, config)


def archive_consumer_config(s: Settings) -> ConsumerConfig:
    # No max_deliver: the writer holds a batch (in-progress acks) while MongoDB is down and
    # dead-letters what can never be stored itself, so a redelivery is only ever a retry.
    return ConsumerConfig(
        durable_name=subjects.ARCHIVE_CONSUMER,
        description="MongoDB archive writer",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=s.archive_ack_wait_s,
        max_deliver=-1,
        max_ack_pending=4 * s.archive_batch,
        filter_subjects=ARCHIVE_SUBJECTS,
        deliver_policy=DeliverPolicy.ALL,
        num_replicas=s.replicas,
    )


async def ensure_archive_consumer(js: nats.js.JetStreamContext, settings: Settings) -> None:
    """Create the durable ``archive`` consumer on ANALYTICS, or update a compatible one: its
    ack floor is kept, so a restarted writer goes on where the last one stopped."""
    await js.add_consumer(subjects.ANALYTICS_STREAM, archive_consumer_config(settings))


async def read_range(
    js: nats.js.JetStreamContext,
    *,
    stream: str,
    filter_subjects: list[str],
    first_seq: int = 1,
    last_seq: int = _LAST_SEQ,
    start_time_ns: int | None = None,
    batch: int = 500,
) -> AsyncIterator[Msg]:
    """Messages of ``stream`` on ``filter_subjects`` with first_seq ≤ seq ≤ last_seq, in order;
    with ``start_time_ns``, from the first message stored at or after that time instead.

    An ephemeral pull consumer without acks; it is deleted at the end.
    """
    if last_seq < first_seq:
        return
    if start_time_ns is None:
        start: dict[str, object] = {
            "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
            "opt_start_seq": max(first_seq, 1),
        }
    else:
        start = {
            "deliver_policy": DeliverPolicy.BY_START_TIME,
            "opt_start_time": dt.datetime.fromtimestamp(start_time_ns / 1e9, tz=dt.UTC),
        }
    info = await js.add_consumer(
        stream,
        ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            **start,  # type: ignore[arg-type]
            filter_subjects=filter_subjects,
            inactive_threshold=30.0,
            mem_storage=True,
        ),
    )
    sub = await js.pull_subscribe_bind(consumer=info.name, stream=stream)
    # Everything up to last_seq existed when the consumer was created, so num_pending
    # bounds the read and no fetch has to wait for a time-out to learn it is done.
    remaining = info.num_pending or 0
    try:
        while remaining > 0:
            msgs = await sub.fetch(min(batch, remaining), timeout=5.0)
            remaining -= len(msgs)
            for msg in msgs:
                if msg.metadata.sequence.stream > last_seq:
                    return
                yield msg
    finally:
        await sub.unsubscribe()
        try:
            await js.delete_consumer(stream, info.name)
        except nats.js.errors.NotFoundError:
            pass


async def last_on_subject(js: nats.js.JetStreamContext, stream: str, subject: str) -> bytes | None:
    """The payload of the newest message on ``subject`` in ``stream``, or None."""
    try:
        raw = await js.get_msg(stream, subject=subject, direct=True)
    except nats.js.errors.NotFoundError:
        return None
    return raw.data
