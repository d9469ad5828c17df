"""The snapshot service's handlers over one partition's actors, and the requests they take.

Each handler reads the partition supervisor's registry and asks one actor; ``actors.service``
decides which partition answers (routing across hosts) and serves them as a NATS micro
service.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
import pykka
from msgspec import Meta

from actors.commands import (
    GetEnriched,
    GetMaxPain,
    GetOhlc,
    GetSummary,
    GetSurface,
    GetUnderlying,
)
from actors.futures import ask
from actors.messages import OhlcBar
from actors.product_actor import INTERVALS_NS
from actors.products import nearest_expiry
from actors.supervisor import Supervisor

__all__ = [
    "MAX_OHLC_BARS",
    "MAX_REQUEST_BYTES",
    "ChainRequest",
    "OhlcRequest",
    "ProductRequest",
    "ServiceError",
    "SnapshotEndpoints",
    "decode_request",
]

MAX_OHLC_BARS = 500
# Requests are a few short fields: anything larger is refused before it is decoded, and no
# answer repeats more than a short name (an error that echoed a 1 MiB field would not fit in
# one NATS message, and nats-server would close the host's connection).
MAX_REQUEST_BYTES = 4096
DESCRIPTION_MAX_CHARS = 500
_Name = Annotated[str, Meta(max_length=64)]


class ProductRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: _Name


class ChainRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: _Name
    expiry: _Name | None = None


class OhlcRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: _Name
    interval: _Name = "1m"
    limit: Annotated[int, Meta(ge=1, le=MAX_OHLC_BARS)] = 100


class ServiceError(Exception):
    """Answered as a micro error: ``code`` (4xx/5xx) and ``description`` (the reason)."""

    def __init__(self, code: int, description: str) -> None:
        description = " ".join(description.split())[:DESCRIPTION_MAX_CHARS]
        super().__init__(description)
        self.code = code
        self.description = description


_encoder = msgspec.json.Encoder()


class SnapshotEndpoints:
    """Handlers over one partition's actors; each reads the supervisor's registry and asks
    one actor."""

    def __init__(self, supervisor: Supervisor, timeout_s: float) -> None:
        self.sup = supervisor
        self.timeout_s = timeout_s

    async def _ask(self, ref: pykka.ActorRef[Any], message: Any) -> Any:
        try:
            return await asyncio.wait_for(ask(ref, message), self.timeout_s)
        except TimeoutError as exc:
            raise ServiceError(503, "actor did not answer in time") from exc
        except pykka.ActorDeadError as exc:
            raise ServiceError(503, "chain is restarting") from exc

    def _product_ref(self, product: str) -> pykka.ActorRef[Any]:
        ref = self.sup.product_refs.get(product)
        if ref is None:
            raise ServiceError(404, f"unknown product {product!r}")
        return ref

    def _chain_ref(self, req: ChainRequest) -> pykka.ActorRef[Any]:
        expiry = req.expiry or self._nearest_expiry(req.product)
        ref = self.sup.chains.get((req.product, expiry))
        if ref is None:
            if (req.product, expiry) in self.sup.down:
                raise ServiceError(503, f"chain {req.product} {expiry} is down")
            raise ServiceError(404, f"no live chain {req.product} {expiry}")
        return ref

    def _nearest_expiry(self, product: str) -> str:
        every, live = self.sup.expiries(product)
        nearest = nearest_expiry(every, live)
        if nearest is None:
            raise ServiceError(404, f"unknown product {product!r}")
        return nearest

    def product_list(self) -> list[dict[str, Any]]:
        """The products this partition knows: keyed by chain, also those it holds chains of
        (their actor may run elsewhere), each with this partition's expiries only."""
        names = set(self.sup.product_refs)
        if self.sup.layout.by_chain:
            names.update(p for p, _ in self.sup.chains)
        out = []
        for name in sorted(names):
            spec = self.sup.spec_for(name)
            every, live = self.sup.expiries(name)
            out.append(
                {
                    "product": name,
                    "expiries": every,
                    "live_expiries": live,
                    "nearest_expiry": nearest_expiry(every, live),
                    "strike_step": spec.strike_step,
                    "lot_size": spec.lot_size,
                    "tz": spec.tz,
                    "expiry_time": spec.expiry_time.isoformat(),
                }
            )
        return out

    async def products(self, _: bytes) -> bytes:
        return _encoder.encode(self.product_list())

    async def summary(self, data: bytes) -> bytes:
        req = decode_request(data, ChainRequest)
        summary: bytes = await self._ask(self._chain_ref(req), GetSummary())
        if not summary:
            raise ServiceError(404, "chain has no data yet")
        return summary

    async def chain(self, data: bytes) -> bytes:
        req = decode_request(data, ChainRequest)
        return bytes(await self._ask(self._chain_ref(req), GetEnriched()))

    async def max_pain(self, data: bytes) -> bytes:
        req = decode_request(data, ChainRequest)
        return bytes(await self._ask(self._chain_ref(req), GetMaxPain()))

    async def summaries(self, data: bytes) -> bytes:
        req = decode_request(data, ProductRequest)
        if not self.sup.layout.by_chain:  # keyed by chain, the caller gathers partitions
            self._product_ref(req.product)
        parts = []
        for expiry in self.sup.expiries(req.product)[0]:
            ref = self.sup.chains.get((req.product, expiry))
            if ref is not None:
                body = await self._ask(ref, GetSummary())
                if body:
                    parts.append(body)
        return b"[" + b",".join(parts) + b"]"

    async def surface(self, data: bytes) -> bytes:
        req = decode_request(data, ProductRequest)
        return bytes(await self._ask(self._product_ref(req.product), GetSurface()))

    async def underlying(self, data: bytes) -> bytes:
        req = decode_request(data, ProductRequest)
        tick: bytes = await self._ask(self._product_ref(req.product), GetUnderlying())
        if not tick:
            raise ServiceError(404, f"no underlying tick for {req.product} yet")
        return tick

    async def ohlc(self, data: bytes) -> bytes:
        req = decode_request(data, OhlcRequest)
        if req.interval not in INTERVALS_NS:
            raise ServiceError(400, f"interval must be one of {sorted(INTERVALS_NS)}")
        bars: list[OhlcBar] = await self._ask(
            self._product_ref(req.product), GetOhlc(interval=req.interval, limit=req.limit)
        )
        return _encoder.encode(bars)


def decode_request(data: bytes, kind: type[Any]) -> Any:
    if len(data) > MAX_REQUEST_BYTES:
        raise ServiceError(413, f"request of {len(data)} bytes exceeds {MAX_REQUEST_BYTES}")
    try:
        return msgspec.json.decode(data or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ServiceError(400, f"bad request: {exc}") from exc
