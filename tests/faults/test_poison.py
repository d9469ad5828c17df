"""A poison message beyond tests/actors/test_supervision.py: the failed chain is rebuilt from
its snapshot (FEED before the checkpoint is purged, so nothing else could rebuild it), every
chain's analytics equal a run that never saw the poison, and an escalation shows on the
edge's /health as well as on ``deltastream.svc.health``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats

from actors import subjects
from actors.feeds.market import FeedMessage
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from edge.server import serve
from tests.actors.test_supervision import FragileChainActor, _poison
from tests.conftest import WAIT_S, feed_last_seq, test_settings, wait_handled
from tests.faults.dead_letters import DeadLetterLog
from tests.feeding import market, publish, session
from tests.final_state import strip_volatile

# Occupies the poison's FEED sequence in the reference run (and is dead-lettered there), so
# stream sequences line up between the two runs.
PLACEHOLDER = FeedMessage(subjects.feed_underlying("NIFTY"), {"not": "a tick"})


async def _ask(nc: Any, endpoint: str, body: dict[str, Any]) -> Any:
    reply = await nc.request(
        subjects.service_subject(endpoint), msgspec.json.encode(body), timeout=WAIT_S
    )
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), (endpoint, reply.headers)
    return strip_volatile(msgspec.json.decode(reply.data))


async def _state(url: str, expiries: list[str]) -> dict[str, Any]:
    nc = await nats.connect(url)
    try:
        out: dict[str, Any] = {}
        for e in expiries:
            body = {"product": "NIFTY", "expiry": e}
            for endpoint in ("summary", "chain", "max_pain"):
                out[f"{endpoint} {e}"] = await _ask(nc, endpoint, body)
        out["underlying"] = await _ask(nc, "underlying", {"product": "NIFTY"})
        out["ohlc"] = await _ask(nc, "ohlc", {"product": "NIFTY", "interval": "1m", "limit": 500})
        return out
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def _host(url: str, **overrides: Any) -> AsyncIterator[ActorHost]:
    host = ActorHost(
        test_settings(url, **overrides), DEFAULT_PRODUCTS, chain_actor=FragileChainActor
    )
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


async def test_a_poisoned_chain_is_rebuilt_from_its_snapshot_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    m = market(("NIFTY",), weekly=1, monthly=1, rows_per_batch=4)
    messages = session(m, steps=40)
    expiries = sorted(c.expiry.isoformat() for c in m.chains["NIFTY"])
    victim = expiries[0]
    checkpoint_at = len(messages) // 2
    at = next(
        i
        for i, x in enumerate(messages)
        if i > checkpoint_at + 10 and x.payload.get("expiry") == victim and ".quotes." in x.subject
    )

    with NatsServer(tmp_path / "ref") as ref:  # the run that never saw the poison
        async with _host(ref.url) as host:
            await publish(ref.url, [*messages[:at], PLACEHOLDER, *messages[at:]])
            await wait_handled(host, len(messages) + 1)
            expected = await _state(ref.url, expiries)

    with NatsServer(tmp_path / "poisoned") as server:
        async with _host(server.url) as host:
            nc = await nats.connect(server.url)
            dead = await DeadLetterLog(nc).start()
            try:
                await publish(server.url, messages[:checkpoint_at])
                await wait_handled(host, checkpoint_at)
                watermark = await host.checkpoint()
                assert watermark == checkpoint_at
                # Only the snapshots can rebuild a chain from here.
                await nc.jetstream().purge_stream(subjects.FEED_STREAM, seq=watermark + 1)
                assert host.supervisor is not None
                bystander = {e: host.supervisor.chains[("NIFTY", e)] for e in expiries[1:]}

                await publish(server.url, [*messages[checkpoint_at:at], _poison(messages[at])])
                await publish(server.url, messages[at:])
                await wait_handled(host, await feed_last_seq(server.url))
                letter = await dead.wait(at + 1)
                assert letter.reason == "actor_failed" and "poison row" in letter.detail

                assert host.supervisor.restart_count == 1
                for e, ref_ in bystander.items():
                    assert host.supervisor.chains[("NIFTY", e)] is ref_  # never touched
                got = await _state(server.url, expiries)
            finally:
                await dead.stop()
                await nc.close()
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key


async def test_an_escalation_shows_on_the_edge_health_and_the_service(
    nats_server: NatsServer,
) -> None:
    m = market(("NIFTY",), weekly=1, monthly=1, rows_per_batch=4)
    messages = session(m, steps=3)
    victim = m.chains["NIFTY"][0].expiry.isoformat()
    quotes = [x for x in messages if x.payload.get("expiry") == victim and ".quotes." in x.subject]
    settings = test_settings(nats_server.url, restart_max=1, http_port=0)
    async with _host(nats_server.url, restart_max=1) as host:
        stop, ready, bound = asyncio.Event(), asyncio.Event(), []
        edge = asyncio.create_task(serve(settings, stop=stop, ready=ready, bound=bound))
        try:
            await asyncio.wait_for(ready.wait(), WAIT_S)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound[0]}") as http:
                await publish(nats_server.url, messages)
                await wait_handled(host, len(messages))
                await publish(nats_server.url, [_poison(quotes[0])])  # one restart: allowed
                await wait_handled(host, len(messages) + 1)
                ok = await http.get("/health")
                assert ok.status_code == 200 and ok.json()["checks"]["actors"]["ok"] is True

                await publish(nats_server.url, [_poison(quotes[1])])  # the second: escalates
                await wait_handled(host, len(messages) + 2)
                down = await http.get("/health")
                assert down.status_code == 503, down.text
                body = down.json()
                assert body["status"] == "unavailable" and body["error"] == "not_ready"
                actors = body["checks"]["actors"]
                assert actors["ok"] is False and "more than 1 restarts" in actors["detail"]
                assert "actors: actor host unhealthy" in body["detail"]
                assert body["checks"]["nats"]["ok"] is True  # it says what, not everything
            nc = await nats.connect(nats_server.url)
            try:
                reply = await nc.request(subjects.service_subject("health"), b"{}", timeout=WAIT_S)
            finally:
                await nc.close()
            health = msgspec.json.decode(reply.data)
            assert health["healthy"] is False and health["chains_down"] == [f"NIFTY/{victim}"]
            assert "restarts" in health["escalation"]
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(edge, WAIT_S)
