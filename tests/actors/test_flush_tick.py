"""The flush tick (when actors build their rate-limited views) follows the feed's batches:
after each tick it waits for the ingress to finish a batch, so that work falls between
batches; with no feed it still comes, a period late at most."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from actors import partition_worker
from actors.ingress import Ingress
from actors.partition_worker import PartitionWorker
from actors.settings import Settings
from tests.conftest import WAIT_S


class _Supervisor:
    def __init__(self) -> None:
        self.flushes = 0
        self.flushed = asyncio.Event()

    def flush_all(self, now_ns: int) -> None:
        self.flushes += 1
        self.flushed.set()


class _Batches:
    """Stands in for the ingress: each ``batch_finished`` returns when the test says so."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.done = asyncio.Event()

    async def batch_finished(self, timeout_s: float) -> bool:
        self.waiting.set()
        await self.done.wait()
        self.done.clear()
        return True


async def _flushes_after(supervisor: _Supervisor, n: int) -> None:
    async with asyncio.timeout(WAIT_S):
        while supervisor.flushes < n:
            supervisor.flushed.clear()
            await supervisor.flushed.wait()


async def test_the_next_tick_goes_out_once_a_batch_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(partition_worker, "FLUSH_PERIOD_S", 0.0)
    supervisor, batches = _Supervisor(), _Batches()
    worker: Any = SimpleNamespace(_closing=asyncio.Event(), supervisor=supervisor, ingress=batches)
    loop = asyncio.create_task(PartitionWorker._flush_loop(worker))
    try:
        await asyncio.wait_for(batches.waiting.wait(), WAIT_S)
        assert supervisor.flushes == 1  # the first tick at once; the next waits for a batch
        batches.waiting.clear()
        batches.done.set()
        await _flushes_after(supervisor, 2)
        await asyncio.wait_for(batches.waiting.wait(), WAIT_S)
        assert supervisor.flushes == 2
    finally:
        worker._closing.set()
        batches.done.set()
        await asyncio.wait_for(loop, WAIT_S)


def _ingress() -> Ingress:
    return Ingress(nc=None, js=None, supervisor=None, settings=Settings())  # type: ignore[arg-type]


async def test_batch_finished_is_true_when_a_batch_ends_and_false_on_time_out() -> None:
    ingress = _ingress()
    waiter = asyncio.create_task(ingress.batch_finished(WAIT_S))
    async with asyncio.timeout(WAIT_S):
        while not waiter.done():  # batches keep ending, as under a feed
            async with ingress.batch_done:
                ingress.batch_done.notify_all()
            await asyncio.sleep(0)  # one loop turn for the waiter (noqa: sleep-ok)
    assert await asyncio.wait_for(waiter, WAIT_S) is True
    assert await ingress.batch_finished(0.0) is False  # no batch ends: the time-out
