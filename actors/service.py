"""The snapshot service: request/reply to the actors, as a NATS micro service.

``nats micro ls`` / ``info deltastream-snapshots`` / ``stats`` show it. Each endpoint takes
a JSON request and answers JSON, or a micro error with a 4xx/5xx code and a description.
Endpoints and payloads are listed in ``subjects.md``.

Routing across hosts: every host serves ``deltastream.svc.<endpoint>`` in the service's
queue group, so any one of them gets a request. It answers from its own actors when it owns
the partition that holds the answer, and otherwise forwards the request to
``deltastream.svc.partition.<k>.<endpoint>``, which only the partition's owner subscribes
to, and relays the answer. That partition is the product's; with FEED keyed by chain, a
chain's own partition for ``summary`` / ``chain`` / ``max_pain`` (a request without an
expiry is given the nearest one first, from the products list) and the product's home
partition for the product actor's endpoints, while ``summaries`` gathers every partition's.
``products`` gathers every partition's list (merging a product's expiries); ``health`` is
the answering host's own, and ``hosts`` gathers the health of every partition's owner (and
of the answering host), one entry per host. With one partition and one host nothing is ever
forwarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import nats.errors
import nats.micro
import structlog
from nats.aio.msg import Msg
from nats.micro.request import Request
from nats.micro.service import Service

from actors import subjects
from actors.products import nearest_expiry
from actors.snapshot_endpoints import (
    ChainRequest,
    OhlcRequest,
    ProductRequest,
    ServiceError,
    SnapshotEndpoints,
    decode_request,
)
from actors.subjects import PartitionKey
from actors.supervisor import Supervisor

__all__ = ["ENDPOINTS", "FORWARD_TIMEOUT_S", "SERVICE_VERSION", "SnapshotService"]

log = structlog.get_logger(__name__)

SERVICE_VERSION = "0.2.0"
# Below the edge's own request time-out (2 s), so it gets the owner's answer or a clear 503.
FORWARD_TIMEOUT_S = 1.5
_ERROR_CODE = "Nats-Service-Error-Code"
_ERROR_TEXT = "Nats-Service-Error"

_encoder = msgspec.json.Encoder()
_list_decoder = msgspec.json.Decoder(list[dict[str, Any]])
_dict_decoder = msgspec.json.Decoder(dict[str, Any])


# Endpoints answered by one partition (the product's, or keyed by chain the chain's or the
# product's home), and the request each one takes.
_ROUTED: dict[str, type[Any]] = {
    "summary": ChainRequest,
    "summaries": ProductRequest,
    "chain": ChainRequest,
    "max_pain": ChainRequest,
    "surface": ProductRequest,
    "underlying": ProductRequest,
    "ohlc": OhlcRequest,
}

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
    "hosts",
)


class SnapshotService:
    """The micro service of one host plus the subscriptions of the partitions it owns.

    ``local(k)`` is the supervisor of partition k when this host runs it, else None.
    """

    def __init__(
        self,
        nc: Any,
        *,
        partitions: int,
        key: PartitionKey = "product",
        local: Callable[[int], Supervisor | None],
        timeout_s: float,
        health: Callable[[], dict[str, Any]],
    ) -> None:
        self.nc = nc
        self.partitions = partitions
        self.layout = subjects.FeedLayout(partitions, key)
        self.local = local
        self.timeout_s = timeout_s
        self._health = health
        self.micro: Service | None = None
        self.forwarded = 0
        self._subs: dict[int, Any] = {}

    async def start(self) -> Service:
        self.micro = await nats.micro.add_service(
            self.nc,
            name=subjects.SERVICE_NAME,
            version=SERVICE_VERSION,
            description="Snapshots of live chains, products and surfaces from the actors",
        )
        for name in ENDPOINTS:
            await self.micro.add_endpoint(
                name=name,
                subject=subjects.service_subject(name),
                handler=_wrap(self._entry_handler(name)),
            )
        return self.micro

    async def serve_partition(self, k: int) -> None:
        if k in self._subs:
            return
        prefix = subjects.partition_service_subject(k, "")

        async def on_request(msg: Msg) -> None:
            endpoint = msg.subject.removeprefix(prefix)
            try:
                body = await self._local(k, endpoint, msg.data)
            except ServiceError as exc:
                await _reply_error(self.nc, msg, exc)
                return
            except Exception:  # the transport's outermost loop: never leave a request hanging
                log.exception("service_handler_failed", subject=msg.subject)
                await _reply_error(self.nc, msg, ServiceError(500, "internal error"))
                return
            if msg.reply:
                await self.nc.publish(msg.reply, body)

        self._subs[k] = await self.nc.subscribe(f"{prefix}*", cb=on_request)

    async def stop_serving_partition(self, k: int) -> None:
        sub = self._subs.pop(k, None)
        if sub is not None:
            try:
                await sub.unsubscribe()
            except nats.errors.Error as exc:
                log.warning("partition_unsubscribe_failed", partition=k, error=type(exc).__name__)

    async def stop(self, *, micro: bool = True) -> None:
        for k in list(self._subs):
            await self.stop_serving_partition(k)
        if self.micro is not None and micro:
            await self.micro.stop()
        self.micro = None

    # ------------------------------------------------------------ routing

    async def _local(self, k: int, endpoint: str, data: bytes) -> bytes:
        if endpoint not in _ROUTED and endpoint not in ("products", "health"):
            raise ServiceError(404, f"no endpoint {endpoint!r}")
        if endpoint == "health":  # the health of the host that runs partition k
            return _encoder.encode(self._health())
        sup = self.local(k)
        if sup is None:
            raise ServiceError(503, f"partition {k} is not served here (changing owner)")
        body: bytes = await getattr(SnapshotEndpoints(sup, self.timeout_s), endpoint)(data)
        return body

    def _entry_handler(self, endpoint: str) -> Callable[[bytes], Awaitable[bytes]]:
        async def health(_: bytes) -> bytes:
            return _encoder.encode(self._health())

        async def products(_: bytes) -> bytes:
            return await self._all_products()

        async def hosts(_: bytes) -> bytes:
            return await self._all_hosts()

        async def routed(data: bytes) -> bytes:
            req = decode_request(data, _ROUTED[endpoint])
            if self.layout.by_chain and endpoint == "summaries":
                return await self._all_summaries(req.product)
            if self.layout.by_chain and isinstance(req, ChainRequest):
                expiry = req.expiry or await self._nearest_expiry(req.product)
                data = _encoder.encode(ChainRequest(product=req.product, expiry=expiry))
                k = self.layout.chain_partition(req.product, expiry)
            else:
                k = self.layout.partition_of(req.product)
            return await self._on_partition(k, endpoint, data)

        if endpoint == "health":
            return health
        if endpoint == "products":
            return products
        if endpoint == "hosts":
            return hosts
        return routed

    async def _on_partition(self, k: int, endpoint: str, data: bytes) -> bytes:
        if self.local(k) is not None:
            return await self._local(k, endpoint, data)
        return await self._forward(k, endpoint, data)

    async def _product_entry(self, product: str) -> dict[str, Any]:
        for entry in _list_decoder.decode(await self._all_products()):
            if entry.get("product") == product:
                return entry
        raise ServiceError(404, f"unknown product {product!r}")

    async def _nearest_expiry(self, product: str) -> str:
        nearest = (await self._product_entry(product)).get("nearest_expiry")
        if not nearest:
            raise ServiceError(404, f"no live chain of {product!r}")
        return str(nearest)

    async def _all_summaries(self, product: str) -> bytes:
        """Keyed by chain: every partition's summaries of the product, by expiry."""
        data = _encoder.encode(ProductRequest(product=product))
        results = await asyncio.gather(
            *(self._on_partition(k, "summaries", data) for k in range(self.partitions)),
            return_exceptions=True,
        )
        merged: list[dict[str, Any]] = []
        for k, result in enumerate(results):
            if isinstance(result, BaseException):
                log.warning("summaries_partition_missing", partition=k, error=str(result)[:200])
                continue
            merged.extend(_list_decoder.decode(result))
        if not merged:
            await self._product_entry(product)  # 404 for a product no partition knows
        return _encoder.encode(sorted(merged, key=lambda s: str(s.get("expiry"))))

    async def _forward(self, k: int, endpoint: str, data: bytes) -> bytes:
        self.forwarded += 1
        try:
            reply = await self.nc.request(
                subjects.partition_service_subject(k, endpoint), data, timeout=FORWARD_TIMEOUT_S
            )
        except nats.errors.NoRespondersError as exc:
            raise ServiceError(503, f"partition {k} has no owner right now; retry") from exc
        except nats.errors.TimeoutError as exc:
            raise ServiceError(503, f"the owner of partition {k} did not answer in time") from exc
        headers = reply.headers or {}
        code = headers.get(_ERROR_CODE)
        if code is not None:
            raise ServiceError(int(code) if code.isdigit() else 500, headers.get(_ERROR_TEXT, ""))
        return bytes(reply.data)

    async def _all_hosts(self) -> bytes:
        """Each host's health once: the owner of every partition answers for itself, and
        this host for itself even when it owns none (a standby). A partition whose owner
        does not answer (none right now, or changing hands) is listed in ``unanswered``."""

        own = self._health()  # once: it stands for every partition this host runs

        async def one(k: int) -> dict[str, Any]:
            if self.local(k) is not None:
                return own
            return _dict_decoder.decode(await self._forward(k, "health", b"{}"))

        results = await asyncio.gather(
            *(one(k) for k in range(self.partitions)), return_exceptions=True
        )
        found: dict[str, dict[str, Any]] = {str(own.get("host_id")): own}
        unanswered: list[int] = []
        for k, result in enumerate(results):
            if isinstance(result, BaseException):
                log.warning("hosts_partition_missing", partition=k, error=str(result)[:200])
                unanswered.append(k)
                continue
            found.setdefault(str(result.get("host_id")), result)
        return _encoder.encode(
            {
                "partitions": self.partitions,
                "unanswered": unanswered,
                "hosts": [found[h] for h in sorted(found)],
            }
        )

    async def _all_products(self) -> bytes:
        async def one(k: int) -> list[dict[str, Any]]:
            sup = self.local(k)
            if sup is not None:
                return SnapshotEndpoints(sup, self.timeout_s).product_list()
            return _list_decoder.decode(await self._forward(k, "products", b"{}"))

        results = await asyncio.gather(
            *(one(k) for k in range(self.partitions)), return_exceptions=True
        )
        merged: dict[str, dict[str, Any]] = {}
        for k, result in enumerate(results):
            if isinstance(result, BaseException):
                # A partition changing owner is left out rather than failing the whole list.
                log.warning("products_partition_missing", partition=k, error=str(result)[:200])
                continue
            for entry in result:
                name = str(entry.get("product"))
                if name in merged:  # keyed by chain: one product's expiries over partitions
                    into = merged[name]
                    for field in ("expiries", "live_expiries"):
                        into[field] = sorted({*into.get(field, ()), *entry.get(field, ())})
                    into["nearest_expiry"] = nearest_expiry(into["expiries"], into["live_expiries"])
                else:
                    merged[name] = entry
        return _encoder.encode([merged[name] for name in sorted(merged)])


async def _reply_error(nc: Any, msg: Msg, exc: ServiceError) -> None:
    if msg.reply:
        headers = {_ERROR_CODE: str(exc.code), _ERROR_TEXT: exc.description}
        await nc.publish(msg.reply, b"", headers=headers)


def _wrap(handler: Callable[[bytes], Awaitable[bytes]]) -> Callable[[Request], Awaitable[None]]:
    async def endpoint(req: Request) -> None:
        try:
            body = await handler(req.data)
        except ServiceError as exc:
            await req.respond_error(str(exc.code), exc.description)
            return
        except Exception:  # the transport's outermost loop: never leave a request hanging
            log.exception("service_handler_failed", subject=req.subject)
            await req.respond_error("500", "internal error")
            return
        await req.respond(body)

    return endpoint
