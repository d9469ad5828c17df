"""Soak: the whole system as deployed, for minutes, under Socket.IO and REST load.

Processes (each its own, as ``deltastream`` runs them): nats-server, the actor host
(``deltastream actors``), the edge (``deltastream edge``), the synthetic feed (``deltastream
feed synthetic``, every default product, at ``--rate`` market steps a second, 20 changed
strikes per chain per step), Socket.IO client workers (raw engine.io websocket clients,
``tests.edge.sio.RawEngineIO``; half on ``chain:NIFTY``, a quarter on ``chain:BANKNIFTY``,
a quarter on ``general`` + ``chain:FINNIFTY``) and a REST poller (a dashboard's routes,
round-robin, ``--rest-per-s`` requests a second).

Printed each minute: RSS of every process, DLQ size, FEED and ingress progress, socket
clients; at the end, per minute, the feed ``ts`` → client ``chain_summary`` latency (p50,
p99, max; the feed's wall clock against the client's, same machine) and the REST latency.

RSS is sampled every 5 s; the table shows each minute's median, and for nats-server also
its Go heap (from its profiling port): ``live`` is the heap in use after the last
collection's marking (``NextGC`` / 2), the memory that a leak would make grow.

Warm-up (``--warmup full``, the default): the load runs until ANALYTICS holds its full
history on every summary and tick subject (``DELTASTREAM_ANALYTICS_HISTORY_PER_SUBJECT``
messages each, about 8.5 minutes at the default rate; at most ``--warmup-max`` minutes), then
``--minutes`` more are measured. nats-server's memory follows what its streams hold, so until
they reach their limits it grows by design, as it would in the first minutes of a trading
day; a leak is growth after that. The warm-up minutes are printed too, with nats-server's
growth over them. ``--warmup none`` measures from a cold start, from minute 2.

Pass, over the measured minutes: the median RSS of each deltastream process over the last
minute is less than 10 % above its median over the first measured minute (minute 2 with
``--warmup none``; a median, because nats-server's RSS swings with its garbage collector,
whose heap goal is twice the live heap, by ±10 % within a minute); the p99 of the last
three minutes is at most 1.5 x that of measured minutes 2-4 (stable, no upward drift); every
DLQ entry has an explained reason (none is expected from the synthetic feed)::

    python bench/soak.py [--minutes 10] [--warmup full|none] [--warmup-max 20] [--rate 4]
                         [--clients 200] [--rest-per-s 5] [--rest-routes /api/...,/health]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors import subjects  # noqa: E402
from actors.natsserver import NatsServer  # noqa: E402
from actors.settings import Settings  # noqa: E402

CLIENTS_PER_WORKER = 50
REST_ROUTES = (
    "/api/data/chain/NIFTY?limit=20",
    "/api/analytics/summary/NIFTY",
    "/api/analytics/pcr/NIFTY?history=true&limit=50",
    "/api/data/underlying/NIFTY?limit=20",
    "/api/analytics/volatility-surface/NIFTY",
    "/api/analytics/max-pain/BANKNIFTY",
    "/api/data/products",
    "/health",
)
_SUMMARY_FRAME = '42["chain_summary",'
_RSS_EVERY_S = 5.0
# Reasons the synthetic feed can explain: a weekly expiry passing 15:30 IST during the run.
EXPLAINED_DLQ = {"expired"}


def _rooms(i: int) -> list[str]:
    if i % 4 in (0, 1):
        return ["chain:NIFTY"]
    if i % 4 == 2:
        return ["chain:BANKNIFTY"]
    return ["general", "chain:FINNIFTY"]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ---------------------------------------------------------------- worker processes


async def _socket_worker(port: int, first: int, n: int) -> None:
    from tests.edge.sio import RawEngineIO

    clients = []
    for i in range(first, first + n):
        c = RawEngineIO(port, rcvbuf=1 << 20)
        await c.connect()
        for room in _rooms(i):
            await c.emit("subscribe", {"room": room})
        clients.append(c)
    for c in clients:
        await c.next_event("chain_summary")  # the snapshot on subscribe
    print("READY", flush=True)
    t0_ns = int((await asyncio.to_thread(sys.stdin.readline)).split()[1])  # "GO <t0_ns>"
    by_minute: dict[int, list[float]] = defaultdict(list)
    received = 0

    async def listen(c: RawEngineIO) -> None:
        # Decode only the summaries: the clients must not be the bottleneck they measure.
        nonlocal received
        while True:
            text = await c.recv(timeout_s=None)
            if not text.startswith(_SUMMARY_FRAME):
                continue
            now = time.time_ns()
            ts = json.loads(text[2:])[1]["ts"]
            by_minute[(now - t0_ns) // 60_000_000_000].append((now - ts) / 1e6)
            received += 1

    tasks = [asyncio.create_task(listen(c)) for c in clients]
    await asyncio.to_thread(sys.stdin.readline)  # "STOP"
    alive = sum(not t.done() for t in tasks)
    for t in tasks:
        t.cancel()
    print(json.dumps({"alive": alive, "received": received, "by_minute": by_minute}), flush=True)


async def _rest_worker(url: str, per_s: float, routes: list[str]) -> None:
    print("READY", flush=True)
    t0 = time.monotonic()
    by_minute: dict[int, list[float]] = defaultdict(list)
    statuses: Counter[int] = Counter()
    stop = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        i = 0
        while not stop.done():
            route = routes[i % len(routes)]
            i += 1
            started = time.monotonic()
            try:
                r = await client.get(route)
                statuses[r.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1
            done = time.monotonic()
            by_minute[int((started - t0) // 60)].append((done - started) * 1000)
            await asyncio.wait({stop}, timeout=max(0.0, 1 / per_s - (done - started)))
    print(json.dumps({"statuses": statuses, "by_minute": by_minute}), flush=True)


# ---------------------------------------------------------------- orchestration


def _edge_counters(metrics: str) -> dict[str, Any]:
    """From the edge's /metrics: summary feed-latency buckets, messages out, conflated."""
    buckets: dict[float, float] = {}
    out = conflated = clients = 0.0
    for line in metrics.splitlines():
        if line.startswith('deltastream_edge_feed_latency_seconds_bucket{kind="summary"'):
            le = line.split('le="')[1].split('"')[0]
            buckets[float(le)] = float(line.split()[-1])
        elif line.startswith("deltastream_edge_socket_messages_out_total"):
            out += float(line.split()[-1])
        elif line.startswith("deltastream_edge_socket_messages_conflated_total"):
            conflated += float(line.split()[-1])
        elif line.startswith("deltastream_edge_socket_clients "):
            clients = float(line.split()[-1])
    return {"buckets": buckets, "out": out, "conflated": conflated, "clients": clients}


