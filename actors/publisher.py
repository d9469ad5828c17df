"""Publish analytics to JetStream from actor threads: in order, acknowledged, never blocking.

Actors run on pykka threads; the NATS client lives on the asyncio loop. ``publish`` appends
to a queue and wakes the loop once per burst; one drain task sends in FIFO order.

Every message goes out as a JetStream publish whose ack is awaited in the background: a core
publish to ANALYTICS while the stream has no leader (a node of the cluster died and the
election is under way) is dropped without a word, and the chain's last state would never
reach the stream. Each message's reply subject is this publisher's ack inbox and its number,
and the acks come back on one subscription to that inbox, decoded with msgspec: nats-py's
``publish_async`` would cost an asyncio future, a random token read from the OS, a
semaphore and a JSON parse into a dataclass per message, about a tenth of the host's CPU on
a steady feed. When an ack fails or is late, a resync runs before anything new is sent:
for every subject whose *latest* message is unacknowledged, that message is sent again (its
``Nats-Msg-Id`` unchanged, so ANALYTICS stores it once even if the first copy did land) until
JetStream takes it. Older unacknowledged messages of the same subject are not resent: the
stream keeps increasing order per subject and ends on the latest state; what it misses are
intermediate values, as coalescing would have dropped them anyway (DESIGN.md §3).

A ``gate`` (the lease of the FEED partition these actors belong to) is asked before each
send. While it is closed (a lease renewal is overdue) messages wait in the queue, in order;
they go out if the renewal comes through, and ``discard`` drops them (and stops any resend)
when the partition is lost, so nothing is published next to its successor's.

While nothing can be sent (NATS down, the gate closed) the queue would grow with every
update; past ``max_queued`` messages it is conflated to the latest message per subject, in
order, so memory stays bounded by the number of subjects.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats.aio.client
import nats.errors
import structlog
from nats.aio.msg import Msg

from actors.streams import ANALYTICS_DEDUP_WINDOW_S
from actors.wakeup import Wakeup

__all__ = ["Publisher"]

log = structlog.get_logger(__name__)

_GATE_RETRY_S = 0.05
_RESEND_RETRY_S = 0.2
ACK_TIMEOUT_S = 5.0
MAX_QUEUED = 20_000
MAX_IN_FLIGHT = 4000  # publishes awaiting their ack (nats-py's default)
# A resend must land inside ANALYTICS's de-duplication window, or a copy that did land the
# first time would be stored twice.
GIVE_UP_AFTER_S = ANALYTICS_DEDUP_WINDOW_S - ACK_TIMEOUT_S


@dataclass(slots=True, eq=False)
class _Sent:
    subject: str
    payload: bytes
    headers: dict[str, str]
    sent_at: float
    sent: bool = field(default=False)  # handed to the client (an ack may come)
    answered: bool = field(default=False)  # JetStream refused it (an ack pops it instead)


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct):
    """JetStream's answer to a publish: the stream and sequence it was stored at, or why not."""

    stream: str = ""
    seq: int = 0
    error: _ApiError | None = None


_decode_ack = msgspec.json.Decoder(_PubAck).decode
_STATUS = "Status"


def _refusal(ack: Msg) -> str | None:
    """Why JetStream did not store a message, from its answer; None when it did."""
    status = (ack.headers or {}).get(_STATUS)
    if status:
        return f"status {status}"
    try:
        error = _decode_ack(ack.data).error
    except msgspec.DecodeError:
        return "undecodable ack"
    return None if error is None else f"{error.code}/{error.err_code} {error.description}"


