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
and exit code 2. The options are parsed in ``edge.cli_args``; ``up`` runs in ``edge.up``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import structlog

from actors.archive.writer import ArchiveWriter
from actors.child_process import die_with_parent
from actors.cpu_affinity import format_cpu_list, parse_cpu_list, pin_threads
from actors.errors import ConfigError
from actors.feeds.connect import NatsUnreachable
from actors.feeds.recording import RecordResult, record, replay
from actors.feeds.synthetic import run_synthetic
from actors.heap import freeze_startup_heap
from actors.host import ActorHost
from actors.log_setup import configure_logging
from actors.log_shipper import LogShipper
from actors.products import load_products
from actors.settings import Settings
from edge.cli_args import parser
from edge.log_tail import TailError, tail_logs
from edge.up import start_edge, up

__all__ = ["main"]

T = TypeVar("T")

log = structlog.get_logger(__name__)


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


async def _edge(settings: Settings, stop: asyncio.Event) -> None:
    task = await start_edge(settings, stop)
    freeze_startup_heap()
    print(f"edge on http://{settings.http_host}:{settings.http_port}", flush=True)
    await task


def _pin(settings: Settings) -> None:
    """Pin this actor host to ``host_cpus`` before its actor threads start (they inherit it)."""
    cpus = parse_cpu_list(settings.host_cpus)
    if cpus:
        pin_threads(cpus)
        log.info("host_pinned", cpus=format_cpu_list(cpus))


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
    args = parser().parse_args(argv)
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
            _run(lambda stop: up(settings, args, stop, shipper))
        elif args.command == "logs":
            _run(lambda stop: _tail(settings, args, stop))
        elif args.command == "actors":
            _pin(settings)
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
    except NatsUnreachable as exc:
        print(f"deltastream: {exc}", file=sys.stderr)
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
