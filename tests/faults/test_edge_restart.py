"""The edge killed with SIGKILL while clients are connected, then started again on the same
port: the python-socketio example client, the Node socket.io-client example and the
dashboard's own connection logic (edge/web/live.js, in Node) reconnect by themselves,
subscribe again, and receive the current snapshot, which moved on while the edge was down,
then live updates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import nats
import pytest

from actors import subjects
from actors.host import ActorHost
from actors.natsserver import NatsServer
from tests.conftest import WAIT_S, feed_last_seq, wait_handled
from tests.faults.forking import ROOT, zygote
from tests.feeding import START_NS, STEP_NS, market, publish, session

MID = "2026-12-08"
NODE = shutil.which("node")
LIVE_CLIENT = Path(__file__).parent / "node" / "live_client.mjs"
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


class Client:
    """A client process whose stdout lines are read as they come."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.lines: list[str] = []
        self._new = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            async with self._new:
                self.lines.append(raw.decode().rstrip())
                self._new.notify_all()

    async def seen(self, accept: Callable[[str], bool], after: int = 0) -> int:
        """Wait for a line (from index ``after`` on) that ``accept`` takes; its index."""

        def found() -> int | None:
            return next((i for i in range(after, len(self.lines)) if accept(self.lines[i])), None)

        async with self._new:
            await asyncio.wait_for(self._new.wait_for(lambda: found() is not None), WAIT_S)
        index = found()
        assert index is not None
        return index

    async def stop(self) -> str:
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), WAIT_S)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode()


def _summary_seq(line: str) -> int | None:
    """The seq of a MID chain summary the client printed, or None."""
    if line.startswith("{"):
        data = json.loads(line)
        ok = data.get("event") == "chain_summary" and data.get("expiry") == MID
        return int(data["seq"]) if ok else None
    m = re.search(rf"NIFTY {MID} seq=(\d+)", line)
    return int(m.group(1)) if m else None


def _has_seq(seq: int) -> Callable[[str], bool]:
    return lambda line: _summary_seq(line) == seq


@contextlib.asynccontextmanager
async def _clients(url: str) -> AsyncIterator[list[Client]]:
    assert NODE is not None
    commands = {
        "python example": [
            sys.executable, str(ROOT / "examples" / "python_client.py"), "--url", url,
            "--product", "NIFTY", "--expiry", MID, "--count", "1000", "--timeout", "60",
        ],
        "node example": [NODE, str(ROOT / "examples/subscribe-example.js"), url, "NIFTY", "1000"],
        "dashboard live.js": [NODE, str(LIVE_CLIENT), url, f"chain:NIFTY:{MID}"],
    }  # fmt: skip
    clients = []
    try:
        for name, argv in commands.items():
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            clients.append(Client(name, proc))
        yield clients
    finally:
        for c in clients:
            await c.stop()


async def _current_seq(url: str) -> int:
    nc = await nats.connect(url)
    try:
        reply = await nc.request(
            subjects.service_subject("summary"),
            msgspec.json.encode({"product": "NIFTY", "expiry": MID}),
            timeout=WAIT_S,
        )
        return int(msgspec.json.decode(reply.data)["seq"])
    finally:
        await nc.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_clients_reconnect_to_a_restarted_edge_and_get_the_current_snapshot(
    nats_server: NatsServer, actor_host: ActorHost, tmp_path: Path
) -> None:
    m = market()
    await publish(nats_server.url, session(m, 4))
    step = 4

    async def next_step() -> int:
        nonlocal step
        step += 1
        await publish(nats_server.url, list(m.step(START_NS + step * STEP_NS)))
        await wait_handled(actor_host, await feed_last_seq(nats_server.url))
        return await _current_seq(nats_server.url)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"DELTASTREAM_NATS_URL": nats_server.url, "DELTASTREAM_LOG_LEVEL": "warning"}
    with (tmp_path / "edge.log").open("ab") as log:
        async with zygote(env, log) as forks:
            edge = await forks.spawn("edge", "--port", str(port))
            await forks.notice("edge on ")
            await wait_handled(actor_host, await feed_last_seq(nats_server.url))
            first = await _current_seq(nats_server.url)
            async with _clients(url) as clients:
                for c in clients:  # each has its snapshot
                    await c.seen(_has_seq(first))
                live = await next_step()
                marks = [await c.seen(_has_seq(live)) for c in clients]

                await forks.kill(edge)
                moved = await next_step()  # while the edge is down: nobody hears of it
                edge = await forks.spawn("edge", "--port", str(port))
                await forks.notice("edge on ")

                # No new feed: what arrives now is the snapshot sent on re-subscribe.
                for c, mark in zip(clients, marks, strict=True):
                    await c.seen(_has_seq(moved), after=mark + 1)
                after = await next_step()
                for c in clients:
                    await c.seen(_has_seq(after))
                python, node, dashboard = clients
                assert sum(line.startswith("subscribed to") for line in python.lines) == 2
                assert sum(line.startswith("subscribed:") for line in node.lines) == 2
                states = [json.loads(x).get("state") for x in dashboard.lines if '"state"' in x]
                assert states.count("live") == 2 and "reconnecting" in states, states
