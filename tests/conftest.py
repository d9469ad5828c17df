"""Shared fixtures: real servers on free ports, waited for until ready, torn down after."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient
from nats.js.api import DeliverPolicy

from actors import subjects
from actors.host import ActorHost
from actors.log_setup import configure_logging, reset_logging
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.settings import Settings
from actors.streams import ensure_streams
from edge import cli
from tests.redis_server import RedisServer

WAIT_S = 60.0


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream on a free port and a temp store, per test."""
    server = NatsServer(tmp_path / "js")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_settings(nats_url: str, **overrides: object) -> Settings:
    """Settings for tests: fast rate limits, checkpoints only when a test asks, no check of
    feed ts against the wall clock (tests/actors/test_dead_letters.py makes one)."""
    base = Settings(nats_url=nats_url, log_json=False)
    defaults: dict[str, object] = {
        "chain_publish_interval_s": 0.05,
        "surface_publish_interval_s": 0.05,
        "snapshot_interval_s": 3600.0,
        # Tests run fixed market clocks, some of them ahead of today's date.
        "max_ts_ahead_s": 0.0,
    }
    return msgspec.structs.replace(base, **{**defaults, **overrides})


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture
def in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``deltastream ARGS`` in this process (a sync test: main runs its own loop)."""
    # Uncached loggers, so nothing keeps writing to this test's captured stderr later.
    monkeypatch.setattr(cli, "configure_logging", partial(configure_logging, cache_loggers=False))

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    try:
        yield run
    finally:
        reset_logging()


@pytest.fixture
async def analytics_nc(nats_server: NatsServer) -> AsyncIterator[Any]:
    """A connection to ``nats_server`` with deltastream's streams created."""
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream(), test_settings(nats_server.url))
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
def js(analytics_nc: Any) -> Any:
    """A JetStream context on ``nats_server`` with deltastream's streams created."""
    return analytics_nc.jetstream()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free port with a temp dir and no persistence, per test."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class MongoBackend:
    """A motor-compatible client and a database of the test's own."""

    client: Any
    database: str
    real: bool


@pytest.fixture
async def mongo() -> AsyncIterator[MongoBackend]:
    """mongomock-motor (in memory, this process only), or the MongoDB server at ``MONGO_URL``
    when that is set: the same archive tests then run against a real server."""
    database = f"deltastream_test_{uuid.uuid4().hex[:12]}"
    url = os.environ.get("MONGO_URL")
    if not url:
        yield MongoBackend(AsyncMongoMockClient(tz_aware=True), database, real=False)
        return
    client = AsyncIOMotorClient(url, serverSelectionTimeoutMS=10_000, tz_aware=True)
    try:
        yield MongoBackend(client, database, real=True)
    finally:
        await client.drop_database(database)
        client.close()


@pytest.fixture
async def actor_host(nats_server: NatsServer) -> AsyncIterator[ActorHost]:
    host = ActorHost(test_settings(nats_server.url), DEFAULT_PRODUCTS)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


async def feed_last_seq(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(subjects.FEED_STREAM)
        return int(info.state.last_seq)
    finally:
        await nc.close()


async def wait_handled(host: ActorHost, seq: int, timeout_s: float = WAIT_S) -> None:
    """Wait until the host's ingress has handled every FEED message up to ``seq``. A partition
    restarted meanwhile (its lease lost, e.g. while NATS was away, and taken back) has a new
    ingress, which starts again from the last checkpoint: the wait follows it."""
    assert host.settings.partitions == 1, "host.ingress is the one partition's"
    async with asyncio.timeout(timeout_s):
        while True:
            async with host.partitions_changed:
                await host.partitions_changed.wait_for(lambda: host.ingress is not None)
            ingress = host.ingress
            assert ingress is not None
            async with ingress.batch_done:
                await ingress.batch_done.wait_for(
                    lambda i=ingress: i.handled_seq >= seq or host.ingress is not i
                )
            if host.ingress is ingress:
                return


async def wait_published(
    nc: Any, subject: str, accept: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first analytics message on ``subject`` that ``accept`` takes, read from the
    ANALYTICS stream itself: an ordered consumer starting at the subject's last stored
    message sees that one and everything stored after it, so nothing published around the
    time of the call can slip between a lookup and a subscription."""
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def cb(msg: Any) -> None:
        body = msgspec.json.decode(msg.data)
        if accept(body) and not done.done():
            done.set_result(body)

    sub = await nc.jetstream().subscribe(
        subject,
        stream=subjects.ANALYTICS_STREAM,
        cb=cb,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
    )
    try:
        return await asyncio.wait_for(done, WAIT_S)
    finally:
        await sub.unsubscribe()


async def wait_summary(nc: Any, product: str, expiry: str, stream_seq: int) -> dict[str, Any]:
    """The first published summary of a chain that reflects FEED up to ``stream_seq``."""
    return await wait_published(
        nc, subjects.analytics_summary(product, expiry), lambda b: b["stream_seq"] >= stream_seq
    )
