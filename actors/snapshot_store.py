"""Chain and product snapshots in a NATS KV bucket, plus the host's checkpoint.

Keys: ``chain.<PRODUCT>.<EXPIRY>``, ``product.<PRODUCT>``, ``checkpoint``. Values are
msgpack. The checkpoint is written last: every snapshot in the bucket then covers at least
the FEED messages up to the checkpoint's sequence.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import nats.js.errors
from nats.js.kv import KeyValue

from actors import subjects
from actors.chain_book import BookSnapshot
from actors.product_actor import ProductSnapshot

__all__ = ["Checkpoint", "SnapshotStore"]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    stream_seq: int
    written_ns: int


_chain_decoder = msgspec.msgpack.Decoder(BookSnapshot)
_product_decoder = msgspec.msgpack.Decoder(ProductSnapshot)
_checkpoint_decoder = msgspec.msgpack.Decoder(Checkpoint)
_encoder = msgspec.msgpack.Encoder()


class SnapshotStore:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def _get(self, key: str) -> bytes | None:
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        return entry.value

    async def save_chain(self, snap: BookSnapshot) -> None:
        await self.kv.put(
            subjects.chain_key(snap.product, snap.expiry.isoformat()), _encoder.encode(snap)
        )

    async def load_chain(self, product: str, expiry: dt.date) -> BookSnapshot | None:
        raw = await self._get(subjects.chain_key(product, expiry.isoformat()))
        return None if raw is None else _chain_decoder.decode(raw)

    async def save_product(self, snap: ProductSnapshot) -> None:
        await self.kv.put(f"product.{snap.product}", _encoder.encode(snap))

    async def load_product(self, product: str) -> ProductSnapshot | None:
        raw = await self._get(f"product.{product}")
        return None if raw is None else _product_decoder.decode(raw)

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self.kv.put("checkpoint", _encoder.encode(checkpoint))

    async def load_checkpoint(self) -> Checkpoint | None:
        raw = await self._get("checkpoint")
        return None if raw is None else _checkpoint_decoder.decode(raw)

    async def _keys(self, prefix: str) -> list[str]:
        # nats-py's ``keys(filters=...)`` matches substrings, not subject wildcards.
        try:
            keys = await self.kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        return sorted(k.removeprefix(prefix) for k in keys if k.startswith(prefix))

    async def chain_keys(self) -> list[tuple[str, dt.date]]:
        out = []
        for rest in await self._keys("chain."):
            product, expiry = rest.split(".", 1)
            out.append((product, dt.date.fromisoformat(expiry)))
        return out

    async def product_keys(self) -> list[str]:
        return await self._keys("product.")
