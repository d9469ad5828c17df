"""The ``deltastream`` command.

::

    deltastream up [--data DIR] [--nats-port N] [--port N] [--rate STEPS_PER_S] [--no-feed]
                   [--hosts N] [--partition-key product|chain]
    deltastream actors  [--nats URL[,URL...]] [--partitions N] [--partition-key K] [--host-id ID]
    deltastream archive [--nats URL] [--metrics-port N]
    deltastream edge    [--nats URL] [--host H] [--port N] [--reuse-port]
    deltastream feed synthetic [--nats URL] [--rate STEPS_PER_S] [--rows N] [--seed N] [--steps N]
    deltastream feed replay FILE [--nats URL] [--speed X]
    deltastream record FILE [--nats URL] [--follow]
    deltastream logs [-f] [--service S] [--level L] [--limit N] [--nats URL]

Every command but ``logs`` writes JSON log lines to stderr and ships the same events to
``deltastream.logs.<service>`` (``actors.log_setup``). A bad argument is one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import msgspec
import structlog

from actors.archive.writer import ArchiveWriter
from actors.child_process import die_with_parent
from actors.errors import ConfigError
from actors.feeds.recording import RecordResult, record, replay
from actors.feeds.synthetic import run_synthetic
from actors.heap import freeze_startup_heap
from actors.host import ActorHost
from actors.host_processes import HostProcesses
from actors.log_events import LEVELS, is_service_name
from actors.log_setup import configure_logging
from actors.log_shipper import LogShipper
from actors.natsserver import NatsServer
from actors.products import load_products
from actors.settings import MAX_PARTITIONS, Settings
from edge.log_tail import TailError, tail_logs
from edge.server import serve

__all__ = ["main"]

T = TypeVar("T")

log = structlog.get_logger(__name__)


def _default_data_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "deltastream"


MAX_TAIL_LINES = 1000


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line (``deltastream: …``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _service_name(text: str) -> str:
    if not is_service_name(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a service name (lower case letters, digits, _ or -; 32 at most)"
        )
    return text


def _tail_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_TAIL_LINES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number 1..{MAX_TAIL_LINES}")
    return value


def _host_count(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= MAX_PARTITIONS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number 1..{MAX_PARTITIONS}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="deltastream", description="Real-time option analytics")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="embedded nats-server + actor host + synthetic feed")
    up.add_argument("--data", type=Path, default=None, help="JetStream store directory")
    up.add_argument("--nats-port", type=int, default=4222)
    up.add_argument("--port", type=int, default=None, help="HTTP port of the edge (8000)")
    up.add_argument("--rate", type=float, default=4.0, help="synthetic market steps per second")
    up.add_argument("--no-feed", action="store_true", help="do not start the synthetic feed")
    up.add_argument(
        "--hosts",
        type=_host_count,
        default=1,
        help="actor hosts (processes, about one core each) sharing FEED's partitions (1)",
    )
    up.add_argument(
        "--partition-key",
        default=None,
        help="with --hosts: 'product' or 'chain' (one product's chains over the hosts) "
        "(DELTASTREAM_PARTITION_KEY, default product)",
    )

    actors = sub.add_parser("actors", help="run an actor host")
    actors.add_argument("--nats", default=None, help="NATS URL(s), comma-separated for a cluster")
    actors.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="FEED partitions shared by all hosts (DELTASTREAM_PARTITIONS, default 1)",
    )
    actors.add_argument(
        "--partition-key",
        default=None,
        help="what a partition holds: 'product' (whole products) or 'chain' (one product's "
        "chains spread over hosts) (DELTASTREAM_PARTITION_KEY, default product)",
    )
    actors.add_argument(
        "--host-id", default=None, help="this host's id in the lease bucket (<hostname>-<pid>)"
    )

    archive = sub.add_parser("archive", help="run the MongoDB archive writer (ANALYTICS → MongoDB)")
    archive.add_argument("--nats", default=None, help="NATS URL")
    archive.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port"
    )

    edge = sub.add_parser("edge", help="run an edge: REST, Socket.IO and the dashboard")
    edge.add_argument("--nats", default=None, help="NATS URL")
    edge.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    edge.add_argument("--port", type=int, default=None, help="listen port (default 8000)")
    edge.add_argument(
        "--reuse-port",
        action="store_true",
        default=None,
        help="share the port with other edges (SO_REUSEPORT; the kernel spreads connections)",
    )

    feed = sub.add_parser("feed", help="publish a feed")
    feed_sub = feed.add_subparsers(dest="feed_command", required=True)
    syn = feed_sub.add_parser("synthetic", help="seeded synthetic market")
    syn.add_argument("--nats", default=None)
    syn.add_argument("--rate", type=float, default=4.0, help="market steps per second")
    syn.add_argument("--rows", type=int, default=20, help="strikes changed per chain per step")
    syn.add_argument("--seed", type=int, default=7)
    syn.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    rep = feed_sub.add_parser("replay", help="republish a recording")
    rep.add_argument("file", type=Path)
    rep.add_argument("--nats", default=None)
    rep.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="1 = recorded pace, 10 = ten times faster, 0 = as fast as possible",
    )

    rec = sub.add_parser("record", help="write what FEED carried to a JSONL file")
    rec.add_argument("file", type=Path)
    rec.add_argument("--nats", default=None)
    rec.add_argument("--follow", action="store_true", help="keep recording until Ctrl-C")

    logs = sub.add_parser("logs", help="print recent log events of every process, and follow")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    logs.add_argument("--service", type=_service_name, default=None, help="actors, edge, feed…")
    logs.add_argument("--level", choices=LEVELS, default="debug", help="minimum level")
    logs.add_argument("-n", "--limit", type=_tail_limit, default=20, help="recent events first")
    logs.add_argument("--nats", default=None, help="NATS URL")
    return p


def _run(
    main: Callable[[asyncio.Event], Awaitable[T]],
    *,
    shipper: LogShipper | None = None,
    settings: Settings | None = None,
) -> T:
    """Run ``main`` until it returns, and return what it returned; SIGINT/SIGTERM set its
    ``stop``. With ``settings``, the log shipper (if any) starts first and sends what is left
    when ``main`` returned."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if shipper is not None and settings is not None:
            await shipper.start(settings)
        try:
            return await main(stop)
        finally:
            if shipper is not None:
                await shipper.close()

    with asyncio.Runner(loop_factory=_loop_factory()) as r:
        return r.run(runner())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (a dependency except on Windows): its transports write
    in C, which is most of a Socket.IO fan-out's cost (bench/RESULTS.md)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _actors(settings: Settings, stop: asyncio.Event) -> None:
    if settings.parent_pid:  # a child of ``up --hosts``: never outlive it
        die_with_parent(settings.parent_pid)
    host = ActorHost(settings, load_products(settings.products_file))
    await host.start()
    freeze_startup_heap()
    try:
        await stop.wait()
    finally:
        await host.stop()


