"""The analytics a run ends with, read back so that two runs can be compared: the snapshot
service's view of every chain and product (minus what differs run to run), and the order of
what ANALYTICS stored per subject."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig

from actors import subjects
from actors.feeds.market import FeedMessage
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from tests.conftest import feed_last_seq, test_settings, wait_handled
from tests.feeding import publish

VOLATILE = ("published_ns",)
# A ceiling, not an expectation: a partition changing owner answers 503 meanwhile.
SERVICE_WAIT_S = 60.0


def chains_of(messages: Sequence[FeedMessage]) -> list[tuple[str, str]]:
    return sorted(
        {(m.payload["product"], m.payload["expiry"]) for m in messages if "expiry" in m.payload}
    )


def final_seq_per_chain(messages: Sequence[FeedMessage]) -> dict[str, int]:
    """Subject of each chain's summary → FEED sequence of the last message that touches it
    (messages are FEED's first ones, in order)."""
    last: dict[str, int] = {}
    chains = chains_of(messages)
    for seq, m in enumerate(messages, 1):
        for product, exp in chains:
            if m.payload["product"] == product and m.payload.get("expiry") in (None, exp):
                last[subjects.analytics_summary(product, exp)] = seq
    return last


async def stored_count(js: Any, subject: str) -> int:
    """How many messages ANALYTICS holds on ``subject``."""
    info = await js.stream_info(subjects.ANALYTICS_STREAM, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


async def service_request(nc: Any, endpoint: str, body: dict[str, Any]) -> Any:
    """Ask the snapshot service, retrying while a partition changes owner (503)."""
    deadline = asyncio.get_running_loop().time() + SERVICE_WAIT_S
    while True:
        try:
            reply = await nc.request(
                subjects.service_subject(endpoint), msgspec.json.encode(body), timeout=10
            )
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            reply = None
        code = (reply.headers or {}).get("Nats-Service-Error-Code") if reply else "503"
        if code is None and reply is not None:
            return msgspec.json.decode(reply.data)
        if code != "503" or asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{endpoint} {body}: {code} {reply and reply.headers}")
        # Back off like any client of a service whose partition is changing owner.
        await asyncio.sleep(0.2)  # a client's back-off (noqa: sleep-ok)


def strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


async def final_state(nc: Any, chains: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Everything the snapshot service says about ``chains`` and their products."""
    out: dict[str, Any] = {}
    for product, exp in chains:
        body = {"product": product, "expiry": exp}
        out[f"summary {product} {exp}"] = strip_volatile(await service_request(nc, "summary", body))
        out[f"chain {product} {exp}"] = strip_volatile(await service_request(nc, "chain", body))
        out[f"max_pain {product} {exp}"] = await service_request(nc, "max_pain", body)
    for product in sorted({p for p, _ in chains}):
        out[f"underlying {product}"] = strip_volatile(
            await service_request(nc, "underlying", {"product": product})
        )
        out[f"ohlc {product}"] = await service_request(
            nc, "ohlc", {"product": product, "interval": "1m", "limit": 500}
        )
    return out


async def summaries_in_stream(nc: Any) -> dict[str, list[int]]:
    """Per subject, in ANALYTICS order: every stored summary's ``stream_seq`` and every
    underlying tick's ``seq`` (the numbers that must only go up)."""
    js = nc.jetstream()
    info = await js.add_consumer(
        subjects.ANALYTICS_STREAM,
        ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            filter_subjects=[
                "deltastream.analytics.summary.>",
                "deltastream.analytics.underlying.>",
            ],
            mem_storage=True,
            inactive_threshold=30.0,
        ),
    )
    sub = await js.pull_subscribe_bind(consumer=info.name, stream=subjects.ANALYTICS_STREAM)
    seqs: dict[str, list[int]] = defaultdict(list)
    remaining = info.num_pending
    try:
        while remaining:
            batch = await sub.fetch(min(500, remaining), timeout=10)
            remaining -= len(batch)
            for m in batch:
                body = msgspec.json.decode(m.data)
                seqs[m.subject].append(body.get("stream_seq", body["seq"]))
    finally:
        await sub.unsubscribe()
    return seqs


def assert_in_order_once(seqs: dict[str, list[int]]) -> None:
    for subject, values in seqs.items():
        assert values == sorted(set(values)), f"{subject} published out of order or twice"


async def final_state_at(url: str, chains: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``final_state`` over a connection of its own."""
    nc = await nats.connect(url)
    try:
        return await final_state(nc, chains)
    finally:
        await nc.close()


async def summaries_at(url: str) -> dict[str, list[int]]:
    """``summaries_in_stream`` over a connection of its own."""
    nc = await nats.connect(url)
    try:
        return await summaries_in_stream(nc)
    finally:
        await nc.close()


async def uninterrupted(store: Path, messages: Sequence[FeedMessage]) -> dict[str, Any]:
    """The final state of ``messages`` through one actor host that was never interrupted
    (its own nats-server, JetStream in ``store``): what a disturbed run must end with."""
    with NatsServer(store) as server:
        host = ActorHost(test_settings(server.url), DEFAULT_PRODUCTS)
        await host.start()
        try:
            await publish(server.url, list(messages))
            await wait_handled(host, await feed_last_seq(server.url))
            return await final_state_at(server.url, chains_of(messages))
        finally:
            await host.stop()
