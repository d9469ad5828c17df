"""The start-up heap is frozen once a service is up: a full collection no longer walks it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import httpx
import pytest

from actors.heap import freeze_startup_heap
from actors.natsserver import NatsServer
from edge import cli
from tests.cluster import free_ports
from tests.conftest import WAIT_S, test_settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # give the test process's heap back to the collector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_freezing_exempts_what_lives_and_still_collects_what_comes_after(unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    freeze_startup_heap()
    assert gc.get_freeze_count() > 1000  # this process's modules and test machinery
    cycle = _Cycle()
    alive = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert alive() is None  # a cycle made after the freeze is still collected


async def test_the_actor_host_command_freezes_its_heap_once_the_host_is_up(
    nats_server: NatsServer, unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = asyncio.Event()
    seen: list[bool] = []

    def frozen() -> None:
        seen.append(True)
        stop.set()

    monkeypatch.setattr(cli, "freeze_startup_heap", frozen)
    await asyncio.wait_for(cli._actors(test_settings(nats_server.url), stop), WAIT_S)
    assert seen == [True]


async def test_the_edge_command_freezes_its_heap_once_the_edge_listens(
    nats_server: NatsServer, unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = asyncio.Event()
    settings = test_settings(nats_server.url, http_host="127.0.0.1", http_port=free_ports(1)[0])
    answered: list[int] = []

    async def frozen() -> None:
        async with httpx.AsyncClient() as client:  # the edge answers by now
            answered.append(
                (await client.get(f"http://127.0.0.1:{settings.http_port}/health")).status_code
            )
        stop.set()

    probes: list[asyncio.Task[None]] = []  # the loop keeps only a weak reference to a task
    monkeypatch.setattr(
        cli, "freeze_startup_heap", lambda: probes.append(asyncio.create_task(frozen()))
    )
    await asyncio.wait_for(cli._edge(settings, stop), WAIT_S)
    await asyncio.gather(*probes)
    assert len(answered) == 1 and answered[0] in (200, 503)
