"""What partition leases are made of, as plain data: no NATS, no clock.

``LeaseValue`` is what ``lease.<k>`` holds and ``Presence`` what ``host.<id>`` holds;
``LeaseView`` is one read of the bucket, ``HeldLease`` what a keeper knows of a lease it holds,
and ``fair_share`` how many partitions each live host should own. ``actors.leases`` keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

__all__ = ["HeldLease", "LeaseValue", "LeaseView", "Presence", "fair_share"]


class LeaseValue(msgspec.Struct, frozen=True, kw_only=True):
    """The value of ``lease.<k>``: the owning host; when it took and last renewed it (ns)."""

    host: str
    acquired_ns: int
    renewed_ns: int


class Presence(msgspec.Struct, frozen=True, kw_only=True):
    """The value of ``host.<id>``: a live host, its pid and start (ns), what it owns."""

    host: str
    pid: int
    started_ns: int
    partitions: list[int]


@dataclass
class LeaseView:
    """One read of the bucket: live host ids (sorted) and the holder of each leased partition."""

    hosts: list[str] = field(default_factory=list)
    holders: dict[int, str] = field(default_factory=dict)


def fair_share(partitions: int, hosts: list[str], host_id: str) -> int:
    """How many partitions ``host_id`` should own when ``hosts`` are alive.

    ``host_id`` counts as alive; with the live hosts sorted by id, the first ``P mod L`` get
    ``P // L + 1`` and the others ``P // L``: ``fair_share(5, ["a", "b"], "b") == 2``.
    """
    live = sorted(set(hosts) | {host_id})
    base, extra = divmod(partitions, len(live))
    return base + (1 if live.index(host_id) < extra else 0)


@dataclass
class HeldLease:
    """A lease this host holds: its KV revision and until when it may work on it."""

    revision: int
    acquired_ns: int
    valid_until: float  # monotonic
    running: bool = False
    releasing: bool = False
    overdue: bool = False  # a renewal is late: the worker pauses
