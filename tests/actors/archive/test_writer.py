"""The archive writer against a real nats-server and MongoDB (mongomock-motor offline, the
server at MONGO_URL when set): what it stores, idempotence under redelivery and a kill
between insert and ack, back-off while MongoDB is down, dead letters, indexes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from nats.aio.msg import Msg

from actors import subjects
from actors.archive.documents import CHAINS, COLLECTIONS, SUMMARIES, UNDERLYING, PlannedDocument
from actors.archive.store import ArchiveStore, ArchiveUnavailable, WriteOutcome
from actors.archive.writer import ArchiveWriter
from actors.natsserver import NatsServer
from actors.settings import Settings
from actors.stream_reads import read_range
from tests.archiving import (
    EXPIRY,
    SECOND_NS,
    WAIT_S,
    archive_settings,
    archived,
    chain,
    publish_analytics,
    session_messages,
    store_for,
    stream_content,
    writer_for,
)
from tests.conftest import MongoBackend
from tests.feeding import START_NS
from tests.redis_server import free_port

CHAIN_SUBJECT = subjects.analytics_chain("NIFTY", EXPIRY)


async def _archive_all(settings: Settings, mongo: MongoBackend, last_seq: int) -> ArchiveWriter:
    writer = writer_for(settings, mongo)
    await writer.start()
    try:
        await writer.wait_acked(last_seq, WAIT_S)
    finally:
        await writer.stop()
    return writer


def _by_key(docs: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for d in docs:
        assert (d["subject"], d["seq"]) not in found, "stored twice"
        found[(d["subject"], d["seq"])] = d
    return found


async def _assert_archive_equals_stream(js: Any, store: ArchiveStore) -> None:
    content = await stream_content(js)
    docs = _by_key(await archived(store))
    assert set(docs) == set(content)
    for key, data in content.items():
        assert docs[key]["doc"] == msgspec.json.decode(data)


async def test_ticks_summaries_and_chains_are_archived_once_with_their_payload(
    nats_server: NatsServer, js: Any, mongo: MongoBackend
) -> None:
    messages = session_messages(ticks=12, summaries=8)
    messages += [(CHAIN_SUBJECT, chain(ts=START_NS + i * 60 * SECOND_NS, seq=i)) for i in range(3)]
    messages.append((subjects.analytics_surface("NIFTY"), b'{"not": "archived"}'))
    seqs = await publish_analytics(js, messages)
    settings = archive_settings(nats_server.url, mongo)
    writer = await _archive_all(settings, mongo, seqs[-2])

    docs = await archived(writer.store)
    assert len(docs) == 12 + 8 + 3
    await _assert_archive_equals_stream(js, writer.store)
    counts = {c: await writer.store.collection(c).count_documents({}) for c in COLLECTIONS}
    assert counts == {UNDERLYING: 12, SUMMARIES: 8, CHAINS: 3}
    one = await writer.store.collection(SUMMARIES).find_one({"seq": seqs[1]})
    assert (one["product"], one["expiry"], one["ts"]) == ("NIFTY", EXPIRY, START_NS)
    assert one["archived_at"].tzinfo is not None
    chains = await writer.store.collection(CHAINS).find({}).to_list(length=None)
    assert sorted(c["bucket_ns"] for c in chains) == [
        START_NS + i * 60 * SECOND_NS for i in range(3)
    ]
    assert writer.metrics.documents.labels(UNDERLYING, "stored")._value.get() == 12
    assert writer.metrics.lag_messages._value.get() == 0  # caught up with the stream
    assert writer.metrics.lag_seconds._value.get() > 0
    server = writer.metrics.serve(free_port())
    try:
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    assert 'deltastream_archive_documents_total{collection="summaries",result="stored"} 8.0' in text


async def test_enriched_chains_keep_the_first_of_each_interval_even_for_a_new_writer(
    nats_server: NatsServer, js: Any, mongo: MongoBackend
) -> None:
    settings = archive_settings(nats_server.url, mongo, archive_chain_interval_s=60.0)
    offsets_s = [0, 10, 59, 60, 61, 125]
    seqs = await publish_analytics(
        js, [(CHAIN_SUBJECT, chain(ts=START_NS + s * SECOND_NS, seq=i))
             for i, s in enumerate(offsets_s)]
    )  # fmt: skip
    first = await _archive_all(settings, mongo, seqs[-1])
    kept = await first.store.collection(CHAINS).find({}).to_list(length=None)
    assert sorted(d["ts"] - START_NS for d in kept) == [0, 60 * SECOND_NS, 125 * SECOND_NS]
    assert first.metrics.skipped._value.get() == 3

    # A fresh writer knows nothing of the intervals: the unique index keeps the first one.
    late = await publish_analytics(
        js, [(CHAIN_SUBJECT, chain(ts=START_NS + 90 * SECOND_NS, seq=9))]
    )
    second = await _archive_all(settings, mongo, late[0])
    assert await second.store.collection(CHAINS).count_documents({}) == 3
    assert second.metrics.documents.labels(CHAINS, "duplicate")._value.get() == 1


class _LosesFirstAcks(ArchiveWriter):
    """Stores its first batch but its acks never reach the server (as if the link dropped)."""

    lost = 0

    async def handle_batch(self, msgs: list[Msg]) -> None:
        if not self.lost:
            self.lost = len(msgs)
            for msg in msgs:
                msg.ack = _no_ack  # type: ignore[method-assign]
        await super().handle_batch(msgs)


async def _no_ack(*args: object, **kwargs: object) -> None:
    return None


async def test_a_redelivered_message_is_stored_once(
    nats_server: NatsServer, js: Any, mongo: MongoBackend
) -> None:
    seqs = await publish_analytics(js, session_messages(ticks=5, summaries=5))
    settings = archive_settings(nats_server.url, mongo, archive_ack_wait_s=1.0)
    writer = writer_for(settings, mongo, kind=_LosesFirstAcks)

    def duplicates() -> float:
        return sum(writer.metrics.documents.labels(c, "duplicate")._value.get()
                   for c in COLLECTIONS)  # fmt: skip

    await writer.start()
    try:
        await writer.wait_acked(seqs[-1], WAIT_S)  # the first pass, its acks lost
        async with writer.progress:  # the server redelivers them after ack_wait
            await asyncio.wait_for(
                writer.progress.wait_for(lambda: duplicates() >= writer.lost), WAIT_S
            )
    finally:
        await writer.stop()
    assert writer.lost == 10 and duplicates() == 10
    assert writer.metrics.redelivered._value.get() == 10
    info = await js.consumer_info(subjects.ANALYTICS_STREAM, subjects.ARCHIVE_CONSUMER)
    assert info.ack_floor.stream_seq == seqs[-1] and info.num_ack_pending == 0
    assert len(await archived(writer.store)) == 10
    await _assert_archive_equals_stream(js, writer.store)


class _DiesAfterInsert(ArchiveStore):
    """Writes for real, then never returns: the writer is killed between insert and ack."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inserted = asyncio.Event()

    async def write(self, planned: Sequence[PlannedDocument]) -> WriteOutcome:
        await super().write(planned)
        self.inserted.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_writer_killed_between_insert_and_ack_leaves_no_gap_and_no_duplicate(
    nats_server: NatsServer, js: Any, mongo: MongoBackend
) -> None:
    settings = archive_settings(nats_server.url, mongo, archive_ack_wait_s=1.0)
    await publish_analytics(js, session_messages(ticks=30, summaries=30))
    dying = _DiesAfterInsert.from_settings(settings, mongo.client)
    first = writer_for(settings, mongo, store=dying)
    await first.start()
    await asyncio.wait_for(dying.inserted.wait(), WAIT_S)
    assert first.task is not None
    first.task.cancel()  # killed: nothing of that batch was acked
    with pytest.raises(asyncio.CancelledError):
        await first.task
    await first.nc.close()
    assert first.acked_seq == 0
    stored_before = len(await archived(dying))
    assert stored_before > 0

    later_messages = session_messages(ticks=10, summaries=0, start_ns=START_NS + 60 * SECOND_NS)
    later = await publish_analytics(js, later_messages)
    second = writer_for(settings, mongo)

    def replayed() -> float:
        return sum(second.metrics.documents.labels(c, "duplicate")._value.get()
                   for c in COLLECTIONS)  # fmt: skip

    await second.start()
    try:
        await second.wait_acked(later[-1], WAIT_S)
        async with second.progress:  # the killed batch comes back after ack_wait
            await asyncio.wait_for(
                second.progress.wait_for(lambda: replayed() >= stored_before), WAIT_S
            )
    finally:
        await second.stop()
    assert replayed() == stored_before  # stored once: the second time was a duplicate
    info = await js.consumer_info(subjects.ANALYTICS_STREAM, subjects.ARCHIVE_CONSUMER)
    assert info.ack_floor.stream_seq == later[-1] and info.num_ack_pending == 0
    assert len(await archived(second.store)) == 30 + 30 + 10
    await _assert_archive_equals_stream(js, second.store)


