"""The actor host killed with SIGKILL twenty times in a row during a replay, at seeded random
points of its progress, and started again each time: the final analytics equal those of a
run that was never interrupted, and no summary subject is published out of order or twice.

tests/actors/test_recovery.py does this once with a fresh interpreter; here the hosts are
forked from a process that has already imported everything (tests/faults/zygote.py), so a
restart costs the host's own start-up, not Python's."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from actors.natsserver import NatsServer
from actors.streams import ensure_streams
from tests.conftest import WAIT_S, test_settings
from tests.faults.forking import zygote
from tests.feeding import market, publish, session
from tests.final_state import (
    assert_in_order_once,
    final_seq_per_chain,
    final_state_at,
    summaries_at,
    uninterrupted,
)

KILLS = 20
SEED = 20261201
ROOT = Path(__file__).resolve().parents[2]


def _host_env(url: str) -> dict[str, str]:
    return {
        "DELTASTREAM_NATS_URL": url,
        "DELTASTREAM_SNAPSHOT_INTERVAL_S": "0.05",
        "DELTASTREAM_CHAIN_PUBLISH_INTERVAL_S": "0.05",
        "DELTASTREAM_SURFACE_PUBLISH_INTERVAL_S": "0.05",
        "DELTASTREAM_FETCH_BATCH": "16",
        "DELTASTREAM_LOG_LEVEL": os.environ.get("DS_TEST_LOG_LEVEL", "warning"),
    }


@pytest.mark.timeout(300)
async def test_twenty_sigkills_at_random_points_give_the_uninterrupted_result(
    tmp_path: Path,
) -> None:
    m = market(("NIFTY", "FINNIFTY"), weekly=1, monthly=1, rows_per_batch=6)
    messages = session(m, steps=200)
    chains = sorted(
        {(x.payload["product"], x.payload["expiry"]) for x in messages if "expiry" in x.payload}
    )
    final = final_seq_per_chain(messages)
    rng = random.Random(SEED)
    # Kill points in FEED sequence terms, spread over the replay, seeded.
    points = sorted(rng.sample(range(len(messages) // 20, len(messages) * 19 // 20), KILLS))

    expected = await uninterrupted(tmp_path / "ref", messages)

    with NatsServer(tmp_path / "crash") as server, (tmp_path / "hosts.log").open("ab") as log:
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(), test_settings(server.url))
        seen: dict[str, int] = {}
        progress = asyncio.Condition()

        async def on_summary(msg: Any) -> None:
            seq = msgspec.json.decode(msg.data)["stream_seq"]
            async with progress:
                seen[msg.subject] = max(seen.get(msg.subject, 0), seq)
                progress.notify_all()

        def reached(seq: int) -> bool:
            return max(seen.values(), default=0) >= seq

        def done() -> bool:
            return all(seen.get(s, 0) >= q for s, q in final.items())

        await nc.subscribe("deltastream.analytics.summary.>", cb=on_summary)
        await nc.flush()
        await publish(server.url, messages)
        killed_at: list[int] = []
        try:
            async with zygote(_host_env(server.url), log) as forks:
                for point in points:
                    pid = await forks.spawn("actors")
                    async with progress:
                        await asyncio.wait_for(
                            progress.wait_for(lambda p=point: reached(p) or done()), WAIT_S
                        )
                    await forks.kill(pid)
                    killed_at.append(max(seen.values(), default=0))
                pid = await forks.spawn("actors")  # the last one runs to the end
                async with progress:
                    await asyncio.wait_for(progress.wait_for(done), WAIT_S * 2)
                got = await final_state_at(server.url, chains)
            in_stream = await summaries_at(server.url)
        finally:
            await nc.close()
    assert len(killed_at) == KILLS
    # Every kill landed part-way: before the replay was through.
    assert killed_at[-1] < len(messages), killed_at
    assert got == expected
    assert_in_order_once(in_stream)
