"""Kill -9 the actor host in the middle of a replay, restart it: the final analytics equal
those of a run that was never interrupted, and no subject is published out of order."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import msgspec
import nats

from actors import subjects
from actors.natsserver import NatsServer
from actors.streams import ensure_streams
from tests.conftest import WAIT_S, test_settings
from tests.feeding import market, publish, session
from tests.final_state import (
    assert_in_order_once,
    chains_of,
    final_seq_per_chain,
    final_state_at,
    summaries_at,
    uninterrupted,
)
from tests.scaleout import host_process, stop_process


async def _wait_final(
    nc: Any, final: dict[str, int], seen: dict[str, int], done: asyncio.Event
) -> None:
    js = nc.jetstream()
    for subject in final:  # already published before we subscribed?
        raw = await js.get_msg(subjects.ANALYTICS_STREAM, subject=subject, direct=True)
        seen[subject] = max(seen.get(subject, 0), msgspec.json.decode(raw.data)["stream_seq"])
    if all(seen.get(s, 0) >= q for s, q in final.items()):
        done.set()
    await asyncio.wait_for(done.wait(), WAIT_S)


async def test_kill_9_mid_replay_then_restart_gives_the_uninterrupted_result(
    tmp_path: Path,
) -> None:
    m = market(("NIFTY", "FINNIFTY"), weekly=1, monthly=1, rows_per_batch=6)
    messages = session(m, steps=150)
    chains = chains_of(messages)
    final = final_seq_per_chain(messages)

    expected = await uninterrupted(tmp_path / "ref", messages)

    # the same feed, with the host killed -9 part-way
    with NatsServer(tmp_path / "crash") as server, (tmp_path / "host.log").open("ab") as log:
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(), test_settings(server.url))
        seen: dict[str, int] = {}
        killed_at: list[int] = []
        proc = host_process(server.url, None, log)
        try:
            halfway = asyncio.Event()
            done = asyncio.Event()

            async def on_summary(msg: Any) -> None:
                seq = msgspec.json.decode(msg.data)["stream_seq"]
                seen[msg.subject] = max(seen.get(msg.subject, 0), seq)
                if seq > len(messages) // 2:
                    halfway.set()
                if all(seen.get(s, 0) >= q for s, q in final.items()):
                    done.set()

            await nc.subscribe("deltastream.analytics.summary.>", cb=on_summary)
            await nc.flush()
            await publish(server.url, messages)
            await asyncio.wait_for(halfway.wait(), WAIT_S)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=WAIT_S)
            killed_at.append(max(seen.values()))
            proc = host_process(server.url, None, log)
            await _wait_final(nc, final, seen, done)
            got = await final_state_at(server.url, chains)
        finally:
            stop_process(proc)
            await nc.close()
        assert killed_at[0] < len(messages), "the host finished before it was killed"
        assert got == expected
        assert_in_order_once(await summaries_at(server.url))
