"""Who owns which FEED partition: leases in a NATS KV bucket, renewed by compare-and-set.

Bucket ``deltastream_leases`` keeps every entry for ``lease_ttl_s`` after its last write
(the stream's max age), then drops it. Keys: ``lease.<k>`` (JSON: the owning host) and
``host.<id>`` (JSON: a live host). Two loops run every ``lease_renew_s``:

- renewals: rewrite the presence key and renew each lease with ``update(last=revision)``,
  side by side. A wrong revision means the lease expired and another host may hold it now:
  the partition is lost and its worker stopped at once (what it had not published is
  dropped).
- balance: read the bucket (the live hosts, who holds what) and move towards this host's
  fair share (live hosts sorted by id, the first ``P mod L`` get ``P // L + 1`` partitions,
  the others ``P // L``): release partitions above it (gracefully: the worker checkpoints,
  then the lease is deleted), take free ones below it with ``create`` (which fails if
  another host got there first). A partition left free for ``_ORPHAN_ROUNDS`` rounds is taken
  by anyone, whatever the share.

Fencing: ``held(k)`` is true until the send time of the last acknowledged renewal plus the
TTL minus one renew period. The server can only expire the entry later than that (it dates
the entry when it stores it). While ``held(k)`` is false the partition's worker pauses (no
fetch, no ack, no publish, no checkpoint); it resumes if a renewal still succeeds and is
stopped when the lease turns out lost. See DESIGN.md §11 for what remains possible when a
whole process stalls for longer than that margin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
import nats.errors
import nats.js
import nats.js.errors
import structlog
from nats.js.kv import KeyValue

from actors import subjects
from actors.errors import ConfigError
from actors.lease_records import HeldLease, LeaseValue, LeaseView, Presence, fair_share

__all__ = ["LeaseKeeper", "PartitionOwner"]

log = structlog.get_logger(__name__)

_ORPHAN_ROUNDS = 3


class PartitionOwner(Protocol):
    """What the keeper drives: the host's partition workers."""

    async def start_partition(self, partition: int) -> None: ...

    async def stop_partition(self, partition: int, *, graceful: bool) -> None: ...


_lease_decoder = msgspec.json.Decoder(LeaseValue)
_presence_decoder = msgspec.json.Decoder(Presence)
_encoder = msgspec.json.Encoder()


