"""JetStream set-up (streams, KV buckets, the ingress consumers).

Everything is created or updated idempotently at start-up from ``Settings``; the values
are documented in ``subjects.md``. Reading a stream back is ``actors.stream_reads``.
"""

from __future__ import annotations

import re

import nats.js
import nats.js.errors
import structlog
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    SubjectTransform,
)
from nats.js.kv import KeyValue

from actors import subjects
from actors.errors import ConfigError
from actors.settings import Settings

__all__ = [
    "ANALYTICS_DEDUP_WINDOW_S",
    "ARCHIVE_SUBJECTS",
    "LATEST_ONLY",
    "analytics_config",
    "archive_consumer_config",
    "dlq_config",
    "ensure_archive_consumer",
    "ensure_ingress_consumer",
    "ensure_logs_stream",
    "ensure_streams",
    "feed_config",
    "feed_layout_of",
    "logs_config",
    "open_bucket",
    "open_lease_bucket",
]

log = structlog.get_logger(__name__)

FEED_SUBJECTS = [f"{subjects.PREFIX}.feed.>"]
ANALYTICS_SUBJECTS = [f"{subjects.PREFIX}.analytics.>"]
DLQ_SUBJECTS = [f"{subjects.PREFIX}.dlq.>"]
LOGS_SUBJECTS = [subjects.LOGS_WILDCARD]
# The actors' publisher resends a message whose ack failed with its Nats-Msg-Id unchanged;
# within this window ANALYTICS stores it once. Short: the ids of every analytics message
# published in the window are kept by the server.
ANALYTICS_DEDUP_WINDOW_S = 30.0
# Headers of a publish that replaces every earlier message on its subject. Enriched chains
# (~35 KB, every 0.5 s per chain) and surfaces are whole snapshots that nothing reads back
# in sequence; with the per-subject history they made up nearly all of ANALYTICS (1.2 GB
# in 17 minutes of the soak) and the nats-server's memory grew with it.
LATEST_ONLY = {"Nats-Rollup": "sub"}
# One log event is a line of JSON; the shippers and POST /api/logs keep them far smaller.
_LOG_EVENT_MAX_BYTES = 64 * 1024
# What the archive keeps: ticks, summaries and (downsampled) enriched chains.
ARCHIVE_SUBJECTS = [
    subjects.analytics_underlying("*"),
    subjects.analytics_summary("*", "*"),
    subjects.analytics_chain("*", "*"),
]
_DLQ_DEDUP_WINDOW_S = 3600.0
_ONE_MIB = 1024 * 1024


_PARTITION_RE = re.compile(r"\{\{\s*partition\((\d+),\s*2\s*(,\s*3\s*)?\)")


