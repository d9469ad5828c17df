"""Typed decoding of path and query parameters (msgspec), and JSON responses.

A bad parameter is a msgspec ``ValidationError`` whose message names the parameter
(``... - at `query.limit```); the app's handler answers it with 422.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from edge.errors import PayloadTooLarge

__all__ = [
    "ChainQuery",
    "ExpiryQuery",
    "HistoryFlagQuery",
    "OhlcQuery",
    "json_body",
    "json_response",
    "product_param",
    "query",
    "raw_json",
]

T = TypeVar("T")

MAX_HISTORY = 1000
MAX_OHLC_BARS = 500
_PRODUCT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")  # fullmatch; upper-cased after

HistoryLimit = Annotated[int, Meta(ge=1, le=MAX_HISTORY)]


class ExpiryQuery(msgspec.Struct, frozen=True):
    expiry: dt.date | None = None


class ChainQuery(msgspec.Struct, frozen=True):
    expiry: dt.date | None = None
    limit: HistoryLimit | None = None


class HistoryFlagQuery(msgspec.Struct, frozen=True):
    """``expiry`` and ``history``; the history parameters are ``edge.history.params``'s."""

    expiry: dt.date | None = None
    # Only the words true/false: a lax bool would also take 1/0/yes, unlike the OpenAPI type.
    history: Literal["true", "false"] = "false"


class OhlcQuery(msgspec.Struct, frozen=True):
    interval: Literal["1m", "5m", "15m"] = "1m"
    limit: Annotated[int, Meta(ge=1, le=MAX_OHLC_BARS)] = 100


def query(request: Request, kind: type[T]) -> T:
    params: dict[str, Any] = {}
    for name, value in request.query_params.multi_items():
        if name in kind.__struct_fields__:  # type: ignore[attr-defined]
            if name in params:
                raise msgspec.ValidationError(f"repeated parameter - at `query.{name}`")
            params[name] = value
    try:
        return msgspec.convert(params, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise msgspec.ValidationError(str(exc).replace("`$.", "`query.")) from exc


async def json_body(request: Request, kind: type[T], *, max_bytes: int) -> T:
    """The request body decoded as ``kind``; 413 past ``max_bytes`` (declared or sent),
    a ValidationError naming the field (422) when it does not fit ``kind``."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body above {max_bytes} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise PayloadTooLarge(f"request body above {max_bytes} bytes")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        text = text.replace("`$", "`body") if "`$" in text else f"{text} - at `body`"
        raise msgspec.ValidationError(text) from exc
    except msgspec.DecodeError as exc:
        raise msgspec.ValidationError(f"body is not valid JSON - at `body`: {exc}") from exc


def product_param(request: Request) -> str:
    product = str(request.path_params["product"])
    if not _PRODUCT_RE.fullmatch(product):
        raise msgspec.ValidationError(
            "Expected a product name matching ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ - at `path.product`"
        )
    return product.upper()


_encoder = msgspec.json.Encoder()


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(_encoder.encode(body), status_code=status_code, media_type="application/json")


def raw_json(body: bytes) -> Response:
    """Pass JSON bytes from the actors through as they are."""
    return Response(body, media_type="application/json")
