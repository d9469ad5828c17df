"""Quote rows per second with 1, 2 and 3 actor hosts sharing FEED's partitions, and the time
from killing a host to the first analytics its successor publishes.

Run from the repository root: ``python bench/scale.py [--hosts 1 2 3] [--kills 3]``.

1. Throughput, per host count: a fresh nats-server; FEED split into ``--partitions``
   partitions; six products chosen so that each lands in its own partition (so 1, 2 and 3
   hosts each get an even share); the hosts (separate processes, as deployed) are started
   and the bench waits until they hold their shares. Then a backlog of quotes batches is
   written to FEED as fast as JetStream acknowledges it, and timed from the first summary
   to the moment every chain's summary reflects its last message.
2. Failover: three hosts and a live feed (``--rate`` market steps per second). The owner of
   one product's partition is killed with SIGKILL; the time to the first summary of any
   product of the partitions it owned (necessarily published by its successor) is taken. A
   replacement host is started and the next kill waits until the shares are even again.

nats-server, the hosts and this script (publisher and subscriber) share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import nats

from actors import subjects
from actors.feeds.market import FeedMessage, SyntheticMarket
from actors.feeds.sink import FeedSink
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS, ProductSpec
from actors.settings import Settings
from actors.streams import ensure_streams, open_lease_bucket

NS = 1_000_000_000
START_NS = 1_795_581_000 * NS
PRODUCT_COUNT = 6


def _products(partitions: int) -> list[ProductSpec]:
    """``PRODUCT_COUNT`` NIFTY-like products spread evenly over the partitions."""
    base = DEFAULT_PRODUCTS["NIFTY"]
    per_partition: dict[int, int] = {}
    out: list[ProductSpec] = []
    i = 0
    while len(out) < PRODUCT_COUNT:
        name = f"IDX{i}"
        k = subjects.partition_of(name, partitions)
        if per_partition.get(k, 0) < -(-PRODUCT_COUNT // partitions):
            per_partition[k] = per_partition.get(k, 0) + 1
            out.append(msgspec.structs.replace(base, name=name))
        i += 1
    return out


def _market(specs: list[ProductSpec], rows: int, start_ns: int) -> SyntheticMarket:
    # per product 3 expiries of 101 strikes; each quotes message changes `rows` rows
    return SyntheticMarket(
        specs, seed=5, start_ns=start_ns, rows_per_batch=rows // 2, weekly=2, monthly=1
    )


def _host(url: str, host_id: str, partitions: int, products_file: Path) -> subprocess.Popen[bytes]:
    log = products_file.parent / f"{host_id}.log"
    env = {
        **os.environ,
        "DELTASTREAM_NATS_URL": url,
        "DELTASTREAM_PARTITIONS": str(partitions),
        "DELTASTREAM_HOST_ID": host_id,
        "DELTASTREAM_PRODUCTS_FILE": str(products_file),
        "DELTASTREAM_LOG_LEVEL": os.environ.get("DS_BENCH_LOG_LEVEL", "warning"),
    }
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "actors"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _write_products(path: Path, specs: list[ProductSpec]) -> None:
    lines = []
    for s in specs:
        lines += [
            "[[products]]",
            f'name = "{s.name}"',
            f"strike_step = {s.strike_step}",
            f"lot_size = {s.lot_size}",
            f"reference_spot = {s.reference_spot}",
            "",
        ]
    path.write_text("\n".join(lines))


class LeaseHolders:
    """The lease bucket's holders, followed by a watch."""

    def __init__(self) -> None:
        self.holders: dict[int, str] = {}
        self.changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self, nc: Any, settings: Settings) -> None:
        kv = await open_lease_bucket(nc.jetstream(), settings)
        watcher = await kv.watch("lease.*")

        async def follow() -> None:
            async for e in watcher:
                if e is None:
                    continue
                k = int(e.key.removeprefix("lease."))
                if e.operation in ("DEL", "PURGE") or not e.value:
                    self.holders.pop(k, None)
                else:
                    self.holders[k] = msgspec.json.decode(e.value)["host"]
                async with self.changed:
                    self.changed.notify_all()

        self._task = asyncio.create_task(follow())

    async def wait_even(self, hosts: list[str], partitions: int, timeout_s: float = 120) -> None:
        def even() -> bool:
            counts = [list(self.holders.values()).count(h) for h in hosts]
            return len(self.holders) == partitions and max(counts) - min(counts) <= 1

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(even), timeout_s)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _finals(messages: list[FeedMessage]) -> tuple[dict[str, int], int]:
    """Each chain's summary subject → FEED seq of its last message; and the quote rows."""
    final: dict[str, int] = {}
    rows = 0
    chains: dict[str, list[str]] = {}
    for seq, m in enumerate(messages, 1):
        p = m.payload
        if "expiry" in p:
            subject = subjects.analytics_summary(p["product"], p["expiry"])
            chains.setdefault(p["product"], []).append(subject)
            final[subject] = seq
            rows += len(p["quotes"])
        else:
            for subject in chains.get(p["product"], ()):
                final[subject] = seq
    return final, rows


