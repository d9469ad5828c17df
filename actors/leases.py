"""Who owns which FEED partition: leases in a NATS KV bucket, renewed by compare-and-set.

Bucket ``deltastream_leases`` keeps every entry for ``lease_ttl_s`` after its last write
(the stream's max age), then drops it. Keys: ``lease.<k>`` (JSON: the owning host) and
``host.<id>`` (JSON: a live host). Every ``lease_renew_s`` each host runs one round:

1. rewrite its presence key;
2. renew each of its leases with ``update(last=revision)``; a wrong revision means the lease
   expired and somebody else may hold it now: the partition is lost;
3. read the bucket: the live hosts and who holds what;
4. move towards its fair share (live hosts sorted by id, the first ``P mod L`` get
   ``P // L + 1`` partitions, the others ``P // L``): release partitions above it
   (gracefully: the owner checkpoints first, then deletes its lease), take free ones below
   it with ``create`` (which fails if another host got there first). A partition left free
   for ``_ORPHAN_ROUNDS`` rounds is taken by anyone, whatever the share.

Fencing: ``held(k)`` is true until the send time of the last acknowledged renewal plus the
TTL minus one renew period. The server can only expire the entry later than that (it dates
the entry when it stores it), so an owner stops before anyone else can take over, unless
its whole process is stalled for longer than that margin (see DESIGN.md §3).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import nats.errors
import nats.js
import nats.js.errors
import structlog
from nats.js.kv import KeyValue

from actors import subjects

__all__ = ["LeaseKeeper", "LeaseView", "PartitionOwner", "fair_share"]

log = structlog.get_logger(__name__)

_ORPHAN_ROUNDS = 3


class PartitionOwner(Protocol):
    """What the keeper drives: the host's partition workers."""

    async def start_partition(self, partition: int) -> None: ...

    async def stop_partition(self, partition: int, *, graceful: bool) -> None: ...


