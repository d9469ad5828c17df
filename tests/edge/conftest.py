"""Edge fixtures: a real nats-server, an in-process actor host and the edge's uvicorn server
on a free port, each waited for until ready and stopped in teardown."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import nats
import pytest
import uvloop

from actors.host import ActorHost
from actors.natsserver import NatsServer
from edge import app as app_module
from edge import server as server_module
from edge.server import serve
from tests.conftest import feed_last_seq, test_settings, wait_handled, wait_published
from tests.feeding import market, publish, session
from tests.final_state import final_seq_per_chain

READY_TIMEOUT_S = 30.0
UVLOOP = "uvloop"


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Edge tests run on asyncio's loop; a test marked
    ``@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])`` also runs on uvloop, the
    loop ``deltastream`` itself runs on (``edge.cli``): its transports pause and resume
    writing on their own terms, which the socket fan-out relies on."""
    marker = item.get_closest_marker("asyncio")
    factories: dict[str, Any] = {"asyncio": asyncio.new_event_loop}
    if marker is not None and UVLOOP in marker.kwargs.get("loop_factories", ()):
        factories[UVLOOP] = uvloop.new_event_loop
    return factories


HEALTH_TIMEOUT_S = 30.0
HEALTH_POLL_S = 0.05


@dataclass
class Edge:
    url: str
    port: int
    nats_url: str
    host: ActorHost
    # Set by ``edge_factory``: stops this edge now (else it stops when the test ends).
    stop_now: Callable[[], Awaitable[None]] | None = None

    async def stop(self) -> None:
        assert self.stop_now is not None, "only an edge_factory edge can be stopped early"
        await self.stop_now()

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10.0, **kwargs)  # type: ignore[arg-type]

    async def feed(self, steps: int = 4, products: tuple[str, ...] = ("NIFTY",)) -> None:
        """Publish a seeded market session and wait until the actors applied all of it and
        ANALYTICS holds each chain's summary of its last message."""
        await self.feed_messages(session(market(products), steps), until_stored=True)

    async def feed_messages(
        self,
        messages: list,  # type: ignore[type-arg]
        *,
        until_stored: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Publish to FEED and wait until the actors applied (or dead-lettered) all of it.
        With ``until_stored`` (for messages the actors accept) also wait until each chain's
        summary of its last message is on ANALYTICS: those summaries, by subject."""
        before = await feed_last_seq(self.nats_url)
        await publish(self.nats_url, messages)
        await wait_handled(self.host, await feed_last_seq(self.nats_url))
        if not until_stored:
            return {}
        nc = await nats.connect(self.nats_url)
        try:
            return {
                subject: await wait_published(
                    nc, subject, lambda body, seq=before + seq: body["stream_seq"] >= seq
                )
                for subject, seq in final_seq_per_chain(messages).items()
            }
        finally:
            await nc.close()


EdgeFactory = Callable[..., Awaitable[Edge]]


@pytest.fixture
async def edge_factory(
    nats_server: NatsServer, actor_host: ActorHost
) -> AsyncIterator[EdgeFactory]:
    """Start edges (settings overrides as keywords; ``mongo``: an archive client) against the
    test's NATS and actor host."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(*, mongo: Any = None, **overrides: object) -> Edge:
        settings = msgspec.structs.replace(test_settings(nats_server.url), http_port=0, **overrides)
        stop, ready, bound = asyncio.Event(), asyncio.Event(), []
        task = asyncio.create_task(
            serve(settings, stop=stop, ready=ready, bound=bound, mongo=mongo)
        )
        running.append((stop, task))
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {waiter, task}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            if task in done:
                task.result()  # raises the start-up error
            raise TimeoutError("the edge did not become ready")
        port = bound[0]

        async def stop_now() -> None:
            stop.set()
            await asyncio.wait_for(task, READY_TIMEOUT_S)

        return Edge(f"http://127.0.0.1:{port}", port, nats_server.url, actor_host, stop_now)

    try:
        yield start
    finally:
        for stop, _task in running:
            stop.set()
        for _, task in running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, READY_TIMEOUT_S)


@pytest.fixture
async def edge(edge_factory: EdgeFactory) -> Edge:
    return await edge_factory()


@pytest.fixture
def edge_apps(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ASGI app of every edge started after this fixture: the edges run in the test's
    process, so a test can look at what a hub holds for one client."""
    apps: list[Any] = []

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = app_module.create_app(*args, **kwargs)
        apps.append(app)
        return app

    monkeypatch.setattr(server_module, "create_app", create_app)
    return apps


@pytest.fixture
async def fed_edge(edge: Edge) -> Edge:
    """An edge whose actors hold NIFTY (three expiries) after a few market steps."""
    await edge.feed(steps=4)
    return edge


async def metric(edge: Edge, name: str, labels: str | None = None) -> float:
    """The sample of ``name`` with exactly ``labels`` (``'{event="x"}'``); without, the first."""
    async with edge.client() as c:
        text = (await c.get("/metrics")).text
    selector = r"(?:\{[^}]*\})?" if labels is None else re.escape(labels)
    m = re.search(rf"^{name}{selector} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def poll_health(
    c: httpx.AsyncClient, accept: Callable[[httpx.Response], bool]
) -> httpx.Response:
    """The first /health response that ``accept`` takes.

    /health is the only view a test has of what an edge sees inside the server (its NATS
    connection, its Redis/MongoDB probes, the actor hosts' answers), so this polls it, with a
    ceiling, rather than waiting on an event.
    """
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while True:
        r = await c.get("/health")
        if accept(r):
            return r
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(HEALTH_POLL_S)  # see the docstring (noqa: sleep-ok)


async def wait_health(edge: Edge, check: str, prefix: str) -> dict[str, Any]:
    """Wait until /health's ``check`` detail starts with ``prefix``; the body then."""

    def accept(r: httpx.Response) -> bool:
        detail: str = r.json()["checks"].get(check, {}).get("detail", "")
        return detail.startswith(prefix)

    async with edge.client() as c:
        body: dict[str, Any] = (await poll_health(c, accept)).json()
    return body