async def _archive(settings: Settings, stop: asyncio.Event) -> None:
    writer = ArchiveWriter.from_settings(settings)
    metrics = None
    if settings.archive_metrics_port:
        metrics = writer.metrics.serve(settings.archive_metrics_port, host=settings.http_host)
    await writer.start()
    freeze_startup_heap()
    try:
        await stop.wait()
    finally:
        await writer.stop()
        if metrics is not None:
            metrics.shutdown()


async def _start_edge(settings: Settings, stop: asyncio.Event) -> asyncio.Task[None]:
    """Start the edge and wait until it listens; a failed start-up raises its error here."""
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # e.g. the port is taken: say why
    return task


async def _edge(settings: Settings, stop: asyncio.Event) -> None:
    task = await _start_edge(settings, stop)
    freeze_startup_heap()
    print(f"edge on http://{settings.http_host}:{settings.http_port}", flush=True)
    await task


async def _up(
    settings: Settings, args: argparse.Namespace, stop: asyncio.Event, shipper: LogShipper | None
) -> None:
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
        edge_task = await _start_edge(settings, edge_stop)
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


def _service_of(args: argparse.Namespace) -> str:
    return "feed" if args.command == "feed" else str(args.command)


async def _tail(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    await tail_logs(
        settings.nats_url,
        service=args.service,
        min_level=args.level,
        limit=args.limit,
        follow=args.follow,
        stop=stop,
        write=lambda line: print(line, flush=True),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            os.environ,
            nats_url=getattr(args, "nats", None),
            partitions=getattr(args, "partitions", None),
            partition_key=getattr(args, "partition_key", None),
            host_id=getattr(args, "host_id", None),
        )
    except ConfigError as exc:
        print(f"deltastream: {exc}", file=sys.stderr)
        return 2
    if args.command == "archive" and settings.mongo_url is None:
        print("deltastream: archive needs DELTASTREAM_MONGO_URL", file=sys.stderr)
        return 2
    shipping = settings.log_nats and args.command != "logs"
    service = _service_of(args)
    shipper = (
        LogShipper(capacity=settings.log_buffer_events, name=f"deltastream-{service}-logs")
        if shipping
        else None
    )
    configure_logging(
        level=settings.log_level,
        json=settings.log_json,
        service=service,
        by_module=args.command == "up",
        shipper=shipper,
    )
    ship: dict[str, Any] = {"shipper": shipper, "settings": settings}
    try:
        if args.command == "up":
            _run(lambda stop: _up(settings, args, stop, shipper))
        elif args.command == "logs":
            _run(lambda stop: _tail(settings, args, stop))
        elif args.command == "actors":
            _run(lambda stop: _actors(settings, stop), **ship)
        elif args.command == "archive":
            if args.metrics_port is not None:
                settings = msgspec.structs.replace(settings, archive_metrics_port=args.metrics_port)
            archive_settings = settings
            _run(lambda stop: _archive(archive_settings, stop), **ship)
        elif args.command == "edge":
            overrides = {
                "http_host": args.host,
                "http_port": args.port,
                "http_reuse_port": args.reuse_port,
            }
            edge_settings = msgspec.structs.replace(
                settings, **{k: v for k, v in overrides.items() if v is not None}
            )
            _run(lambda stop: _edge(edge_settings, stop), **ship)
        elif args.command == "record":
            result = _run(
                lambda stop: record(settings.nats_url, args.file, follow=args.follow, stop=stop),
                **ship,
            )
            return _report_recording(args.file, result)
        elif args.feed_command == "synthetic":
            products = load_products(settings.products_file)
            _run(
                lambda stop: run_synthetic(
                    settings.nats_url,
                    list(products.values()),
                    seed=args.seed,
                    steps_per_s=args.rate,
                    rows_per_batch=args.rows,
                    steps=args.steps,
                    stop=stop,
                ),
                **ship,
            )
        else:
            if not args.file.exists():
                print(f"deltastream: no such recording: {args.file}", file=sys.stderr)
                return 2
            _run(
                lambda stop: replay(settings.nats_url, args.file, speed=args.speed, stop=stop),
                **ship,
            )
    except ConfigError as exc:
        print(f"deltastream: {exc}", file=sys.stderr)
        return 2
    except TailError as exc:
        print(f"deltastream logs: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"deltastream: {exc}", file=sys.stderr)
        return 1
    return 0


def _report_recording(path: Path, result: RecordResult) -> int:
    """Say what was written; a recording with holes is not the whole of FEED: exit 1."""
    print(f"deltastream: recorded {result.written} FEED messages to {path}", file=sys.stderr)
    if not result.gaps:
        return 0
    ranges = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in result.gaps[:10])
    more = f" and {len(result.gaps) - 10} more ranges" if len(result.gaps) > 10 else ""
    print(
        f"deltastream: the recording lacks {result.missed} FEED messages (sequences "
        f"{ranges}{more}): FEED no longer held them when the recorder got there (dropped "
        "as the oldest of a full stream, or deleted)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
