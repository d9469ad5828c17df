"""Helpers for the scale-out tests: actor hosts as subprocesses, a live view of the lease
bucket, and the final analytics of a run read back through the snapshot service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

import msgspec
import nats
import nats.errors
import nats.js.errors

from actors import subjects
from actors.child_process import stop_child
from actors.feeds.market import FeedMessage
from actors.settings import Settings
from actors.streams import open_lease_bucket
from tests.conftest import WAIT_S

# Ceilings, not expectations: a loaded 2-core machine runs every helper's tests at once.
TAKEOVER_WAIT_S = 60.0


def host_process(
    nats_url: str, host_id: str | None, log: IO[bytes], **settings: object
) -> subprocess.Popen[bytes]:
    """``deltastream actors`` in a child process; ``settings`` become DELTASTREAM_* vars
    (no ``host_id``: the host's default, hostname and pid)."""
    env = {
        **os.environ,
        "DELTASTREAM_NATS_URL": nats_url,
        **({"DELTASTREAM_HOST_ID": host_id} if host_id else {}),
        "DELTASTREAM_SNAPSHOT_INTERVAL_S": "0.05",
        "DELTASTREAM_CHAIN_PUBLISH_INTERVAL_S": "0.05",
        "DELTASTREAM_SURFACE_PUBLISH_INTERVAL_S": "0.05",
        "DELTASTREAM_FETCH_BATCH": "16",
        "DELTASTREAM_LOG_LEVEL": os.environ.get("DS_TEST_LOG_LEVEL", "warning"),
        **{f"DELTASTREAM_{k.upper()}": str(v) for k, v in settings.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "actors"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    stop_child(proc, timeout_s=WAIT_S)


class LeaseWatch:
    """Who holds which partition, kept current by a watch on the lease bucket."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.holders: dict[int, str] = {}
        self.changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._watcher: Any = None

    async def start(self, settings: Settings) -> LeaseWatch:
        # Open (or create) the bucket as the hosts will, so there is nothing to wait for.
        kv = await open_lease_bucket(self.nc.jetstream(), settings)
        self._watcher = await kv.watch("lease.*")
        self._task = asyncio.create_task(self._follow())
        return self

    async def _follow(self) -> None:
        async for entry in self._watcher:
            if entry is None:
                continue
            k = int(entry.key.removeprefix("lease."))
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                self.holders.pop(k, None)
            else:
                self.holders[k] = msgspec.json.decode(entry.value)["host"]
            async with self.changed:
                self.changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[dict[int, str]], bool], timeout_s: float = TAKEOVER_WAIT_S
    ) -> dict[int, str]:
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: predicate(self.holders)), timeout_s
            )
        return dict(self.holders)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._watcher is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._watcher.stop()


async def wait_final(nc: Any, final: dict[str, int], timeout_s: float = TAKEOVER_WAIT_S) -> None:
    """Wait until ANALYTICS holds, for every chain, a summary at its final FEED sequence."""
    js = nc.jetstream()
    arrived = asyncio.Event()

    async def on_summary(_: Any) -> None:
        arrived.set()

    sub = await nc.subscribe("deltastream.analytics.summary.>", cb=on_summary)
    behind: dict[str, tuple[int, int]] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                arrived.clear()
                behind.clear()
                for subject, seq in final.items():
                    try:
                        raw = await js.get_msg(subjects.ANALYTICS_STREAM, subject=subject)
                        got = msgspec.json.decode(raw.data)["stream_seq"]
                    except (nats.js.errors.NotFoundError, nats.errors.Error):
                        got = 0
                    if got < seq:
                        behind[subject] = (got, seq)
                if not behind:
                    return
                # woken by the next summary; re-checked at least every second anyway
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), 1.0)
    except TimeoutError as exc:
        raise AssertionError(
            f"summaries behind (stored, final): {behind}; hosts: {await _healths(nc)}"
        ) from exc
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()


async def _healths(nc: Any, partitions: int = 8) -> dict[int, Any]:
    """The health of each partition's owner, for a failure message."""
    out: dict[int, Any] = {}
    for k in range(partitions):
        try:
            reply = await nc.request(subjects.partition_service_subject(k, "health"), b"{}", 2)
            out[k] = msgspec.json.decode(reply.data)
        except (nats.errors.Error, msgspec.DecodeError) as exc:
            out[k] = type(exc).__name__
    return out


async def publish_in_order(
    nc: Any, messages: Sequence[FeedMessage], *, first_index: int = 0, timeout_s: float = 2.0
) -> None:
    """Publish one message at a time, each until FEED acknowledged it, with a
    ``Nats-Msg-Id``: across a server failure a message is stored once and in its place, so
    FEED's sequence numbers match an undisturbed run's."""
    js = nc.jetstream()
    encoder = msgspec.json.Encoder()
    for i, m in enumerate(messages, first_index):
        data = encoder.encode(m.payload)
        async with asyncio.timeout(TAKEOVER_WAIT_S):
            while True:
                try:
                    ack = await js.publish(
                        m.subject, data, timeout=timeout_s, headers={"Nats-Msg-Id": f"msg-{i}"}
                    )
                except (nats.errors.Error, TimeoutError):
                    # A leader election or a reconnect: back off a little, same id again.
                    await asyncio.sleep(0.1)  # a publisher's back-off (noqa: sleep-ok)
                    continue
                assert ack.seq == i + 1, (ack, i)
                break
