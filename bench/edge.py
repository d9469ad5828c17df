"""Edge latency and throughput: feed ``ts`` → Socket.IO ``chain_summary`` at a client, with
1, 100 and 1,000 connected clients, and REST snapshot requests per second.

Every part runs in its own process, as deployed: nats-server, one actor host
(``deltastream actors``), ``--edges`` edge processes (``deltastream edge``; with more than
one they share the port through SO_REUSEPORT, ``DELTASTREAM_HTTP_REUSE_PORT``), client
worker processes of up to 250 connections each, and this orchestrator, which publishes the
synthetic feed (NIFTY, one weekly expiry, ``--rate`` market steps/s, 20 changed strikes per
step) and stamps each message's ``ts`` with its wall clock just before publishing.

Clients are lean engine.io v4 websocket clients written against the protocol (an asyncio
``Protocol`` each: HTTP upgrade, websocket frames, engine.io ping/pong, the Socket.IO
CONNECT and a ``subscribe`` to ``chain:NIFTY:<expiry>``), so that a worker's own parsing does
not dominate what is measured. Latency = the client's wall clock when the frame's last byte
was read − the summary's ``ts`` (same machine, same clock). It is split at the actor's
``published_ns``: ``host`` = published_ns − ts (JetStream, ingress, the chain actor),
``edge`` = receipt − published_ns (NATS to the edge, fan-out, websocket write, client read).
Each phase connects its clients, runs the feed for ``--warmup`` seconds (default none), then
records for ``--seconds``.

REST: ``wrk`` (``apt-get install wrk``) when it is on PATH, else httpx from one process;
the output says which. ``GET /api/analytics/summary/NIFTY?expiry=<E>`` and without the
expiry (answered from the edge's copy of the latest summary while it is fresh), and
``GET /api/analytics/max-pain/NIFTY?expiry=<E>`` (always a request to the chain actor),
while the feed runs::

    python bench/edge.py [--seconds 8] [--warmup 0] [--rate 20] [--clients 1,100,1000] [--edges 1]
                         [--edge-env DELTASTREAM_SNAPSHOT_MAX_AGE_S=0] [--clients-per-worker 250]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import subjects
from actors.feeds.market import SyntheticMarket
from actors.feeds.sink import FeedSink
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS

CLIENTS_PER_WORKER = 250
CONNECTS_IN_FLIGHT = 50
REST_CONNECTIONS = 16
READY_TIMEOUT_S = 120.0

# ---------------------------------------------------------------- lean client (workers)

_SUMMARY = b'42["chain_summary",'


class _Stamps(msgspec.Struct):
    ts: int
    published_ns: int = 0


_stamps = msgspec.json.Decoder(_Stamps)


def _client_frame(opcode: int, data: bytes) -> bytes:
    """A masked client-to-server websocket frame (RFC 6455 §5.3)."""
    n = len(data)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    mask = os.urandom(4)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return head + mask + (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


class _Recorder:
    def __init__(self) -> None:
        self.recording = False
        self.host_ns: list[int] = []
        self.edge_ns: list[int] = []
        self.total_ns: list[int] = []
        self.closed = 0


class _Client(asyncio.Protocol):
    def __init__(self, room: str, rec: _Recorder) -> None:
        self.subscribe = _client_frame(
            1, b"42" + json.dumps(["subscribe", {"room": room}]).encode()
        )
        self.rec = rec
        self.buf = bytearray()
        self.upgraded = False
        self.snapshot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.rec.closed += 1
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError("closed before the snapshot"))

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(buf[:end]).decode(errors="replace"))
            del buf[: end + 4]
            self.upgraded = True
        while len(buf) >= 2:
            n, at = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, at = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + n:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[at : at + n])
            del buf[: at + n]
            self._frame(opcode, payload, now)

    def _frame(self, opcode: int, payload: bytes, now: int) -> None:
        if opcode == 0x9:  # websocket ping
            self.transport.write(_client_frame(0xA, payload))
            return
        if opcode == 0x8:
            self.transport.close()
            return
        if payload.startswith(_SUMMARY):
            if self.rec.recording:
                s = _stamps.decode(payload[len(_SUMMARY) : -1])
                self.rec.total_ns.append(now - s.ts)
                self.rec.host_ns.append(s.published_ns - s.ts)
                self.rec.edge_ns.append(now - s.published_ns)
            elif not self.snapshot.done():
                self.snapshot.set_result(None)
        elif payload == b"2":  # engine.io PING
            self.transport.write(_client_frame(1, b"3"))
        elif payload.startswith(b"0{"):  # engine.io OPEN → Socket.IO CONNECT
            self.transport.write(_client_frame(1, b"40"))
        elif payload.startswith(b"40"):
            self.transport.write(self.subscribe)


async def _worker(port: int, room: str, n: int) -> None:
    loop = asyncio.get_running_loop()
    rec = _Recorder()
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def connect() -> _Client:
        async with gate:
            _, client = await loop.create_connection(lambda: _Client(room, rec), "127.0.0.1", port)
            await asyncio.wait_for(client.snapshot, READY_TIMEOUT_S)
            return client

    clients = await asyncio.gather(*(connect() for _ in range(n)))
    print("READY", flush=True)
    stdin = sys.stdin
    assert (await loop.run_in_executor(None, stdin.readline)).strip() == "GO"
    rec.recording = True
    assert (await loop.run_in_executor(None, stdin.readline)).strip() == "STOP"
    rec.recording = False
    out = {"total": rec.total_ns, "host": rec.host_ns, "edge": rec.edge_ns, "closed": rec.closed}
    print(json.dumps(out), flush=True)
    for c in clients:
        c.transport.close()


async def _rest_httpx(url: str, seconds: float) -> None:
    import httpx

    done = failed = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=10) as client:

        async def loop() -> None:
            nonlocal done, failed
            while time.perf_counter() < deadline:
                r = await client.get(url)
                done += 1
                failed += r.status_code != 200

        await asyncio.gather(*(loop() for _ in range(REST_CONNECTIONS)))
    print(json.dumps({"requests": done, "failed": failed, "seconds": seconds}), flush=True)


# ---------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def _dist(values: list[int]) -> str:
    return f"p50 {_pct(values, 0.5):.1f} ms, p99 {_pct(values, 0.99):.1f} ms"


async def _spawn_self(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 28,
    )  # fmt: skip


class _Feed:
    """Publishes market steps at a fixed rate until stopped; ``ts`` stamped at publish."""

    def __init__(self, sink: FeedSink, market: SyntheticMarket, rate: float) -> None:
        self.sink, self.market, self.rate = sink, market, rate
        self.steps = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        self._stop.set()
        assert self._task is not None
        await self._task
        return self.steps

    async def _run(self) -> None:
        self.steps = 0
        next_at = time.perf_counter()
        while not self._stop.is_set():
            for msg in list(self.market.step(time.time_ns())):
                msg.payload["ts"] = time.time_ns()
                await self.sink.publish(msg.subject, msg.payload)
            self.steps += 1
            next_at += 1 / self.rate
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, next_at - time.perf_counter()))
        await self.sink.flush()


async def _wait_service(nc: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            await nc.request(subjects.service_subject("products"), b"{}", timeout=1)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def _start_edges(n: int, port: int, env: dict[str, str]) -> list[subprocess.Popen[str]]:
    edges = []
    for _ in range(n):
        e = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "edge", "--port", str(port)],
            env={**env, "DELTASTREAM_HTTP_REUSE_PORT": "true"} if n > 1 else env,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert e.stdout is not None
        line = e.stdout.readline()
        if not line.startswith("edge on"):
            raise RuntimeError(f"edge did not start: {line!r}")
        edges.append(e)
    return edges


async def _socket_phase(
    n: int,
    port: int,
    room: str,
    feed: _Feed,
    nc: Any,
    summary_subject: str,
    seconds: float,
    per_worker: int = CLIENTS_PER_WORKER,
    warmup: float = 0.0,
) -> str:
    workers = []
    for start in range(0, n, per_worker):
        size = min(per_worker, n - start)
        workers.append(await _spawn_self("--worker", str(port), room, str(size)))
    for w in workers:
        assert w.stdout is not None
        line = await asyncio.wait_for(w.stdout.readline(), READY_TIMEOUT_S)
        assert line.strip() == b"READY", line
    nats_ns: list[int] = []  # ts → this process's own NATS subscription (no edge involved)

    async def on_summary(msg: Any) -> None:
        nats_ns.append(time.time_ns() - _stamps.decode(msg.data).ts)

    # With `warmup`, the feed runs that long before anything is recorded: the edge has just
    # taken every connection of the phase (bench/RESULTS.md: it made no difference).
    feed.start()
    await asyncio.sleep(warmup)
    sub = await nc.subscribe(summary_subject, cb=on_summary)
    for w in workers:
        assert w.stdin is not None
        w.stdin.write(b"GO\n")
        await w.stdin.drain()
    await asyncio.sleep(seconds)
    steps = await feed.stop()
    await asyncio.sleep(1.0)  # the last step's summaries reach everyone
    await sub.unsubscribe()
    total: list[int] = []
    host: list[int] = []
    edge: list[int] = []
    closed = 0
    for w in workers:
        assert w.stdin is not None and w.stdout is not None
        w.stdin.write(b"STOP\n")
        await w.stdin.drain()
        out = json.loads(await w.stdout.readline())
        total += out["total"]
        host += out["host"]
        edge += out["edge"]
        closed += out["closed"]
        await w.wait()
    if not total:
        return f"{n:>5} clients: no chain_summary received"
    return (
        f"{n:>5} clients: {len(total)} receipts of {len(nats_ns)} summaries x {n} "
        f"({steps} steps), {closed} connections lost; ts → client {_dist(total)}, "
        f"max {max(total) / 1e6:.1f} ms; of which host {_dist(host)}, edge {_dist(edge)}; "
        f"ts → a plain NATS subscriber {_dist(nats_ns)}"
    )


async def _rest_phase(url: str, seconds: float) -> str:
    wrk = shutil.which("wrk")
    if wrk is not None:
        proc = await asyncio.create_subprocess_exec(
            wrk, "-t1", f"-c{REST_CONNECTIONS}", f"-d{seconds:g}s", "--latency", url,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        text = (await proc.communicate())[0].decode()
        rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
        p50 = re.search(r"\s50%\s+(\S+)", text)
        p99 = re.search(r"\s99%\s+(\S+)", text)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        errors = re.search(r"Socket errors: (.*)", text)
        assert rps and p50 and p99, text
        return (
            f"{float(rps.group(1)):,.0f} req/s, latency p50 {p50.group(1)} p99 {p99.group(1)}, "
            f"non-2xx {bad.group(1) if bad else 0}"
            + (f", socket errors: {errors.group(1)}" if errors else "")
            + f" (wrk -t1 -c{REST_CONNECTIONS} -d{seconds:g}s)"
        )
    proc = await _spawn_self("--rest", url, str(seconds))
    assert proc.stdout is not None
    out = json.loads(await proc.stdout.readline())
    await proc.wait()
    return (
        f"{out['requests'] / out['seconds']:,.0f} req/s, failed {out['failed']} "
        f"(httpx, {REST_CONNECTIONS} concurrent keep-alive connections, one process)"
    )


async def main(args: argparse.Namespace) -> None:
    import nats

    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "js") as server:
        env = {
            **os.environ,
            "DELTASTREAM_NATS_URL": server.url,
            "DELTASTREAM_LOG_LEVEL": "warning",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        actors = subprocess.Popen([sys.executable, "-m", "edge.cli", "actors"], env=env)
        port = _free_port()
        edges: list[subprocess.Popen[str]] = []
        nc = await nats.connect(server.url)
        try:
            await _wait_service(nc)
            edge_env = dict(kv.split("=", 1) for kv in args.edge_env)
            edges = _start_edges(args.edges, port, {**env, **edge_env})
            sink = FeedSink(nc)
            market = SyntheticMarket(
                [DEFAULT_PRODUCTS["NIFTY"]], seed=5, start_ns=time.time_ns(), rows_per_batch=20,
                weekly=1, monthly=0,
            )  # fmt: skip
            for msg in market.open():
                await sink.publish(msg.subject, msg.payload)
            await sink.flush()
            expiry = market.chains["NIFTY"][0].expiry.isoformat()
            summary_subject = subjects.analytics_summary("NIFTY", expiry)
            await _wait_summary(port, expiry)
            print(
                f"{args.edges} edge process(es) on port {port} {edge_env or ''}, one actor host, "
                f"nats-server; {args.rate:g} steps/s, room chain:NIFTY:{expiry}",
                flush=True,
            )
            feed = _Feed(sink, market, args.rate)
            for n in args.clients:
                line = await _socket_phase(
                    n, port, f"chain:NIFTY:{expiry}", feed, nc, summary_subject, args.seconds,
                    args.clients_per_worker, args.warmup,
                )  # fmt: skip
                print(f"{line} [load {_load()}]", flush=True)
            api = f"http://127.0.0.1:{port}/api/analytics"
            base = f"{api}/summary/NIFTY"
            # The summary is usually served from the edge's copy of the latest ANALYTICS
            # message; max pain always asks the chain actor (a NATS request/reply).
            for url in (f"{base}?expiry={expiry}", base, f"{api}/max-pain/NIFTY?expiry={expiry}"):
                feed.start()
                line = await _rest_phase(url, args.seconds)
                await feed.stop()
                print(f"REST GET {url.split(str(port))[1]}: {line} [load {_load()}]", flush=True)
        finally:
            await nc.close()
            for p in [*edges, actors]:
                p.terminate()
            for p in [*edges, actors]:
                p.wait()


async def _wait_summary(port: int, expiry: str) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        while (await c.get(f"/api/analytics/summary/NIFTY?expiry={expiry}")).status_code != 200:
            assert time.monotonic() < deadline, "no summary from the edge"
            await asyncio.sleep(0.1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        import uvloop  # the load generator's own cost should be as small as it can be

        uvloop.run(_worker(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--rest":
        asyncio.run(_rest_httpx(sys.argv[2], float(sys.argv[3])))
    else:
        p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        p.add_argument("--seconds", type=float, default=8.0)
        p.add_argument("--warmup", type=float, default=0.0,
                       help="seconds of feed before recording starts")  # fmt: skip
        p.add_argument("--rate", type=float, default=20.0, help="market steps per second")
        p.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")],
                       default=[1, 100, 1000])  # fmt: skip
        p.add_argument("--edges", type=int, default=1, help="edge processes (SO_REUSEPORT)")
        p.add_argument("--clients-per-worker", type=int, default=CLIENTS_PER_WORKER,
                       help="connections per client worker process; each reads its sockets "
                            "one after another, which adds to the latency it measures")  # fmt: skip
        p.add_argument("--edge-env", action="append", default=[], metavar="KEY=VALUE",
                       help="extra environment of the edges (DELTASTREAM_ settings)")  # fmt: skip
        ns = p.parse_args()
        print(f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
              f"python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
              f"load average {_load()}",
              flush=True)  # fmt: skip
        asyncio.run(main(ns))
