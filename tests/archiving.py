"""Helpers for archive tests: analytics messages as the actors publish them, the stream's and
the archive's content side by side, and writers on a test's NATS and MongoDB backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from actors import subjects
from actors.archive.documents import COLLECTIONS
from actors.archive.store import ArchiveStore
from actors.archive.writer import ArchiveWriter
from actors.messages import BuildUpCounts, ChainSide, EnrichedChain, Summary, UnderlyingTick
from actors.settings import Settings
from actors.stream_reads import read_range
from actors.streams import ARCHIVE_SUBJECTS
from tests.conftest import MongoBackend, test_settings
from tests.feeding import START_NS

SECOND_NS = 10**9
WAIT_S = 30.0
EXPIRY = "2026-12-29"


def tick(product: str = "NIFTY", *, ts: int, seq: int, price: float = 24000.0) -> bytes:
    return msgspec.json.encode(
        UnderlyingTick(ts=ts, product=product, price=price, seq=seq, published_ns=ts + 1000)
    )


def summary(product: str = "NIFTY", expiry: str = EXPIRY, *, ts: int, seq: int) -> bytes:
    pcr = 1.0 + seq / 1000
    return msgspec.json.encode(
        Summary(
            product=product, expiry=expiry, ts=ts, seq=seq, stream_seq=seq, spot=24000.0 + seq,
            forward=24010.0 + seq, forward_source="parity", t_years=0.08, rate=0.065,
            pcr_oi=pcr, pcr_volume=None, max_pain=24000.0, max_pain_distance=-float(seq),
            atm_strike=24000.0, atm_iv=0.13 + seq / 10_000, straddle=800.0, expected_move=900.0,
            expected_move_straddle=810.0, call_oi=1000, put_oi=1000 + seq, call_oi_change=0,
            put_oi_change=seq, call_volume=10, put_volume=12, buildup=BuildUpCounts(neutral=3),
            call_buildup="neutral", put_buildup="long_buildup", n_strikes=3, published_ns=ts + 1,
        )
    )  # fmt: skip


def chain(product: str = "NIFTY", expiry: str = EXPIRY, *, ts: int, seq: int) -> bytes:
    n = 3
    side = ChainSide(
        bid=[1.0] * n, ask=[1.5] * n, ltp=[1.2] * n, mid=[1.25] * n, iv=[0.2, None, 0.21],
        delta=[0.5] * n, gamma=[0.001] * n, vega=[1.0] * n, theta=[-1.0] * n, rho=[0.1] * n,
        oi=[100] * n, oi_change=[0] * n, volume=[5] * n, buildup=["neutral"] * n,
    )  # fmt: skip
    return msgspec.json.encode(
        EnrichedChain(
            product=product, expiry=expiry, ts=ts, seq=seq, stream_seq=seq, spot=24000.0,
            forward=24010.0, forward_source="parity", t_years=0.08, rate=0.065,
            atm_strike=24000.0, max_pain=24000.0, strikes=[23900.0, 24000.0, 24100.0],
            calls=side, puts=side, published_ns=ts,
        )
    )  # fmt: skip


def session_messages(
    ticks: int, summaries: int, *, start_ns: int = START_NS
) -> list[tuple[str, bytes]]:
    """Interleaved ticks and summaries of NIFTY, one every 250 ms of feed time."""
    out: list[tuple[str, bytes]] = []
    for i in range(max(ticks, summaries)):
        ts = start_ns + i * SECOND_NS // 4
        if i < ticks:
            out.append((subjects.analytics_underlying("NIFTY"), tick(ts=ts, seq=i + 1)))
        if i < summaries:
            out.append((subjects.analytics_summary("NIFTY", EXPIRY), summary(ts=ts, seq=i + 1)))
    return out


async def publish_analytics(js: Any, messages: Sequence[tuple[str, bytes]]) -> list[int]:
    """Publish onto ANALYTICS; the stream sequences, in order."""
    return [(await js.publish(subject, data)).seq for subject, data in messages]


async def stream_content(js: Any) -> dict[tuple[str, int], bytes]:
    """Every archived-kind message the stream holds, by (subject, sequence)."""
    found = {}
    async for msg in read_range(
        js, stream=subjects.ANALYTICS_STREAM, filter_subjects=ARCHIVE_SUBJECTS
    ):
        found[(msg.subject, msg.metadata.sequence.stream)] = bytes(msg.data)
    return found


async def archived(store: ArchiveStore) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name in COLLECTIONS:
        docs.extend(await store.collection(name).find({}, {"_id": 0}).to_list(length=None))
    return docs


def archive_settings(nats_url: str, mongo: MongoBackend, **overrides: object) -> Settings:
    base = test_settings(
        nats_url, mongo_database=mongo.database, archive_ack_wait_s=2.0, archive_batch=64
    )
    return msgspec.structs.replace(base, **overrides)


def store_for(settings: Settings, mongo: MongoBackend) -> ArchiveStore:
    return ArchiveStore.from_settings(settings, mongo.client)


def writer_for(
    settings: Settings, mongo: MongoBackend, *, kind: type[ArchiveWriter] = ArchiveWriter,
    store: ArchiveStore | None = None, **kwargs: Any,
) -> ArchiveWriter:  # fmt: skip
    return kind(settings, store=store or store_for(settings, mongo), **kwargs)
