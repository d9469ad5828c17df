"""The ``deltastream`` command line: subcommands, options and the checks of their values.

Only parsing lives here (what each command does is ``edge.cli``), so a deployment file's
command line can be checked against it without starting anything. A bad argument is one
line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from actors.log_events import LEVELS, is_service_name
from actors.settings import MAX_PARTITIONS

__all__ = ["MAX_TAIL_LINES", "parser"]

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


def _whole(lo: int, hi: int) -> Callable[[str], int]:
    """A whole number lo..hi (a port, a count), refused in one line otherwise."""

    def check(text: str) -> int:
        value = int(text) if text.strip().isdigit() else lo - 1
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {lo}..{hi}")
        return value

    return check


def _finite(*, zero: bool) -> Callable[[str], float]:
    """A finite number above zero (or from zero, with ``zero``): a rate or a speed."""

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            bound = "0 or more" if zero else "above 0"
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number {bound}")
        return value

    return check


_host_count = _whole(1, MAX_PARTITIONS)
_tail_limit = _whole(1, MAX_TAIL_LINES)
_port = _whole(0, 65535)  # 0: the system picks a free port


def _nats_port(text: str) -> int:
    """A port for the embedded nats-server: 1..65535, or -1 for one it picks itself."""
    return -1 if text.strip() == "-1" else _whole(1, 65535)(text)


_rate = _finite(zero=False)


def parser() -> argparse.ArgumentParser:
    """``deltastream`` and its subcommands (the synopsis is in ``edge.cli``)."""
    p = _Parser(prog="deltastream", description="Real-time option analytics")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="embedded nats-server + actor host + edge + synthetic feed")
    up.add_argument("--data", type=Path, default=None, help="JetStream store directory")
    up.add_argument("--nats-port", type=_nats_port, default=4222, help="4222; -1: any free port")
    up.add_argument("--port", type=_port, default=None, help="HTTP port of the edge (8000)")
    up.add_argument("--rate", type=_rate, default=4.0, help="synthetic market steps per second")
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
        type=int,  # checked with the setting it overrides (the message names the key)
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
        "--metrics-port", type=_port, default=None, help="serve Prometheus metrics on this port"
    )

    edge = sub.add_parser("edge", help="run an edge: REST, Socket.IO and the dashboard")
    edge.add_argument("--nats", default=None, help="NATS URL")
    edge.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    edge.add_argument("--port", type=_port, default=None, help="listen port (default 8000)")
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
    syn.add_argument("--rate", type=_rate, default=4.0, help="market steps per second")
    syn.add_argument(
        "--rows", type=_whole(1, 100_000), default=20, help="strikes changed per chain per step"
    )
    syn.add_argument("--seed", type=int, default=7)
    syn.add_argument(
        "--steps", type=_whole(1, 10**12), default=None, help="stop after this many steps"
    )
    rep = feed_sub.add_parser("replay", help="republish a recording")
    rep.add_argument("file", type=Path)
    rep.add_argument("--nats", default=None)
    rep.add_argument(
        "--speed",
        type=_finite(zero=True),
        default=1.0,
        help="1 = recorded pace, 10 = ten times faster, 0 = as fast as possible",
    )

    rec = sub.add_parser("record", help="write what FEED carried to a JSONL file")
    rec.add_argument("file", type=Path)
    rec.add_argument("--nats", default=None)
    rec.add_argument("--follow", action="store_true", help="keep recording until Ctrl-C")

    logs = sub.add_parser("logs", help="print recent log events of every process (-f: and follow)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    logs.add_argument("--service", type=_service_name, default=None, help="actors, edge, feed…")
    logs.add_argument("--level", choices=LEVELS, default="debug", help="minimum level")
    logs.add_argument("-n", "--limit", type=_tail_limit, default=20, help="recent events first")
    logs.add_argument("--nats", default=None, help="NATS URL")
    return p
