"""History pages: the archive (mongomock-motor, or MONGO_URL) and the ANALYTICS stream answer
the same pages, by time and by ANALYTICS sequence; cursors walk a range without gaps or
repeats; the stream reads only the sequences asked for; bad ranges are 400; MongoDB
unreachable → history from the stream, /health degraded, never a 500."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import msgspec
import nats
import pytest
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from actors import subjects
from actors.archive.documents import SUMMARIES, UNDERLYING
from actors.archive.pages import HistoryPage, HistoryRange, Position
from actors.archive.writer import ArchiveWriter
from actors.natsserver import NatsServer
from edge.history.params import encode_cursor, parse_instant
from edge.history.stream import AnalyticsHistory
from tests.archiving import (
    EXPIRY,
    SECOND_NS,
    WAIT_S,
    archive_settings,
    publish_analytics,
    store_for,
    stream_content,
    summary,
    tick,
)
from tests.conftest import MongoBackend, wait_published, wait_summary
from tests.edge.conftest import Edge, EdgeFactory, wait_health
from tests.feeding import START_NS, market, session
from tests.redis_server import free_port

NEAR, MID, MONTHLY = "2026-12-01", "2026-12-08", "2026-12-29"


def _ties() -> list[tuple[str, bytes]]:
    """40 ticks and 40 summaries, three messages per ts on each subject (ties on ts)."""
    out = []
    for i in range(40):
        ts = START_NS + (i // 3) * SECOND_NS
        out.append((subjects.analytics_underlying("NIFTY"), tick(ts=ts, seq=i + 1)))
        out.append((subjects.analytics_summary("NIFTY", EXPIRY), summary(ts=ts, seq=i + 1)))
    return out


async def _walk(read: Any, r: HistoryRange) -> tuple[list[HistoryPage], list[tuple[int, int]]]:
    pages, seen = [], []
    before: Position | None = None
    while True:
        page = await read(dataclasses.replace(r, before=before))
        pages.append(page)
        seen.extend((i.ts, i.seq) for i in page.items)
        if page.next is None:
            return pages, seen
        before = page.next


@pytest.mark.parametrize(
    ("from_s", "to_s", "limit", "from_seq", "to_seq"),
    [
        (None, None, 7, None, None),
        (2, 9, 3, None, None),
        (4, None, 1, None, None),
        (None, 4, 5, None, None),
        (5, 5, 4, None, None),
        (None, None, 1000, None, None),
        # ANALYTICS sequences 1..80 alternate tick, summary; ts repeats three times per subject
        (None, None, 4, 11, 51),  # the tail walk starts below to_seq and stops at from_seq
        (None, None, 3, 30, None),
        (None, None, 6, None, 25),
        (None, None, 5, 79, 80),  # one tick, no summary
        (None, None, 5, 200, None),  # past the stream's end
        (2, 9, 2, 15, 40),  # and a time range
        (4, None, 3, 33, 70),  # with from: a forward read from from_seq to to_seq
        (1, None, 5, 60, None),  # from_seq starts later than from's time
    ],
)
async def test_archive_and_stream_answer_the_same_pages_and_walk_the_range_exactly(
    nats_server: NatsServer,
    js: Any,
    mongo: MongoBackend,
    from_s: int | None,
    to_s: int | None,
    limit: int,
    from_seq: int | None,
    to_seq: int | None,
) -> None:
    seqs = await publish_analytics(js, _ties())
    assert seqs == list(range(1, 81))
    settings = archive_settings(nats_server.url, mongo)
    writer = ArchiveWriter(settings, store=store_for(settings, mongo))
    await writer.start()
    try:
        await writer.wait_acked(seqs[-1], WAIT_S)
    finally:
        await writer.stop()
    store, stream = store_for(settings, mongo), AnalyticsHistory(js)
    content = await stream_content(js)
    from_ns = None if from_s is None else START_NS + from_s * SECOND_NS
    to_ns = None if to_s is None else START_NS + to_s * SECOND_NS
    for subject, collection in [
        (subjects.analytics_underlying("NIFTY"), UNDERLYING),
        (subjects.analytics_summary("NIFTY", EXPIRY), SUMMARIES),
    ]:
        r = HistoryRange(subject, limit, from_ns, to_ns, from_seq=from_seq, to_seq=to_seq)

        async def from_archive(q: HistoryRange, c: str = collection) -> HistoryPage:
            return await store.page(c, q)

        archive_pages, archive_seen = await _walk(from_archive, r)
        stream_pages, _ = await _walk(stream.page, r)
        assert archive_pages == stream_pages
        # newest first, nothing missing, nothing twice
        assert archive_seen == _expected(content, r)
        assert all(len(p.items) <= limit for p in archive_pages)
        for page in archive_pages:
            for item in page.items:
                assert item.payload == content[(subject, item.seq)]


@pytest.mark.parametrize(
    ("text", "expected_ns"),
    [
        ("2026-11-25T04:30:00Z", START_NS),
        ("2026-11-25T10:00:00+05:30", START_NS),
        ("2026-11-25T10:00:00 05:30", START_NS),  # an unencoded "+" in a query string
        ("2026-11-25T04:30:00.250+00:00", START_NS + SECOND_NS // 4),
        ("2026-11-25", START_NS - (4 * 3600 + 1800) * SECOND_NS),
        (str(START_NS // 10**6), START_NS),
        ("0", 0),
    ],
)
def test_instants_are_iso_8601_with_an_offset_or_epoch_milliseconds(
    text: str, expected_ns: int
) -> None:
    assert parse_instant("from", text) == expected_ns


_GOOD_CURSOR = encode_cursor(Position(START_NS, 5))


_BAD = [
    ("/api/data/underlying/NIFTY?from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z",
     "bad_range", "query.from (2026-11-26T00:00:00Z) is after query.to"),
    ("/api/data/underlying/NIFTY?from=yesterday", "bad_range", "query.from"),
    ("/api/data/underlying/NIFTY?to=2026-11-25T10:00:00", "bad_range", "UTC offset"),
    ("/api/data/underlying/NIFTY?to=2026-13-01", "bad_range", "query.to"),
    ("/api/data/underlying/NIFTY?from=99999999999999999", "bad_range", "after 2200"),
    ("/api/data/underlying/NIFTY?from=1969-12-31T00:00:00Z", "bad_range", "outside"),
    ("/api/data/underlying/NIFTY?from=1&from=2", "bad_range", "more than once"),
    ("/api/data/underlying/NIFTY?limit=-3", "bad_range", "query.limit"),
    ("/api/data/underlying/NIFTY?cursor=not-a-cursor", "bad_cursor", "query.cursor"),
    ("/api/data/underlying/NIFTY?cursor=" + "A" * 200, "bad_cursor", "query.cursor"),
    ("/api/data/underlying/NIFTY?cursor=kQE", "bad_cursor", "query.cursor"),
    (f"/api/analytics/pcr/NIFTY?cursor={_GOOD_CURSOR}", "bad_range", "history=true"),
    ("/api/analytics/summary/NIFTY?from=0", "bad_range", "history=true"),
    ("/api/analytics/summary/NIFTY?history=true&limit=1001", "bad_range", "query.limit"),
    ("/api/analytics/max-pain/NIFTY?history=true&to=soon", "bad_range", "query.to"),
    ("/api/analytics/atm-iv/NIFTY?history=true&cursor=%00", "bad_cursor", "query.cursor"),
    ("/api/analytics/summary/NIFTY?history=true&limit=" + "1" * 5000, "bad_range", "query.limit"),
    ("/api/data/underlying/NIFTY?from=" + "1" * 5000, "bad_range", "after 2200"),
    ("/api/data/underlying/NIFTY?from_seq=0", "bad_range", "query.from_seq"),
    ("/api/data/underlying/NIFTY?to_seq=-4", "bad_range", "query.to_seq"),
    ("/api/data/underlying/NIFTY?from_seq=1.5", "bad_range", "query.from_seq"),
    ("/api/data/underlying/NIFTY?to_seq=%C2%B3", "bad_range", "query.to_seq"),  # "³"
    ("/api/data/underlying/NIFTY?to_seq=", "bad_range", "query.to_seq"),
    ("/api/data/underlying/NIFTY?from_seq=9007199254740992", "bad_range", "query.from_seq"),
    ("/api/data/underlying/NIFTY?to_seq=" + "9" * 5000, "bad_range", "query.to_seq"),
    ("/api/data/underlying/NIFTY?from_seq=7&to_seq=7", "bad_range",
     "query.from_seq (7) is not below query.to_seq (7)"),
    ("/api/data/underlying/NIFTY?from_seq=9&to_seq=3", "bad_range",
     "query.from_seq (9) is not below query.to_seq (3)"),
    ("/api/data/underlying/NIFTY?to_seq=5&to_seq=6", "bad_range", "query.to_seq: given more"),
    ("/api/analytics/max-pain/NIFTY?from_seq=1", "bad_range", "history=true"),
    ("/api/analytics/pcr/NIFTY?history=true&from_seq=abc", "bad_range", "query.from_seq"),
    ("/api/analytics/atm-iv/NIFTY?history=true&to_seq=0x10", "bad_range", "query.to_seq"),
]  # fmt: skip


async def test_bad_history_parameters_are_400_naming_the_problem(edge: Edge) -> None:
    async with edge.client() as c:
        for path, code, names in _BAD:
            r = await c.get(path)
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error"] == code and names in r.json()["detail"], (path, r.text)


async def _archived_edges(
    edge_factory: EdgeFactory, mongo: MongoBackend, **overrides: object
) -> tuple[Edge, Edge, ArchiveWriter]:
    """A fed stream-only edge, an edge reading the archive, and the writer that filled it."""
    plain = await edge_factory()
    messages = session(market(("NIFTY",)), 6)
    # Two rounds, the second once the first is on ANALYTICS: every chain then has at least
    # two summaries, however the actors coalesced a round (a round can become one publish).
    first = len(session(market(("NIFTY",)), 3))
    await plain.feed_messages(messages[:first], until_stored=True)
    await plain.feed_messages(messages[first:])
    nc = await nats.connect(plain.nats_url)
    try:  # FEED sequences are 1..n in order: wait for each chain's and the underlying's last
        for expiry in (NEAR, MID, MONTHLY):
            last_feed = max(
                i for i, m in enumerate(messages, 1)
                if m.subject.endswith(expiry) or ".underlying." in m.subject
            )  # fmt: skip
            await wait_summary(nc, "NIFTY", expiry, last_feed)
        ticks = sum(".underlying." in m.subject for m in messages)
        await wait_published(
            nc, subjects.analytics_underlying("NIFTY"), lambda b: b["seq"] >= ticks
        )
        content = await stream_content(nc.jetstream())
    finally:
        await nc.close()
    last = max(seq for (subject, seq) in content if ".chain." not in subject)
    settings = archive_settings(plain.nats_url, mongo, **overrides)
    writer = ArchiveWriter(settings, store=store_for(settings, mongo))
    await writer.start()
    await writer.wait_acked(last, WAIT_S)
    archived = await edge_factory(mongo=mongo.client, mongo_database=mongo.database, **overrides)
    return plain, archived, writer


async def _pages(edge: Edge, path: str) -> list[dict[str, Any]]:
    pages, url = [], path
    async with edge.client() as c:
        while True:
            r = await c.get(url)
            assert r.status_code == 200, r.text
            pages.append(r.json())
            if pages[-1]["next_cursor"] is None:
                return pages
            url = f"{path}&cursor={pages[-1]['next_cursor']}"


async def test_every_history_route_answers_the_same_from_archive_and_stream(
    edge_factory: EdgeFactory, mongo: MongoBackend
) -> None:
    plain, archived, writer = await _archived_edges(edge_factory, mongo)
    pcr = f"/api/analytics/pcr/NIFTY?expiry={MID}&history=true"
    times = sorted({x["ts"] for p in await _pages(plain, pcr) for x in p["history"]})
    assert len(times) >= 2  # the first and the last summary at least
    # Every summary but the newest: from the oldest ts (epoch ms) to the newest (ISO, excluded).
    newest = dt.datetime.fromtimestamp(times[-1] / 1e9, tz=dt.UTC).isoformat()
    ranged = f"{pcr}&from={times[0] // 10**6}&to={newest.replace('+00:00', 'Z')}&limit=1"
    # By ANALYTICS sequence (alone and with from), checked against the whole history.
    every_tick = [
        x for p in await _pages(plain, "/api/data/underlying/NIFTY?limit=1000") for x in p["ticks"]
    ]
    t = sorted(x["analytics_seq"] for x in every_tick)  # oldest first
    every_pcr = [x for p in await _pages(plain, f"{pcr}&limit=1000") for x in p["history"]]
    s = sorted(x["analytics_seq"] for x in every_pcr)
    from_ms = sorted(x["ts"] for x in every_tick)[2] // 10**6
    by_seq: dict[str, list[int]] = {
        f"/api/data/underlying/NIFTY?from_seq={t[1]}&to_seq={t[5]}&limit=2": [
            x["analytics_seq"] for x in every_tick if t[1] <= x["analytics_seq"] < t[5]
        ],
        f"/api/data/underlying/NIFTY?from={from_ms}&from_seq={t[1]}&to_seq={t[6]}&limit=2": [
            x["analytics_seq"] for x in every_tick
            if x["ts"] >= from_ms * 10**6 and t[1] <= x["analytics_seq"] < t[6]
        ],
        f"{pcr}&from_seq={s[1]}&limit=1": [
            x["analytics_seq"] for x in every_pcr if x["analytics_seq"] >= s[1]
        ],
        f"/api/analytics/atm-iv/NIFTY?expiry={MID}&history=true&to_seq={s[-1]}": [
            x["analytics_seq"] for x in every_pcr if x["analytics_seq"] < s[-1]
        ],
    }  # fmt: skip
    try:
        routes = [
            ("/api/data/underlying/NIFTY?limit=2", "ticks"),
            (f"{pcr}&limit=2", "history"),
            (f"/api/analytics/summary/NIFTY?expiry={MONTHLY}&history=true&limit=3", "history"),
            ("/api/analytics/max-pain/NIFTY?history=true&limit=4", "history"),
            (f"/api/analytics/atm-iv/NIFTY?expiry={NEAR}&history=true&limit=100", "history"),
            (ranged, "history"),
            *((path, "history" if "/analytics/" in path else "ticks") for path in by_seq),
        ]
        for path, key in routes:
            from_stream = await _pages(plain, path)
            from_archive = await _pages(archived, path)
            assert {p["source"] for p in from_stream} == {"stream"}
            assert {p["source"] for p in from_archive} == {"archive"}
            assert [{**p, "source": None} for p in from_archive] == [
                {**p, "source": None} for p in from_stream
            ]
            points = [(x["ts"], x["seq"]) for p in from_archive for x in p[key]]
            assert points == sorted(set(points), reverse=True)  # newest first, no repeats
            assert points, path
            if path in by_seq:  # exactly the range, over pages: nothing missing, nothing twice
                assert [x["analytics_seq"] for p in from_archive for x in p[key]] == by_seq[path]
        ranged_ts = [x["ts"] for p in await _pages(archived, ranged) for x in p["history"]]
        assert set(ranged_ts) == set(times[:-1])
    finally:
        await writer.stop()
    ticks = [x for p in await _pages(archived, "/api/data/underlying/NIFTY?limit=3")
             for x in p["ticks"]]  # fmt: skip
    assert len(ticks) == 7  # the opening tick + 6 steps, over three pages
    async with archived.client() as c:
        atm = (await c.get(f"/api/analytics/atm-iv/NIFTY?expiry={NEAR}")).json()
        live = (await c.get(f"/api/analytics/summary/NIFTY?expiry={NEAR}")).json()
    assert (atm["atm_iv"], atm["atm_strike"], atm["ts"]) == (
        live["atm_iv"], live["atm_strike"], live["ts"]
    )  # fmt: skip


async def test_history_of_a_range_with_no_data_is_empty_and_unknown_names_are_404(
    fed_edge: Edge,
) -> None:
    async with fed_edge.client() as c:
        empty = await c.get("/api/data/underlying/NIFTY?from=2020-01-01&to=2020-01-02")
        unknown = await c.get("/api/analytics/summary/NIFTY?expiry=2027-03-25&history=true")
        nope = await c.get("/api/data/underlying/NOPE?from=2020-01-01")
    assert empty.status_code == 200
    assert empty.json() == {"product": "NIFTY", "ticks": [], "next_cursor": None,
                            "source": "stream"}  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_expiry"
    assert nope.status_code == 404 and nope.json()["error"] == "unknown_product"


async def test_an_unreachable_mongodb_degrades_history_to_the_stream_never_a_500(
    edge_factory: EdgeFactory,
) -> None:
    dead = f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300"
    edge = await edge_factory(mongo_url=dead, mongo_timeout_s=0.3, dependency_retry_s=0.2)
    await edge.feed(steps=2)
    async with edge.client() as c:
        history = await c.get(f"/api/analytics/pcr/NIFTY?expiry={MID}&history=true")
        again = await c.get("/api/data/underlying/NIFTY?limit=2")
        live = await c.get(f"/api/analytics/summary/NIFTY?expiry={MID}")
        health = await c.get("/health")
        metrics = (await c.get("/metrics")).text
    assert history.status_code == 200 and history.json()["source"] == "stream"
    assert history.json()["history"][0]["pcr_oi"] == live.json()["pcr_oi"]
    assert again.status_code == 200 and len(again.json()["ticks"]) == 2
    body = health.json()
    assert health.status_code == 200 and body["status"] == "degraded"
    assert body["checks"]["mongo"]["ok"] is True
    assert body["checks"]["mongo"]["detail"].startswith("degraded: ")
    assert "history from the ANALYTICS stream" in body["checks"]["mongo"]["detail"]
    assert any(d.startswith("mongo: degraded") for d in body["degraded"])
    assert "deltastream_edge_mongo_up 0.0" in metrics
    assert 'deltastream_edge_history_pages_total{source="stream"} 2.0' in metrics


class _Outage:
    """A motor-compatible client (mongomock) that fails like an unreachable server while
    ``down`` is set: reads raise AutoReconnect, the ping ServerSelectionTimeoutError."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False
        self.admin = self

    async def command(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise ServerSelectionTimeoutError("127.0.0.1:27017: connection refused")
        return await self.inner.admin.command(*args, **kwargs)

    def __getitem__(self, name: str) -> Any:
        outage, db = self, self.inner[name]

        class _Db:
            def get_collection(self, collection: str, **kwargs: Any) -> Any:
                coll = db.get_collection(collection, **kwargs)

                class _Coll:
                    def find(self, *a: Any, **k: Any) -> Any:
                        if outage.down:
                            raise AutoReconnect("127.0.0.1:27017: connection closed")
                        return coll.find(*a, **k)

                return _Coll()

        return _Db()

    def close(self) -> None:
        self.inner.close()


async def test_mongodb_going_away_mid_run_degrades_to_the_stream_and_comes_back(
    edge_factory: EdgeFactory, mongo: MongoBackend
) -> None:
    _, _, writer = await _archived_edges(edge_factory, mongo)
    await writer.stop()
    outage = _Outage(mongo.client)
    edge = await edge_factory(mongo=outage, mongo_database=mongo.database, dependency_retry_s=0.2)
    path = f"/api/analytics/pcr/NIFTY?expiry={MID}&history=true&limit=3"
    async with edge.client() as c:
        before = (await c.get(path)).json()
        outage.down = True
        during = await c.get(path)
        health = (await c.get("/health")).json()
        outage.down = False
        await wait_health(edge, "mongo", "ok")  # the probe sees MongoDB again
        after = (await c.get(path)).json()
    assert before["source"] == "archive" and after["source"] == "archive"
    assert during.status_code == 200 and during.json()["source"] == "stream"
    assert {**during.json(), "source": None} == {**before, "source": None}
    assert health["status"] == "degraded"
    assert "AutoReconnect" in health["checks"]["mongo"]["detail"]
    assert after == before


def _interleaved(n_target: int, others_per_target: int) -> list[tuple[str, bytes]]:
    """``n_target`` ticks on NIFTY's underlying subject, each followed by ticks on other
    products, as the actors interleave subjects on ANALYTICS."""
    out = []
    target = subjects.analytics_underlying("NIFTY")
    for i in range(n_target):
        ts = START_NS + i * SECOND_NS
        out.append((target, tick(ts=ts, seq=i + 1)))
        for j in range(others_per_target):
            out.append(
                (subjects.analytics_underlying(f"OTHER{j}"), tick(f"OTHER{j}", ts=ts, seq=i))
            )
    return out


def _expected(content: dict[tuple[str, int], bytes], r: HistoryRange) -> list[tuple[int, int]]:
    """(ts, seq) of every message of ``r`` in the stream's whole content, newest first: the
    range worked out here, not by ``HistoryRange.admits``."""
    found = []
    for (subject, seq), data in content.items():
        ts = msgspec.json.decode(data)["ts"]
        if subject != r.subject:
            continue
        if (r.from_ns is not None and ts < r.from_ns) or (r.to_ns is not None and ts >= r.to_ns):
            continue
        if (r.from_seq is not None and seq < r.from_seq) or (
            r.to_seq is not None and seq >= r.to_seq
        ):
            continue
        if r.before is not None and (ts, seq) >= r.before:
            continue
        found.append((ts, seq))
    return sorted(found, reverse=True)


async def test_a_stream_page_by_sequence_reads_only_that_range(js: Any) -> None:
    await publish_analytics(js, _interleaved(n_target=300, others_per_target=9))
    content = await stream_content(js)
    history = AnalyticsHistory(js)
    subject = subjects.analytics_underlying("NIFTY")
    on_subject = sorted(seq for s, seq in content if s == subject)
    lo, hi = on_subject[100], on_subject[140]  # 40 messages of the subject, deep in the stream
    for r, most in [
        (HistoryRange(subject, 10, from_seq=lo, to_seq=hi), 40),  # the tail walk, below to_seq
        (HistoryRange(subject, 1000, from_seq=lo, to_seq=hi), 40),  # ... down to from_seq
        (HistoryRange(subject, 1000, from_seq=lo), 200),  # ... from the subject's newest
        # with from: a forward read from from_seq (not from from's time) that stops at to_seq
        (HistoryRange(subject, 1000, START_NS, from_seq=lo, to_seq=hi), 40),
        (HistoryRange(subject, 1000, START_NS, to_seq=on_subject[40]), 40),
    ]:
        page = await history.page(r)
        assert [(i.ts, i.seq) for i in page.items] == _expected(content, r)[: r.limit], r
        assert 0 < history.last_read <= most, (r, history.last_read)


async def test_a_stream_page_without_from_reads_the_tail_not_the_whole_subject(js: Any) -> None:
    await publish_analytics(js, _interleaved(n_target=300, others_per_target=9))
    content = await stream_content(js)
    history = AnalyticsHistory(js)
    subject = subjects.analytics_underlying("NIFTY")
    page = await history.page(HistoryRange(subject, 20))
    assert [(i.ts, i.seq) for i in page.items] == _expected(content, HistoryRange(subject, 20))[:20]
    assert page.next is not None
    # a full read would take all 300 messages of the subject
    assert 21 <= history.last_read < 100
    # walking every page by cursor still visits each message once, newest first
    _, seen = await _walk(history.page, HistoryRange(subject, 37))
    assert seen == _expected(content, HistoryRange(subject, 37))
    deep = await history.page(HistoryRange(subject, 10, before=Position(*seen[250])))
    assert [(i.ts, i.seq) for i in deep.items] == seen[251:261]
    assert history.last_read < 100  # the cursor bounds the walk from above too


async def test_a_subject_whose_ts_goes_backwards_gets_an_exact_first_page(js: Any) -> None:
    # The actors never publish ts backwards on a subject; any other publisher might.
    subject = subjects.analytics_underlying("NIFTY")
    late = [START_NS + ((i * 7) % 50) * SECOND_NS for i in range(50)]  # ts out of order
    await publish_analytics(
        js,
        [(subject, tick(ts=ts, seq=i + 1)) for i, ts in enumerate(late)]
        + [(subjects.analytics_underlying("OTHER"), tick("OTHER", ts=START_NS, seq=1))] * 50,
    )
    content = await stream_content(js)
    history = AnalyticsHistory(js)
    for limit in (1, 6, 49, 50):
        page = await history.page(HistoryRange(subject, limit))
        assert [(i.ts, i.seq) for i in page.items] == _expected(
            content, HistoryRange(subject, limit)
        )[:limit]
    assert history.last_read >= 50  # it fell back to reading the whole subject
