"""Quote rows per second through one actor host with acks, and feed-to-summary latency.

Run from the repository root: ``python bench/pipeline.py [--rows-per-msg 100]``.

1. Throughput: a backlog of quotes batches is written to FEED with the host stopped; the
   host is then started and timed until every chain's summary reflects the last message
   (the whole path: fetch, validate, actors apply + recompute + publish, ack).
2. Latency: with the host running, a publisher offers a fixed rate of quote rows whose
   ``ts`` is the wall clock at publish; a subscriber in a process of its own records
   now − ts of every summary (after a warm-up). Also printed: when the actor stamped the
   summary, and when nats-server stored it in ANALYTICS (its own clock, read back from the
   stream after the run): the summary on NATS, before any subscriber's hop.
3. Transport: the same feed at the same rate into FEED, taken by a bare pull consumer in
   another process, no actors: the floor the latency of phase 2 stands on.

nats-server, the actor host (a separate process, as deployed) and the load generator share
this machine's cores, so the numbers are for the whole system on one box. Each phase also
prints the CPU time the host (its event-loop thread apart) and nats-server used per message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import nats
from actor_hosts import Hosts, Layout, stop_process  # bench/, beside this script
from cpu_time import CpuMeter  # bench/, beside this script
from nats.js.api import DeliverPolicy

from actors import subjects
from actors.cpu_affinity import parse_cpu_list, pin_threads
from actors.feeds.market import FeedMessage, SyntheticMarket
from actors.feeds.sink import FeedSink
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from actors.pull import ContinuousPull
from actors.settings import Settings
from actors.streams import ensure_ingress_consumer, ensure_streams

NS = 1_000_000_000
# every chain summary of every product
SUMMARIES = f"{subjects.PREFIX}.analytics.summary.>"


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


async def _wait_summaries(
    nc: nats.NATS,
    final: dict[str, int],
    timeout_s: float,
    cpu: CpuMeter,
    then: Callable[[], None] | None = None,
) -> float:
    """Wait until every chain's summary reflects its last message; returns the time from
    the first summary to then (the host's start-up excluded). ``then`` runs once the
    subscription is in place."""
    seen: dict[str, int] = {}
    done = asyncio.Event()
    first: list[float] = []

    async def cb(msg: nats.aio.msg.Msg) -> None:
        if not first:
            first.append(time.perf_counter())
            cpu.start()
        seen[msg.subject] = max(
            seen.get(msg.subject, 0), msgspec.json.decode(msg.data)["stream_seq"]
        )
        if not done.is_set() and all(seen.get(s, 0) >= q for s, q in final.items()):
            cpu.stop()
            done.set()

    sub = await nc.subscribe(SUMMARIES, cb=cb)
    await nc.flush()
    if then is not None:
        then()
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        await sub.unsubscribe()
    return time.perf_counter() - first[0]


async def throughput(
    server: NatsServer,
    *,
    rows: int,
    seconds_of_market: int,
    profile: Path | None,
    layout: Layout,
) -> None:
    """One host: the backlog is written, then the host started. Several: they are started
    and have split the partitions first, are paused (SIGSTOP) while the backlog is written,
    and resumed together."""
    url = server.url
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream(), layout.settings(url))
    hosts = Hosts(url, layout, profile)
    if layout.shared:
        await hosts.start(nc)
        hosts.signal(signal.SIGSTOP)
    start = 1_795_581_000 * NS
    m = _market(rows, start)
    sink = FeedSink(nc)
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
    assert server.process is not None
    try:
        if layout.shared:
            print(hosts.describe("NIFTY", sorted(s.rsplit(".", 1)[1] for s in final)))
            cpu = CpuMeter(
                **{n: p.pid for n, p in hosts.procs.items()}, nats_server=server.process.pid
            )
            elapsed = await _wait_summaries(
                nc, final, 600, cpu, then=lambda: hosts.signal(signal.SIGCONT)
            )
        else:
            await hosts.start(nc)
            cpu = CpuMeter(host=hosts.procs["host"].pid, nats_server=server.process.pid)
            elapsed = await _wait_summaries(nc, final, 600, cpu)
    finally:
        hosts.stop()
        await nc.close()
    print(
        f"throughput: {n_msgs} messages, {n_rows} quote rows in {elapsed:.2f} s "
        f"(from the first summary to the last) = {n_rows / elapsed:,.0f} rows/s, "
        f"{n_msgs / elapsed:,.0f} msgs/s; {cpu.report(elapsed, n_msgs)}"
    )


def _steps(m: SyntheticMarket, *, n_steps: int, period_s: float) -> list[list[FeedMessage]]:
    """Build every step up front: generating one takes this process a few ms, which would
    otherwise delay the messages it is timing."""
    t0 = time.time_ns()
    return [list(m.step(t0 + int(i * period_s * NS))) for i in range(n_steps)]


async def _offer(
    sink: FeedSink,
    steps: list[list[FeedMessage]],
    *,
    period_s: float,
    warmup_s: float,
    cpu: CpuMeter,
) -> tuple[int, int, int]:
    """Publish the steps at their pace, each message stamped at publish as a live feed
    would; returns (first measured ts, messages and quote rows measured)."""
    next_at = time.monotonic()
    measure_from_ns = time.time_ns() + int(warmup_s * NS)
    n_msgs = n_rows = 0
    for i, step in enumerate(steps):
        if i == int(warmup_s / period_s):
            cpu.start()
        for msg in step:
            msg.payload["ts"] = time.time_ns()
            await sink.publish(msg.subject, msg.payload)
            if msg.payload["ts"] >= measure_from_ns:
                n_rows += len(msg.payload.get("quotes", ()))
                n_msgs += 1
        next_at += period_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await sink.flush()
    cpu.stop()
    return measure_from_ns, n_msgs, n_rows


def _quantiles(values_ms: list[float]) -> str:
    q = statistics.quantiles(values_ms, n=100)
    return f"p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {max(values_ms):.2f} ms"


def _p99(values_ms: list[float]) -> float:
    return statistics.quantiles(values_ms, n=100)[98]


async def latency(
    server: NatsServer,
    *,
    rows: int,
    rate_rows_s: int,
    seconds: int,
    warmup_s: float,
    profile: Path | None,
    layout: Layout,
) -> tuple[float, float]:
    """Prints the phase's numbers; returns its p99 (ms) of feed ts → summary received and
    → stored in ANALYTICS."""
    url = server.url
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream(), layout.settings(url))
    hosts = Hosts(url, layout, profile)
    await hosts.start(nc)
    assert server.process is not None
    cpu = CpuMeter(**{n: p.pid for n, p in hosts.procs.items()}, nats_server=server.process.pid)
    # Summaries are timed by a subscriber in a process of its own, as a consumer of the
    # analytics would be: this process's event loop is busy publishing the feed.
    seen_file = server.store_dir.parent / "summaries.json"
    receiver = subprocess.Popen([sys.executable, __file__, "--receive", url, str(seen_file)])
    try:
        chains_up: set[str] = set()
        all_up = asyncio.Event()
        m = _market(rows, time.time_ns())
        n_chains = len(m.chains["NIFTY"])

        async def cb(msg: nats.aio.msg.Msg) -> None:
            chains_up.add(msg.subject)
            if len(chains_up) == n_chains:
                all_up.set()

        up = await nc.subscribe(SUMMARIES, cb=cb)
        sink = FeedSink(nc)
        for msg in m.open():
            msg.payload["ts"] = time.time_ns()
            await sink.publish(msg.subject, msg.payload)
        await asyncio.wait_for(all_up.wait(), 120)  # host up, every chain created
        await up.unsubscribe()
        period_s = rows * n_chains / rate_rows_s
        steps = _steps(m, n_steps=int((warmup_s + seconds) / period_s), period_s=period_s)
        measure_from_ns, n_msgs, n_rows = await _offer(
            sink, steps, period_s=period_s, warmup_s=warmup_s, cpu=cpu
        )
        await nc.flush()
        await asyncio.sleep(0.5)  # the last summaries in flight
        stored_ms = await _stored_latency(nc, measure_from_ns)
    finally:
        stop_process(receiver)
        hosts.stop()
        await nc.close()
    # (feed ts, received, the actor's publish) of every summary, all epoch ns
    seen: list[tuple[int, int, int]] = msgspec.json.decode(seen_file.read_bytes())
    measured = [x for x in seen if x[0] >= measure_from_ns]
    lat_ms = [(received - ts) / 1e6 for ts, received, _ in measured]
    host_ms = [(published - ts) / 1e6 for ts, _, published in measured]
    print(
        f"latency at {rate_rows_s:,} rows/s offered ({n_rows / seconds:,.0f} sent, "
        f"{seconds} s after {warmup_s:g} s of warm-up): {len(lat_ms)} summaries, "
        f"feed ts → summary received: {_quantiles(lat_ms)}; "
        f"of which feed ts → actor publish: {_quantiles(host_ms)}, "
        f"→ stored in ANALYTICS: {_quantiles(stored_ms)}; {cpu.report(seconds, n_msgs)}"
    )
    return _p99(lat_ms), _p99(stored_ms)


async def _stored_latency(nc: nats.NATS, measure_from_ns: int) -> list[float]:
    """feed ts → the instant nats-server stored each measured summary in ANALYTICS (its own
    clock, the same machine's): when the summary was on NATS, before any subscriber's hop."""
    sub = await nc.jetstream().subscribe(
        SUMMARIES, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    first: dict[tuple[str, int], float] = {}  # per chain and feed ts, the first stored
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=10)
            except TimeoutError:  # nothing more (or nothing at all) stored
                return list(first.values())
            ts = msgspec.json.decode(msg.data, type=_Stamped).ts
            stored_ns = msg.metadata.timestamp.timestamp() * NS
            if ts >= measure_from_ns:
                first.setdefault((msg.subject, ts), (stored_ns - ts) / 1e6)
            if msg.metadata.num_pending == 0:
                return list(first.values())
    finally:
        await sub.unsubscribe()


async def transport(
    server: NatsServer, *, rows: int, rate_rows_s: int, seconds: int, warmup_s: float
) -> None:
    """The same feed at the same rate into FEED, taken by a bare pull consumer in another
    process (the ingress's ContinuousPull, acking each message, no actors): the part of the
    latency that JetStream and the client library take before any deltastream code runs."""
    url = server.url
    nc = await nats.connect(url)
    settings = Settings(nats_url=url)
    await ensure_streams(nc.jetstream(), settings)
    await ensure_ingress_consumer(nc.jetstream(), settings, start_seq=1)
    assert server.process is not None
    cpu = CpuMeter(nats_server=server.process.pid)
    seen_file = server.store_dir.parent / "pulled.json"
    puller = subprocess.Popen([sys.executable, __file__, "--pull", url, str(seen_file)])
    try:
        m = _market(rows, time.time_ns())
        period_s = rows * len(m.chains["NIFTY"]) / rate_rows_s
        steps = _steps(m, n_steps=int((warmup_s + seconds) / period_s), period_s=period_s)
        sink = FeedSink(nc)
        measure_from_ns, n_msgs, _ = await _offer(
            sink, steps, period_s=period_s, warmup_s=warmup_s, cpu=cpu
        )
        await asyncio.sleep(0.5)
    finally:
        stop_process(puller)
        await nc.close()
    seen: list[tuple[int, int]] = msgspec.json.decode(seen_file.read_bytes())
    lat_ms = [(received - ts) / 1e6 for ts, received in seen if ts >= measure_from_ns]
    print(
        f"transport alone at {rate_rows_s:,} rows/s: {len(lat_ms)} messages, feed ts → pulled "
        f"by a consumer process: {_quantiles(lat_ms)}; {cpu.report(seconds, n_msgs)}"
    )


# The latency target at 20,000 rows/s on this machine: p99 ≤ 5 ms.
_P99_TARGET_MS = 5.0


def _runs_report(p99s: list[tuple[float, float]]) -> str:
    received = [r for r, _ in p99s]
    stored = [s for _, s in p99s]

    def runs(values: list[float]) -> str:
        met = sum(v <= _P99_TARGET_MS for v in values)
        listed = " / ".join(f"{v:.2f}" for v in values)
        return f"{listed} ms ({met} of {len(values)} ≤ {_P99_TARGET_MS:g} ms)"

    return (
        f"latency p99 over {len(p99s)} runs: summary received {runs(received)}; "
        f"stored in ANALYTICS {runs(stored)}"
    )


async def pull(url: str, out: Path) -> None:
    """Take FEED through the ingress consumer, ack, record (feed ts, received) until SIGTERM."""
    seen: list[tuple[int, int]] = []
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    nc = await nats.connect(url)
    sub = ContinuousPull(
        nc, stream=subjects.FEED_STREAM, consumer=subjects.INGRESS_CONSUMER, batch=256
    )
    await sub.start()
    while not stop.is_set():
        msgs = await sub.next_batch(256, timeout_s=0.2)
        received = time.time_ns()
        for msg in msgs:
            seen.append((msgspec.json.decode(msg.data, type=_Stamped).ts, received))
            await msg.ack()
    await sub.stop()
    await nc.close()
    out.write_bytes(msgspec.json.encode(seen))


class _Stamped(msgspec.Struct):
    ts: int


async def receive(url: str, out: Path) -> None:
    """Record (feed ts, received, actor publish) of every summary until SIGTERM."""
    seen: list[tuple[int, int, int]] = []
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    nc = await nats.connect(url)

    async def cb(msg: nats.aio.msg.Msg) -> None:
        received = time.time_ns()
        body = msgspec.json.decode(msg.data)
        seen.append((body["ts"], received, body["published_ns"]))

    await nc.subscribe(SUMMARIES, cb=cb)
    await stop.wait()
    await nc.close()
    out.write_bytes(msgspec.json.encode(seen))


async def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--receive":
        await receive(sys.argv[2], Path(sys.argv[3]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--pull":
        await pull(sys.argv[2], Path(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows-per-msg", type=int, default=100)
    ap.add_argument(
        "--market-seconds",
        type=int,
        default=900,
        help="throughput: seconds of market in the backlog (900: ~10 s of work at 200k rows/s)",
    )
    ap.add_argument("--rate", type=int, default=20_000, help="offered quote rows/s")
    ap.add_argument("--seconds", type=int, default=20, help="measured seconds of offered load")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load not measured")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="latency: run the phase this many times (each on a fresh nats-server) and "
        "count the runs whose p99 meets the target",
    )
    ap.add_argument(
        "--phase",
        choices=("all", "throughput", "latency", "transport"),
        default="all",
        help="transport: the latency phase's feed into FEED and a bare consumer, no actors",
    )
    ap.add_argument("--hosts", type=int, default=1, help="actor host processes sharing FEED")
    ap.add_argument(
        "--partitions", type=int, default=None, help="FEED partitions (default: --hosts)"
    )
    ap.add_argument(
        "--partition-key",
        choices=("product", "chain"),
        default="product",
        help="chain: the product's chains spread over the hosts (DESIGN.md §11)",
    )
    ap.add_argument(
        "--host-cpus",
        action="append",
        default=[],
        metavar="LIST",
        help="pin the actor host to these CPUs (DELTASTREAM_HOST_CPUS, e.g. 1); given "
        "more than once, host i takes the (i mod n)-th",
    )
    ap.add_argument(
        "--nats-cpus", default="", metavar="LIST", help="pin the nats-server to these CPUs"
    )
    ap.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the host (GIL holder) into DIR/<phase>.json",
    )
    args = ap.parse_args()

    layout = Layout(
        args.hosts, args.partitions or args.hosts, args.partition_key, tuple(args.host_cpus)
    )
    nats_cpus = parse_cpu_list(args.nats_cpus)

    @contextlib.contextmanager
    def nats_server(store: Path) -> Iterator[NatsServer]:
        with NatsServer(store) as server:
            if nats_cpus:
                assert server.process is not None
                pin_threads(nats_cpus, server.process.pid)
            yield server

    def profile(phase: str) -> Path | None:
        return None if args.profile is None else args.profile / f"{phase}.json"

    with tempfile.TemporaryDirectory() as tmp:
        if args.phase in ("all", "throughput"):
            with nats_server(Path(tmp) / "a") as server:
                await throughput(
                    server,
                    rows=args.rows_per_msg,
                    seconds_of_market=args.market_seconds,
                    profile=profile("throughput"),
                    layout=layout,
                )
        # the offered load of the latency and transport phases
        offered = {
            "rows": args.rows_per_msg,
            "rate_rows_s": args.rate,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
        }
        if args.phase in ("all", "latency"):
            p99s: list[tuple[float, float]] = []
            for i in range(args.repeat):
                with nats_server(Path(tmp) / f"b{i}") as server:
                    name = "latency" if args.repeat == 1 else f"latency-{i}"
                    p99s.append(
                        await latency(server, profile=profile(name), layout=layout, **offered)
                    )
            if args.repeat > 1:
                print(_runs_report(p99s))
        if args.phase in ("all", "transport"):
            with nats_server(Path(tmp) / "c") as server:
                await transport(server, **offered)


if __name__ == "__main__":
    asyncio.run(main())
