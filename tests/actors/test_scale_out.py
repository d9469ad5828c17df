"""Several actor hosts on one FEED: they split its partitions by lease, any of them answers
for any product, and when one leaves (cleanly or by kill -9) another takes its partitions
over; the final analytics equal those of one uninterrupted host, and no summary subject is
published out of order or twice."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from actors import subjects
from actors.analytics import chain
from actors.feeds.market import FeedMessage
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.service import SnapshotService
from actors.streams import ensure_streams
from tests.conftest import WAIT_S, test_settings
from tests.feeding import market, publish, session
from tests.final_state import (
    assert_in_order_once,
    chains_of,
    final_seq_per_chain,
    final_state,
    service_request,
    summaries_in_stream,
    uninterrupted,
)
from tests.scaleout import (
    LeaseWatch,
    host_process,
    stop_process,
    wait_final,
)

PARTITIONS = 4  # NIFTY → 1, BANKNIFTY → 3, FINNIFTY → 0
PRODUCTS = ("NIFTY", "BANKNIFTY", "FINNIFTY")
_reference: dict[str, Any] = {}


def _session() -> list[FeedMessage]:
    return session(market(PRODUCTS, weekly=1, monthly=1, rows_per_batch=6), steps=60)


async def _reference_state(tmp_path: Path, messages: list[FeedMessage]) -> dict[str, Any]:
    """The analytics of one uninterrupted host with one partition (computed once)."""
    if "state" not in _reference:
        _reference["state"] = await uninterrupted(tmp_path / "reference", messages)
    return dict(_reference["state"])


def _split_evenly(holders: dict[int, str]) -> bool:
    owners = list(holders.values())
    return len(holders) == PARTITIONS and len(set(owners)) == 2 and owners.count(owners[0]) == 2


async def test_two_hosts_split_the_partitions_answer_for_any_product_and_hand_over_cleanly(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    messages = _session()
    expected = await _reference_state(tmp_path, messages)
    settings = test_settings(nats_server.url, partitions=PARTITIONS)
    first = ActorHost(msgspec.structs.replace(settings, host_id="first"), DEFAULT_PRODUCTS)
    second = ActorHost(msgspec.structs.replace(settings, host_id="second"), DEFAULT_PRODUCTS)
    nc = await nats.connect(nats_server.url)
    watch = await LeaseWatch(nc).start(settings)
    try:
        await first.start()
        assert first.leases is not None and first.leases.owned() == list(range(PARTITIONS))
        await second.start()
        holders = await watch.wait_for(_split_evenly)
        assert set(holders.values()) == {"first", "second"}

        half = len(messages) // 2
        await publish(nats_server.url, messages[:half])
        await wait_final(nc, final_seq_per_chain(messages[:half]))
        # any host answers for any product: its own, or forwarded to the owner
        for product in PRODUCTS:
            summaries = await service_request(nc, "summaries", {"product": product})
            expiries = [e for p, e in chains_of(messages) if p == product]
            assert [(s["product"], s["expiry"]) for s in summaries] == [
                (product, e) for e in expiries
            ]
        products = await service_request(nc, "products", {})
        assert [p["product"] for p in products] == sorted(PRODUCTS)
        # every host's health once, whichever host answers
        hosts = await service_request(nc, "hosts", {})
        assert (hosts["partitions"], hosts["unanswered"]) == (PARTITIONS, [])
        assert [h["host_id"] for h in hosts["hosts"]] == ["first", "second"]
        assert sum(h["chains"] for h in hosts["hosts"]) == len(chains_of(messages[:half]))
        assert first.snapshot_service is not None and second.snapshot_service is not None
        assert first.snapshot_service.forwarded + second.snapshot_service.forwarded > 0

        await first.stop()  # a clean hand-over: checkpoint, then the lease is given back
        await watch.wait_for(lambda h: set(h.values()) == {"second"} and len(h) == PARTITIONS)
        await publish(nats_server.url, messages[half:])
        await wait_final(nc, final_seq_per_chain(messages))
        assert await final_state(nc, chains_of(messages)) == expected
        assert_in_order_once(await summaries_in_stream(nc))
        # the partitions taken over restored their own products' actors, and only those
        for k, worker in second.workers.items():
            sup = worker.supervisor
            owners = {subjects.partition_of(p, PARTITIONS) for p in sup.product_refs}
            owners |= {subjects.partition_of(p, PARTITIONS) for p, _ in sup.chains}
            assert owners <= {k}, (k, owners)
    finally:
        await watch.stop()
        await nc.close()
        await first.stop()
        await second.stop()


@pytest.mark.parametrize("key", ["product", "chain"])
async def test_killing_a_host_hands_its_partitions_to_the_other_with_nothing_lost_or_repeated(
    tmp_path: Path, key: str
) -> None:
    messages = _session()
    expected = await _reference_state(tmp_path, messages)
    final = final_seq_per_chain(messages)
    with NatsServer(tmp_path / "js") as server, (tmp_path / "hosts.log").open("ab") as log:
        settings = test_settings(server.url, partitions=PARTITIONS, partition_key=key)
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(), settings)
        watch = await LeaseWatch(nc).start(settings)
        procs = {
            name: host_process(server.url, name, log, partitions=PARTITIONS, partition_key=key)
            for name in ("h1", "h2")
        }
        try:
            holders = await watch.wait_for(_split_evenly)
            victim = holders[subjects.partition_of("NIFTY", PARTITIONS)]
            survivor = next(n for n in procs if n != victim)
            halfway = asyncio.Event()
            killed_at: list[int] = []

            async def on_summary(msg: Any) -> None:
                seq = msgspec.json.decode(msg.data)["stream_seq"]
                if msg.subject.startswith("deltastream.analytics.summary.NIFTY."):
                    if seq > len(messages) // 2 and not halfway.is_set():
                        killed_at.append(seq)
                        halfway.set()

            await nc.subscribe("deltastream.analytics.summary.>", cb=on_summary)
            feeding = asyncio.create_task(publish(server.url, messages))
            await asyncio.wait_for(halfway.wait(), WAIT_S)
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(timeout=WAIT_S)
            await feeding
            await watch.wait_for(lambda h: len(h) == PARTITIONS and set(h.values()) == {survivor})
            await wait_final(nc, final)
            got = await final_state(nc, chains_of(messages))
            stored = await summaries_in_stream(nc)
        finally:
            for proc in procs.values():
                stop_process(proc)
            await watch.stop()
            await nc.close()
    assert killed_at[0] < final[max(final, key=final.__getitem__)], "killed after the end"
    assert got == expected
    assert_in_order_once(stored)


async def test_keyed_by_chain_one_products_chains_run_on_both_hosts_with_the_same_analytics(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    messages = session(market(("NIFTY", "BANKNIFTY"), weekly=3, monthly=1, rows_per_batch=6), 60)
    expected = await _reference_state_of(tmp_path, messages)
    settings = test_settings(nats_server.url, partitions=PARTITIONS, partition_key="chain")
    layout = settings.feed_layout()
    nifty = [e for p, e in chains_of(messages) if p == "NIFTY"]
    # The data spreads NIFTY over three of the four partitions, so however the two hosts
    # split them, both run NIFTY chains.
    assert len({layout.chain_partition("NIFTY", e) for e in nifty}) >= 3
    first = ActorHost(msgspec.structs.replace(settings, host_id="first"), DEFAULT_PRODUCTS)
    second = ActorHost(msgspec.structs.replace(settings, host_id="second"), DEFAULT_PRODUCTS)
    nc = await nats.connect(nats_server.url)
    watch = await LeaseWatch(nc).start(settings)
    surfaces: list[dict[str, Any]] = []
    surface_arrived = asyncio.Event()

    async def on_surface(msg: Any) -> None:
        surfaces.append(msgspec.json.decode(msg.data))
        surface_arrived.set()

    await nc.subscribe(subjects.analytics_surface("NIFTY"), cb=on_surface)
    try:
        await first.start()
        await second.start()
        await watch.wait_for(_split_evenly)
        for host in (first, second):  # every partition's worker running (and subscribed)
            async with host.partitions_changed:
                await asyncio.wait_for(
                    host.partitions_changed.wait_for(lambda h=host: len(h.workers) == 2), WAIT_S
                )
        # what any client may publish on the notes' subject is logged and dropped
        for junk in (b"{not json", b'{"product": "NIFTY"}', b'{"product": 5, "smile": null}'):
            await nc.publish(subjects.product_note("NIFTY"), junk)
        await nc.flush()

        half = len(messages) // 2
        await publish(nats_server.url, messages[:half])
        await wait_final(nc, final_seq_per_chain(messages[:half]))
        running = {
            host.host_id: {
                key
                for worker in host.workers.values()
                for key in worker.supervisor.chains
                if key[0] == "NIFTY"
            }
            for host in (first, second)
        }
        assert all(running.values()) and set.union(*running.values()) == {
            ("NIFTY", e) for e in nifty
        }, running
        actors = [
            (host.host_id, k)
            for host in (first, second)
            for k, worker in host.workers.items()
            if "NIFTY" in worker.supervisor.product_refs
        ]
        assert [k for _, k in actors] == [layout.partition_of("NIFTY")]
        # the service merges partitions: the products list, a product's summaries, and a
        # chain request without an expiry goes to the nearest expiry's partition
        products = await service_request(nc, "products", {})
        assert {p["product"]: p["expiries"] for p in products}["NIFTY"] == nifty
        nifty_entry = next(p for p in products if p["product"] == "NIFTY")
        assert nifty_entry["live_expiries"] == nifty and nifty_entry["nearest_expiry"] == nifty[0]
        summaries = await service_request(nc, "summaries", {"product": "NIFTY"})
        assert [s["expiry"] for s in summaries] == nifty
        nearest = await service_request(nc, "summary", {"product": "NIFTY"})
        assert nearest["expiry"] == nifty[0]
        # the product actor hears every chain, wherever it runs: all expiries on the
        # surface, and the product-wide PCR over all of them
        pcr = chain.pcr(sum(s["put_oi"] for s in summaries), sum(s["call_oi"] for s in summaries))

        def complete() -> bool:
            return any(
                [x["expiry"] for x in s["expiries"]] == nifty and s["pcr_oi"] == pcr
                for s in surfaces
            )

        async with asyncio.timeout(WAIT_S):
            while not complete():
                surface_arrived.clear()
                await surface_arrived.wait()
        notes = [host.health()["product_notes"] for host in (first, second)]
        assert sum(n["sent"] for n in notes) > 0 and sum(n["received"] for n in notes) > 0
        # each partition's worker read the three junk notes (flushed before the feed began)
        assert sum(n["malformed"] for n in notes) == 3 * PARTITIONS

        await first.stop()
        await watch.wait_for(lambda h: set(h.values()) == {"second"} and len(h) == PARTITIONS)
        await publish(nats_server.url, messages[half:])
        await wait_final(nc, final_seq_per_chain(messages))
        assert await final_state(nc, chains_of(messages)) == expected
        assert_in_order_once(await summaries_in_stream(nc))
    finally:
        await watch.stop()
        await nc.close()
        await first.stop()
        await second.stop()


async def _reference_state_of(tmp_path: Path, messages: list[FeedMessage]) -> dict[str, Any]:
    return await uninterrupted(tmp_path / "reference-by-chain", messages)


pytestmark = pytest.mark.timeout(240)


async def _ask(nc: Any, subject: str, data: bytes) -> tuple[str | None, Any]:
    reply = await nc.request(subject, data, timeout=10)
    code = (reply.headers or {}).get("Nats-Service-Error-Code")
    return code, (reply.headers or {}).get("Nats-Service-Error") if code else reply.data


async def test_service_requests_for_partitions_without_an_owner_or_malformed_get_errors(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    service = SnapshotService(
        nc, partitions=2, local=lambda k: None, timeout_s=5.0, health=lambda: {"healthy": True}
    )
    await service.start()
    await service.serve_partition(0)
    try:
        summary = subjects.service_subject("summary")
        nifty = subjects.partition_of("NIFTY", 2)
        code, text = await _ask(nc, summary, b'{"product": "NIFTY"}')
        assert (code, f"partition {nifty} has no owner" in text) == ("503", True)
        assert (await _ask(nc, summary, b"{not json"))[0] == "400"
        assert (await _ask(nc, summary, b'{"product": 5}'))[0] == "400"
        assert (await _ask(nc, summary, b'{"product": "NIFTY", "x": 1}'))[0] == "400"
        # the products list leaves out partitions that have no owner right now
        code, body = await _ask(nc, subjects.service_subject("products"), b"{}")
        assert (code, body) == (None, b"[]")
        # hosts: this one (it serves partition 0); partition 1 has nobody to answer for it
        code, body = await _ask(nc, subjects.service_subject("hosts"), b"{}")
        assert code is None
        assert msgspec.json.decode(body) == {
            "partitions": 2, "unanswered": [1], "hosts": [{"healthy": True}]
        }  # fmt: skip
        partition = subjects.partition_service_subject(0, "")
        assert (await _ask(nc, partition + "bogus", b"{}"))[0] == "404"
        code, text = await _ask(nc, partition + "summary", b'{"product": "NIFTY"}')
        assert (code, "not served here" in text) == ("503", True)
    finally:
        await service.stop()
        await nc.close()


async def test_keyed_by_chain_the_service_routes_a_chain_to_its_own_partition(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    service = SnapshotService(
        nc,
        partitions=7,
        key="chain",
        local=lambda k: None,
        timeout_s=5.0,
        health=lambda: {"healthy": True},
    )
    await service.start()
    try:
        summary = subjects.service_subject("summary")
        layout = subjects.FeedLayout(7, "chain")
        chain_k = layout.chain_partition("NIFTY", "2026-12-29")
        assert chain_k != layout.partition_of("NIFTY")  # so the two routes differ
        code, text = await _ask(nc, summary, b'{"product": "NIFTY", "expiry": "2026-12-29"}')
        assert (code, f"partition {chain_k} has no owner" in text) == ("503", True)
        code, text = await _ask(nc, subjects.service_subject("surface"), b'{"product": "NIFTY"}')
        home = layout.partition_of("NIFTY")
        assert (code, f"partition {home} has no owner" in text) == ("503", True)
        # without an expiry the nearest is looked up first: no partition knows NIFTY here
        code, text = await _ask(nc, summary, b'{"product": "NIFTY"}')
        assert (code, text) == ("404", "unknown product 'NIFTY'")
        code, text = await _ask(nc, subjects.service_subject("summaries"), b'{"product": "NIFTY"}')
        assert (code, text) == ("404", "unknown product 'NIFTY'")
        assert (await _ask(nc, summary, b'{"product": "NIFTY", "expiry": 3}'))[0] == "400"
    finally:
        await service.stop()
        await nc.close()
