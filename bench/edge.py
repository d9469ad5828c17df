"""Edge latency and throughput: feed ``ts`` → Socket.IO ``chain_summary`` at a client, with
1, 100 and 1,000 connected clients, and REST snapshot requests per second.

One process runs nats-server (child), the actor host and the edge (uvicorn, in-process, one
event loop). Clients run in separate worker processes (so they do not share the edge's
loop), each holding up to 250 raw engine.io websocket clients (``tests.edge.sio.RawEngineIO``:
the Socket.IO protocol by hand, no python-socketio client per connection). Latency is the
client's wall clock at receipt minus the summary's ``ts``, which is the feed publisher's
wall clock when it built the message (same machine, same clock)::

    python bench/edge.py [--seconds 8] [--rate 20] [--clients 1,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.feeds.market import SyntheticMarket
from actors.feeds.sink import FeedSink
from actors.host import ActorHost
from actors.log_setup import configure_logging
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.settings import Settings
from edge.server import serve

CLIENTS_PER_WORKER = 250
REST_CONCURRENCY = 16


# ---------------------------------------------------------------- worker process


async def _worker(port: int, room: str, n: int) -> None:
    from tests.edge.sio import RawEngineIO

    clients = []
    for _ in range(n):
        c = RawEngineIO(port, rcvbuf=1 << 20)
        await c.connect()
        await c.emit("subscribe", {"room": room})
        clients.append(c)
    for c in clients:
        await c.next_event("chain_summary")  # the snapshot on subscribe
    latencies: list[int] = []

    async def listen(c: RawEngineIO) -> None:
        while True:
            summary = await c.next_event("chain_summary")
            latencies.append(time.time_ns() - summary["ts"])

    tasks = [asyncio.create_task(listen(c)) for c in clients]
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "STOP"
    for t in tasks:
        t.cancel()
    print(json.dumps(latencies), flush=True)


async def _rest_worker(url: str, seconds: float) -> None:
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                r = await client.get("/api/analytics/summary/NIFTY")
                assert r.status_code == 200
                done += 1

        await asyncio.gather(*(loop() for _ in range(REST_CONCURRENCY)))
    print(json.dumps({"requests": done, "seconds": seconds}), flush=True)


# ---------------------------------------------------------------- orchestration


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _feed(sink: FeedSink, market: SyntheticMarket, rate: float, seconds: float) -> int:
    steps = int(rate * seconds)
    start = time.perf_counter()
    for i in range(steps):
        for msg in market.step(time.time_ns()):
            await sink.publish(msg.subject, msg.payload)
        await sink.flush()
        await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
    return steps


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


async def main(args: argparse.Namespace) -> list[str]:
    import nats

    lines = []
    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "js") as server:
        settings = msgspec.structs.replace(
            Settings(nats_url=server.url, log_json=True, log_level="warning"), http_port=0
        )
        host = ActorHost(settings, DEFAULT_PRODUCTS)
        await host.start()
        stop, ready, bound = asyncio.Event(), asyncio.Event(), []
        edge = asyncio.create_task(serve(settings, stop=stop, ready=ready, bound=bound))
        await ready.wait()
        port = bound[0]
        nc = await nats.connect(server.url)
        sink = FeedSink(nc)
        market = SyntheticMarket(
            [DEFAULT_PRODUCTS["NIFTY"]], seed=5, start_ns=time.time_ns(), rows_per_batch=20,
            weekly=1, monthly=0,
        )  # fmt: skip
        for msg in market.open():
            await sink.publish(msg.subject, msg.payload)
        await sink.flush()
        expiry = market.chains["NIFTY"][0].expiry.isoformat()
        room = f"chain:NIFTY:{expiry}"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            while (await c.get(f"/api/analytics/summary/NIFTY?expiry={expiry}")).status_code != 200:
                await asyncio.sleep(0.05)
        for n in args.clients:
            workers = []
            for start in range(0, n, CLIENTS_PER_WORKER):
                size = min(CLIENTS_PER_WORKER, n - start)
                workers.append(await _spawn("--worker", str(port), room, str(size)))
            for w in workers:
                assert w.stdout is not None
                assert (await w.stdout.readline()).strip() == b"READY"
            steps = await _feed(sink, market, args.rate, args.seconds)
            latencies: list[int] = []
            for w in workers:
                assert w.stdin is not None and w.stdout is not None
                w.stdin.write(b"STOP\n")
                await w.stdin.drain()
                latencies.extend(json.loads(await w.stdout.read()))  # until the worker exits
                await w.wait()
            if not latencies:
                line = f"{n:>5} clients: no chain_summary received (see the log)"
                print(line, flush=True)
                lines.append(line)
                continue
            line = (
                f"{n:>5} clients: {len(latencies)} chain_summary receipts over {steps} steps, "
                f"p50 {_pct(latencies, 0.5):.1f} ms, p99 {_pct(latencies, 0.99):.1f} ms, "
                f"max {max(latencies) / 1e6:.1f} ms, "
                f"mean {statistics.fmean(latencies) / 1e6:.1f} ms"
            )
            print(line, flush=True)
            lines.append(line)
        rest = await _spawn("--rest", f"http://127.0.0.1:{port}", str(args.seconds))
        assert rest.stdout is not None
        out = json.loads(await rest.stdout.readline())
        await rest.wait()
        line = (
            f"REST GET /api/analytics/summary/NIFTY: {out['requests'] / out['seconds']:.0f} req/s "
            f"({REST_CONCURRENCY} concurrent keep-alive connections, one client process)"
        )
        print(line, flush=True)
        lines.append(line)
        await nc.close()
        stop.set()
        await edge
        await host.stop()
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        asyncio.run(_worker(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--rest":
        asyncio.run(_rest_worker(sys.argv[2], float(sys.argv[3])))
    else:
        p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        p.add_argument("--seconds", type=float, default=8.0)
        p.add_argument("--rate", type=float, default=20.0, help="market steps per second")
        p.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")],
                       default=[1, 100, 1000])  # fmt: skip
        ns = p.parse_args()
        configure_logging(level="warning", json=False)
        print(f"{platform.node()} {platform.processor() or platform.machine()}, "
              f"python {platform.python_version()}", flush=True)  # fmt: skip
        asyncio.run(main(ns))
