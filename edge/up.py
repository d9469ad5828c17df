"""``deltastream up``: the whole system in one command, for a laptop or a demo.

An embedded nats-server (its store under ``--data``, by default ``$XDG_DATA_HOME/deltastream``),
the actor host (plus ``--hosts - 1`` child hosts), the archive writer when MongoDB is
configured, the edge and the synthetic feed; Ctrl-C stops them all, the nats-server last.
``start_edge`` is shared with ``deltastream edge``, which starts its edge the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path

import msgspec

from actors.archive.writer import ArchiveWriter
from actors.feeds.synthetic import run_synthetic
from actors.heap import freeze_startup_heap
from actors.host import ActorHost
from actors.host_processes import HostProcesses
from actors.log_shipper import LogShipper
from actors.natsserver import NatsServer
from actors.products import load_products
from actors.settings import Settings
from edge.server import serve

__all__ = ["start_edge", "up"]


def _default_data_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "deltastream"


async def start_edge(settings: Settings, stop: asyncio.Event) -> asyncio.Task[None]:
    """Start the edge and wait until it listens; a failed start-up raises its error here."""
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # e.g. the port is taken: say why
    return task


async def up(
    settings: Settings, args: argparse.Namespace, stop: asyncio.Event, shipper: LogShipper | None
) -> None:
    """Run everything until ``stop`` is set; ``shipper`` starts once the nats-server is ready,
    since it ships to that server."""
    data = args.data or _default_data_dir()
    server = NatsServer(data / "jetstream", port=args.nats_port, tied_to_parent=True)
    server.spawn()  # on this (the main) thread, which the server's life is tied to
    await asyncio.to_thread(server.wait_ready)
    settings = msgspec.structs.replace(settings, nats_url=server.url)
    if shipper is not None:
        await shipper.start(settings)
    if args.port is not None:
        settings = msgspec.structs.replace(settings, http_port=args.port)
    if args.hosts > 1 and settings.partitions == 1:
        settings = msgspec.structs.replace(settings, partitions=args.hosts)
    products = load_products(settings.products_file)
    host = ActorHost(settings, products)
    children = HostProcesses(settings, args.hosts - 1, id_prefix=host.host_id)
    archive = ArchiveWriter.from_settings(settings) if settings.mongo_url else None
    feed_task: asyncio.Task[int] | None = None
    edge_stop = asyncio.Event()
    edge_task: asyncio.Task[None] | None = None
    try:
        await host.start()
        await children.start()
        if archive is not None:
            await archive.start()
        edge_task = await start_edge(settings, edge_stop)
        if not args.no_feed:
            feed_task = asyncio.create_task(
                run_synthetic(server.url, list(products.values()), steps_per_s=args.rate, stop=stop)
            )
        freeze_startup_heap()
        feed = f"synthetic, {args.rate:g} steps/s" if feed_task else "none"
        archived = (
            f"MongoDB {settings.mongo_database}" if archive else "off (DELTASTREAM_MONGO_URL)"
        )
        http = f"http://{settings.http_host}:{settings.http_port}"
        actors = "micro service 'deltastream-snapshots'"
        if host.monitoring is not None:
            actors += f", {host.monitoring.url}/metrics and /health"
        if children.procs:
            pids = ", ".join(str(p.pid) for p in children.procs.values())
            actors += (
                f"; {args.hosts} hosts over {settings.partitions} FEED partitions keyed by "
                f"{settings.partition_key} (this process and pid {pids})"
            )
        print(
            "deltastream is up\n"
            f"  dashboard  {http}/\n"
            f"  REST       {http}/api/docs (OpenAPI), {http}/health, {http}/metrics\n"
            f"  Socket.IO  {http}/socket.io\n"
            f"  NATS       {server.url}  (JetStream store {data / 'jetstream'})\n"
            f"  actors     {actors}\n"
            f"  feed       {feed}\n"
            f"  archive    {archived}\n"
            f"  logs       deltastream logs -f --nats {server.url}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        await stop.wait()
    finally:
        stop.set()
        if feed_task is not None:
            with contextlib.suppress(Exception):
                await feed_task
        await children.stop()
        edge_stop.set()
        if edge_task is not None:
            with contextlib.suppress(Exception):
                await edge_task
        if archive is not None:
            await archive.stop()
        await host.stop()
        if shipper is not None:
            await shipper.close()  # while the server still takes the last events
        await asyncio.to_thread(server.stop)
