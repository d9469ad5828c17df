"""Actor hosts for a benchmark, each its own process as deployed: started with settings
(``DELTASTREAM_*``), optionally pinned and profiled, several sharing FEED's partitions by
lease; stopped with SIGTERM (killed after 60 s)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nats
from scale import LeaseHolders  # bench/scale.py, beside this script

from actors.child_process import stop_child
from actors.settings import Settings
from actors.subjects import PartitionKey

__all__ = ["Hosts", "Layout", "start_host", "stop_process"]


def start_host(url: str, profile: Path | None, **settings: str) -> subprocess.Popen[bytes]:
    """Start an actor host (``settings`` become DELTASTREAM_* variables); with ``profile``,
    py-spy samples the thread holding the GIL into that speedscope file until it exits."""
    env = {
        **os.environ,
        "DELTASTREAM_NATS_URL": url,
        "DELTASTREAM_LOG_LEVEL": "warning",
        **{f"DELTASTREAM_{k.upper()}": v for k, v in settings.items()},
    }
    host = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "actors"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if profile is not None:
        subprocess.Popen(
            [
                "py-spy",
                "record",
                "--threads",
                "--gil",
                "--nonblocking",
                "--rate",
                "200",
                "--format",
                "speedscope",
                "--pid",
                str(host.pid),
                "-o",
                str(profile),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return host


@dataclass(frozen=True)
class Layout:
    """How many actor hosts share FEED, in how many partitions, keyed how, pinned where."""

    hosts: int = 1
    partitions: int = 1
    key: PartitionKey = "product"
    # DELTASTREAM_HOST_CPUS of host i: host_cpus[i % len] (none: not pinned)
    host_cpus: tuple[str, ...] = ()

    def pinned(self, i: int) -> dict[str, str]:
        return {"host_cpus": self.host_cpus[i % len(self.host_cpus)]} if self.host_cpus else {}

    @property
    def shared(self) -> bool:
        return self.hosts > 1 or self.partitions > 1

    def settings(self, url: str) -> Settings:
        return Settings(nats_url=url, partitions=self.partitions, partition_key=self.key)


class Hosts:
    """The phase's actor hosts, each its own process. Several share FEED's partitions by
    lease; ``start`` returns once they split them evenly. Their leases last 60 s (renewed
    every 5 s) so that a throughput phase can pause them while it writes the backlog."""

    def __init__(self, url: str, layout: Layout, profile: Path | None) -> None:
        self.url = url
        self.layout = layout
        self.profile = profile
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    async def start(self, nc: nats.NATS) -> None:
        if not self.layout.shared:
            self.procs["host"] = start_host(self.url, self.profile, **self.layout.pinned(0))
            return
        settings = self.layout.settings(self.url)
        holders = LeaseHolders()
        await holders.start(nc, settings)
        ids = [f"h{i + 1}" for i in range(self.layout.hosts)]
        for i, host_id in enumerate(ids):
            self.procs[f"host {host_id}"] = start_host(
                self.url,
                self.profile if i == 0 else None,
                partitions=str(self.layout.partitions),
                partition_key=self.layout.key,
                host_id=host_id,
                lease_ttl_s="60",
                lease_renew_s="5",
                **self.layout.pinned(i),
            )
        try:
            await holders.wait_even(ids, self.layout.partitions)
            self.holders = dict(holders.holders)
        finally:
            holders.stop()

    def describe(self, product: str, expiries: list[str]) -> str:
        """Which host runs which of the product's chains."""
        if not self.layout.shared:
            return ""
        layout = self.layout.settings(self.url).feed_layout()
        where = {
            host: [e for e in expiries if self.holders[layout.chain_partition(product, e)] == host]
            for host in sorted(set(self.holders.values()))
        }
        return f"{self.layout}: {product} chains per host {where}"

    def signal(self, signum: int) -> None:
        for proc in self.procs.values():
            os.kill(proc.pid, signum)

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_process(proc)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if stop_child(process, timeout_s=60):
        print(f"{process.args} did not stop within 60 s of SIGTERM; killed", file=sys.stderr)
