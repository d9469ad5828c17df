"""The actor host's HTTP endpoint: Prometheus /metrics, /health for probes, /health/live."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from actors.host import ActorHost
from actors.monitoring import MonitoringServer
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from tests.conftest import WAIT_S, feed_last_seq, test_settings, wait_handled
from tests.feeding import market, publish, session


@pytest.fixture
async def monitored(actor_host: ActorHost) -> AsyncIterator[tuple[ActorHost, str]]:
    server = MonitoringServer(actor_host.health, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield actor_host, server.url
    finally:
        await server.stop()


async def test_metrics_count_what_the_host_applied(
    monitored: tuple[ActorHost, str], nats_server: NatsServer
) -> None:
    host, url = monitored
    await publish(nats_server.url, session(market(("NIFTY",)), 2))
    await wait_handled(host, await feed_last_seq(nats_server.url))
    async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert re.search(r'^deltastream_feed_accepted_total\{kind="quotes"\} [1-9]', text, re.M)
    assert re.search(r"^deltastream_recompute_seconds_count [1-9]", text, re.M)
    assert re.search(r"^deltastream_chains_live [1-9]", text, re.M)
    assert re.search(r"^deltastream_actor_host_healthy 1\.0$", text, re.M)
    assert "deltastream_log_events_dropped_total" in text


async def test_liveness_fails_once_the_nats_connection_is_closed_for_good(
    actor_host: ActorHost,
) -> None:
    # nats-py reconnects after network trouble but closes for good on a server protocol
    # error; the host then serves nothing, and only a restart helps: liveness says so.
    server = MonitoringServer(
        actor_host.health, host="127.0.0.1", port=0, alive=actor_host.dead_reason
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as c:
            before = await c.get("/health/live")
            nc = actor_host.nc
            assert nc is not None
            # Headers and body together above max_payload: nats-py checks only the body, the
            # server refuses the publish and closes the connection.
            big = b"x" * (nc.max_payload - 8)
            await nc.publish("probe.violation", big, headers={"H": "y" * 64})
            await asyncio.wait_for(actor_host.nats_closed.wait(), WAIT_S)
            after = await c.get("/health/live")
    finally:
        await server.stop()
    assert before.status_code == 200 and before.json() == {"status": "ok"}
    assert after.status_code == 503 and after.json()["status"] == "dead"
    assert "closed for good" in after.json()["detail"]


async def test_health_is_200_when_healthy_and_503_when_escalated(
    monitored: tuple[ActorHost, str],
) -> None:
    host, url = monitored
    async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as c:
        ok = await c.get("/health")
        live = await c.get("/health/live")
        assert host.supervisor is not None
        host.supervisor.escalated = True
        host.supervisor.escalation_reason = "more than 5 restarts in 60 s"
        try:
            bad = await c.get("/health")
            metrics = (await c.get("/metrics")).text
        finally:
            host.supervisor.escalated = False
    assert ok.status_code == 200 and ok.json()["healthy"] is True
    assert ok.json()["nats_connected"] is True
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert bad.status_code == 503
    assert bad.json()["escalation"] == "more than 5 restarts in 60 s"
    assert re.search(r"^deltastream_actor_host_healthy 0\.0$", metrics, re.M)


async def test_health_is_503_while_nats_is_away(
    monitored: tuple[ActorHost, str], nats_server: NatsServer
) -> None:
    host, url = monitored
    disconnected = asyncio.Event()
    host.nc._disconnected_cb = _setter(disconnected)
    nats_server.stop()
    await asyncio.wait_for(disconnected.wait(), WAIT_S)
    async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as c:
        r = await c.get("/health")
    assert r.status_code == 503 and r.json()["nats_connected"] is False
    nats_server.start()  # the fixture's teardown stops the host against a live server


def _setter(event: asyncio.Event):  # type: ignore[no-untyped-def]
    async def cb() -> None:
        event.set()

    return cb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_host_serves_its_endpoint_when_the_setting_names_a_port(
    nats_server: NatsServer,
) -> None:
    port = _free_port()
    host = ActorHost(test_settings(nats_server.url, actors_http_port=port), DEFAULT_PRODUCTS)
    await host.start()
    try:
        assert host.monitoring is not None and host.monitoring.port == port
        async with httpx.AsyncClient(timeout=WAIT_S) as c:
            r = await c.get(f"http://127.0.0.1:{port}/health")
        assert r.status_code == 200
        assert msgspec.json.decode(r.content)["healthy"] is True
    finally:
        await host.stop()
    assert host.monitoring is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # released at stop


async def test_a_host_without_the_setting_opens_no_port(actor_host: ActorHost) -> None:
    assert actor_host.settings.actors_http_port == 0 and actor_host.monitoring is None