def _bucket_p99(now: dict[float, float], before: dict[float, float]) -> str:
    """The upper bound of the bucket holding the 99th percentile of this minute's samples."""
    delta = {le: now[le] - before.get(le, 0.0) for le in sorted(now)}
    total = delta.get(float("inf"), 0.0)
    if not total:
        return "-"
    le = next(le for le, n in delta.items() if n >= 0.99 * total)
    return f"<= {le:g} s" if le != float("inf") else "> 30 s"


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _go_heap(http: httpx.AsyncClient, port: int) -> str:
    """nats-server's Go heap from its profiling port: allocated now / live (NextGC / 2)."""
    text = (await http.get(f"http://127.0.0.1:{port}/debug/pprof/heap?debug=1")).text
    stats = dict(
        line[2:].split(" = ", 1)
        for line in text.splitlines()
        if line.startswith("# ") and " = " in line
    )
    alloc, goal = int(stats["HeapAlloc"]), int(stats["NextGC"])
    return f"{alloc / 2**20:.0f}/{goal / 2**21:.0f} MiB"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _spawn(*argv: str, env: dict[str, str], log: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        limit=1 << 28,  # a worker's report is one (long) JSON line
    )


async def _line(proc: asyncio.subprocess.Process, timeout_s: float = 120.0) -> str:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
    if not raw:
        raise RuntimeError(f"process {proc.pid} exited (see the log)")
    return raw.decode().strip()


