"""More actor hosts on one machine: ``deltastream up --hosts N`` runs N - 1 of them as child
processes beside its own.

A host is one Python process whose actors share one GIL, so it uses about one core; the
children (``deltastream actors``, each with its own host id ``<parent id>-<i>``) share FEED's
partitions with the parent's host by lease (DESIGN.md §11). A child that dies is started
again after ``restart_delay_s``, by default once its leases have expired and the others had a
renewal round to take its partitions over (the lease TTL plus two renewal periods): started
sooner, it would race them for its old partitions at the moment they expire, and which of
them serves a partition next would be down to timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence

import structlog

from actors.settings import Settings

__all__ = ["HostProcesses"]

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 30.0  # a graceful stop checkpoints and hands partitions over


class HostProcesses:
    def __init__(
        self,
        settings: Settings,
        count: int,
        *,
        id_prefix: str,
        restart_delay_s: float | None = None,
        command: Sequence[str] = (sys.executable, "-m", "edge.cli", "actors"),
    ) -> None:
        self.settings = settings
        self.command = tuple(command)
        self.ids = [f"{id_prefix}-{i}"[-64:] for i in range(1, count + 1)]
        self.restart_delay_s = (
            settings.lease_ttl_s + 2 * settings.lease_renew_s
            if restart_delay_s is None
            else restart_delay_s
        )
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []

    async def _spawn(self, host_id: str) -> asyncio.subprocess.Process:
        s = self.settings
        env = {
            **os.environ,
            "DELTASTREAM_NATS_URL": s.nats_url,
            "DELTASTREAM_PARTITIONS": str(s.partitions),
            "DELTASTREAM_PARTITION_KEY": s.partition_key,
            "DELTASTREAM_HOST_ID": host_id,
            "DELTASTREAM_ACTORS_HTTP_PORT": "0",  # several on one machine: any free port
            "DELTASTREAM_PARENT_PID": str(os.getpid()),  # it stops if this process dies
        }
        env.pop("DELTASTREAM_HOST_CPUS", None)  # several hosts: not all on the same CPUs
        # A session of its own: a Ctrl-C in the terminal reaches the parent only, which
        # stops the children itself (and would otherwise restart them as they exit).
        return await asyncio.create_subprocess_exec(*self.command, env=env, start_new_session=True)

    async def start(self) -> None:
        for host_id in self.ids:
            self.procs[host_id] = await self._spawn(host_id)
            self._watchers.append(asyncio.create_task(self._watch(host_id)))
        log.info("actor_host_processes_started", hosts={h: p.pid for h, p in self.procs.items()})

    async def _watch(self, host_id: str) -> None:
        # Waiting on the loop's child watcher, not a thread each: any number of children.
        while True:
            code = await self.procs[host_id].wait()
            if self._stopping:
                return
            log.warning("actor_host_process_exited", host_id=host_id, returncode=code)
            await asyncio.sleep(self.restart_delay_s)  # a back-off, so a crash loop is slow
            if self._stopping:
                return
            proc = self.procs[host_id] = await self._spawn(host_id)
            if self._stopping:  # ``stop`` began while it started and may not have seen it
                await _stop(proc)
                return
            log.info("actor_host_process_restarted", host_id=host_id, pid=proc.pid)

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.gather(*(_stop(proc) for proc in list(self.procs.values())))
        # Each watcher returns once its child exited (or after its restart back-off).
        await asyncio.gather(*self._watchers)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM (a graceful stop checkpoints and hands partitions over), SIGKILL after
    ``STOP_TIMEOUT_S``."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
