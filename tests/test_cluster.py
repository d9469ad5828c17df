"""The whole system on a real three-node JetStream cluster: three actor hosts (processes)
sharing FEED's partitions, two edges, a recorded session fed in order. Mid-stream one actor
host and one nats-server node are killed with SIGKILL. The final analytics equal an
uninterrupted single-host run's, nothing is published twice or out of order, and a
Socket.IO client of an edge kept receiving updates after the kills."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from actors import subjects
from actors.feeds.market import FeedMessage
from actors.streams import ensure_streams
from edge.server import serve
from tests.cluster import NatsCluster, stream_leader
from tests.conftest import test_settings
from tests.edge.sio import recorder
from tests.feeding import market, session
from tests.final_state import (
    assert_in_order_once,
    chains_of,
    final_seq_per_chain,
    final_state,
    summaries_in_stream,
    uninterrupted,
)
from tests.scaleout import (
    LeaseWatch,
    host_process,
    publish_in_order,
    stop_process,
    wait_final,
)

PARTITIONS = 3  # NIFTY → 0, FINNIFTY → 1, BANKNIFTY → 2: one product per host
PRODUCTS = ("NIFTY", "BANKNIFTY", "FINNIFTY")
HOSTS = ("a1", "a2", "a3")
EDGE_READY_S = 30.0

pytestmark = pytest.mark.timeout(300)


def _session() -> list[FeedMessage]:
    return session(market(PRODUCTS, weekly=1, monthly=1, rows_per_batch=6), steps=45)


@contextlib.asynccontextmanager
async def _edge(nats_url: str) -> Any:
    settings = msgspec.structs.replace(test_settings(nats_url), http_port=0)
    stop, ready, bound = asyncio.Event(), asyncio.Event(), []
    task = asyncio.create_task(serve(settings, stop=stop, ready=ready, bound=bound))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({waiter, task}, timeout=EDGE_READY_S, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()
    assert ready.is_set(), "the edge did not start"
    try:
        yield f"http://127.0.0.1:{bound[0]}"
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, EDGE_READY_S)


def _one_host_each(holders: dict[int, str]) -> bool:
    return len(holders) == PARTITIONS and len(set(holders.values())) == len(HOSTS)


async def test_three_hosts_and_two_edges_ride_out_killing_a_host_and_a_server(
    tmp_path: Path,
) -> None:
    messages = _session()
    expected = await uninterrupted(tmp_path / "reference", messages)
    final = final_seq_per_chain(messages)
    third = len(messages) // 3

    async with NatsCluster(tmp_path / "cluster") as cluster:
        settings = test_settings(cluster.url, partitions=PARTITIONS, replicas=3)
        nc = await nats.connect(cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        await ensure_streams(nc.jetstream(), settings)
        watch = await LeaseWatch(nc).start(settings)
        with (tmp_path / "hosts.log").open("ab") as log:
            procs = {
                name: host_process(cluster.url, name, log, partitions=PARTITIONS, replicas=3)
                for name in HOSTS
            }
            try:
                holders = await watch.wait_for(_one_host_each)
                async with _edge(cluster.url), _edge(cluster.url) as edge_url:
                    async with recorder(edge_url) as client:
                        await publish_in_order(nc, messages[:third])
                        await wait_final(nc, final_seq_per_chain(messages[:third]))
                        ack = await client.client.call(
                            "subscribe", {"room": "chain:NIFTY"}, timeout=10
                        )
                        assert ack.get("ok") is True, ack
                        before = _last_nifty(final_seq_per_chain(messages[:third]))
                        await client.next(
                            "chain_summary", where=lambda d: d["stream_seq"] >= before
                        )

                        victim = holders[subjects.partition_of("NIFTY", PARTITIONS)]
                        server = await stream_leader(nc, subjects.FEED_STREAM)
                        procs[victim].send_signal(signal.SIGKILL)
                        await asyncio.to_thread(cluster.node(server).stop, kill=True)
                        client.drain()

                        await publish_in_order(nc, messages[third:], first_index=third)
                        await wait_final(nc, final)
                        # after both kills, the edge's client saw NIFTY move on to the end
                        last = _last_nifty(final)
                        await client.next("chain_summary", where=lambda d: d["stream_seq"] == last)
                        got = await final_state(nc, chains_of(messages))
                        stored = await summaries_in_stream(nc)
                        now = await watch.wait_for(
                            lambda h: len(h) == PARTITIONS and victim not in h.values()
                        )
            finally:
                for proc in procs.values():
                    stop_process(proc)
                await watch.stop()
                await nc.close()
    assert got == expected
    assert_in_order_once(stored)
    assert victim not in now.values()


def _last_nifty(final: dict[str, int]) -> int:
    """The FEED sequence of the last message any NIFTY chain applies."""
    return max(v for k, v in final.items() if k.startswith("deltastream.analytics.summary.NIFTY."))
