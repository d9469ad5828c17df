"""Quote rows per second through one actor host with acks, and feed-to-summary latency.

Run from the repository root: ``python bench/pipeline.py [--rows-per-msg 100]``.

1. Throughput: a backlog of quotes batches is written to FEED with the host stopped; the
   host is then started and timed until every chain's summary reflects the last message
   (the whole path: fetch, validate, actors apply + recompute + publish, ack).
2. Latency: with the host running, a publisher offers a fixed rate of quote rows whose
   ``ts`` is the wall clock at publish; a subscriber records now − ts of every summary.

nats-server, the actor host (a separate process, as deployed) and the load generator share
this machine's cores, so the numbers are for the whole system on one box.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import nats

from actors import subjects
from actors.feeds.market import SyntheticMarket
from actors.feeds.sink import FeedSink
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.settings import Settings
from actors.streams import ensure_streams

NS = 1_000_000_000


def _host(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DELTASTREAM_NATS_URL": url, "DELTASTREAM_LOG_LEVEL": "warning"}
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "actors"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _market(rows: int, start_ns: int) -> SyntheticMarket:
    # one product, 5 expiries of 101 strikes; each quotes message changes `rows` rows
    return SyntheticMarket(
        [DEFAULT_PRODUCTS["NIFTY"]],
        seed=3,
        start_ns=start_ns,
        rows_per_batch=rows // 2,
        weekly=4,
        monthly=1,
    )


async def _wait_summaries(nc: nats.NATS, final: dict[str, int], timeout_s: float) -> float:
    """Wait until every chain's summary reflects its last message; returns the time from
    the first summary to then (the host's start-up excluded)."""
    seen: dict[str, int] = {}
    done = asyncio.Event()
    first: list[float] = []

    async def cb(msg: nats.aio.msg.Msg) -> None:
        if not first:
            first.append(time.perf_counter())
        seen[msg.subject] = max(
            seen.get(msg.subject, 0), msgspec.json.decode(msg.data)["stream_seq"]
        )
        if all(seen.get(s, 0) >= q for s, q in final.items()):
            done.set()

    sub = await nc.subscribe("deltastream.analytics.summary.>", cb=cb)
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        await sub.unsubscribe()
    return time.perf_counter() - first[0]


async def throughput(url: str, *, rows: int, seconds_of_market: int) -> None:
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream(), Settings(nats_url=url))
    start = 1_795_581_000 * NS
    m = _market(rows, start)
    sink = FeedSink(nc.jetstream())
    final: dict[str, int] = {}
    n_rows = n_msgs = 0
    seq = 0
    steps = seconds_of_market * 4
    for msg in [*m.open(), *(x for i in range(steps) for x in m.step(start + (i + 1) * NS // 4))]:
        await sink.publish(msg.subject, msg.payload)
        seq += 1
        if "expiry" in msg.payload:
            final[subjects.analytics_summary("NIFTY", msg.payload["expiry"])] = seq
            n_rows += len(msg.payload["quotes"])
        else:
            for s in final:
                final[s] = seq
        n_msgs += 1
    await sink.flush()
    host = _host(url)
    try:
        elapsed = await _wait_summaries(nc, final, timeout_s=600)
    finally:
        host.terminate()
        host.wait()
        await nc.close()
    print(
        f"throughput: {n_msgs} messages, {n_rows} quote rows in {elapsed:.2f} s "
        f"(from the first summary to the last) = {n_rows / elapsed:,.0f} rows/s, "
        f"{n_msgs / elapsed:,.0f} msgs/s"
    )


async def latency(url: str, *, rows: int, rate_rows_s: int, seconds: int) -> None:
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream(), Settings(nats_url=url))
    host = _host(url)
    lat_ms: list[float] = []
    host_ms: list[float] = []  # ts → the actor's publish (the host's share)
    try:
        ready = asyncio.Event()

        async def cb(msg: nats.aio.msg.Msg) -> None:
            body = msgspec.json.decode(msg.data)
            lat_ms.append((time.time_ns() - body["ts"]) / 1e6)
            host_ms.append((body["published_ns"] - body["ts"]) / 1e6)
            ready.set()

        await nc.subscribe("deltastream.analytics.summary.>", cb=cb)
        sink = FeedSink(nc.jetstream())
        m = _market(rows, time.time_ns())
        for msg in m.open():
            msg.payload["ts"] = time.time_ns()
            await sink.publish(msg.subject, msg.payload)
        await asyncio.wait_for(ready.wait(), 120)  # host up and chains created
        lat_ms.clear()
        host_ms.clear()
        per_step_rows = rows * len(m.chains["NIFTY"])
        period = per_step_rows / rate_rows_s
        t_end = time.monotonic() + seconds
        next_at = time.monotonic()
        sent_rows = 0
        while time.monotonic() < t_end:
            for msg in list(m.step(time.time_ns())):
                # Stamp at publish: building the step's quotes takes the generator a few ms,
                # which is not the pipeline's latency.
                msg.payload["ts"] = time.time_ns()
                await sink.publish(msg.subject, msg.payload)
                sent_rows += len(msg.payload.get("quotes", ()))
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await sink.flush()
        await nc.flush()
    finally:
        host.terminate()
        host.wait()
        await nc.close()
    lat_ms.sort()
    q = statistics.quantiles(lat_ms, n=100)
    h = statistics.quantiles(host_ms, n=100)
    print(
        f"latency at {rate_rows_s:,} rows/s offered ({sent_rows / seconds:,.0f} sent): "
        f"{len(lat_ms)} summaries, feed ts → summary received: p50 {q[49]:.2f} ms, "
        f"p99 {q[98]:.2f} ms, max {lat_ms[-1]:.2f} ms; "
        f"of which feed ts → actor publish: p50 {h[49]:.2f} ms, p99 {h[98]:.2f} ms"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows-per-msg", type=int, default=100)
    ap.add_argument("--market-seconds", type=int, default=180)
    ap.add_argument("--rate", type=int, default=20_000, help="offered quote rows/s")
    ap.add_argument("--seconds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with NatsServer(Path(tmp) / "a") as server:
            await throughput(
                server.url, rows=args.rows_per_msg, seconds_of_market=args.market_seconds
            )
        with NatsServer(Path(tmp) / "b") as server:
            await latency(
                server.url, rows=args.rows_per_msg, rate_rows_s=args.rate, seconds=args.seconds
            )


if __name__ == "__main__":
    asyncio.run(main())