class _DownFor(ArchiveStore):
    """MongoDB "down" for the first ``failures`` writes."""

    def __init__(self, *args: Any, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures
        self.failed = 0
        self.all_failed = asyncio.Event()

    async def write(self, planned: Sequence[PlannedDocument]) -> WriteOutcome:
        if self.failed < self.failures:
            self.failed += 1
            if self.failed == self.failures:
                self.all_failed.set()
            raise ArchiveUnavailable("ServerSelectionTimeoutError: no servers")
        return await super().write(planned)


async def test_while_mongodb_is_down_nothing_is_acked_and_the_writer_catches_up(
    nats_server: NatsServer, js: Any, mongo: MongoBackend
) -> None:
    settings = archive_settings(nats_server.url, mongo)
    seqs = await publish_analytics(js, session_messages(ticks=10, summaries=10))
    down = _DownFor(mongo.client, database=mongo.database, ttl_s=store_for(settings, mongo).ttl_s,
                    failures=2)  # fmt: skip
    writer = writer_for(settings, mongo, store=down)
    await writer.start()
    try:
        await asyncio.wait_for(down.all_failed.wait(), WAIT_S)
        assert writer.acked_seq == 0 and writer.metrics.mongo_up._value.get() == 0
        info = await js.consumer_info(subjects.ANALYTICS_STREAM, subjects.ARCHIVE_CONSUMER)
        assert info.ack_floor.stream_seq == 0
        await writer.wait_acked(seqs[-1], WAIT_S)
    finally:
        await writer.stop()
    assert writer.metrics.failures._value.get() == 2
    assert writer.metrics.mongo_up._value.get() == 1
    await _assert_archive_equals_stream(js, down)


class _Watched(ArchiveStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable = asyncio.Event()

    async def ensure_indexes(self) -> None:
        try:
            await super().ensure_indexes()
        except ArchiveUnavailable:
            self.unavailable.set()
            raise


async def test_an_unreachable_mongodb_loses_nothing_a_later_writer_stores_it_all(
    nats_server: NatsServer, js: Any, mongo: MongoBackend
) -> None:
    seqs = await publish_analytics(js, session_messages(ticks=6, summaries=6))
    settings = archive_settings(nats_server.url, mongo)
    dead = AsyncIOMotorClient(f"mongodb://127.0.0.1:{free_port()}", serverSelectionTimeoutMS=300,
                              connectTimeoutMS=300)  # fmt: skip
    store = _Watched.from_settings(settings, dead)
    writer = writer_for(settings, mongo, store=store)
    await writer.start()
    try:
        await asyncio.wait_for(store.unavailable.wait(), WAIT_S)
    finally:
        await writer.stop()  # during the back-off: the batch stays unacked
        dead.close()
    assert writer.acked_seq == 0 and writer.metrics.failures._value.get() >= 1
    info = await js.consumer_info(subjects.ANALYTICS_STREAM, subjects.ARCHIVE_CONSUMER)
    assert info.ack_floor.stream_seq == 0

    later = await _archive_all(archive_settings(nats_server.url, mongo, archive_ack_wait_s=1.0),
                               mongo, seqs[-1])  # fmt: skip
    assert len(await archived(later.store)) == 12
    await _assert_archive_equals_stream(js, later.store)


async def test_messages_that_can_never_be_archived_are_dead_lettered_and_the_rest_stored(
    nats_server: NatsServer, js: Any, mongo: MongoBackend
) -> None:
    good = session_messages(ticks=3, summaries=0)
    bad = [
        (subjects.analytics_summary("NIFTY", EXPIRY), b"{not json"),
        (subjects.analytics_underlying("NIFTY"), good[0][1].replace(b"NIFTY", b"BANKNIFTY")),
        (subjects.analytics_underlying("NIFTY"),
         msgspec.json.encode({**msgspec.json.decode(good[0][1]), "extra": 2**64 - 1})),
        ("deltastream.analytics.summary.NIFTY.not-a-date", b"{}"),
    ]  # fmt: skip
    seqs = await publish_analytics(js, [*bad, *good])
    writer = await _archive_all(archive_settings(nats_server.url, mongo), mongo, seqs[-1])
    assert len(await archived(writer.store)) == 3
    letters = [m async for m in read_range(js, stream=subjects.DLQ_STREAM,
                                           filter_subjects=["deltastream.dlq.>"])]  # fmt: skip
    reasons = {
        m.headers["Deltastream-Stream-Seq"]: m.headers["Deltastream-Reason"] for m in letters
    }
    assert reasons == {
        str(seqs[0]): "schema_invalid",
        str(seqs[1]): "subject_mismatch",
        str(seqs[2]): "archive_unstorable",
        str(seqs[3]): "archive_subject",
    }
    assert all(m.headers["Nats-Msg-Id"] == f"ANALYTICS-{m.headers['Deltastream-Stream-Seq']}"
               and m.headers["Deltastream-Stream"] == "ANALYTICS" for m in letters)  # fmt: skip
    assert letters[0].data == bad[0][1]
    info = await js.consumer_info(subjects.ANALYTICS_STREAM, subjects.ARCHIVE_CONSUMER)
    assert info.ack_floor.stream_seq == seqs[-1] and info.num_ack_pending == 0


async def test_indexes_are_unique_per_message_and_ttls_follow_the_settings(
    nats_server: NatsServer, mongo: MongoBackend
) -> None:
    settings = archive_settings(
        nats_server.url, mongo, archive_underlying_ttl_s=3600.0, archive_chain_ttl_s=0.0
    )
    store = store_for(settings, mongo)
    await store.ensure_indexes()
    await store.ensure_indexes()  # idempotent
    info = {c: await store.collection(c).index_information() for c in COLLECTIONS}
    for name in COLLECTIONS:
        assert info[name]["subject_seq"]["unique"] is True
        assert [tuple(k) for k in info[name]["subject_ts_seq"]["key"]] == [
            ("subject", 1), ("ts", -1), ("seq", -1)
        ]  # fmt: skip
    assert info[CHAINS]["subject_bucket"]["unique"] is True
    assert info[UNDERLYING]["archived_at_ttl"]["expireAfterSeconds"] == 3600
    assert info[SUMMARIES]["archived_at_ttl"]["expireAfterSeconds"] == 90 * 86400
    assert "archived_at_ttl" not in info[CHAINS]
    if mongo.real:  # collMod, which changes a TTL in place, is not in mongomock
        changed = store_for(msgspec.structs.replace(settings, archive_underlying_ttl_s=60.0), mongo)
        await changed.ensure_indexes()
        ttl = (await changed.collection(UNDERLYING).index_information())["archived_at_ttl"]
        assert ttl["expireAfterSeconds"] == 60
