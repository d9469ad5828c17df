"""Chain and product snapshots in a NATS KV bucket, plus each partition's checkpoint.

Keys: ``chain.<PRODUCT>.<EXPIRY>``, ``product.<PRODUCT>``, and per FEED partition
``checkpoint`` (one partition) or ``checkpoint.<k>``. Values are msgpack. A partition's
checkpoint is written after its snapshots: every snapshot of that partition in the bucket
then covers at least the FEED messages up to the checkpoint's sequence.

Writes never go backwards. Each one is a compare-and-set on the key's revision, and a value
covering an older FEED sequence than the stored one is not written: a host that lost its
partition (and does not know it yet) cannot overwrite its successor's newer snapshots.
Processing is deterministic, so two values for the same sequence are the same state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import msgspec
import nats.js
import nats.js.errors
from nats.js.kv import KeyValue

from actors import subjects
from actors.chain_snapshot import BookSnapshot
from actors.product_actor import ProductSnapshot

__all__ = ["Checkpoint", "SnapshotStore"]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    stream_seq: int
    written_ns: int


_chain_decoder = msgspec.msgpack.Decoder(BookSnapshot)
_product_decoder = msgspec.msgpack.Decoder(ProductSnapshot)
_checkpoint_decoder = msgspec.msgpack.Decoder(Checkpoint)
_encoder = msgspec.msgpack.Encoder()
_CAS_ATTEMPTS = 5


class _Seq(msgspec.Struct):
    stream_seq: int = 0


# Every value kept here is a msgpack map with a ``stream_seq``; read just that field.
_seq_decoder = msgspec.msgpack.Decoder(_Seq)


class SnapshotStore:
    def __init__(
        self,
        kv: KeyValue,
        js: nats.js.JetStreamContext,
        *,
        bucket: str = subjects.KV_SNAPSHOTS,
        partitions: int = 1,
    ) -> None:
        self.kv = kv
        self.js = js
        self.bucket = bucket
        self.partitions = partitions
        self._revisions: dict[str, int] = {}  # the revision each key had after our last write

    async def _get(self, key: str) -> bytes | None:
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        return entry.value

    async def _write_forward(self, key: str, value: bytes, stream_seq: int) -> bool:
        """Write ``value`` unless the stored one covers a later FEED sequence. True if written."""
        last = self._revisions.get(key)
        for _ in range(_CAS_ATTEMPTS):
            try:
                if last is None:
                    revision = await self.kv.create(key, value)
                else:
                    revision = await self.kv.update(key, value, last=last)
            except nats.js.errors.KeyWrongLastSequenceError:
                pass  # someone else wrote it since (or it was never ours): look
            else:
                self._revisions[key] = revision
                return True
            try:
                entry = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                last = None
                continue
            if entry.value and _seq_decoder.decode(entry.value).stream_seq > stream_seq:
                self._revisions.pop(key, None)
                return False
            last = entry.revision
        raise nats.js.errors.KeyWrongLastSequenceError(description=f"{key}: contended")

    async def save_chain(self, snap: BookSnapshot) -> bool:
        key = subjects.chain_key(snap.product, snap.expiry.isoformat())
        return await self._write_forward(key, _encoder.encode(snap), snap.stream_seq)

    async def load_chain(self, product: str, expiry: dt.date) -> BookSnapshot | None:
        raw = await self._get(subjects.chain_key(product, expiry.isoformat()))
        return None if raw is None else _chain_decoder.decode(raw)

    async def save_product(self, snap: ProductSnapshot) -> bool:
        return await self._write_forward(
            f"product.{snap.product}", _encoder.encode(snap), snap.stream_seq
        )

    async def load_product(self, product: str) -> ProductSnapshot | None:
        raw = await self._get(f"product.{product}")
        return None if raw is None else _product_decoder.decode(raw)

    async def save_checkpoint(self, checkpoint: Checkpoint, *, partition: int = 0) -> bool:
        key = subjects.checkpoint_key(partition, self.partitions)
        return await self._write_forward(key, _encoder.encode(checkpoint), checkpoint.stream_seq)

    async def load_checkpoint(self, *, partition: int = 0) -> Checkpoint | None:
        raw = await self._get(subjects.checkpoint_key(partition, self.partitions))
        return None if raw is None else _checkpoint_decoder.decode(raw)

    async def _keys(self, prefix: str) -> list[str]:
        # One stream-info request lists the keys (their subjects): nats-py's ``keys()`` would
        # create a consumer, which a cluster electing a leader can keep waiting. Snapshot
        # keys are never deleted, so every subject listed is a live key.
        kv_prefix = f"$KV.{self.bucket}."
        info = await self.js.stream_info(
            f"KV_{self.bucket}", subjects_filter=f"{kv_prefix}{prefix}>"
        )
        return sorted(
            subject.removeprefix(kv_prefix + prefix) for subject in (info.state.subjects or {})
        )

    async def chain_keys(
        self, owned: Callable[[str, str], bool] | None = None
    ) -> list[tuple[str, dt.date]]:
        """(product, expiry) of every chain snapshot that ``owned(product, expiry ISO)``
        accepts."""
        out = []
        for rest in await self._keys("chain."):
            product, expiry = rest.split(".", 1)
            if owned is None or owned(product, expiry):
                out.append((product, dt.date.fromisoformat(expiry)))
        return out

    async def product_keys(self, owned: Callable[[str], bool] | None = None) -> list[str]:
        return [p for p in await self._keys("product.") if owned is None or owned(p)]