async def throughput(
    tmp: Path, *, hosts: int, partitions: int, rows: int, market_seconds: int
) -> float:
    specs = _products(partitions)
    products_file = tmp / "products.toml"
    _write_products(products_file, specs)
    with NatsServer(tmp / f"throughput-{hosts}") as server:
        settings = Settings(nats_url=server.url, partitions=partitions)
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(), settings)
        leases = LeaseHolders()
        await leases.start(nc, settings)
        ids = [f"h{i + 1}" for i in range(hosts)]
        procs = [_host(server.url, h, partitions, products_file) for h in ids]
        try:
            await leases.wait_even(ids, partitions)
            m = _market(specs, rows, START_NS)
            steps = market_seconds * 4
            messages = [
                *m.open(),
                *(x for i in range(steps) for x in m.step(START_NS + (i + 1) * NS // 4)),
            ]
            final, n_rows = _finals(messages)
            seen: dict[str, int] = {}
            done = asyncio.Event()
            first: list[float] = []

            async def cb(msg: Any) -> None:
                if not first:
                    first.append(time.perf_counter())
                seq = msgspec.json.decode(msg.data)["stream_seq"]
                seen[msg.subject] = max(seen.get(msg.subject, 0), seq)
                if all(seen.get(s, 0) >= q for s, q in final.items()):
                    done.set()

            await nc.subscribe("deltastream.analytics.summary.>", cb=cb)
            sink = FeedSink(nc)
            published = time.perf_counter()
            for msg in messages:
                await sink.publish(msg.subject, msg.payload)
            await sink.flush()
            publish_s = time.perf_counter() - published
            await asyncio.wait_for(done.wait(), 900)
            elapsed = time.perf_counter() - first[0]
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
            leases.stop()
            await nc.close()
    rate = n_rows / elapsed
    print(
        f"{hosts} host(s), {partitions} partitions: {len(messages)} messages, {n_rows} quote "
        f"rows in {elapsed:.2f} s (first summary to last) = {rate:,.0f} rows/s, "
        f"{len(messages) / elapsed:,.0f} msgs/s (writing the backlog took {publish_s:.2f} s)",
        flush=True,
    )
    return rate


async def failover(tmp: Path, *, partitions: int, rate: float, kills: int) -> list[float]:
    specs = _products(partitions)
    products_file = tmp / "products.toml"
    _write_products(products_file, specs)
    times: list[float] = []
    with NatsServer(tmp / "failover") as server:
        settings = Settings(nats_url=server.url, partitions=partitions)
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(), settings)
        leases = LeaseHolders()
        await leases.start(nc, settings)
        procs = {f"h{i}": _host(server.url, f"h{i}", partitions, products_file) for i in (1, 2, 3)}
        stop = asyncio.Event()
        # A summary counts when it is of a watched product and was computed after
        # ``after_ns`` (its ``published_ns``, the same machine's clock): one the victim
        # published just before the kill and still in flight does not.
        watching: dict[str, Any] = {"products": set(), "after_ns": 0, "got": None}
        arrived = asyncio.Event()

        async def cb(msg: Any) -> None:
            product = msg.subject.split(".")[3]
            if product not in watching["products"] or watching["got"] is not None:
                return
            if msgspec.json.decode(msg.data)["published_ns"] > watching["after_ns"]:
                watching["got"] = time.perf_counter()
                arrived.set()

        async def feed() -> None:
            sink = FeedSink(nc)
            m = _market(specs, 20, time.time_ns())
            for x in m.open():
                await sink.publish(x.subject, x.payload)
            while not stop.is_set():
                for x in list(m.step(time.time_ns())):
                    await sink.publish(x.subject, x.payload)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1 / rate)
            await sink.flush()

        try:
            await leases.wait_even(list(procs), partitions)
            await nc.subscribe("deltastream.analytics.summary.>", cb=cb)
            feeder = asyncio.create_task(feed())
            for n in range(kills):
                # wait for a live summary so the system is running before the kill
                live = specs[n % len(specs)].name
                watching.update(products={live}, after_ns=time.time_ns(), got=None)
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 120)
                victim = leases.holders[subjects.partition_of(live, partitions)]
                owned = {k for k, h in leases.holders.items() if h == victim}
                lost = {s.name for s in specs if subjects.partition_of(s.name, partitions) in owned}
                arrived.clear()
                watching.update(products=lost, after_ns=time.time_ns(), got=None)
                killed = time.perf_counter()
                procs[victim].send_signal(signal.SIGKILL)
                await asyncio.wait_for(arrived.wait(), 120)
                times.append(watching["got"] - killed)
                print(
                    f"kill {n + 1}: host {victim} (partitions {sorted(owned)}) → first summary "
                    f"from its successor after {times[-1]:.2f} s",
                    flush=True,
                )
                procs[victim].wait()
                replacement = f"h{4 + n}"  # a fresh id: ids must be unique among live hosts
                procs[replacement] = _host(server.url, replacement, partitions, products_file)
                del procs[victim]
                await leases.wait_even(list(procs), partitions)
            stop.set()
            await feeder
        finally:
            stop.set()
            for p in procs.values():
                p.terminate()
            for p in procs.values():
                p.wait()
            leases.stop()
            await nc.close()
    return times


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rows-per-msg", type=int, default=100)
    ap.add_argument("--market-seconds", type=int, default=60)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--rate", type=float, default=4.0, help="market steps/s during failover")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep stores and host logs here (default: a temp dir)",
    )
    args = ap.parse_args()
    settings = Settings()
    print(
        f"lease TTL {settings.lease_ttl_s} s, renewed every {settings.lease_renew_s} s; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            tmp = str(args.workdir)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-"))
        rates = {}
        for h in args.hosts:
            rates[h] = await throughput(
                Path(tmp),
                hosts=h,
                partitions=args.partitions,
                rows=args.rows_per_msg,
                market_seconds=args.market_seconds,
            )
        base = rates[args.hosts[0]]
        print("scaling: " + ", ".join(f"{h} → {r / base:.2f}x" for h, r in rates.items()))
        if args.kills:
            times = await failover(
                Path(tmp), partitions=args.partitions, rate=args.rate, kills=args.kills
            )
            print(
                f"failover over {len(times)} kills: min {min(times):.2f} s, median "
                f"{statistics.median(times):.2f} s, max {max(times):.2f} s (target ≤ 3 s)"
            )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
