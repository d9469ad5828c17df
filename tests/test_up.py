"""``deltastream up`` as a user runs it: one command starts nats-server, the actor host(s),
the edge and the synthetic feed, prints where everything is, serves live analytics, and a
Ctrl-C stops all of it. With ``--hosts 2 --partition-key chain`` a second host process
shares the partitions, and one that dies is started again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import msgspec
import nats
import pytest

from actors import subjects
from tests.conftest import WAIT_S, test_settings
from tests.edge.conftest import poll_health
from tests.redis_server import free_port
from tests.scaleout import LeaseWatch

ROOT = Path(__file__).resolve().parent.parent
BANNER_END = "Ctrl-C stops everything."

pytestmark = pytest.mark.timeout(180)


class _Up:
    """``deltastream up`` in a child process, its banner read."""

    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.argv = [
            *("--data", str(tmp_path / "data"), "--nats-port", "-1"),
            *("--port", str(self.port), "--rate", "8", *extra),
        ]
        self.banner: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with (self.tmp_path / "up.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "edge.cli", "up", *self.argv),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        async with asyncio.timeout(WAIT_S):
            while BANNER_END not in self.banner:
                line = await self.proc.stdout.readline()
                assert line, f"up exited before its banner: {self.banner}"
                self.banner.append(line.decode().strip())

    def line(self, label: str) -> str:
        return next(x for x in self.banner if x.startswith(label))

    @property
    def nats_url(self) -> str:
        found = re.search(r"nats://[\d.]+:\d+", self.line("NATS"))
        assert found is not None
        return found.group(0)

    async def interrupt(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        # Read stdout to its end as well: a pipe left open when the test's loop closes is an
        # unraisable ResourceWarning, which fails whichever test is running at that moment.
        await asyncio.wait_for(self.proc.communicate(), WAIT_S)
        assert self.proc.returncode is not None
        return self.proc.returncode

    async def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.kill()
        with contextlib.suppress(TimeoutError):  # a stray grandchild may hold stdout open
            await asyncio.wait_for(self.proc.communicate(), WAIT_S)


def _processes_with(variable: str) -> list[int]:
    """The pids of live processes whose environment holds ``variable`` (NAME=value)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if variable.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


async def _every_chain_summarised(url: str) -> set[tuple[str, str]]:
    """The (product, expiry) of every chain the feed opened, once each has a summary on
    ANALYTICS (the synthetic market opens three products' chains at once)."""
    nc = await nats.connect(url)
    seen: set[tuple[str, str]] = set()
    done = asyncio.Event()

    async def on_summary(msg: nats.aio.msg.Msg) -> None:
        body = msgspec.json.decode(msg.data)
        seen.add((body["product"], body["expiry"]))
        if {p for p, _ in seen} == {"NIFTY", "BANKNIFTY", "FINNIFTY"} and len(seen) >= 12:
            done.set()

    sub = await nc.subscribe(subjects.analytics_summary("*", "*"), cb=on_summary)
    try:
        await asyncio.wait_for(done.wait(), WAIT_S)
    finally:
        await sub.unsubscribe()
        await nc.close()
    return seen


async def test_up_starts_everything_serves_analytics_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    up = _Up(tmp_path)
    try:
        await up.start()
        assert up.line("dashboard") == f"dashboard  http://127.0.0.1:{up.port}/"
        chains = await _every_chain_summarised(up.nats_url)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{up.port}", timeout=10) as c:
            health = await c.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            products = (await c.get("/api/data/products")).json()["products"]
            listed = {(p["product"], e) for p in products for e in p["expiries"]}
            assert chains <= listed
        assert await up.interrupt() == 0
    finally:
        await up.kill()


async def test_up_with_two_hosts_keyed_by_chain_shares_and_restarts_the_second(
    tmp_path: Path,
) -> None:
    up = _Up(tmp_path, "--hosts", "2", "--partition-key", "chain")
    nc = None
    watch = None
    try:
        await up.start()
        actors = up.line("actors")
        assert "2 hosts over 2 FEED partitions keyed by chain" in actors
        found = re.search(r"pid (\d+)\)", actors)
        assert found is not None
        child = int(found.group(1))
        nc = await nats.connect(up.nats_url)
        watch = await LeaseWatch(nc).start(test_settings(up.nats_url, partitions=2))
        holders = await watch.wait_for(lambda h: len(set(h.values())) == 2)
        child_id = next(h for h in holders.values() if h.endswith("-1"))
        parent_id = next(h for h in holders.values() if h != child_id)
        chains = await _every_chain_summarised(up.nats_url)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{up.port}", timeout=10) as c:
            products = (await c.get("/api/data/products")).json()["products"]
            # the products list merges each product's expiries from both partitions
            listed = {(p["product"], e) for p in products for e in p["expiries"]}
            assert chains <= listed
            # /health and /metrics speak for both hosts, whichever of them the edge asks. A
            # host slow to answer for its partition (a loaded machine) reads as degraded for
            # that moment, so wait, with a ceiling, for the reply that names both.
            want = f"ok ({len(listed)} chains on 2 hosts)"
            await poll_health(c, lambda r: r.json()["checks"]["actors"]["detail"] == want)
            metrics = (await c.get("/metrics")).text
            assert re.search(r"^deltastream_edge_actor_hosts 2\.0$", metrics, re.M)
            for host_id in (parent_id, child_id):
                assert f'deltastream_actor_recompute_seconds_count{{host="{host_id}"}}' in metrics

        os.kill(child, signal.SIGKILL)  # the parent's host takes over, then the child's back
        await watch.wait_for(lambda h: set(h.values()) == {parent_id})
        await watch.wait_for(lambda h: child_id in h.values())

        assert await up.interrupt() == 0
        assert "actor_host_process_restarted" in (tmp_path / "up.log").read_text()
        assert _processes_with(f"DELTASTREAM_HOST_ID={child_id}") == []  # stopped with up
    finally:
        if watch is not None:
            await watch.stop()
        if nc is not None:
            await nc.close()
        await up.kill()