def feed_config(s: Settings) -> StreamConfig:
    # Discard-old: a full FEED drops its oldest messages, applied long ago unless an
    # ingress is behind by most of the stream; refusing the live feed instead would stop
    # every analytic at the first full day. ``actors.feed_watch`` reports lag and losses.
    layout = s.feed_layout()
    transform = layout.transform()
    return StreamConfig(
        name=subjects.FEED_STREAM,
        description="Market feed ingress: source of truth for recovery",
        subjects=layout.stream_subjects(),
        subject_transform=SubjectTransform(*transform) if transform else None,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=s.feed_max_age_s,
        max_bytes=s.feed_max_bytes,
        max_msg_size=_ONE_MIB,
        discard=DiscardPolicy.OLD,
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
        duplicate_window=ANALYTICS_DEDUP_WINDOW_S,
        num_replicas=s.replicas,
        allow_direct=True,
        allow_rollup_hdrs=True,
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


def feed_layout_of(config: StreamConfig) -> subjects.FeedLayout:
    """The partition layout a FEED stream's configuration stores its subjects in."""
    transform = config.subject_transform
    found = _PARTITION_RE.search(transform.dest or "") if transform else None
    if found is None:
        return subjects.FeedLayout(1)
    return subjects.FeedLayout(int(found.group(1)), "chain" if found.group(2) else "product")


async def _check_feed_layout(js: nats.js.JetStreamContext, settings: Settings) -> bool:
    """False when FEED does not exist yet or already has this layout; True when it is empty
    and will change layout. A FEED holding messages in another layout is a ConfigError: its
    stored subjects and the partitions' checkpoints would not match the new consumers."""
    try:
        info = await js.stream_info(subjects.FEED_STREAM)
    except nats.js.errors.NotFoundError:
        return False
    current, wanted = feed_layout_of(info.config), settings.feed_layout()
    if (not current.partitioned and not wanted.partitioned) or current == wanted:
        return False
    if info.state.messages:
        raise ConfigError(
            f"settings DELTASTREAM_PARTITIONS={wanted.partitions} and "
            f"DELTASTREAM_PARTITION_KEY={wanted.key}: stream FEED holds "
            f"{info.state.messages} messages stored for {current.partitions} partition(s) "
            f"keyed by {current.key}. To change the layout: stop the feed, let the hosts catch "
            "up, stop them (each writes its snapshots), purge FEED (nats stream purge FEED), "
            "then start them with the new settings"
        )
    return True


async def _drop_stale_ingress(js: nats.js.JetStreamContext, settings: Settings) -> None:
    keep = {subjects.ingress_consumer(k, settings.partitions) for k in range(settings.partitions)}
    for info in await js.consumers_info(subjects.FEED_STREAM):
        name = info.name or ""
        if name.startswith(subjects.INGRESS_CONSUMER) and name not in keep:
            try:
                await js.delete_consumer(subjects.FEED_STREAM, name)
            except nats.js.errors.NotFoundError:
                continue
            log.info("stale_ingress_consumer_deleted", consumer=name)


async def ensure_streams(js: nats.js.JetStreamContext, settings: Settings) -> None:
    relayout = await _check_feed_layout(js, settings)
    for config in (feed_config(settings), analytics_config(settings), dlq_config(settings)):
        await _upsert(js, config)
    if relayout:
        await _drop_stale_ingress(js, settings)


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


async def open_lease_bucket(js: nats.js.JetStreamContext, settings: Settings) -> KeyValue:
    """The partition-lease bucket: an entry not rewritten within ``lease_ttl_s`` is gone.

    In memory (leases mean nothing after a whole-cluster restart), replicated like the rest.
    Every host must use the same TTL; a host that finds another one corrects the bucket.
    """
    try:
        kv = await js.key_value(subjects.KV_LEASES)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=subjects.KV_LEASES,
                description="Partition leases and host presence",
                history=1,
                ttl=settings.lease_ttl_s,
                storage=StorageType.MEMORY,
                replicas=settings.replicas,
            )
        )
    stream = f"KV_{subjects.KV_LEASES}"
    info = await js.stream_info(stream)
    if info.config.max_age != settings.lease_ttl_s:
        log.warning("lease_ttl_changed", was_s=info.config.max_age, now_s=settings.lease_ttl_s)
        info.config.max_age = settings.lease_ttl_s
        info.config.duplicate_window = min(info.config.duplicate_window or 0, settings.lease_ttl_s)
        await js.update_stream(info.config)
    return kv


async def ensure_ingress_consumer(
    js: nats.js.JetStreamContext,
    settings: Settings,
    *,
    start_seq: int,
    partition: int = 0,
) -> str:
    """(Re)create a partition's durable ingress consumer so it delivers FEED from
    ``start_seq``; returns its name.

    The position comes from the partition's checkpoint, not from the consumer's ack floor:
    after a crash or a change of owner the actors' state is restored from snapshots at the
    checkpoint, so everything after it must be delivered again (actors skip what they
    already applied).
    """
    layout = settings.feed_layout()
    durable = subjects.ingress_consumer(partition, settings.partitions)
    try:
        await js.delete_consumer(subjects.FEED_STREAM, durable)
    except nats.js.errors.NotFoundError:
        pass
    config = ConsumerConfig(
        durable_name=durable,
        description=f"actor host ingress, partition {partition} of {settings.partitions}",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
        max_ack_pending=settings.max_ack_pending,
        filter_subjects=layout.consumer_filters(partition),
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq > 1 else DeliverPolicy.ALL,
        opt_start_seq=start_seq if start_seq > 1 else None,
        num_replicas=settings.replicas,
    )
    await js.add_consumer(subjects.FEED_STREAM, config)
    return durable


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