# What a KV operation raises when the bucket's stream does not exist (any more).
_BUCKET_GONE = (nats.js.errors.NoStreamResponseError, nats.js.errors.NotFoundError)


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
        reopen: Callable[[], Awaitable[KeyValue]] | None = None,
    ) -> None:
        self.js = js
        self.kv = kv
        # Recreates the bucket: it lives in memory, so a restarted nats-server (or a whole
        # cluster) comes back without it.
        self._reopen = reopen
        self._reopening = asyncio.Lock()
        self.owner = owner
        self.partitions = partitions
        self.host_id = host_id
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.log = log.bind(host=host_id)
        self.view = LeaseView()
        self.lost = 0  # leases lost since start (their workers were stopped)
        self.overdue = 0  # times a renewal came too late and a worker paused
        self._held: dict[int, HeldLease] = {}
        self._locks = {k: asyncio.Lock() for k in range(partitions)}  # KV ops on lease.<k>
        # Starts and stops of partition k, in order: a stop never overtakes its start.
        self._transitions = {k: asyncio.Lock() for k in range(partitions)}
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
            "leases_overdue": self.overdue,
        }

    async def wait_owned(self, predicate: Callable[[list[int]], bool]) -> list[int]:
        """Wait until ``predicate(owned())`` holds; returns the owned partitions."""
        async with self.changed:
            await self.changed.wait_for(lambda: predicate(self.owned()))
        return self.owned()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def claim_identity(self) -> None:
        """Wait until no other live host uses this host's id (a previous process with the
        same id leaves its presence key for up to a TTL); ConfigError if one keeps it alive."""
        deadline = time.monotonic() + self.ttl_s + 2 * self.renew_s
        while True:
            try:
                entry = await self.kv.get(subjects.presence_key(self.host_id))
            except nats.js.errors.KeyNotFoundError:
                return
            try:
                other_pid = _presence_decoder.decode(entry.value or b"").pid
            except msgspec.DecodeError:
                other_pid = 0
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"setting DELTASTREAM_HOST_ID: another actor host with id {self.host_id!r} "
                    f"is alive (pid {other_pid}); every host needs its own id"
                )
            self.log.warning("host_id_in_use", other_pid=other_pid)
            await asyncio.sleep(self.renew_s)

    async def settled(self) -> None:
        """Wait until every partition start or stop begun so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        await asyncio.gather(self._loop(self.renew_round), self._loop(self.balance_round))

    async def _loop(self, step: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await step()
            except nats.errors.Error as exc:
                # NATS unreachable or JetStream electing a leader: leases keep their
                # deadlines, so owners pause in time if this goes on.
                self.log.warning("lease_step_failed", step=step.__name__, error=type(exc).__name__)
                if isinstance(exc, _BUCKET_GONE):
                    await self._reopen_if_gone()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the keeper itself is being stopped
                # A future inside the NATS client was cancelled under us (a reconnect):
                # like any other failed step, try again next time.
                self.log.warning("lease_step_failed", step=step.__name__, error="CancelledError")
            except Exception:  # the keeper's outermost loop: it must never stop renewing
                self.log.exception("lease_step_crashed", step=step.__name__)
            elapsed = time.monotonic() - started
            if elapsed > self.renew_s:
                self.log.warning("lease_step_slow", step=step.__name__, elapsed_s=round(elapsed, 3))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(0.0, self.renew_s - elapsed))

    async def _reopen_if_gone(self) -> None:
        """Recreate the lease bucket when its stream is gone. Leases held before are then
        lost at their next renewal (the key is missing, so the compare-and-set fails) and
        taken again through the balance round: a restart from the checkpoint, as after a
        crash, rather than trusting state that no longer backs them."""
        if self._reopen is None:
            return
        async with self._reopening:
            try:
                await self.js.stream_info(f"KV_{subjects.KV_LEASES}")
                return
            except nats.js.errors.NotFoundError:
                pass
            except (nats.errors.Error, TimeoutError):
                return  # JetStream not answering yet: the next failed step asks again
            self.kv = await self._reopen()
            self.log.warning("lease_bucket_recreated")

    async def round(self) -> None:
        """One renewal and one balance step (the host's first, before it returns from start)."""
        await self.renew_round()
        await self.balance_round()

    async def renew_round(self) -> None:
        self._note_overdue()
        results = await asyncio.gather(
            self._put_presence(),
            *(self._renew(k) for k in list(self._held)),
            return_exceptions=True,
        )
        self._note_overdue()
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def balance_round(self) -> None:
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
            Presence(
                host=self.host_id,
                pid=os.getpid(),
                started_ns=self._started_ns,
                partitions=self.owned(),
            )
        )
        await self.kv.put(subjects.presence_key(self.host_id), value)

    def _lease_value(self, acquired_ns: int) -> bytes:
        return _encoder.encode(
            LeaseValue(host=self.host_id, acquired_ns=acquired_ns, renewed_ns=time.time_ns())
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
                if not lease.releasing:
                    self._spawn(self._stop(k, lease, graceful=False))
                await self._notify()
                return
            except (nats.errors.Error, TimeoutError) as exc:
                self.log.warning("lease_renew_failed", partition=k, error=type(exc).__name__)
                return
            lease.valid_until = sent + self.ttl_s - self.renew_s
            if lease.overdue:
                lease.overdue = False
                self.log.warning("lease_recovered", partition=k)

    def _note_overdue(self) -> None:
        now = time.monotonic()
        for k, lease in self._held.items():
            if not lease.overdue and now >= lease.valid_until:
                lease.overdue = True
                self.overdue += 1
                overdue_s = round(now - lease.valid_until, 3)
                self.log.warning("lease_overdue", partition=k, overdue_s=overdue_s)

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
            self._held[k] = HeldLease(
                revision=revision,
                acquired_ns=acquired_ns,
                valid_until=sent + self.ttl_s - self.renew_s,
            )
            self._free_rounds[k] = 0
            self.log.info("lease_acquired", partition=k, revision=revision)
        try:
            await self._start(k)
        except Exception:  # e.g. JetStream unavailable: let another host (or us) try again
            self.log.exception("partition_start_failed", partition=k)
            await self._release(k)
        await self._notify()

    async def _start(self, k: int) -> None:
        async with self._transitions[k]:
            lease = self._held.get(k)
            if lease is None or lease.releasing or lease.running:
                return  # given back or lost before it could start
            lease.running = True
            await self.owner.start_partition(k)

    async def _stop(self, k: int, lease: HeldLease, *, graceful: bool) -> None:
        async with self._transitions[k]:
            if not lease.running:
                return
            lease.running = False
            await self.owner.stop_partition(k, graceful=graceful)

    async def _release(self, k: int) -> None:
        lease = self._held.get(k)
        if lease is None:
            return
        lease.releasing = True
        self.log.info("lease_releasing", partition=k)
        await self._stop(k, lease, graceful=self.held(k))
        async with self._locks[k]:
            if self._held.get(k) is lease:
                del self._held[k]
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
