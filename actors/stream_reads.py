"""Reading a stream back: a range of its messages, or the newest one on a subject.

Recovery replays FEED after a snapshot, the edge pages through ANALYTICS and LOGS. A range
is read by a short-lived consumer that acks nothing, so reading moves no durable consumer's
position; the newest message on a subject is a direct get.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import nats.js
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy

__all__ = ["last_on_subject", "read_range"]

_LAST_SEQ = 2**63 - 1


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
    with ``start_time_ns``, from the first message stored at or after that time, or from
    ``first_seq`` when that comes later.

    An ephemeral pull consumer without acks; it is deleted at the end. No fetch asks for more
    messages than there are sequences left up to ``last_seq``.
    """
    if last_seq < first_seq:
        return
    by_seq: dict[str, object] = {
        "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
        "opt_start_seq": max(first_seq, 1),
    }
    if start_time_ns is None:
        info = await _reader(js, stream, filter_subjects, by_seq)
    else:
        at = dt.datetime.fromtimestamp(start_time_ns / 1e9, tz=dt.UTC)
        by_time = {"deliver_policy": DeliverPolicy.BY_START_TIME, "opt_start_time": at}
        info = await _reader(js, stream, filter_subjects, by_time)
        if _below_start(info) + 1 < first_seq:  # the time starts earlier: start by sequence
            await _drop_reader(js, stream, info.name)
            info = await _reader(js, stream, filter_subjects, by_seq)
    sub = await js.pull_subscribe_bind(consumer=info.name, stream=stream)
    # Everything up to last_seq existed when the consumer was created, so num_pending
    # bounds the read and no fetch has to wait for a time-out to learn it is done.
    remaining = info.num_pending or 0
    below = _below_start(info)  # every message still to come has a greater sequence
    try:
        while remaining > 0 and below < last_seq:
            msgs = await sub.fetch(min(batch, remaining, last_seq - below), timeout=5.0)
            remaining -= len(msgs)
            for msg in msgs:
                below = msg.metadata.sequence.stream
                if below > last_seq:
                    return
                yield msg
    finally:
        await sub.unsubscribe()
        await _drop_reader(js, stream, info.name)


async def _reader(
    js: nats.js.JetStreamContext, stream: str, filter_subjects: list[str], start: dict[str, object]
) -> ConsumerInfo:
    return await js.add_consumer(
        stream,
        ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            **start,  # type: ignore[arg-type]
            filter_subjects=filter_subjects,
            inactive_threshold=30.0,
            mem_storage=True,
        ),
    )


def _below_start(info: ConsumerInfo) -> int:
    """The stream sequence just below a new consumer's first message (its "delivered")."""
    return info.delivered.stream_seq if info.delivered is not None else 0


async def _drop_reader(js: nats.js.JetStreamContext, stream: str, name: str) -> None:
    try:
        await js.delete_consumer(stream, name)
    except nats.js.errors.NotFoundError:
        pass


async def last_on_subject(js: nats.js.JetStreamContext, stream: str, subject: str) -> bytes | None:
    """The payload of the newest message on ``subject`` in ``stream``, or None."""
    try:
        raw = await js.get_msg(stream, subject=subject, direct=True)
    except nats.js.errors.NotFoundError:
        return None
    return raw.data