async def _tell(proc: asyncio.subprocess.Process, text: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(text.encode() + b"\n")
    await proc.stdin.drain()


async def _health(nc: Any) -> dict[str, Any]:
    reply = await nc.request(subjects.service_subject("health"), b"{}", timeout=10)
    return msgspec.json.decode(reply.data)  # type: ignore[no-any-return]


async def _history_full(js: Any, limit: int) -> bool:
    """Whether every summary and tick subject of ANALYTICS holds ``limit`` messages."""
    info = await js.stream_info(
        subjects.ANALYTICS_STREAM, subjects_filter=f"{subjects.PREFIX}.analytics.>"
    )
    kept = [
        n
        for subject, n in (info.state.subjects or {}).items()
        if subject.split(".")[2] in ("summary", "underlying")
    ]
    return bool(kept) and min(kept) >= limit


async def _dlq_reasons(js: Any) -> Counter[str]:
    from nats.js.api import AckPolicy, ConsumerConfig

    reasons: Counter[str] = Counter()
    info = await js.add_consumer(
        subjects.DLQ_STREAM, ConsumerConfig(ack_policy=AckPolicy.NONE, mem_storage=True)
    )
    if not info.num_pending:
        return reasons
    sub = await js.pull_subscribe_bind(consumer=info.name, stream=subjects.DLQ_STREAM)
    remaining = info.num_pending
    while remaining:
        for m in await sub.fetch(min(500, remaining), timeout=10):
            remaining -= 1
            reasons[(m.headers or {}).get("Deltastream-Reason", "?")] += 1
    return reasons


async def soak(args: argparse.Namespace) -> int:
    warmup = "until ANALYTICS is full" if args.warmup == "full" else "none"
    print(f"soak: {args.minutes} min measured (warm-up: {warmup}), feed {args.rate:g} steps/s "
          f"(every default product), {args.clients} Socket.IO clients, "
          f"REST {args.rest_per_s:g} req/s")  # fmt: skip
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "soak.log").open("wb") as log:
        prof_port = _free_port()
        server = NatsServer(Path(tmp) / "js", extra_args=("--profile", str(prof_port)))
        await asyncio.to_thread(server.start)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DELTASTREAM_NATS_URL": server.url,
            "DELTASTREAM_LOG_LEVEL": "warning",
        }
        history_limit = Settings.from_env(env).analytics_history_per_subject
        py = sys.executable
        procs: dict[str, asyncio.subprocess.Process] = {}
        workers: list[asyncio.subprocess.Process] = []
        nc = await nats.connect(server.url)
        try:
            procs["actors"] = await _spawn(py, "-m", "edge.cli", "actors", env=env, log=log)
            procs["edge"] = await _spawn(
                py, "-m", "edge.cli", "edge", "--port", str(port), env=env, log=log
            )
            await _line(procs["edge"])  # "edge on http://..."
            deadline = time.monotonic() + 120
            while True:  # the actor host answers once it has started
                try:
                    await _health(nc)
                    break
                except nats.errors.Error:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            procs["feed"] = await _spawn(
                py, "-m", "edge.cli", "feed", "synthetic", "--rate", str(args.rate),
                env=env, log=log,
            )  # fmt: skip
            while (await _health(nc))["chains"] < 10:  # every default chain is live
                await asyncio.sleep(0.2)
            for first in range(0, args.clients, CLIENTS_PER_WORKER):
                n = min(CLIENTS_PER_WORKER, args.clients - first)
                w = await _spawn(
                    py, __file__, "--socket-worker", str(port), str(first), str(n),
                    env=env, log=log,
                )  # fmt: skip
                workers.append(w)
            for w in workers:
                assert await _line(w) == "READY"
            rest = await _spawn(
                py, __file__, "--rest-worker", url, str(args.rest_per_s), args.rest_routes,
                env=env, log=log,
            )  # fmt: skip
            assert await _line(rest) == "READY"
            t0_ns = time.time_ns()
            for w in workers:
                await _tell(w, f"GO {t0_ns}")

            pids = {name: p.pid for name, p in procs.items()}
            assert server.process is not None
            pids["nats-server"] = server.process.pid
            pids["rest poller"] = rest.pid
            for i, w in enumerate(workers):
                pids[f"clients {i}"] = w.pid
            at_start = {name: _rss_mib(pid) for name, pid in pids.items()}
            # per minute, the samples taken in it (index 0: the minute before the load)
            rss: dict[str, list[list[float]]] = {n: [[v]] for n, v in at_start.items()}
            go_heap: list[str] = []
            js = nc.jetstream()
            http = httpx.AsyncClient(base_url=url, timeout=30)
            edge_before = _edge_counters((await http.get("/metrics")).text)
            edge_rows: list[str] = []
            header = (
                f"{'min':>3} {'load':>5} {'DLQ':>4} {'FEED seq':>9} {'handled':>9} "
                f"{'FEED MiB':>8} {'ANLT MiB':>8}  RSS MiB"
            )
            print(header + " (median of the minute)  " + " ".join(f"{n}" for n in pids))
            # The first measured minute; None while warming up.
            first: int | None = 1 if args.warmup == "none" else None
            minute = 0
            while first is None or minute < first + args.minutes - 1:
                minute += 1
                for name in pids:
                    rss[name].append([])
                end_s = t0_ns / 1e9 + 60 * minute
                while (left := end_s - time.time()) > 0:
                    await asyncio.sleep(min(_RSS_EVERY_S, left))
                    for name, pid in pids.items():
                        rss[name][minute].append(_rss_mib(pid))
                go_heap.append(await _go_heap(http, prof_port))
                dlq = (await js.stream_info(subjects.DLQ_STREAM)).state.messages
                feed_state = (await js.stream_info(subjects.FEED_STREAM)).state
                feed, feed_mib = feed_state.last_seq, feed_state.bytes / 2**20
                analytics_mib = (
                    await js.stream_info(subjects.ANALYTICS_STREAM)
                ).state.bytes / 2**20
                handled = (await _health(nc))["ingress"]["handled_seq"]
                phase = ""
                if first is None:
                    phase = "  (warm-up)"
                    full = await _history_full(js, history_limit)
                    if full or minute >= args.warmup_max:
                        first = minute + 1
                        phase = f"  (warm-up; ANALYTICS {'full' if full else 'NOT full'})"
                edge_now = _edge_counters((await http.get("/metrics")).text)
                edge_rows.append(
                    f"{minute:>3} {_bucket_p99(edge_now['buckets'], edge_before['buckets']):>10} "
                    f"{edge_now['out'] - edge_before['out']:>10,.0f} "
                    f"{edge_now['conflated'] - edge_before['conflated']:>10,.0f} "
                    f"{edge_now['clients']:>7.0f}"
                )
                edge_before = edge_now
                print(
                    f"{minute:>3} {os.getloadavg()[0]:>5.2f} {dlq:>4} {feed:>9} {handled:>9} "
                    f"{feed_mib:>8.1f} {analytics_mib:>8.1f}  "
                    + " ".join(f"{statistics.median(rss[n][minute]):.0f}" for n in pids)
                    + f"  nats-server Go heap {go_heap[-1]}{phase}",
                    flush=True,
                )
            socket_clients = edge_before["clients"]
            await http.aclose()
            for p in (*workers, rest):
                await _tell(p, "STOP")
            reports = [json.loads(await _line(w)) for w in workers]
            rest_report = json.loads(await _line(rest))
            reasons = await _dlq_reasons(js)
        finally:
            await nc.close()
            for p in (*workers, *procs.values()):
                if p.returncode is None:
                    p.terminate()
            for p in (*workers, *procs.values()):
                await p.wait()
            await asyncio.to_thread(server.stop)

    assert first is not None
    lat: dict[int, list[float]] = defaultdict(list)
    for r in reports:
        for minute, values in r["by_minute"].items():
            lat[int(minute)].extend(values)
    print(f"\nSocket.IO: {sum(r['received'] for r in reports):,} chain_summary receipts; "
          f"listeners alive at the end {sum(r['alive'] for r in reports)}/{args.clients}; "
          f"edge reports {socket_clients} clients")  # fmt: skip
    print(f"{'min':>3} {'receipts':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   REST: "
          f"{'n':>4} {'p99 ms':>8}")  # fmt: skip
    p99s = []
    for minute in range(len(rss["nats-server"]) - 1):
        values = lat.get(minute, [])
        rest_values = rest_report["by_minute"].get(str(minute), [])
        p99 = _pct(values, 0.99)
        p99s.append(p99)
        mark = "  (warm-up)" if minute + 1 < first else ""
        print(f"{minute + 1:>3} {len(values):>9,} {_pct(values, 0.5):>8.2f} {p99:>8.2f} "
              f"{max(values, default=float('nan')):>8.2f}   REST: {len(rest_values):>4} "
              f"{_pct(rest_values, 0.99):>8.2f}{mark}")  # fmt: skip
    print(f"REST statuses: {dict(rest_report['statuses'])}")
    print("Edge, per minute: feed ts -> summary at the edge (p99 bucket), events written to")
    print("clients, payloads conflated for slow clients, clients connected:")
    print(f"{'min':>3} {'edge p99':>10} {'out':>10} {'conflated':>10} {'clients':>7}")
    print("\n".join(edge_rows))
    print(f"DLQ: {sum(reasons.values())} entries {dict(reasons)}")

    checked = ("nats-server", "actors", "edge", "feed")
    # Warmed up: from the first measured minute. Cold: from minute 2 (buffers, first blocks).
    base = first if args.warmup == "full" else (2 if args.minutes >= 3 else 1)
    medians = {n: [statistics.median(m) for m in rss[n]] for n in checked}
    growth = {n: (m[-1] - m[base]) / m[base] * 100 for n, m in medians.items()}
    print("RSS MiB: at start (all connected); end of minute 1 and at the end (single samples);")
    print(f"median of minute 2, of minute {base} and of the last minute; growth from minute 2")
    print(f"(cold, streams still filling) and from minute {base} (what is checked):")
    for n in checked:
        v, m = rss[n], medians[n]
        cold = (m[-1] - m[2]) / m[2] * 100 if len(m) > 2 else float("nan")
        print(f"  {n:<12} {v[0][0]:7.1f}  {v[1][-1]:7.1f} {v[-1][-1]:7.1f}  "
              f"{m[min(2, len(m) - 1)]:7.1f} {m[base]:7.1f} {m[-1]:7.1f}  {cold:+6.1f} % "
              f"{growth[n]:+6.1f} %")  # fmt: skip
    measured = p99s[first - 1 :]
    early = statistics.median(measured[1:4]) if len(measured) >= 4 else measured[0]
    late = max(measured[-3:])
    unexplained = sum(n for reason, n in reasons.items() if reason not in EXPLAINED_DLQ)
    checks = {
        f"RSS growth < 10 % (each deltastream process, median of minute {base} -> last minute)": (
            all(g < 10 for g in growth.values())
        ),
        f"p99 stable (last 3 min max {late:.1f} ms <= 1.5 x measured minutes 2-4 {early:.1f} ms)": (
            late <= 1.5 * early
        ),
        "no unexplained DLQ entries": unexplained == 0,
        "every client still listening": sum(r["alive"] for r in reports) == args.clients,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()}")
    return 0 if all(checks.values()) else 1


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--socket-worker":
        port, first, n = (int(x) for x in sys.argv[2:5])
        asyncio.run(_socket_worker(port, first, n))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--rest-worker":
        asyncio.run(_rest_worker(sys.argv[2], float(sys.argv[3]), sys.argv[4].split(",")))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=int, default=10, help="measured minutes")
    p.add_argument(
        "--warmup",
        choices=("full", "none"),
        default="full",
        help="full: first run until ANALYTICS holds its whole history; none: measure from cold",
    )
    p.add_argument("--warmup-max", type=int, default=20, help="minutes of warm-up at most")
    p.add_argument("--rate", type=float, default=4.0, help="synthetic market steps per second")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--rest-per-s", type=float, default=5.0)
    p.add_argument(
        "--rest-routes", default=",".join(REST_ROUTES), help="comma list, polled round-robin"
    )
    return asyncio.run(soak(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
