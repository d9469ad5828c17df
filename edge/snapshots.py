"""Request/reply client of the actor host's ``deltastream-snapshots`` micro service.

Replies are passed on as the raw JSON bytes the actors produced, so the edge re-encodes
nothing on the hot path. Micro errors (headers ``Nats-Service-Error-Code`` and
``Nats-Service-Error``), missing responders and time-outs become typed edge errors.

``summary`` and ``underlying`` are first looked up in ``LatestMessages`` (``edge.latest``):
the actors would answer with the same bytes they last published, which the bridge already
holds. A summary without an expiry means the product's nearest live expiry; to find it
without a round trip the product list may be up to ``PRODUCTS_MAX_AGE_S`` old (a missing
product or expiry always refreshes it).
"""

from __future__ import annotations

import time
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
from edge.latest import LatestMessages

__all__ = ["PRODUCTS_MAX_AGE_S", "ProductInfo", "SnapshotClient"]

DEFAULT_TIMEOUT_S = 2.0
# Products and their expiries change a few times a day (a new chain, an expiry rolling off).
PRODUCTS_MAX_AGE_S = 1.0
_ERROR_CODE = "Nats-Service-Error-Code"
_ERROR_TEXT = "Nats-Service-Error"
_encoder = msgspec.json.Encoder()


class ProductInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of ``deltastream.svc.products`` (the fields the edge reads)."""

    product: str
    expiries: list[str]
    live_expiries: list[str] | None = None  # not yet expired at the product's feed clock
    nearest_expiry: str | None = None  # the first live one, else the latest


_products_decoder = msgspec.json.Decoder(list[ProductInfo])


class SnapshotClient:
    def __init__(
        self,
        nc: Any,
        *,
        latest: LatestMessages | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._nc = nc
        self.latest = latest
        self.timeout_s = timeout_s
        self._products: tuple[float, dict[str, ProductInfo]] | None = None

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

    async def product_map(self, *, max_age_s: float = 0.0) -> dict[str, list[str]]:
        """The actors' products and the expiries of their chains, sorted; with
        ``max_age_s``, a list fetched that recently may be returned instead of asking again."""
        return {name: info.expiries for name, info in (await self._infos(max_age_s)).items()}

    async def _infos(self, max_age_s: float) -> dict[str, ProductInfo]:
        cached = self._products
        if cached is not None and time.monotonic() - cached[0] <= max_age_s:
            return cached[1]
        try:
            infos = _products_decoder.decode(await self.products())
        except msgspec.DecodeError as exc:
            raise UpstreamError("the actor service sent a malformed product list") from exc
        found = {i.product: i for i in infos}
        self._products = (time.monotonic(), found)
        return found

    async def expiries(self, product: str) -> ProductInfo:
        found = (await self._infos(0.0)).get(product)
        if found is None:
            raise UnknownProduct(f"unknown product {product!r}")
        return found

    async def summary(self, product: str, expiry: str | None = None) -> bytes:
        if self.latest is not None:
            nearest = expiry or await self._nearest_expiry(product)
            if nearest is not None:
                hit = self.latest.get(subjects.analytics_summary(product, nearest))
                if hit is not None:
                    return hit
        return await self.request("summary", _chain_req(product, expiry))

    async def _nearest_expiry(self, product: str) -> str | None:
        info = (await self._infos(PRODUCTS_MAX_AGE_S)).get(product)
        return info.nearest_expiry if info is not None else None

    async def summaries(self, product: str) -> bytes:
        return await self.request("summaries", {"product": product})

    async def chain(self, product: str, expiry: str | None = None) -> bytes:
        return await self.request("chain", _chain_req(product, expiry))

    async def surface(self, product: str) -> bytes:
        return await self.request("surface", {"product": product})

    async def underlying(self, product: str) -> bytes:
        if self.latest is not None:
            hit = self.latest.get(subjects.analytics_underlying(product))
            if hit is not None:
                return hit
        return await self.request("underlying", {"product": product})

    async def ohlc(self, product: str, *, interval: str, limit: int) -> bytes:
        return await self.request(
            "ohlc", {"product": product, "interval": interval, "limit": limit}
        )

    async def max_pain(self, product: str, expiry: str | None = None) -> bytes:
        return await self.request("max_pain", _chain_req(product, expiry))

    async def health(self) -> bytes:
        return await self.request("health", {})

    async def hosts(self) -> bytes:
        """Every actor host's health, one entry each (``deltastream.svc.hosts``)."""
        return await self.request("hosts", {})


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
