"""Request/reply client of the actor host's ``deltastream-snapshots`` micro service.

Replies are passed on as the raw JSON bytes the actors produced, so the edge re-encodes
nothing on the hot path. Micro errors (headers ``Nats-Service-Error-Code`` and
``Nats-Service-Error``), missing responders and time-outs become typed edge errors.
"""

from __future__ import annotations

from typing import Any

import msgspec
import nats.errors

from actors import subjects
from edge.errors import (
    BadRequest,
    NotFound,
    Unavailable,
    UnknownProduct,
    UpstreamError,
    UpstreamTimeout,
)

__all__ = ["ProductInfo", "SnapshotClient"]

DEFAULT_TIMEOUT_S = 2.0
_ERROR_CODE = "Nats-Service-Error-Code"
_ERROR_TEXT = "Nats-Service-Error"
_encoder = msgspec.json.Encoder()


class ProductInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of ``deltastream.svc.products`` (the fields the edge reads)."""

    product: str
    expiries: list[str]


_products_decoder = msgspec.json.Decoder(list[ProductInfo])


class SnapshotClient:
    def __init__(self, nc: Any, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._nc = nc
        self.timeout_s = timeout_s

    async def request(self, endpoint: str, payload: dict[str, Any]) -> bytes:
        subject = subjects.service_subject(endpoint)
        try:
            reply = await self._nc.request(
                subject, _encoder.encode(payload), timeout=self.timeout_s
            )
        except nats.errors.NoRespondersError as exc:
            raise Unavailable("the actor service is not running") from exc
        except nats.errors.TimeoutError as exc:
            raise UpstreamTimeout(f"the actor service did not answer {endpoint} in time") from exc
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError) as exc:
            raise Unavailable("NATS is not connected") from exc
        headers = reply.headers or {}
        code = headers.get(_ERROR_CODE)
        if code is not None:
            raise _service_error(code, headers.get(_ERROR_TEXT, ""))
        return bytes(reply.data)

    async def products(self) -> bytes:
        return await self.request("products", {})

    async def product_map(self) -> dict[str, list[str]]:
        """Live products and their live expiries, sorted."""
        try:
            infos = _products_decoder.decode(await self.products())
        except msgspec.DecodeError as exc:
            raise UpstreamError("the actor service sent a malformed product list") from exc
        return {i.product: i.expiries for i in infos}

    async def expiries(self, product: str) -> list[str]:
        found = (await self.product_map()).get(product)
        if found is None:
            raise UnknownProduct(f"unknown product {product!r}")
        return found

    async def summary(self, product: str, expiry: str | None = None) -> bytes:
        return await self.request("summary", _chain_req(product, expiry))

    async def summaries(self, product: str) -> bytes:
        return await self.request("summaries", {"product": product})

    async def chain(self, product: str, expiry: str | None = None) -> bytes:
        return await self.request("chain", _chain_req(product, expiry))

    async def surface(self, product: str) -> bytes:
        return await self.request("surface", {"product": product})

    async def underlying(self, product: str) -> bytes:
        return await self.request("underlying", {"product": product})

    async def ohlc(self, product: str, *, interval: str, limit: int) -> bytes:
        return await self.request(
            "ohlc", {"product": product, "interval": interval, "limit": limit}
        )

    async def max_pain(self, product: str, expiry: str | None = None) -> bytes:
        return await self.request("max_pain", _chain_req(product, expiry))

    async def health(self) -> bytes:
        return await self.request("health", {})


def _chain_req(product: str, expiry: str | None) -> dict[str, Any]:
    return {"product": product} if expiry is None else {"product": product, "expiry": expiry}


def _service_error(code: str, text: str) -> Exception:
    detail = text or "the actor service refused the request"
    if code == "400":
        return BadRequest(detail)
    if code == "404":
        return NotFound(detail)
    if code == "503":
        return Unavailable(detail)
    return UpstreamError(f"the actor service failed ({code}): {detail}")