class _LeaseValue(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    acquired_ns: int
    renewed_ns: int


class _Presence(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    pid: int
    started_ns: int
    partitions: list[int]


_lease_decoder = msgspec.json.Decoder(_LeaseValue)
_encoder = msgspec.json.Encoder()


@dataclass
class LeaseView:
    """One read of the bucket: live host ids (sorted) and the holder of each leased partition."""

    hosts: list[str] = field(default_factory=list)
    holders: dict[int, str] = field(default_factory=dict)


def fair_share(partitions: int, hosts: list[str], host_id: str) -> int:
    """How many partitions ``host_id`` should own when ``hosts`` are alive."""
    live = sorted(set(hosts) | {host_id})
    base, extra = divmod(partitions, len(live))
    return base + (1 if live.index(host_id) < extra else 0)


@dataclass
class _Held:
    revision: int
    acquired_ns: int
    valid_until: float  # monotonic
    running: bool = False
    releasing: bool = False


class LeaseKeeper:
    def __init__(
        self,
        js: nats.js.JetStreamContext,
        kv: KeyValue,
        owner: PartitionOwner,
        *,
        partitions: int,
        host_id: str,
        ttl_s: float,
        renew_s: float,
    ) -> None:
        self.js = js
        self.kv = kv
        self.owner = owner
        self.partitions = partitions
        self.host_id = host_id
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.log = log.bind(host=host_id)
        self.view = LeaseView()
        self.lost = 0  # leases lost or fenced since start
        self._held: dict[int, _Held] = {}
        self._locks = {k: asyncio.Lock() for k in range(partitions)}
        self._free_rounds: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._leaving = False
        self._started_ns = time.time_ns()
        # Notified whenever this host starts or stops owning a partition.
        self.changed = asyncio.Condition()

    # ------------------------------------------------------------ what others ask

    def held(self, partition: int) -> bool:
        """True while this host may work on ``partition`` (any thread may ask)."""
        lease = self._held.get(partition)
        return lease is not None and time.monotonic() < lease.valid_until

    def owned(self) -> list[int]:
        return sorted(k for k in self._held if self.held(k))

    def stats(self) -> dict[str, Any]:
        return {
            "host_id": self.host_id,
            "partitions": self.partitions,
            "owned": self.owned(),
            "hosts": self.view.hosts,
            "holders": {str(k): h for k, h in sorted(self.view.holders.items())},
            "leases_lost": self.lost,
        }

    async def wait_owned(self, predicate: Callable[[list[int]], bool]) -> list[int]:
        """Wait until ``predicate(owned())`` holds; returns the owned partitions."""
        async with self.changed:
            await self.changed.wait_for(lambda: predicate(self.owned()))
        return self.owned()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def settled(self) -> None:
        """Wait until every partition start or stop begun so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self.round()
            except nats.errors.Error as exc:
                # NATS unreachable or JetStream electing a leader: leases keep their
                # deadlines, so owners stop in time if this goes on.
                self.log.warning("lease_round_failed", error=type(exc).__name__)
            self._fence_expired()
            elapsed = time.monotonic() - started
            if elapsed > self.renew_s:
                self.log.warning("lease_round_slow", elapsed_s=round(elapsed, 3))
            delay = max(0.0, self.renew_s - elapsed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def round(self) -> None:
        # Renewals first and side by side: a slow round must not eat into the leases.
        results = await asyncio.gather(
            self._put_presence(),
            *(self._renew(k) for k in list(self._held)),
            return_exceptions=True,
        )
        self._fence_expired()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        self.view = await self._read()
        self._rebalance()

    async def stop(self) -> None:
        """Stop every owned partition gracefully, give the leases back, leave. The loop
        (``run``) keeps renewing meanwhile, so a slow checkpoint does not lose a lease."""
        self._leaving = True
        await self.settled()
        await asyncio.gather(*(self._release(k) for k in sorted(self._held)))
        self._stopping.set()
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self.kv.delete(subjects.presence_key(self.host_id))

    # ------------------------------------------------------------ one round's steps

    async def _put_presence(self) -> None:
        value = _encoder.encode(
            _Presence(
                host=self.host_id,
                pid=os.getpid(),
                started_ns=self._started_ns,
                partitions=self.owned(),
            )
        )
        await self.kv.put(subjects.presence_key(self.host_id), value)

    def _lease_value(self, acquired_ns: int) -> bytes:
        return _encoder.encode(
            _LeaseValue(host=self.host_id, acquired_ns=acquired_ns, renewed_ns=time.time_ns())
        )

    async def _renew(self, k: int) -> None:
        async with self._locks[k]:
            lease = self._held.get(k)
            if lease is None:
                return
            sent = time.monotonic()
            try:
                lease.revision = await self.kv.update(
                    subjects.lease_key(k), self._lease_value(lease.acquired_ns), last=lease.revision
                )
            except nats.js.errors.KeyWrongLastSequenceError:
                del self._held[k]
                self.lost += 1
                self.log.error("lease_lost", partition=k)
                if lease.running and not lease.releasing:
                    lease.running = False
                    self._spawn(self.owner.stop_partition(k, graceful=False))
                await self._notify()
                return
            except (nats.errors.Error, TimeoutError) as exc:
                self.log.warning("lease_renew_failed", partition=k, error=type(exc).__name__)
                return
            lease.valid_until = sent + self.ttl_s - self.renew_s
            if not lease.running and not lease.releasing:
                # Fenced after missed renewals, but nobody took it: carry on from the snapshots.
                lease.running = True
                self.log.warning("lease_resumed", partition=k)
                self._spawn(self.owner.start_partition(k))

    def _fence_expired(self) -> None:
        now = time.monotonic()
        for k, lease in self._held.items():
            if lease.running and not lease.releasing and now >= lease.valid_until:
                lease.running = False
                self.lost += 1
                self.log.error(
                    "lease_fenced", partition=k, overdue_s=round(now - lease.valid_until, 3)
                )
                self._spawn(self.owner.stop_partition(k, graceful=False))
                self._spawn(self._notify())

    async def _read(self) -> LeaseView:
        prefix = f"$KV.{subjects.KV_LEASES}."
        info = await self.js.stream_info(f"KV_{subjects.KV_LEASES}", subjects_filter=f"{prefix}>")
        keys = [s.removeprefix(prefix) for s in sorted((info.state.subjects or {}).keys())]
        entries = await asyncio.gather(*(self.kv.get(k) for k in keys), return_exceptions=True)
        view = LeaseView()
        for key, entry in zip(keys, entries, strict=True):
            if isinstance(entry, nats.js.errors.KeyNotFoundError):
                continue  # expired, deleted or purged since the listing
            if isinstance(entry, BaseException):
                raise entry
            if key.startswith("host."):
                view.hosts.append(key.removeprefix("host."))
            elif key.startswith("lease.") and entry.value:
                try:
                    view.holders[int(key.removeprefix("lease."))] = _lease_decoder.decode(
                        entry.value
                    ).host
                except (ValueError, msgspec.DecodeError):
                    self.log.warning("lease_unreadable", key=key)
        return view

    def _rebalance(self) -> None:
        if self._leaving:
            return
        share = fair_share(self.partitions, self.view.hosts, self.host_id)
        mine = [k for k, lease in self._held.items() if not lease.releasing]
        for k in sorted(mine, reverse=True)[: max(0, len(mine) - share)]:
            self._held[k].releasing = True
            self._spawn(self._release(k))
        free = [
            k for k in range(self.partitions) if k not in self.view.holders and k not in self._held
        ]
        for k in range(self.partitions):
            self._free_rounds[k] = self._free_rounds.get(k, 0) + 1 if k in free else 0
        want = share - len(mine)
        for k in free:
            if want > 0 or self._free_rounds[k] >= _ORPHAN_ROUNDS:
                want -= 1
                self._spawn(self._acquire(k))

    # ------------------------------------------------------------ acquire / release

    async def _acquire(self, k: int) -> None:
        async with self._locks[k]:
            if k in self._held or self._leaving:
                return
            acquired_ns = time.time_ns()
            sent = time.monotonic()
            try:
                revision = await self.kv.create(
                    subjects.lease_key(k), self._lease_value(acquired_ns)
                )
            except nats.js.errors.KeyWrongLastSequenceError:
                return  # another host was quicker
            except (nats.errors.Error, TimeoutError) as exc:
                self.log.warning("lease_acquire_failed", partition=k, error=type(exc).__name__)
                return
            self._held[k] = _Held(
                revision=revision,
                acquired_ns=acquired_ns,
                valid_until=sent + self.ttl_s - self.renew_s,
                running=True,
            )
            self._free_rounds[k] = 0
            self.log.info("lease_acquired", partition=k, revision=revision)
        try:
            await self.owner.start_partition(k)
        except Exception:  # e.g. JetStream unavailable: let another host (or us) try again
            self.log.exception("partition_start_failed", partition=k)
            await self._release(k)
        await self._notify()

    async def _release(self, k: int) -> None:
        lease = self._held.get(k)
        if lease is None:
            return
        lease.releasing = True
        lease.running = False
        await self.owner.stop_partition(k, graceful=self.held(k))
        async with self._locks[k]:
            lease = self._held.pop(k, None)
            if lease is not None:
                try:
                    await self.kv.delete(subjects.lease_key(k), last=lease.revision)
                except (nats.errors.Error, TimeoutError) as exc:
                    # It expires on its own within the TTL.
                    self.log.warning("lease_release_failed", partition=k, error=type(exc).__name__)
                else:
                    self.log.info("lease_released", partition=k)
        await self._notify()

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:  # a partition start/stop must never take the keeper down
                self.log.exception("partition_transition_failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
