"""The snapshot service: request/reply to the actors, as a NATS micro service.

``nats micro ls`` / ``info deltastream-snapshots`` / ``stats`` show it. Each endpoint takes
a JSON request and answers JSON, or a micro error with a 4xx/5xx code and a description.
Endpoints and payloads are listed in ``subjects.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
import nats.micro
import pykka
import structlog
from msgspec import Meta
from nats.micro.request import Request
from nats.micro.service import Service

from actors import subjects
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
from actors.supervisor import Supervisor

__all__ = [
    "ENDPOINTS",
    "SERVICE_VERSION",
    "ChainRequest",
    "OhlcRequest",
    "ProductRequest",
    "SnapshotEndpoints",
    "start_service",
]

log = structlog.get_logger(__name__)

SERVICE_VERSION = "0.1.0"
MAX_OHLC_BARS = 500


class ProductRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str


class ChainRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    expiry: str | None = None


class OhlcRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    interval: str = "1m"
    limit: Annotated[int, Meta(ge=1, le=MAX_OHLC_BARS)] = 100


class _ServiceError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


_encoder = msgspec.json.Encoder()


class SnapshotEndpoints:
    """Handlers; each reads the supervisor's registry and asks one actor."""

    def __init__(
        self, supervisor: Supervisor, timeout_s: float, health: Callable[[], dict[str, Any]]
    ) -> None:
        self.sup = supervisor
        self.timeout_s = timeout_s
        self._health = health

    async def _ask(self, ref: pykka.ActorRef[Any], message: Any) -> Any:
        try:
            return await asyncio.wait_for(ask(ref, message), self.timeout_s)
        except TimeoutError as exc:
            raise _ServiceError(503, "actor did not answer in time") from exc
        except pykka.ActorDeadError as exc:
            raise _ServiceError(503, "chain is restarting") from exc

    def _product_ref(self, product: str) -> pykka.ActorRef[Any]:
        ref = self.sup.product_refs.get(product)
        if ref is None:
            raise _ServiceError(404, f"unknown product {product!r}")
        return ref

    def _chain_ref(self, req: ChainRequest) -> pykka.ActorRef[Any]:
        expiry = req.expiry or self._nearest_expiry(req.product)
        ref = self.sup.chains.get((req.product, expiry))
        if ref is None:
            if (req.product, expiry) in self.sup.down:
                raise _ServiceError(503, f"chain {req.product} {expiry} is down")
            raise _ServiceError(404, f"no live chain {req.product} {expiry}")
        return ref

    def _expiries(self, product: str) -> list[str]:
        return sorted(e for p, e in self.sup.chains if p == product)

    def _nearest_expiry(self, product: str) -> str:
        expiries = self._expiries(product)
        if not expiries:
            raise _ServiceError(404, f"unknown product {product!r}")
        return expiries[0]

    async def products(self, _: bytes) -> bytes:
        out = []
        for name in sorted(self.sup.product_refs):
            spec = self.sup.spec_for(name)
            out.append(
                {
                    "product": name,
                    "expiries": self._expiries(name),
                    "strike_step": spec.strike_step,
                    "lot_size": spec.lot_size,
                    "tz": spec.tz,
                    "expiry_time": spec.expiry_time.isoformat(),
                }
            )
        return _encoder.encode(out)

    async def summary(self, data: bytes) -> bytes:
        req = _decode(data, ChainRequest)
        summary: bytes = await self._ask(self._chain_ref(req), GetSummary())
        if not summary:
            raise _ServiceError(404, "chain has no data yet")
        return summary

    async def chain(self, data: bytes) -> bytes:
        req = _decode(data, ChainRequest)
        return bytes(await self._ask(self._chain_ref(req), GetEnriched()))

    async def max_pain(self, data: bytes) -> bytes:
        req = _decode(data, ChainRequest)
        return bytes(await self._ask(self._chain_ref(req), GetMaxPain()))

    async def summaries(self, data: bytes) -> bytes:
        req = _decode(data, ProductRequest)
        self._product_ref(req.product)
        parts = []
        for expiry in self._expiries(req.product):
            ref = self.sup.chains.get((req.product, expiry))
            if ref is not None:
                body = await self._ask(ref, GetSummary())
                if body:
                    parts.append(body)
        return b"[" + b",".join(parts) + b"]"

    async def surface(self, data: bytes) -> bytes:
        req = _decode(data, ProductRequest)
        return bytes(await self._ask(self._product_ref(req.product), GetSurface()))

    async def underlying(self, data: bytes) -> bytes:
        req = _decode(data, ProductRequest)
        tick: bytes = await self._ask(self._product_ref(req.product), GetUnderlying())
        if not tick:
            raise _ServiceError(404, f"no underlying tick for {req.product} yet")
        return tick

    async def ohlc(self, data: bytes) -> bytes:
        req = _decode(data, OhlcRequest)
        if req.interval not in INTERVALS_NS:
            raise _ServiceError(400, f"interval must be one of {sorted(INTERVALS_NS)}")
        bars: list[OhlcBar] = await self._ask(
            self._product_ref(req.product), GetOhlc(interval=req.interval, limit=req.limit)
        )
        return _encoder.encode(bars)

    async def health(self, _: bytes) -> bytes:
        return _encoder.encode(self._health())


def _decode(data: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(data or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _ServiceError(400, f"bad request: {exc}") from exc


def _wrap(handler: Callable[[bytes], Awaitable[bytes]]) -> Callable[[Request], Awaitable[None]]:
    async def endpoint(req: Request) -> None:
        try:
            body = await handler(req.data)
        except _ServiceError as exc:
            await req.respond_error(str(exc.code), exc.description)
            return
        except Exception:  # the transport's outermost loop: never leave a request hanging
            log.exception("service_handler_failed", subject=req.subject)
            await req.respond_error("500", "internal error")
            return
        await req.respond(body)

    return endpoint


ENDPOINTS = (
    "products",
    "summary",
    "summaries",
    "chain",
    "max_pain",
    "surface",
    "underlying",
    "ohlc",
    "health",
)


async def start_service(
    nc: Any,
    supervisor: Supervisor,
    *,
    timeout_s: float,
    health: Callable[[], dict[str, Any]],
) -> Service:
    handlers = SnapshotEndpoints(supervisor, timeout_s, health)
    svc = await nats.micro.add_service(
        nc,
        name=subjects.SERVICE_NAME,
        version=SERVICE_VERSION,
        description="Snapshots of live chains, products and surfaces from the actors",
    )
    for name in ENDPOINTS:
        await svc.add_endpoint(
            name=name,
            subject=subjects.service_subject(name),
            handler=_wrap(getattr(handlers, name)),
        )
    return svc
