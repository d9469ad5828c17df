"""/health readiness with named checks, /metrics content, the OpenAPI viewer."""

from __future__ import annotations

import re

import nats

from actors import subjects
from actors.feeds.market import FeedMessage
from tests.conftest import feed_last_seq
from tests.edge.conftest import Edge
from tests.edge.sio import recorder
from tests.feeding import START_NS


async def test_health_is_200_with_every_check_named(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        r = await c.get("/health")
        live = await c.get("/health/live")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {
        "nats", "stream:FEED", "stream:ANALYTICS", "stream:DLQ", "actors"
    }  # fmt: skip
    assert all(c["ok"] for c in body["checks"].values())
    chains = len(fed_edge.host.workers[0].supervisor.chains)
    assert body["checks"]["actors"]["detail"] == f"ok ({chains} chains on 1 host)"
    assert live.json() == {"status": "ok"}


async def _stop_the_actor_service(edge: Edge) -> None:
    host = edge.host
    assert host.service is not None
    await host.service.stop()
    host.service = None


async def test_health_is_503_naming_the_actor_host_when_it_is_gone(fed_edge: Edge) -> None:
    await _stop_the_actor_service(fed_edge)
    async with fed_edge.client() as c:
        r = await c.get("/health")
    body = r.json()
    assert r.status_code == 503
    assert body["error"] == "not_ready" and "actors" in body["detail"]
    assert body["checks"]["actors"]["ok"] is False and body["checks"]["nats"]["ok"] is True


async def test_metrics_use_route_templates_and_count_clients_messages_and_dlq(
    fed_edge: Edge,
) -> None:
    bad = FeedMessage(subjects.feed_underlying("NIFTY"), {"ts": START_NS, "product": "NIFTY",
                                                          "price": -1})  # fmt: skip
    await fed_edge.feed_messages([bad])
    async with recorder(fed_edge.url) as rec, fed_edge.client() as c:
        await rec.client.call("subscribe", {"product": "NIFTY"}, timeout=10)
        await rec.next("chain_update")
        for product in ("NIFTY", "XYZ", "ABC"):
            await c.get(f"/api/data/expiries/{product}")
        text = (await c.get("/metrics")).text
    assert 'route="/api/data/expiries/{product}",status="404"' in text
    assert "/api/data/expiries/XYZ" not in text
    assert re.search(r"^deltastream_edge_socket_clients 1\.0$", text, re.M)
    assert re.search(r"^deltastream_edge_socket_rooms 2\.0$", text, re.M)
    assert re.search(r'^deltastream_edge_socket_messages_out_total\{event="chain_update"\} [1-9]',
                     text, re.M)  # fmt: skip
    assert re.search(r"^deltastream_dlq_messages 1\.0$", text, re.M)
    assert re.search(r'^deltastream_edge_nats_messages_in_total\{kind="summary"\} [1-9]', text,
                     re.M)  # fmt: skip


async def test_metrics_carry_each_actor_host_s_recompute_time_chains_and_health(
    fed_edge: Edge,
) -> None:
    # The recompute histogram lives in the actor host; the edge's one port shows it too,
    # read from every host at scrape time and labelled by host id.
    host = fed_edge.host
    chains = len(host.workers[0].supervisor.chains)
    async with fed_edge.client() as c:
        text = (await c.get("/metrics")).text
    label = f'host="{host.host_id}"'
    assert re.search(r"^deltastream_edge_actor_hosts 1\.0$", text, re.M)
    assert re.search(rf"^deltastream_actor_chains\{{{label}\}} {chains}\.0$", text, re.M)
    assert re.search(rf"^deltastream_actor_healthy\{{{label}\}} 1\.0$", text, re.M)
    count = re.search(rf"^deltastream_actor_recompute_seconds_count\{{{label}\}} (\S+)$", text,
                      re.M)  # fmt: skip
    inf = re.search(
        rf'^deltastream_actor_recompute_seconds_bucket\{{{label},le="\+Inf"\}} (\S+)$', text, re.M
    )
    assert count and inf and float(count.group(1)) == float(inf.group(1)) >= chains
    assert re.search(rf"^deltastream_actor_recompute_seconds_sum\{{{label}\}} [0-9.e-]+$", text,
                     re.M)  # fmt: skip


async def test_metrics_say_when_no_actor_host_answers(fed_edge: Edge) -> None:
    await _stop_the_actor_service(fed_edge)
    async with fed_edge.client() as c:
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert re.search(r"^deltastream_edge_actor_hosts 0\.0$", r.text, re.M)
    assert "deltastream_actor_recompute_seconds" not in r.text


async def test_docs_ui_lists_every_operation(edge: Edge) -> None:
    async with edge.client() as c:
        doc = (await c.get("/api/docs")).json()
        page = (await c.get("/api/docs/ui")).text
    for path in doc["paths"]:
        assert path in page


async def test_health_is_degraded_naming_feed_messages_the_actors_missed(fed_edge: Edge) -> None:
    # FEED no longer holds what a restart from the start would replay (its age or byte
    # limit dropped it): the host runs on and says what it missed.
    last = await feed_last_seq(fed_edge.nats_url)
    nc = await nats.connect(fed_edge.nats_url)
    try:
        await nc.jetstream().purge_stream(subjects.FEED_STREAM)
    finally:
        await nc.close()
    watch = fed_edge.host.workers[0].feed_watch
    assert watch is not None
    await watch.check_start(1)
    async with fed_edge.client() as c:
        r = await c.get("/health")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "degraded"
    detail = body["checks"]["actors"]["detail"]
    assert detail.startswith("degraded: ") and f"FEED dropped messages 1-{last}" in detail
