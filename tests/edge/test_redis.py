"""Redis (a real redis-server): the history page cache and its invalidation by the archive
writer, rate limits shared by several edges, and Redis going away and coming back."""

from __future__ import annotations

import re

import httpx
import msgspec
import nats
import redis.asyncio

from actors import subjects
from actors.archive.invalidation import CacheInvalidator
from actors.archive.writer import ArchiveWriter
from actors.redis_store import generation_key
from tests.archiving import WAIT_S, archive_settings, store_for, stream_content
from tests.conftest import MongoBackend, wait_summary
from tests.edge.conftest import Edge, EdgeFactory, wait_health
from tests.feeding import START_NS, STEP_NS, market, session
from tests.redis_server import RedisServer, free_port

MID = "2026-12-08"
PCR = f"/api/analytics/pcr/NIFTY?expiry={MID}&history=true&limit=5"


def _counter(metrics: str, name: str, **labels: str) -> float:
    label = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{label}\}} (\S+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


async def _metrics(edge: Edge) -> str:
    async with edge.client() as c:
        return (await c.get("/metrics")).text


async def _archive_until_current(writer: ArchiveWriter, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        content = await stream_content(nc.jetstream())
    finally:
        await nc.close()
    await writer.wait_acked(max(seq for (s, seq) in content if ".chain." not in s), WAIT_S)


async def test_history_pages_are_cached_until_the_writer_archives_newer_data(
    edge_factory: EdgeFactory, mongo: MongoBackend, redis_server: RedisServer
) -> None:
    shared = {"redis_url": redis_server.url, "mongo_database": mongo.database}
    edge = await edge_factory(mongo=mongo.client, **shared)
    m = market(("NIFTY",))
    first = session(m, 3)
    await edge.feed_messages(first)
    settings = archive_settings(edge.nats_url, mongo, redis_url=redis_server.url)
    invalidator = CacheInvalidator(
        redis.asyncio.Redis.from_url(redis_server.url), prefix=settings.redis_key_prefix
    )
    writer = ArchiveWriter(settings, store=store_for(settings, mongo), invalidator=invalidator)
    await writer.start()
    try:
        nc = await nats.connect(edge.nats_url)
        try:
            await wait_summary(nc, "NIFTY", MID, len(first) - 1)
        finally:
            await nc.close()
        await _archive_until_current(writer, edge.nats_url)
        async with edge.client() as c:
            miss = (await c.get(PCR)).json()
            hit = (await c.get(PCR)).json()
        text = await _metrics(edge)
        assert miss == hit and miss["source"] == "archive"
        assert _counter(text, "deltastream_edge_history_cache_total", result="miss") == 1
        assert _counter(text, "deltastream_edge_history_cache_total", result="hit") == 1

        later = [m.step(START_NS + (4 + i) * STEP_NS) for i in range(2)]
        more = [msg for step in later for msg in step]
        await edge.feed_messages(more)
        nc = await nats.connect(edge.nats_url)
        try:
            newest = await wait_summary(nc, "NIFTY", MID, len(first) + len(more) - 1)
        finally:
            await nc.close()
        await _archive_until_current(writer, edge.nats_url)
        async with edge.client() as c:
            fresh = (await c.get(PCR)).json()
        text = await _metrics(edge)
    finally:
        await writer.stop()
        await invalidator.close()
    assert fresh["history"][0]["ts"] == newest["ts"] > hit["history"][0]["ts"]
    assert _counter(text, "deltastream_edge_history_cache_total", result="miss") == 2
    assert _counter(text, "deltastream_edge_history_cache_total", result="hit") == 1
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        gen = await client.get(
            generation_key("deltastream:", subjects.analytics_summary("NIFTY", MID))
        )
        pages = await client.keys("deltastream:history:page:*")
        entry = msgspec.msgpack.decode(await client.get(pages[0]))
    finally:
        await client.aclose()
    assert len(pages) == 1 and entry[0] == gen  # refilled at the current generation


async def test_pages_of_different_sequence_ranges_are_cached_apart(
    edge_factory: EdgeFactory, mongo: MongoBackend, redis_server: RedisServer
) -> None:
    edge = await edge_factory(
        mongo=mongo.client, mongo_database=mongo.database, redis_url=redis_server.url
    )
    m = market(("NIFTY",))
    # Two rounds, each until its summaries are on ANALYTICS: at least two summaries per chain,
    # however the actors coalesced a round.
    await edge.feed_messages(session(m, 3), until_stored=True)
    await edge.feed_messages(list(m.step(START_NS + 4 * STEP_NS)), until_stored=True)
    settings = archive_settings(edge.nats_url, mongo, redis_url=redis_server.url)
    writer = ArchiveWriter(settings, store=store_for(settings, mongo))
    await writer.start()
    try:
        await _archive_until_current(writer, edge.nats_url)
    finally:
        await writer.stop()
    every = f"/api/analytics/pcr/NIFTY?expiry={MID}&history=true&limit=1000"
    async with edge.client() as c:
        whole = (await c.get(every)).json()
        seqs = [x["analytics_seq"] for x in whole["history"]]
        assert len(seqs) >= 2, seqs
        paths = [f"{every}&from_seq={seqs[0]}", f"{every}&to_seq={seqs[0]}",
                 f"{every}&from_seq={seqs[-1]}&to_seq={seqs[0]}"]  # fmt: skip
        ranged = [(await c.get(path)).json() for path in paths]
        again = [(await c.get(path)).json() for path in paths]
    text = await _metrics(edge)
    assert {r["source"] for r in [whole, *ranged]} == {"archive"}
    assert [[x["analytics_seq"] for x in r["history"]] for r in ranged] == [
        seqs[:1], seqs[1:], seqs[1:]
    ]  # fmt: skip
    assert again == ranged
    assert _counter(text, "deltastream_edge_history_cache_total", result="miss") == 4
    assert _counter(text, "deltastream_edge_history_cache_total", result="hit") == 3


async def _login(c: httpx.AsyncClient, user: str) -> int:
    r = await c.post("/api/auth/login", json={"username": user, "password": "Wrong-password-1"})
    assert r.status_code in (401, 429), r.text
    if r.status_code == 429:
        assert r.json()["error"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    return r.status_code


async def test_two_edges_sharing_redis_share_the_login_and_api_limits(
    edge_factory: EdgeFactory, redis_server: RedisServer
) -> None:
    shared = {"redis_url": redis_server.url, "login_attempts_per_minute": 3,
              "api_requests_per_minute": 4}  # fmt: skip
    one, two = await edge_factory(**shared), await edge_factory(**shared)
    async with one.client() as a, two.client() as b:
        statuses = [await _login(c, "alice") for c in (a, b, a, b, a)]
        api = [(await c.get("/api/data/underlying/NIFTY")).status_code for c in (a, b, a, b, b)]
    assert statuses == [401, 401, 401, 429, 429]  # the 4th attempt, on either edge, is refused
    assert 429 not in api[:4] and api[4] == 429  # 4 requests per minute across both edges

    alone = await edge_factory(login_attempts_per_minute=3)  # no Redis: its own count
    async with alone.client() as c:
        assert [await _login(c, "alice") for _ in range(4)] == [401, 401, 401, 429]


async def test_redis_going_away_degrades_to_local_limits_and_coming_back_restores_them(
    edge_factory: EdgeFactory, mongo: MongoBackend, redis_server: RedisServer
) -> None:
    edge = await edge_factory(
        mongo=mongo.client,
        mongo_database=mongo.database,
        redis_url=redis_server.url,
        login_attempts_per_minute=3,
        dependency_retry_s=0.2,
    )
    await edge.feed(steps=2)
    async with edge.client() as c:
        assert (await c.get("/health")).json()["checks"]["redis"] == {"ok": True, "detail": "ok"}
        assert await _login(c, "bob") == 401

        redis_server.stop()
        during = [await _login(c, "carol") for _ in range(4)]
        history = await c.get(PCR)
        live = await c.get(f"/api/analytics/summary/NIFTY?expiry={MID}")
        health = await c.get("/health")
    # Limited locally, never a 500: the address key already holds bob's attempt, which the
    # edge recorded locally too when Redis accepted it.
    assert during == [401, 401, 429, 429]
    assert history.status_code == 200 and live.status_code == 200
    body = health.json()
    assert health.status_code == 200 and body["status"] == "degraded"
    detail = body["checks"]["redis"]["detail"]
    assert detail.startswith("degraded: ") and "rate limits local" in detail
    assert "deltastream_edge_redis_up 0.0" in await _metrics(edge)

    redis_server.start()  # same port, empty (no persistence)
    await wait_health(edge, "redis", "ok")
    async with edge.client() as c:
        assert await _login(c, "dave") == 401
        assert (await c.get(PCR)).status_code == 200
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        assert await client.zcard("deltastream:limit:login:account:dave") == 1
    finally:
        await client.aclose()
    assert "deltastream_edge_redis_up 1.0" in await _metrics(edge)


async def test_an_edge_started_without_its_redis_says_so_and_serves(
    edge_factory: EdgeFactory,
) -> None:
    edge = await edge_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0",
                              dependency_retry_s=0.2)  # fmt: skip
    body = await wait_health(edge, "redis", "degraded")
    assert body["status"] == "degraded"
    async with edge.client() as c:
        assert await _login(c, "erin") == 401
        assert (await c.get("/api/data/products")).status_code == 200
