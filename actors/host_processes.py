"""More actor hosts on one machine: ``deltastream up --hosts N`` runs N - 1 of them as child
processes beside its own.

A host is one Python process whose actors share one GIL, so it uses about one core; the
children (``deltastream actors``, each with its own host id ``<parent id>-<i>``) share FEED's
partitions with the parent's host by lease (DESIGN.md §11). A child that dies is started
again after ``restart_delay_s``; meanwhile the leases hand its partitions to the others.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import structlog

from actors.child_process import stop_child
from actors.settings import Settings

__all__ = ["HostProcesses"]

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 30.0  # a graceful stop checkpoints and hands partitions over


class HostProcesses:
    def __init__(
        self, settings: Settings, count: int, *, id_prefix: str, restart_delay_s: float = 1.0
    ) -> None:
        self.settings = settings
        self.ids = [f"{id_prefix}-{i}"[-64:] for i in range(1, count + 1)]
        self.restart_delay_s = restart_delay_s
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []

    def _spawn(self, host_id: str) -> subprocess.Popen[bytes]:
        s = self.settings
        env = {
            **os.environ,
            "DELTASTREAM_NATS_URL": s.nats_url,
            "DELTASTREAM_PARTITIONS": str(s.partitions),
            "DELTASTREAM_PARTITION_KEY": s.partition_key,
            "DELTASTREAM_HOST_ID": host_id,
            "DELTASTREAM_ACTORS_HTTP_PORT": "0",  # several on one machine: any free port
        }
        # A session of its own: a Ctrl-C in the terminal reaches the parent only, which
        # stops the children itself (and would otherwise restart them as they exit).
        return subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "actors"], env=env, start_new_session=True
        )

    async def start(self) -> None:
        for host_id in self.ids:
            self.procs[host_id] = self._spawn(host_id)
            self._watchers.append(asyncio.create_task(self._watch(host_id)))
        log.info("actor_host_processes_started", hosts={h: p.pid for h, p in self.procs.items()})

    async def _watch(self, host_id: str) -> None:
        while True:
            code = await asyncio.to_thread(self.procs[host_id].wait)
            if self._stopping:
                return
            log.warning("actor_host_process_exited", host_id=host_id, returncode=code)
            await asyncio.sleep(self.restart_delay_s)  # a back-off, so a crash loop is slow
            if self._stopping:
                return
            self.procs[host_id] = self._spawn(host_id)
            log.info("actor_host_process_restarted", host_id=host_id, pid=self.procs[host_id].pid)

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.gather(
            *(
                asyncio.to_thread(stop_child, proc, timeout_s=STOP_TIMEOUT_S)
                for proc in self.procs.values()
            )
        )
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
