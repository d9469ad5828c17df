"""The streams as start-up leaves them: the settings subjects.md documents, created and
updated idempotently, and FEED storing a message once per ``Nats-Msg-Id``."""

from __future__ import annotations

import msgspec
import nats
from nats.js.api import DiscardPolicy, StorageType

from actors import subjects
from actors.natsserver import NatsServer
from actors.settings import Settings
from actors.streams import ensure_streams

DAY_S = 86400.0
# As subjects.md states them for the default settings.
FEED_MAX_AGE_S = 3 * DAY_S
FEED_MAX_BYTES = 2 * 1024**3
FEED_MAX_MSG_BYTES = 1024**2
FEED_DEDUP_WINDOW_S = 120.0
ANALYTICS_PER_SUBJECT = 2000
ANALYTICS_MAX_AGE_S = DAY_S
ANALYTICS_DEDUP_WINDOW_S = 30.0
DLQ_MAX_AGE_S = 7 * DAY_S
DLQ_DEDUP_WINDOW_S = 3600.0


async def test_start_up_creates_the_streams_as_documented_and_updates_them_in_place(
    nats_server: NatsServer,
) -> None:
    settings = Settings(nats_url=nats_server.url)
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, settings)
        await ensure_streams(js, settings)  # again, as every host start does: no change
        feed = (await js.stream_info(subjects.FEED_STREAM)).config
        assert feed.storage == StorageType.FILE and feed.discard == DiscardPolicy.OLD
        assert (feed.max_age, feed.max_bytes, feed.max_msg_size, feed.duplicate_window) == (
            FEED_MAX_AGE_S, FEED_MAX_BYTES, FEED_MAX_MSG_BYTES, FEED_DEDUP_WINDOW_S
        )  # fmt: skip
        analytics = (await js.stream_info(subjects.ANALYTICS_STREAM)).config
        assert analytics.storage == StorageType.FILE
        assert (analytics.max_msgs_per_subject, analytics.max_age) == (
            ANALYTICS_PER_SUBJECT, ANALYTICS_MAX_AGE_S
        )  # fmt: skip
        assert analytics.duplicate_window == ANALYTICS_DEDUP_WINDOW_S
        assert analytics.allow_direct and analytics.allow_rollup_hdrs
        dlq = (await js.stream_info(subjects.DLQ_STREAM)).config
        assert dlq.storage == StorageType.FILE and dlq.subjects == ["deltastream.dlq.>"]
        assert (dlq.max_age, dlq.duplicate_window) == (DLQ_MAX_AGE_S, DLQ_DEDUP_WINDOW_S)

        # A changed setting is applied to the existing stream, its messages kept.
        await js.publish(subjects.feed_underlying("NIFTY"), b"{}")
        shorter = msgspec.structs.replace(settings, feed_max_age_s=DAY_S)
        await ensure_streams(js, shorter)
        info = await js.stream_info(subjects.FEED_STREAM)
        assert info.config.max_age == DAY_S and info.state.messages == 1
    finally:
        await nc.close()


async def test_feed_stores_a_message_once_per_msg_id(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, Settings(nats_url=nats_server.url))
        subject = subjects.feed_underlying("NIFTY")
        body = b'{"ts": 1, "product": "NIFTY", "price": 24000.0}'
        first = await js.publish(subject, body, headers={"Nats-Msg-Id": "tick-1"})
        again = await js.publish(subject, body, headers={"Nats-Msg-Id": "tick-1"})
        other = await js.publish(subject, body, headers={"Nats-Msg-Id": "tick-2"})
        assert (first.duplicate, again.duplicate, other.duplicate) == (None, True, None)
        assert again.seq == first.seq and other.seq == first.seq + 1
        assert (await js.stream_info(subjects.FEED_STREAM)).state.messages == 2
    finally:
        await nc.close()
