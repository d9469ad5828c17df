"""``deltastream up --hosts N``'s child hosts: any number of them are watched without
holding a thread each, and a stop ends every one (the actor-host side, restarts included,
is tests/test_up.py)."""

from __future__ import annotations

import asyncio
import os
import sys

from actors.host_processes import HostProcesses
from tests.conftest import WAIT_S, test_settings

# A child that only waits for a signal: SIGTERM ends it, as it ends an actor host.
IDLE_CHILD = (sys.executable, "-c", "import signal; signal.pause()")


async def test_more_children_than_executor_threads_start_and_stop_with_the_loop_free() -> None:
    count = (os.cpu_count() or 1) + 8  # more than the default executor's min(32, cores + 4)
    children = HostProcesses(
        test_settings("nats://127.0.0.1:1"), count, id_prefix="t", command=IDLE_CHILD
    )
    await children.start()
    try:
        assert len({p.pid for p in children.procs.values()}) == count
        assert all(p.returncode is None for p in children.procs.values())
        # the default executor still has threads for everyone else
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), WAIT_S) == "free"
    finally:
        await asyncio.wait_for(children.stop(), WAIT_S)
    assert all(p.returncode is not None for p in children.procs.values())
    assert children.ids == [f"t-{i}" for i in range(1, count + 1)]


async def test_a_child_that_exits_is_started_again_until_the_stop() -> None:
    # Each start of the child connects here once and exits: three connections, three starts.
    starts = 0
    three = asyncio.Event()

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal starts
        starts += 1
        if starts == 3:
            three.set()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}))"
    child = (sys.executable, "-c", connect)
    children = HostProcesses(
        test_settings("nats://127.0.0.1:1"), 1, id_prefix="t", restart_delay_s=0.0, command=child
    )
    try:
        await children.start()
        await asyncio.wait_for(three.wait(), WAIT_S)
    finally:
        await asyncio.wait_for(children.stop(), WAIT_S)
        server.close()
        await server.wait_closed()
    assert children.procs["t-1"].returncode is not None
