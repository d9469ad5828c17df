"""``deltastream up --hosts N``'s child hosts: any number of them are watched without
holding a thread each, and a stop ends every one (the actor-host side, restarts included,
is tests/test_up.py)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from actors.host_processes import HostProcesses
from tests.conftest import WAIT_S, test_settings

ROOT = Path(__file__).resolve().parents[2]
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


# A parent that runs two children as ``up --hosts 3`` does, prints their pids, then waits.
_PARENT = """
import asyncio, signal, sys
from actors.host_processes import HostProcesses
from tests.conftest import test_settings

async def main():
    child = (sys.executable, "-c", sys.argv[1])
    children = HostProcesses(test_settings("nats://127.0.0.1:1"), 2, id_prefix="p",
                             command=child)
    await children.start()
    print("pids", *(p.pid for p in children.procs.values()), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
# A child that does what ``deltastream actors`` does with DELTASTREAM_PARENT_PID, says so
# (on the stdout it shares with the parent), then waits: only the kernel's SIGTERM on the
# parent's death can end it.
_CHILD = """
import os, signal
from actors.child_process import die_with_parent
assert die_with_parent(int(os.environ["DELTASTREAM_PARENT_PID"]))
print("armed", flush=True)
signal.pause()
"""


async def _exited(pid: int) -> None:
    """Until ``pid`` (not a child of this process) exits: a pidfd becomes readable then."""
    loop = asyncio.get_running_loop()
    fd = os.pidfd_open(pid)
    done = asyncio.Event()
    loop.add_reader(fd, done.set)
    try:
        await done.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_children_stop_when_their_parent_is_killed() -> None:
    # SIGKILL leaves the parent no chance to stop its children: the kernel does it.
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _PARENT, _CHILD, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    assert parent.stdout is not None
    try:
        pids: list[int] = []
        armed = 0
        # Past the parent's log lines, until both children asked for the signal: killed
        # sooner, a child would see its parent gone and end itself, without the kernel.
        async with asyncio.timeout(WAIT_S):
            while not pids or armed < len(pids):
                line = await parent.stdout.readline()
                assert line, "the parent exited before its children were armed"
                if line.startswith(b"pids "):
                    pids = [int(p) for p in line.split()[1:]]
                armed += line == b"armed\n"
        assert len(pids) == 2
        watchers = [asyncio.ensure_future(_exited(pid)) for pid in pids]
        parent.kill()
        await asyncio.wait_for(asyncio.gather(*watchers), WAIT_S)
    finally:
        if parent.returncode is None:
            parent.kill()
        await parent.communicate()