class Publisher:
    def __init__(
        self,
        nc: nats.aio.client.Client,
        loop: asyncio.AbstractEventLoop,
        *,
        gate: Callable[[], bool] | None = None,
        ack_timeout_s: float = ACK_TIMEOUT_S,
        give_up_after_s: float = GIVE_UP_AFTER_S,
        max_queued: int = MAX_QUEUED,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._max_in_flight = max_in_flight
        self._ack_prefix = ""  # this publisher's ack inbox, subscribed at the first send
        self._ack_sub: Any = None
        self.max_queued = max_queued
        self._loop = loop
        self._gate = gate
        self.ack_timeout_s = ack_timeout_s
        self.give_up_after_s = give_up_after_s
        self._queue: deque[tuple[str, bytes, dict[str, str] | None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._id = secrets.token_hex(6)
        self._n = 0
        # Sent, not yet acknowledged, in publish order; and each subject's latest message.
        self._unacked: OrderedDict[int, _Sent] = OrderedDict()
        self._latest: dict[str, int] = {}
        self._trouble = False
        self._epoch = 0  # bumped by ``discard``: a resend in progress stops
        self._wake = Wakeup()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.published = 0  # acknowledged by JetStream
        self.failed = 0  # latest messages given up on after ``give_up_after_s``
        self.resent = 0
        self.resyncs = 0
        self.superseded = 0  # unacknowledged, with a newer message of the subject stored
        self.fenced = 0  # dropped because the partition was lost

    def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Thread-safe; returns at once."""
        with self._lock:
            self._queue.append((subject, payload, headers))
            if len(self._queue) > self.max_queued:
                self._conflate_queue()
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._kick)

    def _conflate_queue(self) -> None:
        """Keep each subject's latest queued message, in queue order (under the lock)."""
        last = {subject: i for i, (subject, _, _) in enumerate(self._queue)}
        kept = [m for i, m in enumerate(self._queue) if last[m[0]] == i]
        self.superseded += len(self._queue) - len(kept)
        self._queue = deque(kept)
        log.warning("analytics_queue_conflated", kept=len(kept))

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run(), name="publisher")

    # ------------------------------------------------------------ the drain loop

    async def _run(self) -> None:
        while True:
            deadline = self._ack_deadline()
            if self._trouble or (deadline is not None and time.monotonic() > deadline):
                await self._resync()
                continue
            with self._lock:
                gated = bool(self._queue) and self._gate is not None and not self._gate()
                batch: list[tuple[str, bytes, dict[str, str] | None]] = []
                if not gated:
                    batch = list(self._queue)
                    self._queue.clear()
                    self._scheduled = False
            if gated:
                # Hold everything until the lease is renewed, or ``discard`` drops it.
                await asyncio.sleep(_GATE_RETRY_S)
                continue
            for i, (subject, payload, headers) in enumerate(batch):
                if self._trouble:
                    # Resync first; the rest goes back to the front of the queue, in order.
                    with self._lock:
                        self._queue.extendleft(reversed(batch[i:]))
                    break
                await self._send(subject, payload, headers)
            if batch:
                continue
            if not self._unacked:
                self._idle.set()
            # Until new messages, an ack's outcome, or the oldest ack's deadline.
            deadline = self._ack_deadline()
            await self._wake.wait(
                None if deadline is None else max(0.0, deadline - time.monotonic())
            )

    async def _send(self, subject: str, payload: bytes, extra: dict[str, str] | None) -> None:
        n = self._n
        self._n += 1
        headers = {"Nats-Msg-Id": f"{self._id}-{n}"}
        if extra:
            headers.update(extra)
        item = _Sent(subject, payload, headers, sent_at=time.monotonic())
        self._unacked[n] = item
        self._latest[subject] = n
        if len(self._unacked) > self._max_in_flight and not await self._room():
            # No acks for a while (none come while NATS is away): resync.
            self._note_trouble("too_many_unacknowledged")
            return
        try:
            if self._ack_sub is None:
                self._ack_prefix = self._nc.new_inbox()
                self._ack_sub = await self._nc.subscribe(
                    f"{self._ack_prefix}.*", cb=self._on_ack, pending_msgs_limit=-1
                )
            await self._nc.publish(
                subject, payload, reply=f"{self._ack_prefix}.{n}", headers=headers
            )
        except nats.errors.Error as exc:
            # Disconnected past the client's reconnect buffer, or closed: resync.
            self._note_trouble(type(exc).__name__)
            return
        item.sent = True

    async def _room(self) -> bool:
        """Wait until at most ``max_in_flight`` messages await their acks; False when the
        oldest ack is overdue first (or a refusal calls for a resync)."""
        while len(self._unacked) > self._max_in_flight and not self._trouble:
            deadline = self._ack_deadline()
            if deadline is None or time.monotonic() > deadline:
                return False
            await self._wake.wait(deadline - time.monotonic())
        return not self._trouble

    async def _on_ack(self, msg: Msg) -> None:
        try:
            n = int(msg.subject[len(self._ack_prefix) + 1 :])
        except ValueError:
            return  # not an ack of this publisher's
        item = self._unacked.get(n)
        if item is None:
            return  # given up on, resent by a resync, or discarded meanwhile
        # A status (503: no stream takes the subject, or it has no leader right now) or an
        # error in the ack is a refusal: the message stays unacknowledged for the resync.
        refusal = _refusal(msg)
        if refusal is not None:
            item.answered = True
            self._note_trouble(refusal)
            return
        del self._unacked[n]
        self.published += 1
        self._wake.set()

    def _note_trouble(self, error: str) -> None:
        if not self._trouble:
            log.warning("analytics_publish_unacknowledged", error=error)
        self._trouble = True
        self._wake.set()

    def _ack_deadline(self) -> float | None:
        """When the oldest unacknowledged message's ack is overdue (monotonic clock)."""
        oldest = next(iter(self._unacked.values()), None)
        return None if oldest is None else oldest.sent_at + self.ack_timeout_s

    # ------------------------------------------------------------ recovery

    async def _resync(self) -> None:
        """Resend each subject's latest unacknowledged message, in publish order."""
        self._trouble = False
        self.resyncs += 1
        epoch = self._epoch
        # Let the acks still on their way arrive first: what they confirm is not resent.
        until = time.monotonic() + self.ack_timeout_s
        while any(s.sent and not s.answered for s in self._unacked.values()):
            if epoch != self._epoch or time.monotonic() >= until:
                break
            await self._wake.wait(until - time.monotonic())
        if epoch != self._epoch:
            return
        pending = list(self._unacked.items())
        self._unacked.clear()  # an ack still to come for one of these is ignored
        resend: list[_Sent] = []
        for n, item in pending:
            if self._latest.get(item.subject) == n:
                resend.append(item)
            else:
                self.superseded += 1
        log.warning("analytics_resync", resend=len(resend), superseded=len(pending) - len(resend))
        for item in resend:
            if not await self._resend(item, epoch):
                return

    async def _resend(self, item: _Sent, epoch: int) -> bool:
        """Publish one message and await its ack, retrying until given up; False when the
        partition was lost meanwhile."""
        until = item.sent_at + self.give_up_after_s
        error = "not_sent"
        while True:
            if epoch != self._epoch:
                return False
            if time.monotonic() > until:
                # Later than ANALYTICS's de-duplication window allows: this state is lost
                # on the stream until the chain's next update.
                self.failed += 1
                log.error("analytics_publish_failed", subject=item.subject, error=error)
                return True
            if self._gate is not None and not self._gate():
                await asyncio.sleep(_GATE_RETRY_S)
                continue
            timeout = min(self.ack_timeout_s, max(0.1, until - time.monotonic()))
            try:
                await self._js.publish(
                    item.subject, item.payload, timeout=timeout, headers=item.headers
                )
            except (nats.errors.Error, TimeoutError) as exc:
                error = type(exc).__name__
                await asyncio.sleep(_RESEND_RETRY_S)
                continue
            self.resent += 1
            self.published += 1
            return True

    # ------------------------------------------------------------ what the worker asks

    def stats(self) -> dict[str, int]:
        with self._lock:
            queued = len(self._queue)
        return {
            "published": self.published,
            "failed": self.failed,
            "resent": self.resent,
            "resyncs": self.resyncs,
            "superseded": self.superseded,
            "dropped_on_loss": self.fenced,
            "queued": queued,
            "unacknowledged": len(self._unacked),
        }

    async def close(self) -> None:
        """Stop listening for acks (the partition this publisher served is stopped)."""
        sub, self._ack_sub = self._ack_sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def drained(self) -> None:
        """Wait until everything queued so far is stored in JetStream (or given up on)."""
        await self._idle.wait()

    def discard(self) -> None:
        """Drop what is queued or awaiting its ack (the partition was lost to another host)."""
        with self._lock:
            self.fenced += len(self._queue)
            self._queue.clear()
        self._epoch += 1
        self.fenced += len(self._unacked)
        self._unacked.clear()
        self._trouble = False
        self._idle.set()
        if self._task is not None:
            self._task.cancel()  # this publisher is done with
