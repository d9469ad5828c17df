"""Start, find, restart and give up on one FEED partition's actors (OTP-style restart
intensity).

The supervisor lives on the asyncio loop because restarting a chain means I/O: read the
chain's latest snapshot from KV and replay FEED after it. It owns the registry of
``ChainActor``s (one per product/expiry) and ``ProductActor``s (one per product) of its
partition; a host has one supervisor per partition it owns. With FEED keyed by chain a
product's chains may live in several partitions and its actor only in the product's home
partition; chains elsewhere tell it through a ``RemoteProduct`` (``actors/product_notes.py``).

Restart intensity: more than ``restart_max`` restarts within ``restart_window_s`` and the
supervisor escalates: it stops restarting, marks itself unhealthy (``/health`` says so) and
leaves failed chains down; their feed messages are nak'd until ``max_deliver`` moves them
to the DLQ. Healthy chains carry on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import nats.errors
import nats.js
import pykka
import structlog

from actors import subjects
from actors.chain_actor import ChainActor
from actors.chain_book import ChainBook
from actors.chain_replay import FeedReplay, applied_seq, publish_floor
from actors.chain_snapshot import BookSnapshot
from actors.commands import Flush, GetSnapshot, SetProduct
from actors.errors import TooManyChains
from actors.expiry_clock import ExpiryClock
from actors.futures import ask
from actors.metrics import CHAINS_LIVE, SUPERVISOR_RESTARTS
from actors.product_actor import ProductActor, ProductSnapshot
from actors.product_notes import RemoteProduct, Send
from actors.products import ProductSpec, fallback_spec
from actors.publisher import Publisher
from actors.restart_intensity import RestartIntensity
from actors.settings import Settings
from actors.snapshot_store import SnapshotStore

__all__ = ["ChainKey", "Supervisor"]

log = structlog.get_logger(__name__)

ChainKey = tuple[str, str]  # (product, expiry ISO)
_NS_PER_S = 1_000_000_000


class Supervisor:
    def __init__(
        self,
        *,
        js: nats.js.JetStreamContext,
        store: SnapshotStore,
        publisher: Publisher,
        settings: Settings,
        products: Mapping[str, ProductSpec],
        chain_actor: type[ChainActor] = ChainActor,
        partition: int = 0,
        send_note: Send | None = None,
    ) -> None:
        self.js = js
        # The class to start per chain; tests inject a subclass that fails on cue.
        self.chain_actor = chain_actor
        self.store = store
        self.publisher = publisher
        self.settings = settings
        self.products = products
        self.layout = settings.feed_layout()
        self._replay = FeedReplay(js=js, layout=self.layout, products=products, settings=settings)
        self.partition = partition
        # Keyed by chain: how a chain tells a product actor in another partition (core NATS).
        self.send_note = send_note
        self.remote_products: dict[str, RemoteProduct] = {}
        self.chains: dict[ChainKey, pykka.ActorRef[Any]] = {}
        self.chain_specs: dict[ChainKey, ProductSpec] = {}
        self.product_refs: dict[str, pykka.ActorRef[Any]] = {}
        self.down: set[ChainKey] = set()
        self.poison: dict[ChainKey, set[int]] = {}
        self.escalated = False
        self.escalation_reason = ""
        self.restart_count = 0
        self.products_down: set[str] = set()
        # Highest FEED sequence the ingress has handed to any actor.
        self.dispatched_seq = 0
        # Each product's feed clock; which chains it has settled and which are due to retire.
        self.expiry = ExpiryClock(retire_after_ns=int(settings.retire_after_s * _NS_PER_S))
        self.retired = 0
        self._intensity = RestartIntensity(
            max_restarts=settings.restart_max, window_s=settings.restart_window_s
        )
        self._locks: dict[object, asyncio.Lock] = {}
        self._crashed: dict[str | ChainKey, pykka.ActorRef[Any]] = {}
        self.crash_pending = asyncio.Event()

    # ------------------------------------------------------------ lookup / creation

    def spec_for(self, product: str) -> ProductSpec:
        return self.products.get(product) or fallback_spec(product)

    def runs_product(self, product: str) -> bool:
        """True when this partition runs the product's actor: the product's partition (keyed
        by chain, its home partition; with one partition, always)."""
        return self.layout.partition_of(product) == self.partition

    def wants_tick(self, product: str) -> bool:
        """True when an underlying tick of ``product`` has an actor to go to here (a chain
        started later never needed the ticks before its first message)."""
        return self.runs_product(product) or any(p == product for p, _ in self.chains)

    def owns_chain(self, product: str, expiry: str) -> bool:
        return self.layout.chain_partition(product, expiry) == self.partition

    def remote_product(self, product: str) -> RemoteProduct:
        """The stand-in a chain here tells when its product actor runs in another partition."""
        remote = self.remote_products.get(product)
        if remote is None:
            if self.send_note is None:
                raise RuntimeError("keyed by chain, a supervisor needs send_note")
            remote = self.remote_products[product] = RemoteProduct(product, self.send_note)
        return remote

    def expiries(self, product: str) -> tuple[list[str], list[str]]:
        """The product's chains here by expiry, sorted: all of them, and those not yet
        expired at the product's clock."""
        every = sorted(e for p, e in self.chains if p == product)
        return every, [e for e in every if self.expiry.live((product, e))]

    def live_chains_of(
        self, product: str, ts_ns: int
    ) -> list[tuple[ChainKey, pykka.ActorRef[Any]]]:
        """The product's chains not yet expired at ``ts_ns`` (what a tick re-prices)."""
        return [(k, ref) for k, ref in self.chains_of(product) if self.expiry.live_at(k, ts_ns)]

    def chains_of(self, product: str) -> list[tuple[ChainKey, pykka.ActorRef[Any]]]:
        return [(k, ref) for k, ref in self.chains.items() if k[0] == product]

    async def product(self, spec: ProductSpec) -> pykka.ActorRef[Any]:
        ref = self.product_refs.get(spec.name)
        if ref is not None:
            return ref
        if len(self.product_refs) >= self.settings.max_chains:
            raise TooManyChains(f"product cap of {self.settings.max_chains} reached")
        async with self._lock(spec.name):
            ref = self.product_refs.get(spec.name)
            if ref is None:
                ref = await self._start_product(spec)
        return ref

    async def _start_product(self, spec: ProductSpec) -> pykka.ActorRef[Any]:
        snap = await self.store.load_product(spec.name)
        if snap is not None:
            self.expiry.advance(spec.name, snap.last_ts_ns)
        floor = await publish_floor(self.js, subjects.analytics_underlying(spec.name))
        ref = ProductActor.start(
            spec,
            publisher=self.publisher,
            publish_floor=floor,
            surface_interval_ns=int(self.settings.surface_publish_interval_s * _NS_PER_S),
            intervals=self.settings.ohlc_intervals,
            snapshot=snap,
            on_crash=self._crash_hook(spec.name),
        )
        self.product_refs[spec.name] = ref
        return ref

    def _crash_hook(self, key: str | ChainKey) -> Any:
        """A callback for an actor's thread: hand the crash to the loop."""
        loop = asyncio.get_running_loop()

        def crashed(ref: pykka.ActorRef[Any], exc: BaseException | None) -> None:
            loop.call_soon_threadsafe(self._on_crash, key, ref, exc)

        return crashed

    def _on_crash(
        self, key: str | ChainKey, ref: pykka.ActorRef[Any], exc: BaseException | None
    ) -> None:
        # Restarts run on the ingress task between batches (``restart_crashed``), so that a
        # replay never interleaves with live dispatch to the same actor.
        log.error("actor_crashed", key=str(key), error=type(exc).__name__ if exc else None)
        self._crashed[key] = ref
        self.crash_pending.set()

    async def restart_crashed(self) -> None:
        """Restart every actor reported dead since the last call (ingress task only)."""
        self.crash_pending.clear()
        crashed, self._crashed = self._crashed, {}
        for key, ref in crashed.items():
            if isinstance(key, tuple):
                await self.restart_chain(
                    key, through_seq=self.dispatched_seq, poison=set(), failed_ref=ref
                )
            else:
                await self.restart_product(key, failed_ref=ref)

    async def chain(
        self, spec: ProductSpec, expiry: dt.date, *, snapshot: BookSnapshot | None = None
    ) -> pykka.ActorRef[Any]:
        """The chain's actor, started on first sight from its KV snapshot (``snapshot`` when
        the caller has already read it)."""
        key = (spec.name, expiry.isoformat())
        ref = self.chains.get(key)
        if ref is not None:
            return ref
        if len(self.chains) >= self.settings.max_chains:
            raise TooManyChains(f"live-chain cap of {self.settings.max_chains} reached")
        # The product cap first: a chain refused there must leave no per-key lock behind.
        if self.runs_product(spec.name):
            await self.product(spec)
        async with self._lock(key):
            ref = self.chains.get(key)
            if ref is None:
                snap = snapshot
                if snap is None:
                    snap = await self.store.load_chain(spec.name, expiry)
                ref = await self._start_chain(spec, expiry, snap)
        return ref

    def _lock(self, key: object) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _start_chain(
        self, spec: ProductSpec, expiry: dt.date, snap: BookSnapshot | None
    ) -> pykka.ActorRef[Any]:
        key = (spec.name, expiry.isoformat())
        product_ref: Any = (
            await self.product(spec)
            if self.runs_product(spec.name)
            else self.remote_product(spec.name)
        )
        book = ChainBook.from_snapshot(spec, snap) if snap else ChainBook(spec, expiry)
        if snap:
            self.expiry.advance(spec.name, snap.as_of_ns)
        floor = await publish_floor(self.js, subjects.analytics_summary(*key))
        ref = self.chain_actor.start(
            book,
            publisher=self.publisher,
            product_ref=product_ref,
            publish_floor=floor,
            chain_interval_ns=int(self.settings.chain_publish_interval_s * _NS_PER_S),
            surface_interval_ns=int(self.settings.surface_publish_interval_s * _NS_PER_S),
            on_crash=self._crash_hook(key),
            max_strikes=self.settings.max_strikes,
        )
        self.chains[key] = ref
        self.chain_specs[key] = spec
        self.expiry.add(key, spec.expires_ns(expiry))
        CHAINS_LIVE.set(len(self.chains))
        log.info(
            "chain_started",
            product=key[0],
            expiry=key[1],
            stream_seq=book.stream_seq,
            publish_floor=floor,
        )
        return ref

    async def restore_all(self) -> None:
        """Start every chain and product of this partition that has a snapshot, except the
        chains retired at their product's clock (all snapshots are read first, so the clock
        is the latest any of them knew)."""
        for product in await self.store.product_keys(self.runs_product):
            await self.product(self.spec_for(product))
        found: list[BookSnapshot] = []
        for product, expiry in await self.store.chain_keys(self.owns_chain):
            snap = await self.store.load_chain(product, expiry)
            if snap is None or not snap.applied:
                continue  # see ``snapshots``: the replay creates it at its first message
            self.expiry.advance(product, snap.as_of_ns)
            found.append(snap)
        for snap in found:
            spec = self.spec_for(snap.product)
            if self.expiry.retired(snap.product, spec.expires_ns(snap.expiry)):
                continue  # retired: its last state stays in KV, its last summary on ANALYTICS
            try:
                await self.chain(spec, snap.expiry, snapshot=snap)
            except TooManyChains:
                log.warning("restore_skipped", product=snap.product, expiry=snap.expiry.isoformat())

    async def retire(self) -> None:
        """Stop the chains due to retire (``ExpiryClock.due``), each one's last state saved
        to KV first: a replay that meets one of its messages again restores it from there. A
        chain whose state cannot be saved now stays, and is tried again after the next batch."""
        for key in self.expiry.due():
            ref = self.chains.get(key)
            if ref is not None:
                try:
                    snap = await asyncio.wait_for(
                        ask(ref, GetSnapshot()), self.settings.actor_timeout_s
                    )
                    if snap.applied:
                        await self.store.save_chain(snap)
                except (TimeoutError, nats.errors.Error) as exc:
                    log.warning(
                        "chain_retire_deferred", product=key[0], expiry=key[1], error=repr(exc)
                    )
                    continue
                except pykka.ActorDeadError:
                    pass  # it failed meanwhile: its last checkpoint is in KV already
                del self.chains[key]
                ref.stop(block=False)
            self.retired += 1
            log.info("chain_retired", product=key[0], expiry=key[1], down=ref is None)
            # A chain down for good (the supervisor gave up on it) retires too: settled,
            # there is nothing left for it to serve.
            self.down.discard(key)
            self.poison.pop(key, None)
            self.chain_specs.pop(key, None)
            self.expiry.remove(key)
            self._locks.pop(key, None)
        CHAINS_LIVE.set(len(self.chains))

    # ------------------------------------------------------------ restarts

    def _may_restart(self) -> bool:
        if self._intensity.allow():
            return True
        if not self.escalated:
            self.escalated = True
            self.escalation_reason = self._intensity.describe()
            log.error("supervisor_escalated", reason=self.escalation_reason)
        return False

    async def restart_chain(
        self,
        key: ChainKey,
        *,
        through_seq: int,
        poison: set[int],
        failed_ref: pykka.ActorRef[Any] | None,
    ) -> bool:
        """Replace a failed chain actor by one rebuilt from its snapshot plus a replay of
        FEED up to ``through_seq``, skipping ``poison``. False when the supervisor gave up.

        ``failed_ref`` is the actor that failed; when the registry already holds another
        one, somebody else restarted it and there is nothing to do."""
        self.poison.setdefault(key, set()).update(poison)
        async with self._lock(key):
            current = self.chains.get(key)
            if current is not None and current is not failed_ref:
                return True
            if current is not None:
                del self.chains[key]
                current.stop(block=False)
            CHAINS_LIVE.set(len(self.chains))
            through_seq = max(through_seq, self.dispatched_seq)
            while True:
                if not self._may_restart():
                    self.down.add(key)
                    return False
                self.restart_count += 1
                SUPERVISOR_RESTARTS.inc()
                failed = await self._rebuild(key, through_seq)
                if not failed:
                    self.down.discard(key)
                    log.warning(
                        "chain_restarted",
                        product=key[0],
                        expiry=key[1],
                        through_seq=through_seq,
                        poison=sorted(self.poison[key]),
                    )
                    return True
                self.poison[key].update(failed)

    async def restart_product(self, name: str, *, failed_ref: pykka.ActorRef[Any]) -> bool:
        """Rebuild a product actor from its snapshot plus a replay of its underlying ticks,
        and point its chains at the new one."""
        async with self._lock(name):
            if self.product_refs.get(name) is not failed_ref:
                return True
            del self.product_refs[name]
            failed_ref.stop(block=False)
            if not self._may_restart():
                self.products_down.add(name)
                return False
            self.restart_count += 1
            SUPERVISOR_RESTARTS.inc()
            ref = await self._start_product(self.spec_for(name))
            first = (await applied_seq(ref)) + 1
            replayed = await self._replay.into_product(
                ref, product=name, first_seq=first, last_seq=self.dispatched_seq
            )
            for _, chain_ref in self.chains_of(name):
                chain_ref.tell(SetProduct(ref=ref))
            self.products_down.discard(name)
            log.warning("product_restarted", product=name, replayed=replayed)
            return True

    async def _rebuild(self, key: ChainKey, through_seq: int) -> set[int]:
        product, expiry_iso = key
        spec = self.chain_specs.get(key) or self.spec_for(product)
        expiry = dt.date.fromisoformat(expiry_iso)
        snap = await self.store.load_chain(product, expiry)
        ref = await self._start_chain(spec, expiry, snap)
        start = (snap.stream_seq if snap else 0) + 1
        failed = await self._replay.into_chain(
            ref,
            product=product,
            expiry_iso=expiry_iso,
            first_seq=start,
            last_seq=through_seq,
            poison=self.poison.get(key, set()),
        )
        if failed:
            self.chains.pop(key, None)
            ref.stop(block=False)
        return failed

    # ------------------------------------------------------------ fan-out helpers

    def flush_all(self, now_ns: int) -> None:
        message = Flush(now_ns=now_ns)
        for ref in (*self.chains.values(), *self.product_refs.values()):
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                pass

    async def snapshots(self) -> tuple[list[BookSnapshot], list[ProductSnapshot]]:
        chain_refs = list(self.chains.values())
        product_refs = list(self.product_refs.values())
        results = await asyncio.gather(
            *(ask(r, GetSnapshot()) for r in (*chain_refs, *product_refs)),
            return_exceptions=True,
        )
        # A chain exists from its first applied message on: the ticks before it never reach
        # it. A chain actor whose first message is still on its way (started, not yet asked)
        # is left out, or after a restore from this checkpoint it would take the ticks
        # replayed between the checkpoint and that message, which it never had.
        chains = [
            r for r in results[: len(chain_refs)] if isinstance(r, BookSnapshot) and r.applied
        ]
        products = [r for r in results[len(chain_refs) :] if isinstance(r, ProductSnapshot)]
        return chains, products

    def stop_all(self) -> None:
        for ref in (*self.chains.values(), *self.product_refs.values()):
            ref.stop(block=False)
        self.chains.clear()
        self.product_refs.clear()
        self.remote_products.clear()
        CHAINS_LIVE.set(0)

    def health(self) -> dict[str, Any]:
        return {
            "healthy": not self.escalated,
            "escalation": self.escalation_reason or None,
            "chains": len(self.chains),
            "products": len(self.product_refs),
            "chains_down": sorted(f"{p}/{e}" for p, e in self.down),
            "products_down": sorted(self.products_down),
            "restarts": self.restart_count,
            "chains_retired": self.retired,
        }
